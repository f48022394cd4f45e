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

extension TestClientProtocol {
    /// The values of `ledgerlink_store_NAME_total` counters on /metrics, in the order named.
    func counters(_ names: [String]) async throws -> [Int] {
        let metrics = try await executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
        let lines = String(buffer: metrics.body).split(separator: "\n")
        return names.map { name in
            lines.first { $0.hasPrefix("ledgerlink_store_\(name)_total ") }.flatMap { Int($0.split(separator: " ")[1]) }
                ?? -1
        }
    }

    /// A sync in the binary form: the status, the answer's content type, and its bytes.
    func binarySync(_ identity: IdentityID, token: String, clock: VectorClock, _ entries: [Entry], raw: [UInt8]? = nil)
        async throws -> (status: Int, contentType: String?, body: [UInt8])
    {
        let body =
            try raw
            ?? SyncBody.encode(SyncRequest(clock: Data.base64(VectorClock.encode(clock.entries))), entries: entries)
        let response = try await executeRequest(
            uri: "/v1/identities/\(identity.hex)/sync", method: .post,
            headers: [.contentType: SyncBody.contentType, .authorization: "Bearer \(token)"],
            body: ByteBuffer(bytes: body))
        return (Int(response.status.code), response.headers[.contentType], Array(response.body.readableBytesView))
    }
}

@Suite("Store: binary sync bodies beside the JSON form")
struct BinarySyncTests {
    @Test("a push and a pull in the binary form keep and return the same entries the JSON form does")
    func sameAsJSON() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<300 { try built.record(device: i % 2, .credit, amount: Int64(i + 1), memo: "entry \(i)") }
        let fixture = built
        let store = try await TestStore()
        try await store.application().test(.router) { client in
            let root = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            let pushed = try await client.binarySync(fixture.identity, token: root, clock: .empty, fixture.allEntries)
            #expect(pushed.status == 200)
            #expect(pushed.contentType == SyncBody.contentType)
            let (answer, returned) = try SyncBody.decode(pushed.body, as: SyncResponse.self, maxEntries: .max)
            #expect(answer.accepted == fixture.allEntries.count - 1)  // the genesis came with the token
            #expect(returned.isEmpty)
            #expect(answer.head != nil)
            #expect(try await store.backend.version(of: fixture.identity.bytes) == Int64(fixture.allEntries.count))

            // A new device pulls everything: the binary answer carries exactly the JSON one's entries.
            let other = try await client.token(fixture.identity, fixture.devices[1])
            let before = try await client.counters(["sync_bytes_received", "sync_bytes_sent"])
            let binary = try await client.binarySync(fixture.identity, token: other, clock: .empty, [])
            // /metrics counts the bodies' bytes, both ways.
            let request = try SyncBody.encode(SyncRequest(clock: Data.base64(VectorClock.encode([]))), entries: [])
            #expect(
                try await client.counters(["sync_bytes_received", "sync_bytes_sent"])
                    == [before[0] + request.count, before[1] + binary.body.count])
            let (binaryAnswer, binaryEntries) = try SyncBody.decode(
                binary.body, as: SyncResponse.self, maxEntries: .max)
            let json = try await client.push(fixture.identity, token: other, [])
            let jsonEntries = try #require(json["entries"] as? [String]).map { base64Bytes($0) ?? [] }
            #expect(binaryEntries.map(\.encoded) == jsonEntries)
            #expect(Set(binaryEntries.map(\.hash)) == Set(fixture.allEntries.map(\.hash)))
            #expect(binaryAnswer.digest == json["digest"] as? String)
            #expect(binaryAnswer.entries == nil)
            // The same entries in fewer bytes: runs instead of base64 in JSON.
            #expect(binary.body.count * 3 < json.bytes * 2)
        }
    }

    @Test("malformed binary bodies are refused with their reason, nothing kept; too many entries is its own code")
    func refusals() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        for i in 0..<3 { try built.record(device: 0, .credit, amount: 1, memo: "entry \(i)") }
        let fixture = built
        let store = try await TestStore()
        try await store.application().test(.router) { client in
            let root = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            let good = try SyncBody.encode(
                SyncRequest(clock: Data.base64(VectorClock.encode([]))), entries: Array(fixture.allEntries.dropFirst()))
            func refused(_ raw: [UInt8]) async throws -> [String: Any] {
                let answer = try await client.binarySync(fixture.identity, token: root, clock: .empty, [], raw: raw)
                #expect(answer.status >= 400)
                return (try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]) ?? [:]
            }
            let cut = try await refused(Array(good.dropLast()))
            #expect(cut["error"] as? String == "bad_request")
            #expect((cut["message"] as? String)?.contains("a truncated list of entries") == true)
            #expect(
                try await refused(good + [0])["message"] as? String
                    == "the sync body is malformed: bytes after the entries")
            #expect(try await refused([0, 0, 0, 9, 1])["error"] as? String == "bad_request")
            var many = good
            let controlLength = Int(good[3]) | Int(good[2]) << 8
            many.replaceSubrange(4 + controlLength..<4 + controlLength + 4, with: [0, 0, 0x13, 0x89])  // 5,001
            #expect(try await refused(many)["error"] as? String == "too_many_entries")
            let inside = try JSONSerialization.data(withJSONObject: ["clock": "", "entries": ["AAAA"]])
            var w = ByteWriter()
            w.lengthPrefixed32(Array(inside))
            EntryRuns.encode([], into: &w)
            #expect(
                try await refused(w.bytes)["message"] as? String
                    == "a binary sync body carries its entries as runs, not in its control object")
            #expect(try await store.backend.version(of: fixture.identity.bytes) == 1)
            // The good body is taken.
            let taken = try await client.binarySync(fixture.identity, token: root, clock: .empty, [], raw: good)
            #expect(taken.status == 200)
            #expect(try await store.backend.version(of: fixture.identity.bytes) == 4)
        }
    }
}

