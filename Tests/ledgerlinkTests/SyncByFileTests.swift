import Foundation
import LedgerTestSupport
import Testing

@Suite("Export and import")
struct SyncByFileTests {
    @Test("two devices of one identity converge through export and import, in both formats")
    func converge() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "from laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let folder = laptop.home.deletingLastPathComponent()

        let fromLaptop = folder.appendingPathComponent("laptop.export")
        try await laptop.ok("export").write(to: fromLaptop, atomically: true, encoding: .utf8)
        #expect(try await phone.ok("import", fromLaptop.path).contains("Imported 3 new entries"))
        #expect(try await phone.balanceMinor() == 1000)
        try await phone.ok("spend", "2.25", "--memo", "from phone")

        let fromPhone = folder.appendingPathComponent("phone.json")
        try await phone.ok("export", "--json").write(to: fromPhone, atomically: true, encoding: .utf8)
        let imported = try #require(try await laptop.json("import", fromPhone.path) as? [String: Any])
        #expect(imported["accepted"] as? Int == 1)
        #expect(imported["duplicates"] as? Int == 3)

        #expect(try await laptop.balanceMinor() == 775)
        #expect(try await phone.balanceMinor() == 775)
        let a = try #require(try await laptop.json("status") as? [String: Any])
        let b = try #require(try await phone.json("status") as? [String: Any])
        #expect(a["clock_digest"] as? String == b["clock_digest"] as? String)
        let devices = try #require(try await laptop.json("devices") as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["laptop", "phone"])
        #expect(try await laptop.ok("history").contains("from phone"))

        // Importing the same file again changes nothing.
        let again = try #require(try await laptop.json("import", fromPhone.path) as? [String: Any])
        #expect(again["accepted"] as? Int == 0)
        // Standard input works too.
        let viaStdin = try await laptop.run("import", "-", stdin: try Data(contentsOf: fromLaptop))
        #expect(viaStdin.status == 0)
    }

    @Test("a text export cut short or damaged on a late line is refused by its line, and nothing of it is imported")
    func damagedText() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let folder = laptop.home.deletingLastPathComponent()
        let link = folder.appendingPathComponent("link.export")
        try await laptop.ok("export").write(to: link, atomically: true, encoding: .utf8)
        try await phone.ok("import", link.path)
        for amount in ["1", "2", "3", "4"] { try await phone.ok("earn", amount) }
        let text = try await phone.ok("export")
        try #require(text.split(separator: "\n").count == 7)  // the header, the genesis, the link, four earns
        var lines = text.split(separator: "\n").map(String.init)
        let count = lines.count
        lines[count - 2] = String(lines[count - 2].dropLast(2)) + "zz"
        let damaged = folder.appendingPathComponent("damaged.export")
        try (lines.joined(separator: "\n") + "\n").write(to: damaged, atomically: true, encoding: .utf8)
        let cut = folder.appendingPathComponent("cut.export")
        try String(text.dropLast(41)).write(to: cut, atomically: true, encoding: .utf8)
        let before = try await laptop.balanceMinor()
        for (file, message) in [
            (damaged, "damaged.export: line \(count - 1) is not hex; nothing was imported"),
            (cut, "cut.export: line \(count): malformed entry: entry is truncated"),
        ] {
            let result = try await laptop.run("import", file.path)
            #expect(result.status == 1)
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.contains("nothing was imported"))
            #expect(try await laptop.balanceMinor() == before)
        }
        let whole = folder.appendingPathComponent("whole.export")
        try text.write(to: whole, atomically: true, encoding: .utf8)
        #expect(try await laptop.ok("import", whole.path).contains("Balance: 10.00"))
    }

    @Test("an unreadable, foreign, damaged or tampered export is refused and nothing is imported")
    func refusals() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "1")
        let stranger = try Device(name: "stranger")
        try await stranger.ok("init", "--name", "stranger")
        try await stranger.ok("earn", "99")
        let folder = laptop.home.deletingLastPathComponent()
        let foreign = folder.appendingPathComponent("foreign.json")
        try await stranger.ok("export", "--json").write(to: foreign, atomically: true, encoding: .utf8)
        let garbage = folder.appendingPathComponent("garbage")
        try Data([0xff, 0xfe, 0x00, 0x01]).write(to: garbage)
        let notExport = folder.appendingPathComponent("other.json")
        try #"{"hello": "world"}"#.write(to: notExport, atomically: true, encoding: .utf8)
        // A JSON export whose decoded fields were edited to claim a larger amount of time.
        let tampered = folder.appendingPathComponent("tampered.json")
        try await laptop.ok("export", "--json").replacingOccurrences(of: "\"seq\": 2", with: "\"seq\": 3")
            .write(to: tampered, atomically: true, encoding: .utf8)

        for (file, message) in [
            (folder.appendingPathComponent("missing").path, "cannot read"), (foreign.path, "another identity"),
            (garbage.path, "not a ledgerlink export"), (notExport.path, "not a ledgerlink export"),
            (tampered.path, "does not match its encoded bytes"),
        ] {
            let result = try await laptop.run("import", file)
            #expect(result.status == 1, "\(file)")
            #expect(result.stderr.contains(message), "\(file): \(result.stderr)")
        }
        #expect(try await laptop.balanceMinor() == 100)
        #expect(try await laptop.ok("verify") == "All 2 stored entries verify.\n")
    }

    @Test("an independent implementation (PyNaCl, from docs/PROTOCOL.md) verifies every entry of an export")
    func independentVerifier() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "one")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.ok("spend", "3")
        let history = try #require(try await laptop.json("history") as? [[String: Any]])
        let spent = try #require(history.first?["id"] as? String)
        try await laptop.ok("correct", spent, "--amount", "2.5")  // a correction is verified like any entry
        let folder = laptop.home.deletingLastPathComponent()
        let export = folder.appendingPathComponent("export.json")
        try await laptop.ok("export", "--json").write(to: export, atomically: true, encoding: .utf8)
        _ = phone
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("Tests/interop/verify_export.py").path
        let exported = export.path
        let (status, text) = try await runPython([script, "export", exported])
        #expect(status == 0, "\(text)")
        #expect(text.contains(" passed, 0 failed"), "\(text)")
    }
}
