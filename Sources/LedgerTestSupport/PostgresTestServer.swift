import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL for tests, started once per test process from Debian's packages
/// (`initdb` and `postgres` under /usr/lib/postgresql/*/bin) on a free loopback port, owned by
/// the `postgres` user when tests run as root (PostgreSQL refuses root). It is stopped when the
/// test process exits. With $LEDGERLINK_TEST_POSTGRES_URL set, that server is used instead.
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
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ll-pg-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot { try await run(["chown", "-R", "postgres:postgres", folder.path]) }
        let prefix = asRoot ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : []
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
        PostgresTestProcess.pid = server.processIdentifier
        atexit {
            if PostgresTestProcess.pid > 0 { kill(PostgresTestProcess.pid, SIGINT) }
        }
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

    static func binaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    private func run(_ arguments: [String]) async throws {
        try await offThePool { try Self.runBlocking(arguments) }
    }

    private static func runBlocking(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let sink = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = sink
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PostgresTestError("\(arguments.first ?? "") failed: \(String(decoding: message, as: UTF8.self))")
        }
    }
}

/// The test server's process id, for the exit handler (which cannot capture).
enum PostgresTestProcess {
    nonisolated(unsafe) static var pid: Int32 = 0
}

package struct PostgresTestError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}