/// In front of a real store, a store of an earlier version: binary bodies are answered as it
/// answered them (400, not JSON), JSON ones pass.
struct FirstFormOnlyTransport: StoreTransport {
    let inner = HTTPStoreTransport()
    let binaryRefused = Locked(0)

    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        guard contentType != SyncBody.contentType else {
            binaryRefused.withLock { $0 += 1 }
            let refusal = try JSONEncoder().encode(
                StoreErrorBody(error: "bad_request", message: StoreAPI.notJSONMessage))
            return (400, ["content-type": "application/json"], refusal)
        }
        return try await inner.post(url, body: body, bearer: bearer, contentType: contentType)
    }
}

extension BinarySyncTests {
    @Test("a store of an earlier version (JSON bodies only) is spoken to in JSON, in batches it takes")
    func earlierStore() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<5_100 { try built.record(device: 0, .credit, amount: 1, memo: "m\(i)") }
        let fixture = built
        let store = try await TestStore(realTime: true)
        try await store.application(configure: {
            $0.publicURL = nil
            TestStore.patientConnections(&$0)
        }).test(.live) {
            client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let old = FirstFormOnlyTransport()
            let pusher = StoreClient(url: url, engine: laptop, keyPair: fixture.devices[0], transport: old)
            let pushed = try await pusher.sync()
            #expect(pushed.converged)
            #expect(pushed.sent == fixture.allEntries.count)
            #expect(pushed.storeProblems.isEmpty)
            #expect(old.binaryRefused.value == 1)  // asked once, then JSON from then on
            try await laptop.appendRecord(.credit, amount: 7, memo: "later")
            #expect(try await pusher.sync().converged)
            #expect(old.binaryRefused.value == 1)

            let phone = try await fixture.replica(device: 1)
            let puller = StoreClient(url: url, engine: phone, keyPair: fixture.devices[1], transport: old)
            let pulled = try await puller.sync()
            #expect(pulled.converged)
            #expect(pulled.received == fixture.allEntries.count + 1)
            #expect(try await phone.totals() == (try await laptop.totals()))
        }
    }
}

