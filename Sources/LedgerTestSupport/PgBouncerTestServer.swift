import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// PgBouncer in transaction mode in front of the tests' PostgreSQL (`PostgresTestServer`),
/// started once per test process from Debian's `pgbouncer` on a free loopback port. It runs
/// `DISCARD ALL` on a server session after every transaction, so what a pooler that moves a
/// client between sessions does now and then happens every time: a statement prepared in one
/// transaction is gone in the next. Stopped when the test process exits.
package actor PgBouncerTestServer {
    package static let shared = PgBouncerTestServer()
    static let binary = "/usr/sbin/pgbouncer"

    private var launching: Task<Int, any Error>?

    /// True when PgBouncer and a PostgreSQL for it can be had here.
    package static var isAvailable: Bool {
        PostgresTestServer.isAvailable && FileManager.default.isExecutableFile(atPath: binary)
    }

    /// A URL of a new, empty database, through the pooler.
    package func freshDatabase() async throws -> String {
        let direct = try await PostgresTestServer.shared.freshDatabase()
        guard var components = URLComponents(string: direct), let host = components.host, let port = components.port
        else { throw PostgresTestError("cannot read the test database's address: \(direct)") }
        let pooled = try await start(host: host, port: port)
        components.host = "127.0.0.1"
        components.port = pooled
        guard let url = components.string else { throw PostgresTestError("cannot write the pooler's address") }
        return url
    }

    private func start(host: String, port: Int) async throws -> Int {
        // One launch however many tests ask at once (the actor is re-entered while it awaits).
        if let launching { return try await launching.value }
        let task = Task { try await launch(host: host, port: port) }
        launching = task
        return try await task.value
    }

    private func launch(host: String, port: Int) async throws -> Int {
        let folder = TestFolder.root.appendingPathComponent("pgbouncer")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let listen = try freePort(udp: false)
        let configuration = folder.appendingPathComponent("pgbouncer.ini")
        try """
        [databases]
        * = host=\(host) port=\(port)

        [pgbouncer]
        listen_addr = 127.0.0.1
        listen_port = \(listen)
        unix_socket_dir =
        auth_type = trust
        auth_file = \(folder.appendingPathComponent("users.txt").path)
        pool_mode = transaction
        server_reset_query = DISCARD ALL
        server_reset_query_always = 1
        default_pool_size = 4
        logfile = \(folder.appendingPathComponent("pgbouncer.log").path)

        """.write(to: configuration, atomically: true, encoding: .utf8)
        try "\"ledgerlink\" \"\"\n".write(
            to: folder.appendingPathComponent("users.txt"), atomically: true, encoding: .utf8)
        let prefix = try await PostgresTestServer.asServerUser(owning: folder)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = prefix + [Self.binary, configuration.path]
        let sink = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = sink
        process.standardError = sink
        try process.run()
        TestProcessExit.started(process.processIdentifier, stopWith: SIGKILL)
        let base = "postgres://ledgerlink@127.0.0.1:\(listen)/postgres"
        let ready = await eventually(timeout: 30) {
            (try? await PostgresTestServer.command(["psql", "-X", "-q", "-d", base, "-c", "SELECT 1"])) != nil
                || !process.isRunning
        }
        guard ready, process.isRunning else {
            throw PostgresTestError("pgbouncer did not accept connections within 30 s (or exited)")
        }
        return listen
    }
}
