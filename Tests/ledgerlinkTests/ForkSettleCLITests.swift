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

    /// A laptop holding a phone whose restored folder forked at seq 2: the synced branch
    /// (+3.00, -1.00) and the restored one (+5.00). Balance 108.00 until settled, 110.00 after.
    static func forkedPhone() async throws -> (laptop: Device, phone: Device) {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "100", "--memo", "start")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        try await phone.ok("earn", "8", "--memo", "before the backup", "--offline")
        let backup = phone.home.deletingLastPathComponent().appendingPathComponent("phone-backup")
        try copyFolder(phone.home, to: backup)
        try await phone.ok("earn", "3", "--memo", "after the backup", "--offline")
        try await phone.ok("spend", "1", "--memo", "coffee", "--offline")
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 11_000)
        // The backup is restored and written to before any sync: the phone's log forks, and
        // the import that brings the proof says so (exit 5).
        try copyFolder(backup, to: phone.home)
        try await phone.ok("earn", "5", "--memo", "on the restored phone", "--offline")
        #expect(try await send(phone, to: laptop) == 5)
        return (laptop, phone)
    }

    @Test("a settlement travels through a store: the store applies it too, and a device that pulls counts the branch")
    func throughAStore() async throws {
        let (laptop, _) = try await Self.forkedPhone()
        let listed = try await laptop.run("fork", "settle", "phone")
        let line = try #require(listed.stdout.split(separator: "\n").first { $0.contains("2 entries") })
        let number = try #require(line.firstMatch(of: /(\d)\) starts/)?.1)
        try await laptop.ok("fork", "settle", "phone", "--choose", String(number))
        let tablet = try await laptop.linkNewDevice(name: "tablet")
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        let store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        let pushed = try await laptop.run("sync", "--store", store.url)
        #expect(pushed.status == 0, "the store ends level with the laptop: \(pushed.stdout) \(pushed.stderr)")
        let pulled = try await tablet.run("sync", "--store", store.url)
        #expect([0, 5].contains(pulled.status), "\(pulled.stdout) \(pulled.stderr)")
        #expect(try await tablet.balanceMinor() == 11_000)
    }

    @Test(
        "the TUI settles a forked device: f on its row lists the branches, a number and Enter choose, and it counts",
        .enabled(if: TmuxSession.isAvailable))
    func settleInTheTUI() async throws {
        let (laptop, _) = try await Self.forkedPhone()
        #expect(try await laptop.balanceMinor() == 10_800)
        let tmux = try TmuxSession(["sh"], width: 100, height: 30, environment: ["PS1": "$ ", "NO_COLOR": "1"])
        defer { tmux.close() }
        try tmux.type("\(laptop.cli.executable.path) tui --home \(laptop.home.path); echo \"exited with $?\"")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 108.00"))
        #expect(try await tmux.waitFor("forked at seq 2"))
        try tmux.send("1")
        let lines = try tmux.screen().split(separator: "\n")
        let row = try #require(lines.firstIndex { $0.contains("⚠") }, "the forked phone's row")
        let first = try #require(lines.firstIndex { $0.contains("●") || $0.contains("⚠") })
        for _ in 0..<max(0, row - first) { try tmux.send("Down") }
        try tmux.send("f")
        #expect(try await tmux.waitFor("Which branch counts?"))
        let line = try #require(
            try tmux.screen().split(separator: "\n").first { $0.contains(") seqs") && $0.contains("2 entries") })
        let number = try #require(line.firstMatch(of: /(\d)\) seqs/)?.1)
        try tmux.type(String(number))
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 110.00"))
        #expect(try await tmux.waitFor("forked at seq 2, settled"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
        #expect(try await laptop.balanceMinor() == 11_000)
    }

    @Test(
        "a phone restored from a backup forks; the laptop shows both branches, settles one, and its amounts count again"
    )
    func restoredBackup() async throws {
        let (laptop, phone) = try await Self.forkedPhone()
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
