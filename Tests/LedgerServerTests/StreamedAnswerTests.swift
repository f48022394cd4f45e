import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import NIOCore
import Testing

/// Holds or fails a store's reads of rows in stored order (an answer's page, read after its
/// plan) once told to, from a given read on; every other call passes.
final class ScanGate: InterceptingBackend, @unchecked Sendable {
    enum Mode: Sendable { case open, hold, fail }
    let mode = Locked(Mode.open)
    /// Reads from rows after this position on are held or failed (the first read is let through).
    let from = Locked(Int64(1))
    let waiting = Locked(0)
    private let held = Locked<[CheckedContinuation<Void, Never>]>([])

    struct Failed: Error {}

    override func interceptScan(after n: Int64) async throws {
        guard n >= from.value else { return }
        switch mode.value {
        case .open: return
        case .fail: throw Failed()
        case .hold:
            await withCheckedContinuation { continuation in
                held.withLock { $0.append(continuation) }
                waiting.withLock { $0 += 1 }
            }
        }
    }

    func open() {
        mode.withLock { $0 = .open }
        for continuation in held.withLock({ list in
            defer { list = [] }
            return list
        }) { continuation.resume() }
    }
}

extension TestClientProtocol {
    /// A sync in the binary form that asks for a streamed answer, as devices do.
    func streamedSync(_ identity: IdentityID, token: String, clock: VectorClock) async throws -> (
        status: Int, contentType: String?, body: [UInt8]
    ) {
        let body = try SyncBody.encode(SyncRequest(clock: Data.base64(VectorClock.encode(clock.entries))), entries: [])
        let response = try await executeRequest(
            uri: "/v1/identities/\(identity.hex)/sync", method: .post,
            headers: [.contentType: SyncBody.contentType, .accept: SyncBody.accept, .authorization: "Bearer \(token)"],
            body: ByteBuffer(bytes: body))
        return (Int(response.status.code), response.headers[.contentType], Array(response.body.readableBytesView))
    }
}

/// The entries in each part of a stream, in order (the stream must be well formed).
func streamParts(_ bytes: [UInt8]) throws -> [Int] {
    var reader = ByteReader(bytes)
    var found = EntryRuns.Found()
    var parts: [Int] = []
    while try reader.u8() == 1 { parts.append(try EntryRuns.find(&reader, maxCount: .max, into: &found)) }
    return parts
}

@Suite("Store: streamed answers")
struct StreamedAnswerTests {
    static func fixture(_ count: Int) throws -> LedgerFixture {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<count { try built.record(device: i % 7 == 0 ? 1 : 0, .credit, amount: Int64(i + 1)) }
        return built
    }

    @Test("a stream's parts read as one page; a stream cut short, or with a bad part, is refused with its reason")
    func wire() throws {
        let fixture = try Self.fixture(60)
        let entries = fixture.allEntries
        var control = SyncResponse(digest: "ab")
        control.more = true
        control.remaining = 99
        let parts = [Array(entries[..<10]), Array(entries[10..<11]), Array(entries[11...])]
        let stream = try SyncBody.stream(control, parts: parts)
        #expect(try streamParts(stream) == parts.map(\.count))
        let (read, back) = try SyncBody.decodeStream(stream, as: SyncResponse.self, maxEntries: entries.count)
        #expect(back.map(\.encoded) == entries.map(\.encoded))
        #expect(read.digest == "ab" && read.more == true && read.remaining == 99)
        // Nothing to send: the control object alone.
        let empty = try SyncBody.stream(control, parts: [])
        #expect(empty.first == 0)
        #expect(try SyncBody.decodeStream(empty, as: SyncResponse.self, maxEntries: 0).1.isEmpty)

        func refusal(_ bytes: [UInt8], maxEntries: Int = 1_000) -> SyncBody.Malformed? {
            do {
                _ = try SyncBody.decodeStream(bytes, as: SyncResponse.self, maxEntries: maxEntries)
                return nil
            } catch { return error }
        }
        let end = try SyncBody.streamEnd(control)
        let body = Array(stream[..<(stream.count - end.count)])
        #expect(refusal(body)?.description == "the stream ends before its control object")
        #expect(refusal(Array(stream.dropLast()))?.description == "the stream is shorter than its control object")
        #expect(refusal(stream + [0])?.description == "bytes after the control object")
        #expect(refusal([7] + stream)?.description == "a part of unknown kind 7")
        #expect(refusal([1, 0, 0, 0, 0, 0, 0, 0, 0] + stream)?.description == "a part of the stream holds no entries")
        let cutPart = SyncBody.partStart + EntryRuns.encoded(Array(entries[..<10])).dropLast(30)
        #expect(refusal(cutPart)?.description == "its entries after the first 0: a truncated list of entries")
        // The count holds across parts: each part fits alone, not all of them.
        let tooMany = refusal(stream, maxEntries: entries.count - 1)
        #expect(tooMany?.tooMany == true)
        var badJSON = body
        badJSON += [0, 0, 0, 0, 2] + Array("[]".utf8)
        #expect(refusal(badJSON)?.description == "the control object is not the JSON this endpoint takes")
    }

