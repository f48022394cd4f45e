import Foundation
import LedgerTestSupport
import Testing

@Suite("Correcting and voiding entries from the command line")
struct CorrectionCLITests {
    /// The id `history --json` gives the entry with `memo`.
    static func id(_ device: Device, memo: String) async throws -> String {
        let history = try #require(try await device.json("history") as? [[String: Any]])
        return try #require(
            history.first { $0["memo"] as? String == memo && $0["kind"] as? String != "correction" }?["id"] as? String)
    }

    @Test("correct and void keep the original, count the corrected amount once, and refuse what they cannot do")
    func correctAndVoid() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "12", "--memo", "lunch money")
        try await laptop.ok("spend", "5", "--memo", "coffee")
        let lunch = try await Self.id(laptop, memo: "lunch money")
        let coffee = try await Self.id(laptop, memo: "coffee")
        // The text history shows the same ids.
        #expect(try await laptop.ok("history").contains(lunch))

        let corrected = try await laptop.ok("correct", lunch, "--amount", "10")
        #expect(corrected.contains("Corrected \(lunch)") && corrected.contains("Balance: 5.00 (-2.00)"))
        // Correcting again replaces the first correction; the memo changes only when given.
        try await laptop.ok("correct", String(lunch.prefix(8)), "--amount", "11", "--memo", "lunch money, shared")
        try await laptop.ok("void", coffee)
        #expect(try await laptop.balanceMinor() == 1100)

        let text = try await laptop.ok("history")
        #expect(text.contains("+11.00") && text.contains("lunch money, shared  [corrected; was +12.00]"))
        #expect(text.contains("void") && text.contains("coffee  [void; was -5.00]"))
        #expect(text.contains("corrects \(lunch)") && text.contains("[replaced by "))
        let history = try #require(try await laptop.json("history") as? [[String: Any]])
        let original = try #require(history.first { $0["id"] as? String == lunch })
        #expect(original["status"] as? String == "corrected")
        #expect(original["counted_amount_minor"] as? Int == 1100)
        #expect(original["amount_minor"] as? Int == 1200)
        #expect(history.filter { $0["kind"] as? String == "correction" }.count == 3)
        #expect(try await laptop.ok("report", "--yearly").contains("11.00"))

        // Refusals name their reason and write nothing.
        for (arguments, reason) in [
            (["void", coffee], "already void"),
            (["correct", "00000000deadbeef", "--amount", "1"], "no counted entry has the id 00000000deadbeef"),
            (["correct", "abc", "--amount", "1"], "8 to 64 hex digits"),
            (["correct", lunch, "--amount", "-3"], "amount"),
            (["correct", lunch, "--amount", "1", "--memo", "bad\u{1B}[2J"], "control characters"),
        ] {
            let refused = try await laptop.cli.run(arguments + ["--offline", "--home", laptop.home.path])
            #expect(refused.status != 0, "\(arguments)")
            #expect(refused.stderr.contains(reason), "\(arguments): \(refused.stderr)")
        }
        #expect(try await laptop.balanceMinor() == 1100)
    }

    @Test("two devices correcting one entry without seeing each other: the later counts on both, both stay visible")
    func concurrent() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "100", "--memo", "refund")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        let refund = try await Self.id(phone, memo: "refund")
        try await laptop.ok("correct", refund, "--amount", "90", "--offline")
        try await phone.ok("correct", refund, "--amount", "95", "--memo", "refund, less fees", "--offline")
        try await laptop.send(to: phone)
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 9500)
        #expect(try await phone.balanceMinor() == 9500)
        for device in [laptop, phone] {
            let text = try await device.ok("history")
            #expect(text.contains("refund, less fees  [corrected; was +100.00]"))
            #expect(text.contains("[counts]") && text.contains("[overruled by "))
        }
        // The laptop corrects what it now sees: that replaces the phone's correction everywhere.
        try await laptop.ok("correct", refund, "--amount", "96")
        try await laptop.send(to: phone)
        #expect(try await phone.balanceMinor() == 9600)
        #expect(try await phone.ok("history").contains("refund, less fees  [corrected; was +100.00]"))

        // Through a store, which checks corrections like any entry without reading them.
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        let store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        try await phone.ok("sync", "--store", store.url)
        try await phone.ok("void", refund)
        try await phone.ok("sync")
        try await laptop.ok("sync")
        #expect(try await laptop.balanceMinor() == 0)
        #expect(try await laptop.ok("history").contains("[void; was +100.00]"))
    }
}
