import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Durability")
struct DurabilityTests {
    @Test("SIGKILL the moment `earn` reports success loses nothing")
    func killAfterAcknowledgement() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        var acknowledged = 0
        for i in 1...12 {
            let (process, out, err) = try device.cli.start([
                "earn", "1", "--memo", "kill \(i)", "--home", device.home.path,
            ])
            let collector = PipeCollector(out: out, err: err)
            let saw = try await offThePool { collector.waitForStdout(containing: "Earned", timeout: 30) }
            kill(process.processIdentifier, SIGKILL)
            try await offThePool { process.waitUntilExit() }
            if saw { acknowledged += 1 }
        }
        #expect(acknowledged == 12)
        #expect(try await device.balanceMinor() == acknowledged * 100)
        #expect(try await device.ok("verify").hasPrefix("All 13 stored entries verify"))
    }

    @Test("SIGKILL in the middle of a large import leaves all of it or none of it, never a broken ledger")
    func killDuringImport() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        // A few thousand entries, written through the library to keep the test quick.
        try await LedgerWriter.appendRecords(home: laptop.home, count: 3000)
        let export = laptop.home.deletingLastPathComponent().appendingPathComponent("big.export")
        try await laptop.ok("export").write(to: export, atomically: true, encoding: .utf8)
        let full = try await laptop.balanceMinor()

        let (process, out, err) = try phone.cli.start(["import", export.path, "--home", phone.home.path])
        let collector = PipeCollector(out: out, err: err)
        // Kill while it works: as soon as the database shows a write lock or the WAL grows.
        let wal = phone.home.appendingPathComponent("ledger.sqlite-wal").path
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline,
            ((try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0) < 64 * 1024
        {
            try await Task.sleep(for: .milliseconds(2))
        }
        kill(process.processIdentifier, SIGKILL)
        try await offThePool { process.waitUntilExit() }
        _ = collector
        let after = try await phone.balanceMinor()
        #expect(after == 0 || after == full, "partial import: \(after) of \(full)")
        #expect(try await phone.ok("verify").hasPrefix("All "))
        // Importing again completes it.
        try await phone.ok("import", export.path)
        #expect(try await phone.balanceMinor() == full)
    }
}