    /// What a stream read in pieces of `size` bytes gives: its control object's digest and
    /// entries, or its refusal.
    static func readInPieces(_ bytes: [UInt8], size: Int, maxEntries: Int = 1_000) -> String {
        var reader = SyncBody.StreamReader<SyncResponse>(maxEntries: maxEntries)
        do {
            for start in stride(from: 0, to: bytes.count, by: size) {
                try reader.read(bytes[start..<min(bytes.count, start + size)])
            }
            let (control, entries) = try reader.finish()
            return "\(control.digest): \(entries.map(\.hash.hex))"
        } catch {
            return "refused: \(error)"
        }
    }

    @Test("a stream read as it arrives, in pieces of any size, reads as it does whole, refusals and their reasons too")
    func inPieces() throws {
        let entries = try Self.fixture(300).allEntries
        let control = SyncResponse(digest: "cd")
        let parts = [Array(entries[..<100]), Array(entries[100..<101]), Array(entries[101...])]
        let stream = try SyncBody.stream(control, parts: parts)
        let end = try SyncBody.streamEnd(control)
        // The first item's kind (after the part's tag, the list's counts and the run's header)
        // made unknown: the first part does not rebuild.
        var badEntry = stream
        badEntry[1 + EntryRuns.listHeaderLength + EntryRuns.runHeaderLength] = 99
        let cases: [(String, [UInt8], Int)] = [
            ("whole", stream, 1_000), ("bytes after it", stream + [0], 1_000),
            ("cut short", Array(stream.dropLast()), 1_000), ("unknown part", [7] + stream, 1_000),
            ("empty part", [1, 0, 0, 0, 0, 0, 0, 0, 0] + stream, 1_000),
            ("no control object", Array(stream[..<(stream.count - end.count)]), 1_000),
            ("an entry that does not decode", badEntry, 1_000), ("too many", stream, entries.count - 3),
        ]
        for (name, bytes, maxEntries) in cases {
            let whole = Self.readInPieces(bytes, size: bytes.count, maxEntries: maxEntries)
            for size in [1, 2, 81, 1_000, 4_096, bytes.count / 2] {
                #expect(Self.readInPieces(bytes, size: size, maxEntries: maxEntries) == whole, "\(name), \(size)")
            }
        }
        #expect(Self.readInPieces(stream, size: 7) == "cd: \(entries.map(\.hash.hex))")
        #expect(
            Self.readInPieces(badEntry, size: 7)
                == "refused: its entries after the first 0: an entry that does not decode")
        #expect(
            Self.readInPieces(stream, size: 7, maxEntries: entries.count - 3)
                == "refused: too many entries in one message (\(entries.count))")
    }

    @Test("a part claiming more entries than may come is refused when its count arrives, not after the rest of it")
    func claimRefusedAtOnce() throws {
        let entries = try Self.fixture(20).allEntries
        let first = SyncBody.partStart + EntryRuns.encoded(Array(entries[..<6]))
        let second = SyncBody.partStart + EntryRuns.encoded(Array(entries[6..<12]))
        var reader = SyncBody.StreamReader<SyncResponse>(maxEntries: 10)
        try reader.read(first)
        // Six more than the four left: refused with the part's first five bytes.
        do {
            try reader.read(second.prefix(5))
            Issue.record("a part claiming six entries where four may come was not refused")
        } catch {
            #expect(error.tooMany && error.description == "too many entries in one message (12)")
        }
    }

    @Test("a stream trickled a byte at a time is not read again for every byte that arrives")
    func trickled() throws {
        let entries = try Self.fixture(300).allEntries
        let stream = try SyncBody.stream(SyncResponse(digest: "cd"), parts: [entries])
        var reader = SyncBody.StreamReader<SyncResponse>(maxEntries: 1_000)
        for byte in stream { try reader.read([byte]) }
        #expect(try reader.finish().1.map(\.encoded) == entries.map(\.encoded))
        // One part of ~45 kB: read again at each byte would look at ~1 GB; each doubling of
        // what waits, a few times the stream.
        #expect(reader.examined <= 8 * stream.count, "\(reader.examined) bytes looked at for \(stream.count)")
    }

    @Test(
        "a pull asked for streamed comes a list per read, as the binary form's entries; one not asked gets the binary form"
    )
    func streamedPull() async throws {
        let fixture = try Self.fixture(2_400)
        let backend = try await BackendKind.sqlite.make()
        let store = try await TestStore(backend: backend)
        try await store.application(configure: TestStore.unlimited).test(.router) { client in
            let root = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            let pushed = try await client.binarySync(fixture.identity, token: root, clock: .empty, fixture.allEntries)
            #expect(pushed.status == 200)
            let other = try await client.token(fixture.identity, fixture.devices[1])
            let before = try await client.counters(["sync_bytes_sent", "entries_sent"])
            let streamed = try await client.streamedSync(fixture.identity, token: other, clock: .empty)
            #expect(streamed.status == 200)
            #expect(streamed.contentType == SyncBody.streamType)
            // One part per read of 1,024 rows: the store held one read's runs at a time.
            let parts = try streamParts(streamed.body)
            #expect(parts.count == 3, "\(parts)")
            #expect(parts.allSatisfy { $0 <= 1_024 })
            let (answer, entries) = try SyncBody.decodeStream(
                streamed.body, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
            #expect(answer.more == false && answer.remaining == fixture.allEntries.count && answer.head != nil)
            #expect(
                try await client.counters(["sync_bytes_sent", "entries_sent"])
                    == [before[0] + streamed.body.count, before[1] + fixture.allEntries.count])
            // A device that does not ask (an earlier version) is answered in the binary form, alike.
            let binary = try await client.binarySync(fixture.identity, token: other, clock: .empty, [])
            #expect(binary.contentType == SyncBody.contentType)
            let (binaryAnswer, binaryEntries) = try SyncBody.decode(
                binary.body, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
            #expect(entries.map(\.encoded) == binaryEntries.map(\.encoded))
            #expect(Set(entries.map(\.hash)) == Set(fixture.allEntries.map(\.hash)))
            #expect(answer.digest == binaryAnswer.digest && answer.remainingBytes == binaryAnswer.remainingBytes)
        }
        // A page smaller than what the device lacks: `more`, and the sizes, end the stream.
        let paged = try await TestStore(backend: backend, pageEntries: 1_500)
        try await paged.application(configure: TestStore.unlimited).test(.router) { client in
            let other = try await client.token(fixture.identity, fixture.devices[1])
            let streamed = try await client.streamedSync(fixture.identity, token: other, clock: .empty)
            let (answer, entries) = try SyncBody.decodeStream(
                streamed.body, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
            #expect(entries.count == 1_500)
            #expect(answer.more == true && answer.remaining == fixture.allEntries.count)
            #expect((answer.remainingBytes ?? 0) > 0)
        }
    }

    @Test("a forked identity's answer, read from its replica after the identity is let go, streams a list per read")
    func streamedFromReplica() async throws {
        let (fixture, entries) = try LedgerFixture.forked(after: 2_400)
        let store = try await TestStore(backend: try await BackendKind.sqlite.make())
        try await store.application(configure: TestStore.unlimited).test(.router) { client in
            let token = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            let pushed = try await client.push(fixture.identity, token: token, entries)
            #expect(pushed["forks"] as? [String] == [fixture.devices[1].publicKey.hex])
            let other = try await client.token(fixture.identity, fixture.devices[1])
            let streamed = try await client.streamedSync(fixture.identity, token: other, clock: .empty)
            #expect(streamed.contentType == SyncBody.streamType)
            let parts = try streamParts(streamed.body)
            #expect(parts.count >= 3 && parts.allSatisfy { $0 <= 1_024 }, "\(parts)")
            let (answer, sent) = try SyncBody.decodeStream(
                streamed.body, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
            #expect(Set(sent.map(\.hash)) == Set(entries.map(\.hash)))
            #expect(answer.more == false && answer.remaining == entries.count)
        }
    }

    /// Two devices of one identity and a live store on a `ScanGate`: the laptop (device 0)
    /// holds the fixture's entries and has pushed them; the phone (device 1) holds none yet.
    struct TwoDevices: Sendable {
        let laptop: MergeEngine
        let laptopClient: StoreClient
        let phone: MergeEngine
        let phoneClient: StoreClient
    }

    static func withTwoDevices(
        _ fixture: LedgerFixture, gate: ScanGate, _ body: @escaping @Sendable (TwoDevices) async throws -> Void
    ) async throws {
        let store = try await TestStore(backend: gate, realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let laptopClient = StoreClient(url: url, engine: laptop, keyPair: fixture.devices[0])
            _ = try await laptopClient.sync()
            let phone = try await fixture.replica(device: 1)
            let phoneClient = StoreClient(url: url, engine: phone, keyPair: fixture.devices[1])
            try await body(
                TwoDevices(laptop: laptop, laptopClient: laptopClient, phone: phone, phoneClient: phoneClient))
        }
    }

    @Test("while a device's answer is still being read, another device of the identity syncs")
    func slowReaderHoldsNobody() async throws {
        let gate = ScanGate(try await BackendKind.sqlite.make())
        try await Self.withTwoDevices(try Self.fixture(2_400), gate: gate) { devices in
            let (laptop, laptopClient, phone, phoneClient) = (
                devices.laptop, devices.laptopClient, devices.phone, devices.phoneClient
            )
            gate.mode.withLock { $0 = .hold }
            let pull = Task { try await phoneClient.sync() }
            let held = await eventually(timeout: 30) { gate.waiting.value > 0 }
            // The phone's answer waits for its second read: the laptop writes and syncs meanwhile.
            var pushed: Result<Int, any Error>
            do {
                pushed = .success(
                    try await withDeadline(.seconds(30), clock: ContinuousClock()) {
                        try await laptop.appendRecord(.credit, amount: 5, memo: "meanwhile")
                        return try await laptopClient.sync().sent
                    })
            } catch { pushed = .failure(error) }
            gate.open()
            #expect(held)
            #expect(try pushed.get() == 1)
            _ = try await pull.value
            _ = try await phoneClient.sync()
            #expect(try await phone.totals() == (try await laptop.totals()))
        }
    }

    @Test("an answer whose rows fail part-way is cut off, not ended: the device says so, and the next sync converges")
    func failedPartWay() async throws {
        let gate = ScanGate(try await BackendKind.sqlite.make())
        try await Self.withTwoDevices(try Self.fixture(2_400), gate: gate) { devices in
            let (laptop, phone, phoneClient) = (devices.laptop, devices.phone, devices.phoneClient)
            gate.mode.withLock { $0 = .fail }
            await #expect {
                try await phoneClient.sync()
            } throws: { error in
                "\(error)".contains("before its whole answer arrived")
            }
            #expect(try await phone.totals().credits == 0)
            gate.open()
            let pulled = try await phoneClient.sync()
            #expect(pulled.converged)
            #expect(try await phone.totals() == (try await laptop.totals()))
        }
    }
}
