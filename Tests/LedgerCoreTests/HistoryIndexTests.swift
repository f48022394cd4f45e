import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("History index")
struct HistoryIndexTests {
    /// 2,017 records over three devices, the oldest a salary.
    static func ledger() throws -> LedgerFixture {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.record(device: 1, .credit, amount: 250_000, memo: "Salary November")
        for i in 0..<2_016 {
            try fixture.record(device: i % 3, i % 4 == 0 ? .credit : .debit, amount: Int64(100 + i), memo: "item \(i)")
        }
        return fixture
    }

    @Test("the index holds every counted record, newest first, in the order of the first page")
    func wholeLedger() async throws {
        let fixture = try Self.ledger()
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        let index = try #require(try engine.historyIndex(try await engine.historyLogs(), filter: nil))
        #expect(index.count == 2_017)
        let firstPage = try await engine.history(limit: 50)
        #expect(try engine.historyItems(index, in: 0..<50) == firstPage)
        let last = try engine.historyItems(index, in: 2_000..<2_017)
        #expect(last.count == 17)
        #expect(last.last?.memo == "Salary November")
        #expect(try engine.historyItems(index, in: 2_010..<5_000).count == 7, "a range past the end is cut")
        let totals = try await engine.totals()
        #expect(index.totals.credits == totals.credits)
        #expect(index.totals.debits == totals.debits)
    }

    @Test("the filter searches the whole ledger: memo (any case), amount, device name and date")
    func filter() async throws {
        let fixture = try Self.ledger()
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        let logs = try await engine.historyLogs()
        func matches(_ text: String) throws -> HistoryIndex {
            try #require(try engine.historyIndex(logs, filter: HistoryFilter(text)))
        }
        let salary = try matches("salary")
        #expect(salary.count == 1)
        #expect(try engine.historyItems(salary, in: 0..<1).first?.memo == "Salary November")
        #expect(salary.totals.credits == 250_000)
        #expect(try matches("2500.00").count == 1, "the amount as the screen shows it")
        #expect(try matches("device-2").count == 672, "a third of the items, by the device's name")
        #expect(try matches("item 20").count == 27, "item 20, item 200-209 and item 2000-2015")
        let date = HistoryDate.format(fixture.logs[1][0].time).prefix(10)
        #expect(try matches(String(date)).count == 2_017, "every entry was written that day")
        #expect(try matches("no such thing").count == 0)
    }

    @Test("amount bounds, dates, kinds and devices narrow the filter, typed (>100, 2026-11) or given apart")
    func criteria() async throws {
        let fixture = try Self.ledger()
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        let logs = try await engine.historyLogs()
        func count(_ filter: HistoryFilter) throws -> Int {
            try #require(try engine.historyIndex(logs, filter: filter)).count
        }
        // Amounts 1.00 to 21.15, and the salary of 2500.00.
        #expect(try count(HistoryFilter(">2000")) == 1)
        #expect(try count(HistoryFilter(">=21.15")) == 2)
        #expect(try count(HistoryFilter("<1.01")) == 1)
        #expect(try count(HistoryFilter("<=1.01 >=1.00")) == 2)
        #expect(try count(HistoryFilter("item >=21")) == 16, "text and a bound together")
        #expect(try count(HistoryFilter(minAmount: 100, maxAmount: 100)) == 1)
        #expect(try count(HistoryFilter(kind: .credit)) == 505)
        #expect(try count(HistoryFilter(kind: .debit)) == 1_512)
        #expect(try count(HistoryFilter(devices: [fixture.devices[1].publicKey])) == 673)
        #expect(try count(HistoryFilter(search: "salary", kind: .debit)) == 0)
        // Dates in local time: the month and the day the entries were written, and the next.
        let written = fixture.logs[1][0].time
        let day = String(HistoryDate.format(written).prefix(10))
        let month = String(day.prefix(7))
        #expect(try count(HistoryFilter(day)) == 2_017)
        #expect(try count(HistoryFilter(month)) == 2_017)
        let range = try #require(HistoryDate.range(day))
        #expect(range.0 <= written && written < range.1)
        #expect(try count(HistoryFilter(since: range.1)) == 0)
        #expect(try count(HistoryFilter(until: range.0)) == 0)
        #expect(HistoryDate.range("2026-02-30") == nil)
        #expect(HistoryDate.range("2026-13") == nil)
        #expect(HistoryDate.range("26-11") == nil)
        // What is not a bound or a date stays text.
        #expect(try count(HistoryFilter(">lots")) == 0)
    }

