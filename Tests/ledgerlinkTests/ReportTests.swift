import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

@Suite("Reports")
struct ReportTests {
    /// Noon, local time, on a date.
    static func noon(_ day: String) throws -> Int64 {
        let range = try #require(HistoryDate.range(day))
        return range.0 + 12 * 3_600_000
    }

    /// A ledger over three months of 2026, with tags.
    static func ledger() async throws -> Device {
        var fixture = try LedgerFixture(deviceCount: 2)
        fixture.clock = try noon("2026-09-15")
        try fixture.record(device: 0, .credit, amount: 100_000, memo: "salary #work")
        try fixture.record(device: 0, .debit, amount: 40_000, memo: "rent #home")
        fixture.clock = try noon("2026-10-15")
        try fixture.record(device: 1, .debit, amount: 1_250, memo: "lunch #food #team")
        fixture.clock = try noon("2026-11-02")
        try fixture.record(device: 0, .credit, amount: 100_000, memo: "salary #work")
        try fixture.record(device: 1, .debit, amount: 40_000, memo: "rent")
        return try await Device.holding(fixture)
    }

    @Test("monthly totals in, out and net, with the balance at each month's end; --from keeps the balance whole")
    func monthly() async throws {
        let device = try await Self.ledger()
        let rows = try #require(try await device.json("report") as? [[String: Any]])
        #expect(rows.map { $0["period"] as? String } == ["2026-09", "2026-10", "2026-11"])
        #expect(rows.map { $0["net"] as? String } == ["600.00", "-12.50", "600.00"])
        #expect(rows.map { $0["balance"] as? String } == ["600.00", "587.50", "1187.50"])
        let text = try await device.ok("report")
        #expect(text.contains("2026-10             +0.00          -12.50          -12.50  587.50"))
        let late = try #require(try await device.json("report", "--from", "2026-10") as? [[String: Any]])
        #expect(late.map { $0["balance"] as? String } == ["587.50", "1187.50"])
        let one = try #require(
            try await device.json("report", "--from", "2026-11-02", "--to", "2026-11-02") as? [[String: Any]])
        #expect(one.count == 1)
        #expect(try await device.ok("report", "--to", "2026-08").contains("No entries in that time."))
    }

    @Test("--yearly and --weekly periods; --by tag and --by device split each period")
    func splits() async throws {
        let device = try await Self.ledger()
        let year = try #require(try await device.json("report", "--yearly") as? [[String: Any]])
        #expect(year.map { $0["period"] as? String } == ["2026"])
        #expect(year.first?["entries"] as? Int == 5)
        let weeks = try #require(try await device.json("report", "--weekly") as? [[String: Any]])
        #expect(weeks.map { $0["period"] as? String } == ["2026-W38", "2026-W42", "2026-W45"])
        let tags = try #require(try await device.json("report", "--by", "tag") as? [[String: Any]])
        let november = tags.filter { $0["period"] as? String == "2026-11" }
        #expect(november.compactMap { $0["group"] as? String } == ["#work", "(untagged)"])
        let october = tags.filter { $0["period"] as? String == "2026-10" }
        #expect(october.compactMap { $0["group"] as? String } == ["#food", "#team"])
        let devices = try #require(try await device.json("report", "--by", "device") as? [[String: Any]])
        #expect(devices.filter { $0["group"] != nil }.count == 4)
        #expect(try await device.run("report", "--from", "soon").status == 64)
    }
}
