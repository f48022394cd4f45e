import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL for tests, started once per test process from Debian's packages
/// (`initdb` and `postgres` under /usr/lib/postgresql/*/bin) on a free loopback port, owned by
/// the `postgres` user when tests run as root (PostgreSQL refuses root). It is stopped, and its
/// files removed, when the test process exits (`TestFolder`). With $LEDGERLINK_TEST_POSTGRES_URL
/// set, that server is used instead.
package actor PostgresTestServer {
    package static let shared = PostgresTestServer()

    private var launching: Task<String, any Error>?
    private var databases = 0

    /// True when a server can be had here (the binaries exist, or a URL is given).
    package static var isAvailable: Bool {
        ProcessInfo.processInfo.environment["LEDGERLINK_TEST_POSTGRES_URL"] != nil || binaries() != nil
    }

    /// A URL of a new, empty database on the server.
    package func freshDatabase() async throws -> String {
        let base = try await start()
        databases += 1
        let name = "ledgerlink_test_\(getpid())_\(databases)"
        try await run(["psql", "-X", "-q", "-d", base + "/postgres", "-c", "CREATE DATABASE \(name)"])
        return base + "/" + name
    }

    /// Runs `sql` on the database at `url` through `psql` (a test's way to put a database in a
    /// state no server writes, such as an older version's rows).
    package func psql(_ url: String, _ sql: String) async throws {
        try await run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
    }

    /// What `sql` (one query of one value) answers on the database at `url`, as text.
    package func psqlValue(_ url: String, _ sql: String) async throws -> String {
        let arguments = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
        let output = try await offThePool { try Self.runBlocking(arguments, capturing: true) }
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func start() async throws -> String {
        // One launch however many tests ask at once (the actor is re-entered while it awaits).
        if let launching { return try await launching.value }
        let task = Task { try await launch() }
        launching = task
        return try await task.value
    }

    private func launch() async throws -> String {
        if let url = ProcessInfo.processInfo.environment["LEDGERLINK_TEST_POSTGRES_URL"] {
            return url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        guard let bin = Self.binaries() else { throw PostgresTestError("PostgreSQL is not installed") }
        let folder = TestFolder.root.appendingPathComponent("postgres")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let prefix = try await Self.asServerUser(owning: folder)
        let data = folder.appendingPathComponent("data").path
        try await run(
            prefix + ["\(bin)/initdb", "-D", data, "-A", "trust", "-U", "ledgerlink", "--no-sync", "-E", "UTF8"])
        let port = try freePort(udp: false)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments =
            prefix + [
                "\(bin)/postgres", "-D", data, "-p", "\(port)", "-k", folder.path, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "max_connections=200",
            ]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        server.standardOutput = log
        server.standardError = log
        try server.run()
        TestProcessExit.started(server.processIdentifier)
        let base = "postgres://ledgerlink@127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? await run(["psql", "-X", "-q", "-d", base + "/postgres", "-c", "SELECT 1"])) != nil {
                return base
            }
            guard server.isRunning else { throw PostgresTestError("postgres exited at start") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw PostgresTestError("postgres did not accept connections within 30 s")
    }

    /// What a server's command line starts with so that it runs as `postgres` when tests run as
    /// root (PostgreSQL and PgBouncer refuse root), `folder` then given to that user; nothing
    /// otherwise.
    static func asServerUser(owning folder: URL) async throws -> [String] {
        guard getuid() == 0 else { return [] }
        try await command(["chown", "-R", "postgres:postgres", folder.path])
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    }

    static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    private func run(_ arguments: [String]) async throws {
        try await Self.command(arguments)
    }

    /// Runs a command to completion, off the cooperative pool; throws with its error output.
    static func command(_ arguments: [String]) async throws {
        _ = try await offThePool { try Self.runBlocking(arguments) }
    }

    /// Runs a command to completion; its output when `capturing` (small: it is read after
    /// the error output), else it goes nowhere.
    @discardableResult
    private static func runBlocking(_ arguments: [String], capturing: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = capturing ? output : FileHandle(forWritingAtPath: "/dev/null")
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        let answer = capturing ? output.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PostgresTestError("\(arguments.first ?? "") failed: \(String(decoding: message, as: UTF8.self))")
        }
        return String(decoding: answer, as: UTF8.self)
    }
}

package struct PostgresTestError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// A PostgreSQL of one test's own, which the test can stop and start again (an outage) on
/// the same port and data folder. Needs Debian's binaries (not $LEDGERLINK_TEST_POSTGRES_URL).
package final class DedicatedPostgres: @unchecked Sendable {
    package let url: String
    private let bin: String
    private let folder: URL
    private let port: Int
    private let prefix: [String]
    private let lock = NSLock()
    private var server: Process?

    /// True when one can be started here.
    package static var isAvailable: Bool { PostgresTestServer.binaries() != nil }

    /// Creates a cluster with one database, `ledgerlink`, and starts it.
    package static func start() async throws -> DedicatedPostgres {
        guard let bin = PostgresTestServer.binaries() else { throw PostgresTestError("PostgreSQL is not installed") }
        let folder = TestFolder.url("postgres")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let prefix = try await PostgresTestServer.asServerUser(owning: folder)
        try await PostgresTestServer.command(
            prefix + [
                "\(bin)/initdb", "-D", folder.appendingPathComponent("data").path, "-A", "trust", "-U", "ledgerlink",
                "--no-sync", "-E", "UTF8",
            ])
        let server = DedicatedPostgres(bin: bin, folder: folder, port: try freePort(udp: false), prefix: prefix)
        try await server.start()
        try await PostgresTestServer.command([
            "psql", "-X", "-q", "-d", server.base + "/postgres", "-c", "CREATE DATABASE ledgerlink",
        ])
        return server
    }

    private init(bin: String, folder: URL, port: Int, prefix: [String]) {
        self.bin = bin
        self.folder = folder
        self.port = port
        self.prefix = prefix
        url = "postgres://ledgerlink@127.0.0.1:\(port)/ledgerlink"
    }

    private var base: String { "postgres://ledgerlink@127.0.0.1:\(port)" }

    /// Starts the server (again) and waits until it accepts connections.
    package func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            prefix + [
                "\(bin)/postgres", "-D", folder.appendingPathComponent("data").path, "-p", "\(port)", "-k", folder.path,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            ]
        let sink = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = sink
        process.standardError = sink
        try process.run()
        lock.withLock { server = process }
        TestProcessExit.started(process.processIdentifier)
        let ready = await eventually(timeout: 30) {
            (try? await PostgresTestServer.command([
                "psql", "-X", "-q", "-d", self.base + "/postgres", "-c", "SELECT 1",
            ]))
                != nil
        }
        guard ready else { throw PostgresTestError("postgres did not accept connections within 30 s") }
    }

    /// Stops the server (fast shutdown: connections are closed) and waits for it to exit.
    package func stop() async throws {
        guard let process = lock.withLock({ server }) else { return }
        kill(process.processIdentifier, SIGINT)
        try await offThePool { process.waitUntilExit() }
        lock.withLock { server = nil }
        TestProcessExit.stopped(process.processIdentifier)
    }

    /// Stops it and removes its files.
    package func close() async {
        try? await stop()
        try? FileManager.default.removeItem(at: folder)
    }
}
