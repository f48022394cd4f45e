import Foundation
import LedgerTestSupport
import Testing

@Suite("Settling a forked device from the command line")
struct ForkSettleCLITests {
    /// Copies `device`'s data folder (a backup), or puts a copy back (a restore).
    static func copyFolder(_ from: URL, to: URL) throws {
        if FileManager.default.fileExists(atPath: to.path) { try FileManager.default.removeItem(at: to) }
        try FileManager.default.copyItem(at: from, to: to)
    }

    /// Moves everything `from` holds to `to` by file; the import's exit status (5: it brought
    /// proof of a fork the receiver did not know).
    static func send(_ from: Device, to: Device) async throws -> Int32 {
        let file = from.home.deletingLastPathComponent().appendingPathComponent("transfer-\(UUID().uuidString)")
        try await from.ok("export").write(to: file, atomically: true, encoding: .utf8)
        return try await to.run("import", file.path).status
    }

    @Test(
        "a phone restored from a backup forks; the laptop shows both branches, settles one, and its amounts count again"
    )
    func restoredBackup() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "100", "--memo", "start")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        try await phone.ok("earn", "8", "--memo", "before the backup", "--offline")
        let backup = phone.home.deletingLastPathComponent().appendingPathComponent("phone-backup")
        try Self.copyFolder(phone.home, to: backup)
        try await phone.ok("earn", "3", "--memo", "after the backup", "--offline")
        try await phone.ok("spend", "1", "--memo", "coffee", "--offline")
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 11_000)

        // The backup is restored and written to before any sync: the phone's log forks.
        try Self.copyFolder(backup, to: phone.home)
        try await phone.ok("earn", "5", "--memo", "on the restored phone", "--offline")
        let file = phone.home.deletingLastPathComponent().appendingPathComponent("restored-export")
        try await phone.ok("export").write(to: file, atomically: true, encoding: .utf8)
        let imported = try await laptop.run("import", file.path)
        #expect(imported.status == 5, "the import brought proof of a fork: \(imported.stdout)")
        // Everything from the fork on stops counting (as before settling existed)...
        #expect(try await laptop.balanceMinor() == 10_800)
        let listed = try await laptop.run("fork", "settle", "phone")
        #expect(listed.status == 1, "without --choose in a script nothing is written")
        #expect(listed.stdout.contains("forked at seq 2"), "\(listed.stdout)")
        #expect(listed.stdout.contains("after the backup") && listed.stdout.contains("coffee"))
        #expect(listed.stdout.contains("on the restored phone"))
        #expect(listed.stdout.contains("choose a branch with --choose"))
        let lines = listed.stdout.split(separator: "\n")
        let original = try #require(
            lines.firstIndex { $0.contains(") starts") && $0.contains("2 entries") && $0.contains("in +3.00") })
        let number = String(lines[original].trimmingCharacters(in: .whitespaces).prefix(1))

        // ...until the laptop settles it: the branch that was synced counts again.
        let settled = try await laptop.ok("fork", "settle", "phone", "--choose", number)
        #expect(settled.contains("Settled phone"), "\(settled)")
        #expect(try await laptop.balanceMinor() == 11_000)
        #expect(try await laptop.ok("fork", "settle", "phone", "--choose", number).contains("counts through seq 3"))
        // Another device gets the settlement and the branch by file and counts the same.
        let tablet = try await laptop.linkNewDevice(name: "tablet")
        #expect(try await Self.send(laptop, to: tablet) == 5)
        #expect(try await tablet.balanceMinor() == 11_000)

        // The phone's key stays frozen: it says so, and says how to go on.
        #expect(try await Self.send(laptop, to: phone) == 5)
        let write = try await phone.run("earn", "1", "--offline")
        #expect(write.status != 0)
        #expect(write.stderr.contains("forked at seq 2") && write.stderr.contains("join again with a new key"))
        let join = try await phone.run("join", "abandon@127.0.0.1:1", "--name", "phone")
        #expect(join.status != 0)
        #expect(join.stderr.contains("this device's key is frozen"), "\(join.stderr)")
    }
}
