import Foundation
import LedgerTestSupport
import Testing

@Suite("ledgerlink CLI")
struct CLITests {
    @Test("init, earn, spend, balance, history, devices, status and verify work together")
    func everyday() async throws {
        let device = try Device()
        let created = try await device.ok("init", "--name", "laptop")
        #expect(created.contains("Created identity"))
        #expect(try await device.ok("earn", "12.50", "--memo", "salary") == "Earned 12.50. Balance: 12.50\n")
        #expect(try await device.ok("spend", "2.5", "--memo", "coffee ☕") == "Spent 2.50. Balance: 10.00\n")
        #expect(try await device.ok("earn", "7") == "Earned 7.00. Balance: 17.00\n")
        #expect(try await device.ok("balance") == "Balance: 17.00\nEarned:  19.50\nSpent:   2.50\n")

        let balance = try #require(try await device.json("balance") as? [String: Any])
        #expect(balance["balance"] as? String == "17.00")
        #expect(balance["balance_minor"] as? Int == 1700)
        #expect(balance["earned_minor"] as? Int == 1950)
        #expect(balance["spent_minor"] as? Int == 250)

        let history = try #require(try await device.json("history") as? [[String: Any]])
        #expect(history.map { $0["amount"] as? String } == ["7.00", "2.50", "12.50"])
        #expect(history.map { $0["kind"] as? String } == ["credit", "debit", "credit"])
        #expect(history[1]["memo"] as? String == "coffee ☕")
        #expect(history.allSatisfy { ($0["device_name"] as? String) == "laptop" })
        let limited = try #require(try await device.json("history", "--limit", "1") as? [[String: Any]])
        #expect(limited.count == 1)
        #expect(try await device.ok("history").contains("salary"))

        let devices = try #require(try await device.json("devices") as? [[String: Any]])
        #expect(devices.count == 1)
        #expect(devices[0]["name"] as? String == "laptop")
        #expect(devices[0]["this_device"] as? Bool == true)
        #expect(devices[0]["state"] as? String == "active")
        #expect(devices[0]["entries"] as? Int == 4)

        let status = try #require(try await device.json("status") as? [String: Any])
        #expect(status["entries"] as? Int == 4)
        #expect((status["clock_digest"] as? String)?.count == 64)
        #expect((status["clock"] as? [[String: Any]])?.first?["seq"] as? Int == 4)
        #expect(try await device.ok("status").contains("Clock:"))

        #expect(try await device.ok("verify") == "All 4 stored entries verify.\n")
    }

