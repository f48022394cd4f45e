import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("Merge engine")
struct MergeEngineTests {
    @Test("a replica that merges every log counts every record and lists every device")
    func mergesEverything() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.record(device: 0, .credit, amount: 1000, memo: "salary")
        try fixture.record(device: 1, .debit, amount: 250, memo: "lunch")
        try fixture.record(device: 2, .credit, amount: 5)
        let replica = try await fixture.replica(device: 1)
        let report = try await replica.merge(fixture.allEntries)
        #expect(report.rejected.isEmpty)
        #expect(report.accepted.count == fixture.allEntries.count)
        let totals = try await replica.totals()
        #expect(totals.credits == 1005)
        #expect(totals.debits == 250)
        #expect(totals.balance == 755)
        #expect(try await replica.devices().count == 3)
        #expect(await replica.decimals == 2)
        let history = try await replica.history(limit: 10)
        #expect(history.map(\.amount) == [5, 250, 1000])
        #expect(history.map(\.memo) == ["", "lunch", "salary"])
    }

    @Test("a device appends through the engine and a second replica converges")
    func localAppend() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        try await a.merge(fixture.allEntries)
        try await b.merge(fixture.allEntries)
        try await a.appendRecord(.credit, amount: 700, memo: "from a")
        try await b.appendRecord(.debit, amount: 200, memo: "from b")
        try await b.merge(try await a.delta(for: try await b.clock()))
        try await a.merge(try await b.delta(for: try await a.clock()))
        #expect(try await a.clock() == (try await b.clock()))
        #expect(try await a.totals().balance == 500)
        #expect(try await b.totals().balance == 500)
    }
}