/// In front of a real store: before the push request numbered `before` (counting pushes that
/// carry entries), runs `meanwhile` (another device writing to the store), and holds that
/// request and every later one until it is done.
struct InterleavingTransport: StoreTransport {
    let inner = HTTPStoreTransport()
    let before: Int
    let meanwhile: @Sendable () async throws -> Void
    let pushes = Locked(0)
    /// `meanwhile`, once started: a task of its own, since the client may cancel the request
    /// that started it (a batch ahead refused for overtaking) and go on with others, which must
    /// neither cancel the other device's sync half-way nor reach the store before it is done.
    private let started = Locked<Task<Void, any Error>?>(nil)

    init(before: Int, meanwhile: @escaping @Sendable () async throws -> Void) {
        (self.before, self.meanwhile) = (before, meanwhile)
    }

    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        if contentType == SyncBody.contentType, body.count > 4_096 {
            let count = pushes.withLock {
                $0 += 1
                return $0
            }
            if count == before { started.withLock { $0 = Task { try await meanwhile() } } }
        }
        try await started.value?.value
        return try await inner.post(url, body: body, bearer: bearer, contentType: contentType)
    }
}

extension BinarySyncTests {
    @Test(
        "a push of several batches, each read while the last travels, sends every entry once when another device writes between them"
    )
    func pushAheadDiscarded() async throws {
        let fixture = try Self.records(200, devices: 2)
        let phone = try await fixture.replica(device: 1)
        try await phone.merge(Array(fixture.allEntries.prefix(3)))
        for i in 0..<30 { try await phone.appendRecord(.debit, amount: Int64(i + 1), memo: "phone \(i)") }
        let phoneClient = Locked<StoreClient?>(nil)
        // The phone pushes its own records just before the laptop's third batch: the batch read
        // ahead for the store the laptop expected is for a store that never was.
        let transport = InterleavingTransport(before: 3) {
            let sent = try await phoneClient.value?.sync().sent
            #expect(sent == 30)
        }
        try await Self.pushing(fixture, through: transport) { pusher, laptop, store, url in
            phoneClient.withLock { $0 = StoreClient(url: url, engine: phone, keyPair: fixture.devices[1]) }
            let pushed = try await pusher.sync()
            #expect(pushed.converged)
            #expect(pushed.sent == fixture.allEntries.count)
            #expect(pushed.received == 30)
            #expect(pushed.storeProblems.isEmpty)
            #expect(transport.pushes.value >= 5)  // batches of 40 (the last, of 3, is not counted)
            // Each entry stored once: the store's count is both devices' entries.
            #expect(try await store.backend.version(of: fixture.identity.bytes) == Int64(fixture.allEntries.count + 30))
            #expect(try await phoneClient.value?.sync().converged == true)
            #expect(try await phone.totals() == (try await laptop.totals()))
        }
    }
}

/// In front of a real store: holds the first push that carries entries until the second one
/// (sent ahead of its answer) has been answered, so the second reaches the store first.
final class ReorderingTransport: StoreTransport, @unchecked Sendable {
    let inner = HTTPStoreTransport()
    let pushes = Locked(0)
    /// The statuses of the second push's answers.
    let secondStatuses = Locked<[Int]>([])
    private let (secondAnswered, signal) = AsyncStream<Void>.makeStream()

    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        guard contentType == SyncBody.contentType, body.count > 4_096 else {
            return try await inner.post(url, body: body, bearer: bearer, contentType: contentType)
        }
        let count = pushes.withLock {
            $0 += 1
            return $0
        }
        if count == 1 {
            // Waits for the second push's answer, for 30 s at most (a client that sends nothing
            // ahead fails the test's expectations, not by hanging).
            _ = try? await withDeadline(.seconds(30), clock: ContinuousClock()) { [secondAnswered] in
                for await _ in secondAnswered { return true }
                return false
            }
        }
        let answer = try await inner.post(url, body: body, bearer: bearer, contentType: contentType)
        if count == 2 {
            secondStatuses.withLock { $0.append(answer.status) }
            signal.yield()
        }
        return answer
    }
}

