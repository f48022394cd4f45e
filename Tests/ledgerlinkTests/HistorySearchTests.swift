import Foundation
import LedgerTestSupport
import Testing

@Suite("History search")
struct HistorySearchTests {
    @Test("history --search, --min, --max, --kind, --device, --since and --until combine, in text and JSON")
    func search() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "1200", "--memo", "Salary")
        try await laptop.ok("spend", "12.50", "--memo", "lunch")
        try await laptop.ok("spend", "850", "--memo", "Rent")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        try await phone.ok("spend", "4.20", "--memo", "coffee")
        try await phone.send(to: laptop)

        let rent = try await laptop.ok("history", "--search", "rent")
        #expect(rent.contains("Rent") && !rent.contains("lunch"))
        #expect(rent.contains("1 match · in +0.00 · out -850.00"))
        let big = try #require(try await laptop.json("history", "--min", "100") as? [[String: Any]])
        #expect(Set(big.compactMap { $0["memo"] as? String }) == ["Salary", "Rent"])
        let small = try #require(
            try await laptop.json("history", "--max", "12.50", "--kind", "debit") as? [[String: Any]])
        #expect(Set(small.compactMap { $0["memo"] as? String }) == ["lunch", "coffee"])
        let fromPhone = try #require(try await laptop.json("history", "--device", "phone") as? [[String: Any]])
        #expect(fromPhone.compactMap { $0["memo"] as? String } == ["coffee"])
        // Each entry's short id: the first 16 hex digits of its hash, as the CSV export names it.
        let id = try #require(fromPhone.first?["id"] as? String)
        #expect(id.count == 16 && (fromPhone.first?["hash"] as? String)?.hasPrefix(id) == true)
        #expect(try await laptop.ok("export", "--format", "csv").contains(id))
        #expect(try await laptop.ok("history", "--search", "phone").contains("coffee"), "the device's name")
        let today = String(
            ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withFullDate]))
        let month = String(today.prefix(7))
        #expect(try await laptop.ok("history", "--since", today, "--until", today).contains("4 matches"))
        #expect(try await laptop.ok("history", "--since", month, "--kind", "credit").contains("Salary"))
        #expect(try await laptop.ok("history", "--until", "2000-01").contains("No entries match."))
        let limited = try await laptop.ok("history", "--kind", "debit", "--limit", "2")
        #expect(limited.contains("the newest 2 of 3 matches"))

        let badDate = try await laptop.run("history", "--since", "yesterday")
        #expect(badDate.status == 64)
        #expect(badDate.stderr.contains("--since must be a date like 2026-11-24"))
        let badAmount = try await laptop.run("history", "--min", "lots")
        #expect(badAmount.status == 1)
        #expect(badAmount.stderr.contains("--min: amount must be a number"))
        let nobody = try await laptop.run("history", "--device", "tablet")
        #expect(nobody.status == 1)
        #expect(nobody.stderr.contains("tablet"))
    }
}
