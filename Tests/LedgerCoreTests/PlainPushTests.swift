import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// The store's check of a push against heads alone (`PlainPush`) must agree with the merge
/// engine wherever it decides: what it accepts, a merge accepts the same way and leaves the same
/// clock; everything else it leaves to the engine.
@Suite("A store checks plain pushes against heads alone")
struct PlainPushTests {
    /// What a random push is made of.
    enum Shape: CaseIterable {
        case clean, gap, repeated, control, badSignature, unauthorised, brokenLink
        /// Clean, in any order: logs interleaved and each log's entries out of seq order.
        case shuffled
    }

    @Test("a clean push of records is accepted exactly as a merge accepts it; any other push is left to the engine")
    func agreesWithMerge() async throws {
        var random = Generator(seed: 7)
        var plain = 0
        var leftAlone = 0
        for _ in 0..<12 {
            var fixture = try LedgerFixture(deviceCount: 3)
            let engine = try await fixture.replica(device: 0)
            try await engine.merge(fixture.allEntries)
            for _ in 0..<10 {
                for _ in 0..<(1 + random.next(4)) {
                    let device = random.next(3)
                    if random.next(5) == 0, let target = fixture.logs[device].last(where: { $0.kind == .credit }) {
                        try fixture.correct(device: device, target, amount: Int64(1 + random.next(50)))
                    } else {
                        try fixture.record(
                            device: device, random.next(2) == 0 ? .credit : .debit, amount: Int64(1 + random.next(900)))
                    }
                }
                let heads = try #require(try await engine.plainClock())
                // What the engine lacks, log by log.
                var push: [Entry] = []
                for (index, log) in fixture.logs.enumerated() {
                    push += log.dropFirst(Int(heads[fixture.devices[index].publicKey]))
                }
                var authorised = Set(fixture.devices.map(\.publicKey))
                let shape = Shape.allCases[random.next(Shape.allCases.count)]
                switch shape {
                case .clean:
                    break
                case .shuffled:
                    for index in push.indices.reversed() { push.swapAt(index, random.next(index + 1)) }
                case .gap:
                    // The first new entry of a log with more after it.
                    guard
                        let first = push.indices.first(where: { i in
                            push.dropFirst(i + 1).contains { $0.author == push[i].author }
                        })
                    else { continue }
                    push.remove(at: first)
                case .repeated:
                    push.append(fixture.logs[0][0])
                case .control:
                    var copy = fixture
                    push.append(try copy.link(device: SigningKeyPair.generate(), name: "new", by: 0))
                case .badSignature:
                    guard let last = push.popLast() else { continue }
                    var bytes = last.encoded
                    bytes[bytes.count - 1] ^= 1
                    push.append(try Entry(decoding: bytes))
                case .unauthorised:
                    guard let author = push.first?.author else { continue }
                    authorised.remove(author)
                case .brokenLink:
                    // An entry of the right seq that links to nothing held: a fork not proven.
                    guard let first = push.first,
                        let author = fixture.devices.first(where: { $0.publicKey == first.author })
                    else { continue }
                    push[0] = Entry(
                        identity: fixture.identity, keyPair: author, seq: first.seq,
                        prev: try EntryHash(bytes: SecureRandom.bytes(32)),
                        kind: .credit, time: 1, publicBody: first.publicBody, sealed: first.sealed)
                }
                let outcome = PlainPush.extend(heads, with: push, identity: fixture.identity, authorised: authorised)
                guard shape == .clean || shape == .shuffled else {
                    #expect(outcome == nil, "a \(shape) push is left to the engine")
                    leftAlone += 1
                    continue
                }
                let (fresh, after) = try #require(outcome, "a clean push of records needs no engine")
                let report = try await engine.merge(push)
                #expect(Set(report.accepted) == Set(fresh.map(\.hash)))
                #expect(report.accepted.count == fresh.count)
                #expect(report.rejected.isEmpty && report.held.isEmpty && report.forks.isEmpty)
                #expect(try await engine.clock() == after)
                // Each log's entries in seq order, the logs in the order they first appear.
                var firsts: [DevicePublicKey] = []
                for entry in push where !firsts.contains(entry.author) { firsts.append(entry.author) }
                #expect(
                    fresh.map(\.hash)
                        == firsts.flatMap { author in
                            push.filter { $0.author == author }.sorted { $0.seq < $1.seq }.map(\.hash)
                        })
                plain += 1
            }
        }
        #expect(plain >= 15 && leftAlone >= 30, "both kinds of push were tried (\(plain), \(leftAlone))")
    }

    @Test("a forked log has no plain heads, and a push onto one is left to the engine")
    func forkedHeads() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 1, .credit, amount: 5)
        var rival = fixture
        let original = try fixture.record(device: 1, .credit, amount: 6)
        let other = try rival.record(device: 1, .credit, amount: 7)
        let engine = try await fixture.replica(device: 0)
        try await engine.merge(fixture.allEntries)
        let heads = try #require(try await engine.plainClock())
        #expect(
            PlainPush.extend(
                heads, with: [other], identity: fixture.identity, authorised: Set(fixture.devices.map(\.publicKey)))
                == nil)
        try await engine.merge([other])
        #expect(original.seq == other.seq)
        #expect(try await engine.plainClock() == nil)
    }

    @Test("an entry's author and seq are read in place; bytes too short name none")
    func positions() throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        let entry = try fixture.record(device: 0, .credit, amount: 1)
        let position = try #require(Entry.position(in: entry.encoded))
        #expect(Array(position.author) == entry.author.bytes)
        #expect(position.seq == Int64(entry.seq))
        #expect(Entry.position(in: Array(entry.encoded.prefix(60))) == nil)
        var huge = entry.encoded
        for i in 65..<73 { huge[i] = 0xFF }
        #expect(Entry.position(in: huge) == nil, "a seq above Int64.max names no place")
    }
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Generator {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next(_ bound: Int) -> Int {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Int(state % UInt64(bound))
    }
}
