import LedgerCore
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// A store writes the logs of a push that went through its replica in the roster's rank order
/// (certificates before the entries they admit), each log in seq order.
@Suite("A push is stored in rank order")
struct RankOrderTests {
    @Test("in any order, a push comes out as the full sort puts it; one already in order comes out as it is")
    func rankOrder() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        for i in 0..<40 { try fixture.record(device: i % 3, .credit, amount: Int64(i + 1)) }
        let replica = try await fixture.replica()
        try await replica.merge(fixture.allEntries)
        let roster = try await replica.currentRoster()
        func sorted(_ entries: [Entry]) -> [Entry] {
            entries.sorted { a, b in a.author == b.author ? a.seq < b.seq : roster.precedes(a.author, b.author) }
        }
        let ordered = sorted(fixture.allEntries)
        #expect(IdentityLedger.inRankOrder(ordered, roster: roster) == ordered)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let shuffled = fixture.allEntries.shuffled(using: &generator)
            #expect(IdentityLedger.inRankOrder(shuffled, roster: roster) == ordered)
        }
        // Logs whole but in the wrong rank order, and one log out of seq order.
        let logs = fixture.logs.map { $0 }
        #expect(IdentityLedger.inRankOrder(logs.reversed().flatMap { $0 }, roster: roster) == ordered)
        let swapped = [logs[0][1], logs[0][0]] + logs[0].dropFirst(2) + logs[1] + logs[2]
        #expect(IdentityLedger.inRankOrder(swapped, roster: roster) == sorted(swapped))
    }
}