    @Test("files are private to the user")
    func permissions() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        for (file, mode) in [("", 0o700), ("device.key", 0o600), ("ledger.sqlite", 0o600)] {
            let attributes = try FileManager.default.attributesOfItem(
                atPath: device.home.appendingPathComponent(file).path)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(file)")
        }
    }

    @Test(
        "bad amounts and memos get one clear line, a non-zero exit, and nothing written",
        arguments: [
            (["earn", "0"], "greater than zero"), (["spend", "-5"], "positive"), (["earn", "ten"], "a number"),
            (["earn", "1.234"], "more than 2 decimal places"), (["earn", "92233720368547758.08"], "too large"),
            (["earn", "5", "--memo", String(repeating: "x", count: 281)], "limit is 280 bytes"),
            (["earn", "5", "--memo", "hi\u{1b}[2J"], "control characters"), (["earn"], "give an amount"),
            (["earn", "1", "2"], "exactly one amount"),
        ])
    func badInput(args: [String], message: String) async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        try await device.ok("earn", "1")
        let result = try await device.cli.run(args + ["--home", device.home.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").first?.hasPrefix("Error:") == true)
        #expect(result.stdout.isEmpty)
        #expect(try await device.balanceMinor() == 100)
        #expect(try await device.ok("verify") == "All 2 stored entries verify.\n")
    }

    @Test("commands before init say how to start, and a second init changes nothing")
    func noIdentityAndSecondInit() async throws {
        let device = try Device()
        for command in ["balance", "earn", "history", "devices", "status", "export", "verify"] {
            let result = try await device.run(command, command == "earn" ? "5" : "--help")
            _ = result
            let real = try await device.cli.run(
                (command == "earn" ? [command, "5"] : [command]) + ["--home", device.home.path])
            #expect(real.status == 1, "\(command)")
            #expect(real.stderr.contains("ledgerlink init --name NAME"), "\(command): \(real.stderr)")
        }
        try await device.ok("init", "--name", "first")
        let key = try Data(contentsOf: device.home.appendingPathComponent("device.key"))
        let second = try await device.run("init", "--name", "second")
        #expect(second.status == 1)
        #expect(second.stderr.contains("already holds a device"))
        #expect(try Data(contentsOf: device.home.appendingPathComponent("device.key")) == key)
        let devices = try #require(try await device.json("devices") as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["first"])
    }

    @Test("LEDGERLINK_HOME picks the data folder when --home is absent")
    func environmentHome() async throws {
        let device = try Device()
        let cli = try CommandRunner(environment: ["LEDGERLINK_HOME": device.home.path])
        #expect(try await cli.run(["init", "--name", "env"]).status == 0)
        #expect(try await cli.run(["earn", "3"]).stdout == "Earned 3.00. Balance: 3.00\n")
        #expect(try await device.balanceMinor() == 300)
    }

    @Test("a passphrase-protected key needs the passphrase to write, and refuses a wrong one")
    func passphrase() async throws {
        let device = try Device()
        let folder = device.home.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let right = folder.appendingPathComponent("pass")
        let wrong = folder.appendingPathComponent("wrong")
        try "correct horse\n".write(to: right, atomically: true, encoding: .utf8)
        try "battery staple\n".write(to: wrong, atomically: true, encoding: .utf8)
        try await device.ok("init", "--name", "safe", "--passphrase-file", right.path)
        let key = try String(contentsOf: device.home.appendingPathComponent("device.key"), encoding: .utf8)
        #expect(key.contains("argon2id"))
        #expect(!key.contains("\"seed\""))
        try await device.ok("earn", "5", "--passphrase-file", right.path)
        let bad = try await device.run("earn", "5", "--passphrase-file", wrong.path)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("wrong passphrase"))
        let none = try await device.run("earn", "5")
        #expect(none.status == 1)
        #expect(none.stderr.contains("--passphrase-file"))
        // Reading needs no passphrase.
        #expect(try await device.balanceMinor() == 500)
    }
}

@Suite("Interrupted init")
struct InterruptedInitTests {
    @Test("a ledger left without its key by an interrupted init is moved aside, never deleted, and init succeeds")
    func orphanedDatabase() async throws {
        let device = try Device()
        try FileManager.default.createDirectory(at: device.home, withIntermediateDirectories: true)
        let orphan = Data("half-written".utf8)
        try orphan.write(to: device.home.appendingPathComponent("ledger.sqlite"))
        let result = try await device.run("init", "--name", "again")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("was moved to"))
        let kept = try FileManager.default.contentsOfDirectory(atPath: device.home.path)
            .filter { $0.hasPrefix("ledger.sqlite.interrupted-") }
        #expect(kept.count == 1)
        #expect(try Data(contentsOf: device.home.appendingPathComponent(kept[0])) == orphan)
        #expect(try await device.ok("verify") == "All 1 stored entries verify.\n")
    }

    @Test("a ledger whose key file was removed can be read but not written")
    func missingKey() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        try await device.ok("earn", "2")
        try FileManager.default.removeItem(at: device.home.appendingPathComponent("device.key"))
        #expect(try await device.balanceMinor() == 200)
        let result = try await device.run("earn", "1")
        #expect(result.status == 1)
        #expect(result.stderr.contains("device.key is missing"))
        #expect(try await device.balanceMinor() == 200)
    }
}
