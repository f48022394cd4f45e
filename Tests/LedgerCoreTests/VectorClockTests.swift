import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("Vector clock: the decoder refuses what no honest replica writes")
struct VectorClockTests {
    let keys = (0..<3).map { _ in SigningKeyPair.generate().publicKey }.sorted()

    func encoded(_ entries: [ClockEntry]) -> [UInt8] { VectorClock.encode(entries) }

    @Test("a clock that names a seq above 2^63-1 is refused, whether as seq or as fork seq")
    func seqAboveLimit() throws {
        for entry in [
            ClockEntry(author: keys[0], seq: .max, head: .zero),
            ClockEntry(author: keys[0], seq: VectorClock.maxSeq + 1, head: .zero),
            ClockEntry(author: keys[0], seq: 1, head: .zero, forkSeq: .max),
        ] {
            #expect(throws: LedgerError.self) { try VectorClock(decoding: encoded([entry])) }
        }
        let atLimit = try VectorClock(
            decoding: encoded([ClockEntry(author: keys[0], seq: VectorClock.maxSeq, head: .zero)]))
        #expect(atLimit[keys[0]] == VectorClock.maxSeq)
    }

    @Test("devices out of order or repeated are refused rather than re-sorted")
    func order() throws {
        let a = ClockEntry(author: keys[0], seq: 1, head: .zero)
        let b = ClockEntry(author: keys[1], seq: 2, head: .zero)
        #expect(throws: LedgerError.malformed("clock devices are not in order")) {
            try VectorClock(decoding: encoded([b, a]))
        }
        #expect(throws: LedgerError.malformed("duplicate device in clock")) {
            try VectorClock(decoding: encoded([a, a]))
        }
        let clock = try VectorClock(decoding: encoded([a, b]))
        #expect(VectorClock.encode(clock.entries) == encoded([a, b]))
    }

    @Test("a count that claims more devices than the bytes hold is refused before anything is reserved")
    func countBeyondBytes() {
        var bytes = encoded([])
        bytes.replaceSubrange(bytes.count - 4..<bytes.count, with: [0, 0, 0x10, 0])  // 4096 devices, no bytes
        #expect(throws: LedgerError.malformed("clock is truncated")) { try VectorClock(decoding: bytes) }
    }

    @Test("moving a clock at the largest seq over an entry of that device does not trap")
    func advancedAtLimit() throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let genesis = fixture.logs[0][0]
        let top = VectorClock([ClockEntry(author: genesis.author, seq: VectorClock.maxSeq, head: .zero)])
        #expect(top.advanced(by: [genesis]) == top)
        let fromEmpty = VectorClock.empty.advanced(by: [genesis])
        #expect(fromEmpty[genesis.author] == 1)
    }

    @Test(
        "a clock moved over entries in any order (logs in turn, shuffled, repeated, with gaps) is the clock the replica holding them has"
    )
    func advancedInAnyOrder() async throws {
        var built = try LedgerFixture(deviceCount: 3)
        for i in 0..<60 { try built.record(device: i % 3, .credit, amount: Int64(i + 1)) }
        let fixture = built
        var generator = SystemRandomNumberGenerator()
        for round in 0..<60 {
            // A replica holding a random prefix of each log (the laptop's with its two links, so
            // nothing of the others' waits for them), then entries of the rest.
            let held = fixture.logs.enumerated().map { index, log in
                log.prefix(Int.random(in: (index == 0 ? 3 : 0)...log.count, using: &generator))
            }
            let rest = zip(fixture.logs, held).flatMap { log, prefix in log.dropFirst(prefix.count) }
            var batch: [Entry]
            switch round % 4 {
            case 0: batch = rest  // logs in turn, each in seq order
            case 1: batch = rest.shuffled(using: &generator)
            case 2: batch = rest + rest.prefix(5)  // some twice
            default: batch = rest.filter { _ in Bool.random(using: &generator) }  // gaps
            }
            let replica = try await fixture.replica(device: 0)
            try await replica.merge(held.flatMap { $0 })
            let before = try await replica.clock()
            try await replica.merge(batch)
            let expected = try await replica.clock()
            #expect(before.advanced(by: batch) == expected, "round \(round)")
        }
    }
}
