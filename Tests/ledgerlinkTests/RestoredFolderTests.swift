import Foundation
import LedgerTestSupport
import Testing

/// A data folder restored from a backup: the device takes back the entries it wrote since,
/// through the real `serve` and the real binary, instead of forking its log.
@Suite("A restored folder catches up instead of forking")
struct RestoredFolderTests {
    /// A copy of a device's data folder, as a backup would take it.
    func backUp(_ device: Device) throws -> URL {
        let backup = device.home.deletingLastPathComponent().appendingPathComponent("backup-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: device.home, to: backup)
        return backup
    }

    func restore(_ backup: URL, over device: Device) throws {
        try FileManager.default.removeItem(at: device.home)
        try FileManager.default.copyItem(at: backup, to: device.home)
    }

    @Test("earn on a restored folder first takes back its own newer entries from the store: no fork, nothing lost")
    func earnCatchesUp() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "salary")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let store = try await StoreProcess.start(
            database: laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite"))
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        let backup = try backUp(laptop)
        try await laptop.ok("earn", "8", "--memo", "after the backup")
        try await laptop.ok("sync")
        try await phone.ok("sync", "--store", store.url)
        #expect(try await phone.balanceMinor() == 1800)

        try restore(backup, over: laptop)
        #expect(try await laptop.balanceMinor() == 1000)
        let earned = try await laptop.ok("earn", "5", "--memo", "after the restore")
        #expect(earned.contains("This device's folder was older than its log: caught up 1 entry"))
        #expect(earned.contains("Balance: 23.00"))
        try await laptop.ok("sync")
        try await phone.ok("sync")
        #expect(try await phone.balanceMinor() == 2300)
        for device in [laptop, phone] {
            #expect(try await device.run("status").status == 0, "no fork, no store problem")
            #expect(try await device.run("verify").status == 0)
        }
    }

    @Test("sync and import on a restored folder say it caught up; --offline writes at once")
    func syncCatchesUp() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let store = try await StoreProcess.start(
            database: laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite"))
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        let backup = try backUp(laptop)
        try await laptop.ok("earn", "8")
        try await laptop.ok("earn", "2")
        try await laptop.ok("sync")
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("laptop.export")
        try await laptop.ok("export").write(to: file, atomically: true, encoding: .utf8)

        try restore(backup, over: laptop)
        let synced = try await laptop.ok("sync")
        #expect(synced.contains("caught up 2 entries"))
        #expect(try await laptop.balanceMinor() == 1000)

        try restore(backup, over: laptop)
        let imported = try await laptop.ok("import", file.path)
        #expect(imported.contains("caught up 2 entries"))

        // --offline skips the check: on a restored folder that forks the log, as the help says.
        try restore(backup, over: laptop)
        let offline = try await laptop.ok("earn", "1", "--offline")
        #expect(!offline.contains("caught up"))
        #expect(try await laptop.run("sync").status == 5)
    }

    @Test("with the store out of reach the entry is written, and a device not synced for long is told")
    func unreachable() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let closed = try ClosedPort()
        let config = laptop.home.appendingPathComponent("config.json")
        try #"{"listen_port": 0, "discovery": false, "store": "http://127.0.0.1:\#(closed.port)"}"#.write(
            to: config, atomically: true, encoding: .utf8)
        // Never synced: said once per write, and the entry is written all the same.
        let first = try await laptop.ok("earn", "4")
        #expect(first.contains("Could not reach the store or a peer to check for newer entries of this device first"))
        #expect(first.contains("last synced never"))
        #expect(first.contains("Balance: 4.00"))
        // Synced a moment ago: nothing to say.
        let now = ISO8601DateFormatter().string(from: Date())
        try #"{"store": "\#(now)"}"#.write(
            to: laptop.home.appendingPathComponent("last-sync.json"), atomically: true, encoding: .utf8)
        let second = try await laptop.ok("earn", "1")
        #expect(!second.contains("Could not reach"))
        #expect(second.contains("Balance: 5.00"))
    }
}
