import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@testable import LedgerSync

@Suite("Peer messages from a hostile peer")
struct PeerMessageTests {
    @Test("a clock message claiming seq 2^64-1 is a protocol violation that names the reason")
    func clockOverflow() throws {
        let author = SigningKeyPair.generate().publicKey
        let forged = VectorClock.encode([ClockEntry(author: author, seq: .max, head: .zero)])
        #expect(throws: PeerChannelError.protocolViolation("bad clock: clock names a seq above \(VectorClock.maxSeq)"))
        {
            try PeerMessage(decoding: [PeerMessage.Kind.clock.rawValue] + forged)
        }
        let honest = VectorClock.encode([ClockEntry(author: author, seq: 3, head: .zero)])
        guard case .clock(let clock) = try PeerMessage(decoding: [PeerMessage.Kind.clock.rawValue] + honest) else {
            Issue.record("an honest clock did not parse as a clock")
            return
        }
        #expect(clock[author] == 3)
    }
}

@Suite("Peer messages carry entries as runs")
struct PeerRunsTests {
    @Test("entries are sent as RUNS, smaller than ENTRIES; ENTRIES from an earlier version still reads")
    func runsAndEntries() throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<50 { try fixture.record(device: i % 2, .credit, amount: 1, memo: "coffee \(i)") }
        let entries = fixture.allEntries
        let sent = PeerMessage.entries(entries).encoded
        #expect(sent.first == PeerMessage.Kind.runs.rawValue)
        var w = ByteWriter()
        w.u8(PeerMessage.Kind.entries.rawValue)
        EntryList.encode(entries, into: &w)
        let earlier = w.bytes
        #expect(sent.count * 3 < earlier.count * 2)
        for bytes in [sent, earlier] {
            guard case .entries(let read) = try PeerMessage(decoding: bytes) else {
                Issue.record("not read as entries")
                continue
            }
            #expect(read.map(\.encoded) == entries.map(\.encoded))
        }
        // Over the message's count, in either form: refused before anything is built.
        let many = Array(repeating: entries[3], count: PeerMessage.maxEntries + 1)
        #expect(throws: PeerChannelError.protocolViolation("too many entries in one message")) {
            try PeerMessage(decoding: PeerMessage.entries(many).encoded)
        }
        // A batch the batcher made fits a frame, whatever its entries.
        for batch in PeerMessage.batcher.batches(entries) {
            #expect(PeerMessage.entries(batch).encoded.count + SecretStream.overhead <= PeerFraming.maxFrame)
        }
    }
}
