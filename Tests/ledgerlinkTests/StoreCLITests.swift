import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ledgerlink serve` running in the background of a test, on its own SQLite file.
struct StoreProcess {
    let process: Process
    let output: PipeCollector
    let url: String
    let database: URL
    /// The store's key, as `serve` prints it.
    let key: String?

    static func start(database: URL, port: Int = 0, postgres: String? = nil, arguments: [String] = []) async throws
        -> StoreProcess
    {
        let cli = try CommandRunner()
        let backend = postgres.map { ["--postgres", $0] } ?? ["--db", database.path]
        let (process, out, err) = try cli.start(["serve", "--port", "\(port)"] + backend + arguments)
        let output = PipeCollector(out: out, err: err)
        guard await eventually(timeout: 30, { output.waitForData(upTo: 0).contains("listening on") }) else {
            process.terminate()
            let (stdout, stderr) = output.finish()
            throw CommandRunner.CommandError("serve did not start: \(stdout) \(stderr)")
        }
        let line = output.waitForData(upTo: 0)
        guard let match = line.firstMatch(of: /http:\/\/127\.0\.0\.1:(\d+)/) else {
            throw CommandRunner.CommandError("serve did not say its address: \(line)")
        }
        // The key line comes right after the address line.
        _ = await eventually(timeout: 10) { output.waitForData(upTo: 0).contains("store key ") }
        let key = output.waitForData(upTo: 0).firstMatch(of: /store key ([0-9a-f]{64})/).map { String($0.1) }
        return StoreProcess(process: process, output: output, url: String(match.0), database: database, key: key)
    }

    var port: Int { Int(url.split(separator: ":").last ?? "") ?? 0 }

    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        let (process, output) = (self.process, self.output)
        return (try? await offThePool { Self.stopNow(process, output, signal) }) ?? -1
    }

    /// The same, blocking (for `defer`).
    func stopNow() { _ = Self.stopNow(process, output, SIGTERM) }

    private static func stopNow(_ process: Process, _ output: PipeCollector, _ signal: Int32) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        _ = output.finish()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite("Store from the command line")
struct StoreCLITests {
    @Test("sync --store saves the store; another device pulls everything; status shows when it last synced")
    func syncThroughStore() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "salary")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        let store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }  // on a failure before the stop below

        let first = try await laptop.ok("sync", "--store", store.url)
        #expect(first.contains("Synced with the store at \(store.url): sent 3 entries, received 0 new."))
        #expect(first.contains("Saved \(store.url) as this device's store."))
        let pulled = try #require(try await phone.json("sync", "--store", store.url) as? [String: Any])
        #expect(pulled["received"] as? Int == 3)
        #expect(pulled["converged"] as? Bool == true)
        #expect(try await phone.balanceMinor() == 1000)

        try await phone.ok("spend", "4", "--memo", "lunch")
        try await phone.ok("sync")  // the saved store, no option needed
        #expect(try await laptop.ok("sync").contains("received 1 new"))
        #expect(try await laptop.balanceMinor() == 600)
        #expect(try await laptop.ok("sync").contains("already holds the same ledger"))
        let status = try #require((try await laptop.json("status") as? [String: Any])?["store"] as? [String: Any])
        #expect(status["url"] as? String == store.url)
        #expect(status["last_sync"] is String)

        let nowhere = try await laptop.run("sync", "--store", "ftp://example.com")
        #expect(nowhere.status == 1)
        #expect(nowhere.stderr.contains("is not a store address"))
        // SIGTERM is a graceful stop: exit status 0.
        #expect(await store.stop() == 0)
        let down = try await laptop.run("sync")
        #expect(down.status == 1)
        #expect(down.stderr.contains("cannot sync with the store"))
    }

    @Test(
        "PostgreSQL stopped under serve: sync says the database is unavailable, the log names why, SIGTERM stops it",
        .enabled(if: DedicatedPostgres.isAvailable))
    func postgresOutage() async throws {
        let postgres = try await DedicatedPostgres.start()
        defer { Task { await postgres.close() } }
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let store = try await StoreProcess.start(database: laptop.home, postgres: postgres.url)
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        try await postgres.stop()
        let failed = try await laptop.run("sync")
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("the database is unavailable"))
        // The log names the cause (a direct connection does, where the pool's wait cannot).
        let output = store.output
        #expect(
            await eventually(timeout: 30) {
                output.stderrSoFar.split(separator: "\n").contains {
                    $0.contains("database unavailable:") && $0.contains("Connection refused")
                }
            })
        // SIGTERM ends it within seconds, though the database is gone.
        kill(store.process.processIdentifier, SIGTERM)
        #expect(await eventually(timeout: 30) { !store.process.isRunning })
    }

    @Test("serve --postgres keeps the store in PostgreSQL", .enabled(if: PostgresTestServer.isAvailable))
    func postgres() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "3")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let url = try await PostgresTestServer.shared.freshDatabase()
        let store = try await StoreProcess.start(database: laptop.home, postgres: url)
        defer { store.stopNow() }
        #expect(store.output.waitForData(upTo: 0).contains("(PostgreSQL)"))
        try await laptop.ok("sync", "--store", store.url)
        try await phone.ok("sync", "--store", store.url)
        #expect(try await phone.balanceMinor() == 300)
        let bad = try await laptop.cli.run(["serve", "--postgres", "mysql://nope"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("postgres://USER"))
    }

    @Test(
        "serve --postgres behind a pooler that loses prepared statements says so once and serves on unprepared",
        .enabled(if: PgBouncerTestServer.isAvailable))
    func pooledPostgres() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "3")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let said = "statements are not prepared from now on"
        // Prepared by default: the pooler's first lost statement turns preparing off, once.
        let store = try await StoreProcess.start(
            database: laptop.home, postgres: try await PgBouncerTestServer.shared.freshDatabase())
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        try await phone.ok("sync", "--store", store.url)
        try await laptop.ok("sync", "--store", store.url)
        #expect(try await phone.balanceMinor() == 300)
        #expect(await eventually(timeout: 10) { store.output.stderrSoFar.contains(said) })
        #expect(store.output.stderrSoFar.components(separatedBy: said).count == 2, "\(store.output.stderrSoFar)")
        // Started without them, nothing is lost and nothing is said.
        let plain = try await StoreProcess.start(
            database: laptop.home, postgres: try await PgBouncerTestServer.shared.freshDatabase(),
            arguments: ["--no-prepared-statements"])
        defer { plain.stopNow() }
        try await laptop.ok("sync", "--store", plain.url)
        try await phone.ok("sync", "--store", plain.url)
        #expect(try await phone.balanceMinor() == 300)
        #expect(!plain.output.stderrSoFar.contains(said))
    }

    @Test("serve refuses memory limits it cannot work with, naming the limit and its range")
    func memoryLimits() async throws {
        let laptop = try Device(name: "laptop")
        for (flag, value, range) in [
            ("--sync-bodies-mb", "4", "must be 8 to 1048576"), ("--cache-mb", "1", "must be 16 to 1048576"),
        ] {
            let bad = try await laptop.cli.run(["serve", "--port", "0", flag, value])
            #expect(bad.status == 1)
            #expect(bad.stderr.contains("\(flag) \(range)"), "\(bad.stderr)")
        }
    }

    @Test("the store killed with SIGKILL mid-sync loses nothing it acknowledged, and devices resume after a restart")
    func killedStore() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await LedgerWriter.appendRecords(home: laptop.home, count: 12_000)
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        var store = try await StoreProcess.start(database: database)
        // Kill the store while the laptop pushes (after the first acknowledged batches).
        let (process, out, err) = try laptop.cli.start(["sync", "--store", store.url, "--home", laptop.home.path])
        let collector = PipeCollector(out: out, err: err)
        #expect(
            await eventually(timeout: 60) {
                ((try? FileManager.default.attributesOfItem(atPath: database.path + "-wal")[.size] as? Int) ?? 0)
                    > 512 * 1024
            })
        _ = await store.stop(SIGKILL)
        try await offThePool {
            process.waitUntilExit()
            _ = collector.finish()
        }
        // Usually the sync sees the store go (exit 1); on a fast run it may have finished first.
        #expect([0, 1].contains(process.terminationStatus))

        store = try await StoreProcess.start(database: database, port: store.port)
        defer { store.stopNow() }
        let resumed = try #require(try await laptop.json("sync", "--store", store.url) as? [String: Any])
        #expect(resumed["converged"] as? Bool == true)
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.ok("sync")  // the link certificate
        try await phone.ok("sync", "--store", store.url)
        #expect(try await phone.balanceMinor() == (try await laptop.balanceMinor()))
        let verify = try await phone.ok("verify")
        #expect(verify.contains("verify"))
    }
}
