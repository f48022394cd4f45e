import LedgerCore
import LedgerCrypto
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