extension BinarySyncTests {
    @Test(
        "a batch sent ahead that reaches the store before the one before it is refused as missing entries, and sent again"
    )
    func pushAheadOvertakes() async throws {
        let fixture = try Self.records(200, devices: 1)
        let transport = ReorderingTransport()
        try await Self.pushing(fixture, through: transport) { pusher, _, store, _ in
            let pushed = try await pusher.sync()
            #expect(transport.secondStatuses.value == [409], "the batch sent ahead arrived first and was refused")
            #expect(pushed.converged)
            #expect(pushed.sent == fixture.allEntries.count)
            #expect(pushed.storeProblems.isEmpty)
            #expect(try await store.backend.version(of: fixture.identity.bytes) == Int64(fixture.allEntries.count))
        }
    }
}

/// In front of a real store, a store that takes no entry: each push reaches it without its
/// entries (it answers honestly that it lacks them), and a batch sent ahead of the one the
/// store should take next is refused 409 `missing_entries`.
struct SwallowingTransport: StoreTransport {
    let inner = HTTPStoreTransport()
    let refusedAhead = Locked(0)

    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        guard contentType == SyncBody.contentType,
            let (request, entries) = try? SyncBody.decode(Array(body), as: SyncRequest.self, maxEntries: 20_000),
            let first = entries.first
        else {
            return try await inner.post(url, body: body, bearer: bearer, contentType: contentType)
        }
        // The store holds the genesis entry only: a batch not starting at seq 2 is ahead.
        guard first.seq == 2 else {
            refusedAhead.withLock { $0 += 1 }
            let refusal = try JSONEncoder().encode(
                StoreErrorBody(error: "missing_entries", message: "the store lacks entries before this batch"))
            return (409, ["content-type": "application/json"], refusal)
        }
        return try await inner.post(
            url, body: Data(try SyncBody.encode(request, entries: [])), bearer: bearer, contentType: contentType)
    }
}

extension BinarySyncTests {
    @Test("a store that refuses every batch sent ahead and takes none leaves the sync after a few rounds, said so")
    func overtakenForever() async throws {
        let fixture = try Self.records(200, devices: 1)
        let transport = SwallowingTransport()
        try await Self.pushing(fixture, through: transport) { pusher, _, _, _ in
            // A deadline only so that a sync that never ends fails here instead of hanging.
            let report = try await withDeadline(.seconds(60), clock: ContinuousClock()) { try await pusher.sync() }
            #expect(!report.converged)
            #expect(report.sent == 1)  // the genesis entry, which introduced the identity
            #expect(!report.storeProblems.isEmpty, "the pushes the store did not keep are said")
            // Each overtaken round may have sent one more ahead before it was called off.
            #expect((1...2 * StoreClient.maxOvertaken).contains(transport.refusedAhead.value))
        }
    }

    /// `count` records of the laptop (device 0) in a ledger of `devices` devices.
    static func records(_ count: Int, devices: Int) throws -> LedgerFixture {
        var built = try LedgerFixture(deviceCount: devices)
        for i in 0..<count { try built.record(device: 0, .credit, amount: Int64(i + 1), memo: "m\(i)") }
        return built
    }

    /// Runs `body` against a live store with the laptop holding every entry of `fixture` and a
    /// client that pushes it in batches of 40 through `transport` (so a push takes several).
    static func pushing(
        _ fixture: LedgerFixture, through transport: any StoreTransport,
        _ body: @Sendable (StoreClient, MergeEngine, TestStore, URL) async throws -> Void
    ) async throws {
        let store = try await TestStore(realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let small = DeltaBatcher(maxEntries: 40, maxBytes: 1 << 20, cost: EntryRuns.cost(of:))
            let pusher = StoreClient(
                url: url, engine: laptop, keyPair: fixture.devices[0], transport: transport, pushBatcher: small)
            try await body(pusher, laptop, store, url)
        }
    }
}
