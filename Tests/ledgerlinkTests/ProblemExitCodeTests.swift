import Foundation
import LedgerTestSupport
import Testing

@Suite("Problems found are said, and told by the exit code")
struct ProblemExitCodeTests {
    @Test("import of a forged entry names it and exits 4; the ledger keeps only what verifies")
    func forgedImport() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        try await phone.ok("earn", "5", "--memo", "real")
        var lines = try await phone.ok("export").split(separator: "\n").map(String.init)
        // Flip one hex digit of the last entry's signature.
        let last = lines.removeLast()
        let flipped = last.dropLast() + (last.last == "0" ? "1" : "0")
        lines.append(String(flipped))
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("forged.txt")
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let result = try await laptop.run("import", file.path)
        #expect(result.status == 4, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("refused 1 entry from phone"), "\(result.stdout)")
        #expect(result.stdout.contains("the signature does not verify"), "\(result.stdout)")
        #expect(try await laptop.ok("verify").hasPrefix("All "))
    }

    @Test("a restored copy of a data folder forks the log: import, verify, status, sync and listen say which device")
    func forkFromRestoredFolder() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        // The phone's folder is copied (a backup), and both copies write seq 1.
        let restored = Device(
            home: phone.home.deletingLastPathComponent().appendingPathComponent("phone-restored"), cli: phone.cli)
        try FileManager.default.copyItem(at: phone.home, to: restored.home)
        try await phone.ok("earn", "5", "--memo", "original")
        try await restored.ok("earn", "7", "--memo", "restored")
        try await phone.send(to: laptop)
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("restored.txt")
        try await restored.ok("export").write(to: file, atomically: true, encoding: .utf8)
        let imported = try await laptop.run("import", file.path)
        #expect(imported.status == 5, "\(imported.stdout) \(imported.stderr)")
        #expect(imported.stdout.contains("Fork: device phone ("), "\(imported.stdout)")
        #expect(imported.stdout.contains("signed two different entries at seq 1"), "\(imported.stdout)")
        let verified = try await laptop.run("verify")
        #expect(verified.status == 5, "\(verified.stdout) \(verified.stderr)")
        #expect(verified.stdout.contains("All "))
        #expect(verified.stdout.contains("Fork: device phone ("))
        let status = try await laptop.run("status")
        #expect(status.status == 5)
        #expect(status.stdout.contains("Fork: device phone ("), "\(status.stdout)")
        let statusJSON = try await laptop.run("status", "--json")
        #expect(statusJSON.status == 5)
        let parsed = try JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8)) as? [String: Any]
        let forked = try #require(parsed?["forked_devices"] as? [[String: Any]])
        #expect(forked.first?["name"] as? String == "phone")
        #expect(forked.first?["seq"] as? Int == 1)
        // The phone learns of it over the peer channel: the fork is its own, and listen logs it.
        let listener = try await Listener.start(laptop)
        defer { listener.stopNow() }
        let synced = try await phone.run("sync", "--peer", listener.address)
        #expect(synced.status == 5, "\(synced.stdout) \(synced.stderr)")
        #expect(synced.stdout.contains("Fork: this device (phone) signed two different entries at seq 1"))
        let (_, logged) = await listener.stop()
        #expect(logged.contains("Fork: device phone ("), "\(logged)")
    }
}