    @Test("the filter ignores case in ASCII and beyond, and matches amounts and dates only where they can")
    func filterCases() async throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        try fixture.record(device: 0, .debit, amount: 450, memo: "Café Crème")
        try fixture.record(device: 0, .debit, amount: 2_023, memo: "RENT")
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        let logs = try await engine.historyLogs()
        func count(_ text: String) throws -> Int {
            try #require(try engine.historyIndex(logs, filter: HistoryFilter(text))).count
        }
        #expect(try count("café") == 1)
        #expect(try count("CAFÉ CRÈME") == 1)
        #expect(try count("rent") == 1)
        #expect(try count("4.50") == 1)
        #expect(try count("20.23") == 1)
        let day = String(HistoryDate.format(fixture.logs[0][1].time).prefix(10))  // local time
        #expect(try count(day) == 2, "the date both were written")
        #expect(try count("rent 2023") == 0, "words and digits together match a memo only")
        #expect(try count("") == 2)
    }

    @Test("an update reads only what was appended and ends where a fresh index does; a revoke starts over")
    func update() async throws {
        var fixture = try Self.ledger()
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        let first = try #require(try engine.historyIndex(try await engine.historyLogs(), filter: nil))
        try fixture.record(device: 2, .credit, amount: 7, memo: "newest")
        try fixture.record(device: 0, .debit, amount: 3, memo: "newer still")
        try await engine.merge(fixture.allEntries)
        let logs = try await engine.historyLogs()
        let updated = try #require(try engine.historyIndex(logs, filter: nil, updating: first))
        let fresh = try #require(try engine.historyIndex(logs, filter: nil))
        #expect(updated.count == 2_019)
        #expect(try engine.historyItems(updated, in: 0..<2_019) == engine.historyItems(fresh, in: 0..<2_019))
        #expect(try engine.historyItems(updated, in: 0..<2).map(\.memo) == ["newer still", "newest"])

        // Device 2 is revoked before its last 100 entries: they leave the history.
        try fixture.revoke(device: 2, by: 0, boundary: Seq(fixture.logs[2].count - 100))
        try await engine.merge(fixture.allEntries)
        let afterRevoke = try #require(
            try engine.historyIndex(try await engine.historyLogs(), filter: nil, updating: updated))
        #expect(afterRevoke.count == 2_019 - 100)
        #expect(afterRevoke.totals.credits == (try await engine.totals()).credits)
    }

    @Test("totals by month, for the period in view")
    func months() async throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        try fixture.record(device: 0, .credit, amount: 1_000, memo: "pay")
        fixture.advanceClock(milliseconds: 40 * 86_400_000)
        try fixture.record(device: 0, .credit, amount: 500, memo: "pay")
        try fixture.record(device: 0, .debit, amount: 200, memo: "rent")
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        let index = try #require(try engine.historyIndex(try await engine.historyLogs(), filter: nil))
        let first = HistoryDate.month(fixture.logs[0][1].time)
        let second = HistoryDate.month(fixture.logs[0][3].time)
        #expect(second > first)
        #expect(index.months[first]?.credits == 1_000)
        #expect(index.months[second]?.credits == 500)
        #expect(index.months[second]?.debits == 200)
        #expect(index.months[second]?.entries == 2)
    }

    @Test("a cancelled build returns nothing")
    func cancelled() async throws {
        let fixture = try Self.ledger()
        let engine = try await fixture.replica()
        try await engine.merge(fixture.allEntries)
        #expect(try engine.historyIndex(try await engine.historyLogs(), filter: nil, isCancelled: { true }) == nil)
    }
}
