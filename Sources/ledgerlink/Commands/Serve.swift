import ArgumentParser
import Foundation
import Hummingbird
import LedgerCore
import LedgerRemote
import LedgerServer
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a store server that devices sync through when they are not online together.",
        discussion: """
            The store keeps every identity's entries in a database and checks every signature, \
            chain and authority, but cannot read amounts or memos. SQLite by default (created \
            on first start); --postgres for bigger deployments. Stops gracefully on Ctrl-C or SIGTERM.
            """)
    @Option(name: .long, help: "Address to listen on.") var host = "127.0.0.1"
    @Option(name: .long, help: "TCP port (0 picks one).") var port = 8787
    @Option(name: .long, help: "SQLite database file (default: ~/.local/share/ledgerlink-store/store.sqlite).")
    var db: String?
    @Option(name: .long, help: "Use PostgreSQL instead: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
    var postgres: String?
    @Option(
        name: .long,
        help:
            "The address devices use (https://store.example.org behind a TLS proxy); needed unless --host is loopback.")
    var publicURL: String?
    @Option(name: .long, help: "Most open connections.") var maxConnections = 1024
    @Option(name: .long, help: "Most open connections from one client address.") var maxConnectionsPerAddress = 32
    @Option(
        name: .long,
        help: ArgumentHelp(
            "A proxy (ADDRESS or ADDRESS/PREFIX) whose X-Forwarded-For names the client; repeat for several.",
            valueName: "cidr"))
    var trustedProxy: [String] = []
    @Option(name: .long, help: "Most connections to PostgreSQL from this server (with --postgres).")
    var poolSize = PostgresBackend.defaultPoolSize
    @Flag(
        name: .customLong("prepared-statements"), inversion: .prefixedNo,
        help:
            "Prepare the reads of every poll and sync once per PostgreSQL connection (with --postgres); turn off behind a pooler in transaction mode before PgBouncer 1.21."
    )
    var preparedStatements = true
    @Option(name: .long, help: "Seconds one database call may take before the request is answered 503.")
    var databaseTimeout = 5
    @Option(name: .long, help: "Requests per second from one client address (burst: twice as many).")
    var addressRate: Double = 50
    @Option(name: .long, help: "Requests per second for one identity or pairing mailbox (burst: three times).")
    var identityRate: Double = 20
    @Option(name: .long, help: "Megabytes of memory for identities kept in memory (least recently used leave first).")
    var cacheMb = LedgerCache.defaultBudget >> 20
    @Option(
        name: .long,
        help:
            "Megabytes of sync bodies handled at once; others wait, then are told to retry (each takes about 15 times its size)."
    )
    var syncBodiesMb = BodyBudget.defaultCapacity >> 20

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "ledgerlink.store")
        guard (0...65535).contains(port) else { throw CLIError("--port \(port) is not a port (0-65535)") }
        var configuration = StoreServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maxConnections = maxConnections
        guard maxConnections >= 1, maxConnectionsPerAddress >= 1 else {
            throw CLIError("--max-connections and --max-connections-per-address must be at least 1")
        }
        configuration.maxConnectionsPerAddress = maxConnectionsPerAddress
        guard (0.1...1_000_000).contains(addressRate), (0.1...1_000_000).contains(identityRate) else {
            throw CLIError("--address-rate and --identity-rate must be between 0.1 and 1000000 requests per second")
        }
        configuration.addressRate = RateLimit(perSecond: addressRate, burst: addressRate * 2)
        configuration.identityRate = RateLimit(perSecond: identityRate, burst: identityRate * 3)
        configuration.trustedProxies = TrustedProxies(
            try trustedProxy.map { text in
                guard let network = CIDR(parsing: text) else {
                    throw CLIError(
                        "--trusted-proxy \(text) is not an address or a network (like 10.0.0.5, 10.0.0.0/8 or fd00::/8)"
                    )
                }
                return network
            })
        if publicURL == nil, !StoreServerConfiguration.isLoopback(host) {
            // Devices sign the address they reach when they log in; without knowing its own
            // address the server could only trust the Host header, which a relay sets as it likes.
            throw CLIError(
                "--host \(host) lets other machines connect: name the address they use with --public-url "
                    + "(for example --public-url http://store.lan:\(port)), so that a relay cannot reuse their logins")
        }
        if let publicURL {
            guard let url = URL(string: publicURL), url.scheme == "http" || url.scheme == "https", url.host != nil
            else {
                throw CLIError("--public-url must be an http:// or https:// address, not \(publicURL)")
            }
            configuration.publicURL = url
        }
        guard db == nil || postgres == nil else { throw CLIError("choose --db or --postgres, not both") }
        guard (1...600).contains(databaseTimeout) else { throw CLIError("--database-timeout must be 1 to 600 seconds") }
        guard (16...1_048_576).contains(cacheMb) else { throw CLIError("--cache-mb must be 16 to 1048576") }
        // At least one full body (8 MiB) must fit, or the largest pushes could never be handled.
        guard (StoreAPI.maxRequestBody >> 20...1_048_576).contains(syncBodiesMb) else {
            throw CLIError("--sync-bodies-mb must be \(StoreAPI.maxRequestBody >> 20) to 1048576")
        }
        configuration.syncBodyBytes = syncBodiesMb << 20
        let backend: any StoreBackend
        let described: String
        if let postgres {
            do {
                guard (1...1000).contains(poolSize) else { throw CLIError("--pool-size must be between 1 and 1000") }
                let pool = GuardedBackend(
                    try PostgresBackend(url: postgres, poolSize: poolSize, prepareStatements: preparedStatements),
                    deadline: .seconds(databaseTimeout),
                    logger: logger)
                try await pool.prepare()
                backend = pool
            } catch let error as StoreError {
                throw CLIError(error.message)
            } catch {
                throw CLIError("cannot use the PostgreSQL database: \(error)")
            }
            described = "PostgreSQL"
        } else {
            let path = db ?? Self.defaultDatabase()
            do {
                try FileManager.default.createDirectory(
                    at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
                let file = GuardedBackend(
                    try SQLiteBackend(path: path), deadline: .seconds(databaseTimeout), logger: logger)
                try await file.prepare()
                backend = file
            } catch {
                throw CLIError("cannot open the store database \(path): \(error)")
            }
            described = "SQLite \(path)"
        }
        do {
            try LedgerStore.checkScratch()
        } catch {
            let folder = ["SQLITE_TMPDIR", "TMPDIR"].lazy.compactMap { ProcessInfo.processInfo.environment[$0] }.first
            throw CLIError(
                "cannot write temporary files in \(folder ?? "/var/tmp") (replicas of identities are kept there; "
                    + "set SQLITE_TMPDIR to a writable folder): \(describe(error))")
        }
        let service = StoreService(backend: backend, cacheBytes: cacheMb << 20)
        let storeKey: String
        do {
            storeKey = try await service.storeKey().publicKey.hex
        } catch {
            throw CLIError("cannot read or make the store's key in \(described): \(describe(error))")
        }
        let (host, port) = (configuration.host, configuration.port)
        let app = StoreServer.application(service: service, configuration: configuration, logger: logger) { channel in
            let bound = channel.localAddress?.port ?? port
            // Scripts wait for this line to learn the port.
            FileHandle.standardOutput.write(
                Data(
                    ("ledgerlink store listening on http://\(host):\(bound) (\(described))\n"
                        + "store key \(storeKey) (devices pin it at their first sync)\n").utf8))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask {
                // Spent and expired challenges and tokens are forgotten once a minute.
                while true {
                    try await Task.sleep(for: .seconds(60))
                    try? await service.purgeExpired()
                }
            }
            do {
                try await group.next()
            } catch {
                group.cancelAll()
                throw CLIError("the store stopped: \(describe(error))")
            }
            group.cancelAll()
        }
        logger.info("stopped")
    }

    static func defaultDatabase() -> String {
        let environment = ProcessInfo.processInfo.environment
        let base =
            environment["XDG_DATA_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        return base + "/ledgerlink-store/store.sqlite"
    }
}
