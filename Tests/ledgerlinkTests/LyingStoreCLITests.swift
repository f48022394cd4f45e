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

    @Test(
        "a store cloned to show two devices different histories: an export carries the proof, stores and the TUI show it"
    )
    func clonedStore() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "salary")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let folder = laptop.home.deletingLastPathComponent()
        let database = folder.appendingPathComponent("store.sqlite")
        var store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        try await phone.ok("sync", "--store", store.url)
        // The operator copies the database, key and all, and serves the phone from the copy.
        #expect(await store.stop() == 0)
        let clone = folder.appendingPathComponent("clone.sqlite")
        try copy(database, to: clone)
        store = try await StoreProcess.start(database: database, port: store.port)
        let twin = try await StoreProcess.start(database: clone)
        defer { twin.stopNow() }
        #expect(twin.key == store.key)
        try await laptop.ok("earn", "5", "--memo", "bonus")
        try await laptop.ok("sync")
        try await phone.ok("sync", "--store", twin.url)
        try await phone.ok("spend", "3", "--memo", "lunch")
        try await phone.ok("sync")
        // Each copy signed its own next version for one device: the two never meet at the store.
        #expect(try await laptop.run("status").status == 0)
        #expect(try await phone.run("status").status == 0)

        // The laptop's export carries its newest head; the phone compares it with its own.
        let file = folder.appendingPathComponent("laptop.export")
        try await laptop.ok("export").write(to: file, atomically: true, encoding: .utf8)
        #expect(try String(contentsOf: file, encoding: .utf8).contains("\nstore-head {"))
        let imported = try await phone.run("import", file.path)
        #expect(imported.status == 7)
        #expect(imported.stdout.contains("showed this device and the device that exported laptop.export histories"))
        #expect(imported.stdout.contains("it signed two different states as version"))
        #expect(imported.stdout.contains("Balance: 12.00"))  // the entries were imported all the same
        #expect(try await phone.run("status").status == 7)
        let listed = try await phone.run("stores", "--json")
        #expect(listed.status == 7)
        let stores = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(Set(stores.compactMap { $0["store"] as? String }) == [store.url, twin.url])
        let atTwin = try #require(stores.first { $0["store"] as? String == twin.url })
        let problem = try #require((atTwin["problems"] as? [[String: Any]])?.first)
        #expect(problem["kind"] as? String == "contradiction")
        let proof = try #require((problem["proof"] as? String).map { Data($0.utf8) })
        let heads = try #require((try JSONSerialization.jsonObject(with: proof) as? [String: Any])?["heads"] as? [Any])
        #expect(heads.count == 2)

        // The TUI announces it and lists it in the problems view.
        if TmuxSession.isAvailable {
            let tmux = try TmuxSession(["sh"], width: 160, height: 36, environment: ["PS1": "$ ", "NO_COLOR": "1"])
            defer { tmux.close() }
            try tmux.type("\(phone.cli.executable.path) tui --home \(phone.home.path); echo \"exited with $?\"")
            try tmux.send("Enter")
            #expect(try await tmux.waitFor("Press ! to see every problem"))
            try tmux.send("!")
            #expect(try await tmux.waitFor("Problems"))
            #expect(try await tmux.waitFor("ledgerlink stores"))
            try tmux.send("Escape")
            try tmux.send("q")
            #expect(try await tmux.waitFor("exited with 0"))
        }

        // Once the person knows what happened, clearing the store's problems ends the alarm.
        let wrong = try await phone.run("stores", "clear", "http://127.0.0.1:1")
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("this device knows no store at http://127.0.0.1:1"))
        #expect(try await phone.ok("stores", "clear", twin.url).contains("Cleared 1 problem of \(twin.url)"))
        #expect(try await phone.run("status").status == 0)
        #expect(try await phone.run("stores").status == 0)
    }

    @Test("an honest store stopped or killed between and during syncs raises no alarm on any device")
    func honestRestarts() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let devices = [laptop, phone]
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        var store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        for device in devices { try await device.ok("sync", "--store", store.url) }
        for step in 0..<24 {
            let device = devices[step % 2]
            if Bool.random() { try await device.ok("earn", "\(step + 1)") }
            switch Int.random(in: 0..<4) {
            case 0:
                // Killed while a sync is under way (or before it reaches the store).
                let sync = try device.cli.start(["sync", "--home", device.home.path])
                _ = await store.stop(Bool.random() ? SIGKILL : SIGTERM)
                let finished = try await offThePool {
                    sync.0.waitUntilExit()
                    return sync.0.terminationStatus
                }
                #expect(finished == 0 || finished == 1, "a store that stopped is an error, not a lie")
                store = try await StoreProcess.start(database: database, port: store.port)
            case 1:
                _ = await store.stop(SIGKILL)
                store = try await StoreProcess.start(database: database, port: store.port)
            default:
                break
            }
            let result = try await device.run("sync")
            #expect(result.status == 0, "step \(step): \(result.stdout) \(result.stderr)")
        }
        for device in devices + devices { try await device.ok("sync") }
        #expect(try await laptop.balanceMinor() == (try await phone.balanceMinor()))
        for device in devices {
            let status = try await device.run("status", "--json")
            #expect(status.status == 0, "\(status.stdout)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
            #expect((json["store_problems"] as? [Any])?.isEmpty == true)
        }
    }
}
