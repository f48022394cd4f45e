import Foundation
import LedgerTestSupport
import Testing

/// A store that misbehaves, through the real `serve` and the real binary: what a person sees.
@Suite("A store that goes back or changes its key is caught")
struct LyingStoreCLITests {
    /// Replaces the store's database with `backup` (and drops its write-ahead log).
    func restore(_ backup: URL, over database: URL) throws {
        let files = FileManager.default
        for suffix in ["", "-wal", "-shm"] {
            try? files.removeItem(atPath: database.path + suffix)
            if files.fileExists(atPath: backup.path + suffix) {
                try files.copyItem(atPath: backup.path + suffix, toPath: database.path + suffix)
            }
        }
    }

    func copy(_ database: URL, to backup: URL) throws {
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: database.path + suffix) {
            try FileManager.default.copyItem(atPath: database.path + suffix, toPath: backup.path + suffix)
        }
    }

    @Test("a store restored from an old backup: sync says it went back (exit 7), status keeps the signed proof")
    func restoredFromBackup() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "salary")
        let folder = laptop.home.deletingLastPathComponent()
        let database = folder.appendingPathComponent("store.sqlite")
        var store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        // The operator takes a backup, and the store goes on taking entries.
        #expect(await store.stop() == 0)
        let backup = folder.appendingPathComponent("backup.sqlite")
        try copy(database, to: backup)
        store = try await StoreProcess.start(database: database, port: store.port)
        try await laptop.ok("earn", "5", "--memo", "bonus")
        #expect(try await laptop.ok("sync").contains("sent 1 entry"))
        #expect(try await laptop.ok("sync").contains("already holds the same ledger"))
        // Then it is restored from the backup.
        #expect(await store.stop() == 0)
        try restore(backup, over: database)
        store = try await StoreProcess.start(database: database, port: store.port)

        let caught = try await laptop.run("sync")
        #expect(caught.status == 7)
        #expect(caught.stdout.contains("the store at \(store.url) went back to an older state"))
        // The sync still gave the store back what it lost.
        let status = try await laptop.run("status", "--json")
        #expect(status.status == 7)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let problems = try #require(json["store_problems"] as? [[String: Any]])
        #expect(problems.first?["kind"] as? String == "rollback")
        let proof = try #require((problems.first?["proof"] as? String).map { Data($0.utf8) })
        let heads = try #require((try JSONSerialization.jsonObject(with: proof) as? [String: Any])?["heads"] as? [Any])
        #expect(heads.count == 2)
        let text = try await laptop.run("status")
        #expect(text.status == 7)
        #expect(text.stdout.contains("Store problem"))
        #expect(text.stdout.contains("went back to an older state"))

        // The TUI says it too, under the panes, from the proof kept in the database.
        guard TmuxSession.isAvailable else { return }
        let tmux = try TmuxSession(["sh"], width: 220, height: 30, environment: ["PS1": "$ ", "NO_COLOR": "1"])
        defer { tmux.close() }
        try tmux.type("\(laptop.cli.executable.path) tui --home \(laptop.home.path); echo \"exited with $?\"")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 15.00"))
        #expect(try await tmux.waitFor("went back to an older state"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("a store answering with another key is refused, nothing sent, until the person accepts the key")
    func keyChanged() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let folder = laptop.home.deletingLastPathComponent()
        var store = try await StoreProcess.start(database: folder.appendingPathComponent("first.sqlite"))
        defer { store.stopNow() }
        let pinned = try #require(store.key)
        try await laptop.ok("sync", "--store", store.url)
        #expect(await store.stop() == 0)
        // Another store (another database, another key) at the same address.
        store = try await StoreProcess.start(database: folder.appendingPathComponent("other.sqlite"), port: store.port)
        let other = try #require(store.key)
        #expect(other != pinned)
        try await laptop.ok("earn", "3")
        let refused = try await laptop.run("sync")
        #expect(refused.status == 7)
        #expect(refused.stderr.contains("answered with another key"))
        #expect(refused.stderr.contains("--accept-store-key \(other)"))
        let accepted = try await laptop.run("sync", "--accept-store-key", other)
        #expect(accepted.status == 0)
        #expect(accepted.stdout.contains("Synced with the store"))
        #expect(try await laptop.run("sync").status == 0)
    }
}
