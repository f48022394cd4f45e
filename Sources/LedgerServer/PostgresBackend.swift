import Foundation
import LedgerCore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The backend for bigger deployments: PostgreSQL through postgres-nio. Several servers may
/// share one database; appends to an identity are serialised by a row lock on it.
package final class PostgresBackend: DiagnosableBackend {
    private let client: PostgresClient
    private let configuration: PostgresClient.Configuration
    private let logger: Logger
    private let runner: Task<Void, Never>
    private let running = RunFlag()
    /// Whether the reads every poll and sync makes are prepared statements (`Statements`).
    private let preparing: Atomic<Bool>

    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`); the pool runs
    /// until `shutdown()`.
    /// Connections the pool may hold by default (`serve --pool-size`).
    package static let defaultPoolSize = 20

    /// With `prepareStatements`, the reads every poll and sync makes (an identity's head and
    /// version, a token, stored rows) are prepared once per connection and then only bound and
    /// run; without, each is parsed and planned every time (`serve --no-prepared-statements`).
    package init(
        url: String, poolSize: Int = defaultPoolSize, prepareStatements: Bool = true,
        logger: Logger = Logger(label: "ledgerlink.store.postgres")
    )
        throws
    {
        preparing = Atomic(prepareStatements)
        guard let components = URLComponents(string: url),
            ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, let user = components.user
        else {
            throw StoreError(
                .badPostgresURL, "--postgres takes postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.maximumConnections = max(1, poolSize)
        configuration.options.minimumConnections = 0
        // A database that does not answer a connection attempt is reported within seconds
        // (every call has its own deadline too: GuardedBackend).
        configuration.options.connectTimeout = .seconds(3)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.configuration = configuration
        self.logger = logger
        let running = self.running
        runner = Task {
            running.set()
            await client.run()
        }
    }

    /// Waits until the pool runs (leasing a connection before that only gets a warning).
    private func ready() async {
        while !running.isSet { await Task.yield() }
    }

    /// Why `error` means PostgreSQL cannot be reached (a connection refused or lost, the
    /// server shutting down or not accepting connections yet), in words; nil for an error of
    /// one query. PSQLError's own description is deliberately generic: the code and the
    /// server's SQLSTATE name the cause.
    package static func unreachable(_ error: any Error) -> String? {
        guard let error = error as? PSQLError else { return nil }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            let underlying = error.underlying.map { ": \($0)" } ?? ""
            return "PostgreSQL \(error.code)\(underlying)"
        case .server:
            // Class 08 (connection exception) and 57 (operator intervention: shutting down,
            // not accepting connections yet).
            guard let state = error.serverInfo?[.sqlState], state.hasPrefix("08") || state.hasPrefix("57") else {
                return nil
            }
            return "PostgreSQL SQLSTATE \(state): \(error.serverInfo?[.message] ?? "")"
        default:
            return nil
        }
    }

    /// Connects once, outside the pool: nil when PostgreSQL answers, else why not.
    package func diagnose() async -> String? {
        let c = configuration
        let config = PostgresConnection.Configuration(
            host: c.host ?? "127.0.0.1", port: c.port ?? 5432, username: c.username, password: c.password,
            database: c.database, tls: .disable)
        do {
            let connection = try await PostgresConnection.connect(configuration: config, id: 0, logger: logger)
            try? await connection.close()
            return nil
        } catch {
            return Self.unreachable(error) ?? "PostgreSQL: \(String(reflecting: error))"
        }
    }

    /// Closes the pool.
    package func shutdown() {
        runner.cancel()
    }

    package func prepareSchema() async throws {
        await ready()
        try await client.withTransaction(logger: logger) { connection in
            // Two servers starting at once must not both create the tables.
            try await connection.query("SELECT pg_advisory_xact_lock(4949494949)", logger: logger).drain()
            for statement: PostgresQuery in [
                "CREATE TABLE IF NOT EXISTS ledgerlink_identities (id BYTEA PRIMARY KEY, version BIGINT NOT NULL)",
                // Stores made before summaries were kept gain the columns (empty until the next append).
                "ALTER TABLE ledgerlink_identities ADD COLUMN IF NOT EXISTS digest BYTEA",
                "ALTER TABLE ledgerlink_identities ADD COLUMN IF NOT EXISTS devices BYTEA",
                "ALTER TABLE ledgerlink_identities ADD COLUMN IF NOT EXISTS heads BYTEA",
                """
                CREATE TABLE IF NOT EXISTS ledgerlink_entries (identity BYTEA NOT NULL, n BIGINT NOT NULL,
                    raw BYTEA NOT NULL, PRIMARY KEY (identity, n))
                """,
                // Rows name their author and seq, so a pull reads what a device lacks by index.
                "ALTER TABLE ledgerlink_entries ADD COLUMN IF NOT EXISTS author BYTEA",
                "ALTER TABLE ledgerlink_entries ADD COLUMN IF NOT EXISTS seq BIGINT",
                // Rows hold runs of entries (`StoreSegments`); every older row holds one.
                "ALTER TABLE ledgerlink_entries ADD COLUMN IF NOT EXISTS span BIGINT NOT NULL DEFAULT 1",
                "DROP INDEX IF EXISTS ledgerlink_entries_author",
                """
                CREATE INDEX IF NOT EXISTS ledgerlink_entries_runs ON ledgerlink_entries (identity, author, seq, span)
                """,
                """
                CREATE TABLE IF NOT EXISTS ledgerlink_challenges (challenge BYTEA PRIMARY KEY, identity BYTEA NOT NULL,
                    device BYTEA NOT NULL, expires BIGINT NOT NULL)
                """,
                """
                CREATE TABLE IF NOT EXISTS ledgerlink_tokens (hash BYTEA PRIMARY KEY, identity BYTEA NOT NULL,
                    device BYTEA NOT NULL, expires BIGINT NOT NULL)
                """,
                """
                CREATE TABLE IF NOT EXISTS ledgerlink_mailboxes (id BYTEA PRIMARY KEY, identity BYTEA NOT NULL,
                    expires BIGINT NOT NULL, closed BOOLEAN NOT NULL DEFAULT FALSE)
                """,
                "CREATE INDEX IF NOT EXISTS ledgerlink_mailboxes_identity ON ledgerlink_mailboxes (identity, expires)",
                "CREATE TABLE IF NOT EXISTS ledgerlink_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
                """
                CREATE TABLE IF NOT EXISTS ledgerlink_recovery_keys (key BYTEA NOT NULL, identity BYTEA NOT NULL,
                    PRIMARY KEY (key, identity))
                """,
                """
                CREATE TABLE IF NOT EXISTS ledgerlink_mailbox_messages (mailbox BYTEA NOT NULL, side INTEGER NOT NULL,
                    idx INTEGER NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (mailbox, side, idx))
                """,
            ] {
                try await connection.query(statement, logger: logger).drain()
            }
        }
    }

    /// Servers starting together each take rows the others have not locked. When none is left
    /// to take, it waits for the rows other servers are filling (a plain lock on one waits for
    /// their transactions): no server starts serving while rows still lack their author.
    package func fillPositions(limit: Int) async throws -> Int {
        await ready()
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            var rows: [(ByteBuffer, Int64, [UInt8])] = []
            for try await (identity, n, raw) in try await connection.query(
                """
                SELECT identity, n, raw FROM ledgerlink_entries WHERE author IS NULL LIMIT \(Int64(limit))
                FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).decode((ByteBuffer, Int64, ByteBuffer).self) {
                rows.append((identity, n, Array(raw.readableBytesView)))
            }
            for (identity, n, raw) in rows {
                // A row too damaged to name them gets an empty author, which no device has.
                let position = Entry.position(in: raw)
                try await connection.query(
                    """
                    UPDATE ledgerlink_entries SET author = \(ByteBuffer(bytes: position?.author ?? [])),
                        seq = \(position?.seq ?? 0) WHERE identity = \(identity) AND n = \(n)
                    """, logger: logger
                ).drain()
            }
            if rows.isEmpty {
                // Rows another server is filling: waited for; once it commits they no longer
                // match. A row still found (its filler gave up) is taken on the next call.
                for try await _ in try await connection.query(
                    "SELECT n FROM ledgerlink_entries WHERE author IS NULL LIMIT 1 FOR UPDATE", logger: logger
                ).decode(Int64.self) {
                    return 1
                }
            }
            return rows.count
        }
    }

    package func version(of identity: [UInt8]) async throws -> Int64? {
        try await all(Statements.Version(identity: ByteBuffer(bytes: identity))).first
    }

    package func head(of identity: [UInt8]) async throws -> StoredHead? {
        guard
            let (version, digest, devices, heads) = try await all(
                Statements.Head(identity: ByteBuffer(bytes: identity))
            ).first
        else { return nil }
        var summary: IdentitySummary?
        if let digest, let devices {
            summary = IdentitySummary(
                digest: Array(digest.readableBytesView), devices: Array(devices.readableBytesView),
                heads: heads.map { Array($0.readableBytesView) })
        }
        return StoredHead(version: version, summary: summary?.isValid == true ? summary : nil)
    }

    package func rows(of identity: [UInt8], after n: Int64, limit: Int) async throws -> [StoredRow] {
        let bounds = StoreSegments.places(after: n, limit: limit)
        let rows = try await all(
            Statements.RowsAfter(
                identity: ByteBuffer(bytes: identity), lowest: bounds.lowerBound, highest: bounds.upperBound, after: n))
        return try Self.storedRows(rows, after: n, seqs: nil, limit: limit)
    }

    package func rows(of identity: [UInt8], author: [UInt8], seqs: ClosedRange<Int64>, limit: Int) async throws
        -> [StoredRow]
    {
        let (bounds, wanted) = StoreSegments.seqs(seqs, limit: limit)
        let rows = try await all(
            Statements.RowsOfLog(
                identity: ByteBuffer(bytes: identity), author: ByteBuffer(bytes: author), lowest: bounds.lowerBound,
                highest: bounds.upperBound, from: wanted.lowerBound))
        return try Self.storedRows(rows, after: 0, seqs: wanted, limit: limit)
    }

    /// The entries of the rows `(n, span, seq, raw)` read (bounded by their key ranges), placed
    /// after `after` and within `seqs`, at most `limit` of them.
    private static func storedRows(
        _ rows: [Statements.StoredRowFields], after: Int64, seqs: ClosedRange<Int64>?, limit: Int
    ) throws -> [StoredRow] {
        var out: [StoredRow] = []
        for (n, span, seq, raw) in rows {
            try raw.withUnsafeReadableBytes { bytes in
                try StoreSegments.split(bytes, n: n, span: span, seq: seq, after: after, seqs: seqs, into: &out)
            }
        }
        return StoreSegments.ordered(out, bySeq: seqs != nil, limit: limit)
    }

    /// Whether this backend still prepares statements: it stops the first time PostgreSQL says
    /// one it prepared is missing (`all`).
    package var preparesStatements: Bool { preparing.load(ordering: .relaxed) }

    /// Every row `statement` reads: prepared on its connection while `preparesStatements`, else
    /// parsed and planned as an unnamed statement. A pooler that hands a server another
    /// PostgreSQL session between transactions (PgBouncer before 1.21 in transaction mode, or
    /// one that discards each session's state) loses what was prepared: PostgreSQL answers
    /// that the statement does not exist (SQLSTATE 26000) or, preparing it again on a session
    /// that has it, that it exists (42P05). The first such answer turns preparing off for this
    /// server, says so in the log, and the read (never a write) runs again unprepared.
    private func all<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row] {
        if preparing.load(ordering: .relaxed) {
            do {
                var rows: [Statement.Row] = []
                for try await row in try await client.execute(statement, logger: logger) { rows.append(row) }
                return rows
            } catch let error as PSQLError where Self.lostPreparedStatement(error) {
                if preparing.exchange(false, ordering: .relaxed) {
                    logger.warning(
                        """
                        PostgreSQL sessions do not keep the statements this server prepares (SQLSTATE \(
                            error.serverInfo?[.sqlState] ?? "?")): something between them (a pooler in \
                        transaction mode) moves this server from one session to another; statements are not \
                        prepared from now on (start with --no-prepared-statements to begin so)
                        """)
                }
            }
        }
        var rows: [Statement.Row] = []
        let query = PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
        for try await row in try await client.query(query, logger: logger) { rows.append(try statement.decodeRow(row)) }
        return rows
    }

    /// PostgreSQL's answer when a prepared statement is missing from the session a bind reached
    /// (26000), or when preparing one the session already has (42P05).
    static func lostPreparedStatement(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "26000" || state == "42P05"
    }

    package func append(
        _ raws: [[UInt8]], to identity: [UInt8], expected: Int64?, recoveryKeys: [[UInt8]], summary: IdentitySummary?
    ) async throws -> Bool {
        let id = ByteBuffer(bytes: identity)
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            var current: Int64?
            for try await version in try await connection.query(
                "SELECT version FROM ledgerlink_identities WHERE id = \(id) FOR UPDATE", logger: logger
            ).decode(Int64.self) {
                current = version
            }
            guard current == expected else { return false }
            let base = current ?? 0
            if current == nil {
                var created = false
                for try await _ in try await connection.query(
                    "INSERT INTO ledgerlink_identities (id, version) VALUES (\(id), 0) ON CONFLICT DO NOTHING RETURNING id",
                    logger: logger
                ).decode(ByteBuffer.self) {
                    created = true
                }
                guard created else { return false }  // another server introduced it first
            }
            // A row per run of one author's entries (`StoreSegments`), in statements of at most
            // 1,000 rows (6 parameters each, well under the limit of 65,535) and about 8 MiB.
            for batch in Self.batches(StoreSegments.plan(raws), raws: raws) {
                var bindings = PostgresBindings(capacity: batch.count * 6)
                var values: [String] = []
                for (offset, row) in batch.enumerated() {
                    let p = offset * 6
                    values.append("($\(p + 1), $\(p + 2), $\(p + 3), $\(p + 4), $\(p + 5), $\(p + 6))")
                    bindings.append(id)
                    bindings.append(base + Int64(row.range.lowerBound) + 1)
                    bindings.append(ByteBuffer(bytes: StoreSegments.joined(raws[row.range])))
                    bindings.append(ByteBuffer(bytes: row.author))
                    bindings.append(row.seq)
                    bindings.append(row.span)
                }
                let sql =
                    "INSERT INTO ledgerlink_entries (identity, n, raw, author, seq, span) VALUES "
                    + values.joined(separator: ", ")
                try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).drain()
            }
            try await connection.query(
                """
                UPDATE ledgerlink_identities SET version = \(base + Int64(raws.count)),
                    digest = \(summary.map { ByteBuffer(bytes: $0.digest) }),
                    devices = \(summary.map { ByteBuffer(bytes: $0.devices) }),
                    heads = \(summary?.heads.map { ByteBuffer(bytes: $0) }) WHERE id = \(id)
                """,
                logger: logger
            ).drain()
            for key in recoveryKeys {
                try await connection.query(
                    """
                    INSERT INTO ledgerlink_recovery_keys (key, identity) VALUES (\(ByteBuffer(bytes: key)), \(id))
                    ON CONFLICT DO NOTHING
                    """, logger: logger
                ).drain()
            }
            return true
        }
    }

    /// `planned` cut into statements of at most 1,000 rows and about 8 MiB of entries.
    static func batches(_ planned: [StoreSegments.Planned], raws: [[UInt8]]) -> [ArraySlice<StoreSegments.Planned>] {
        var batches: [ArraySlice<StoreSegments.Planned>] = []
        var start = 0
        var bytes = 0
        for (index, row) in planned.enumerated() {
            if index > start, index - start == 1_000 || bytes >= 8 << 20 {
                batches.append(planned[start..<index])
                (start, bytes) = (index, 0)
            }
            bytes += raws[row.range].reduce(0) { $0 + $1.count }
        }
        if planned.count > start { batches.append(planned[start...]) }
        return batches
    }

    package func identities(recoveryKey: [UInt8]) async throws -> [[UInt8]] {
        let rows = try await client.query(
            """
            SELECT identity FROM ledgerlink_recovery_keys WHERE key = \(ByteBuffer(bytes: recoveryKey))
            ORDER BY identity LIMIT 16
            """, logger: logger)
        var identities: [[UInt8]] = []
        for try await identity in rows.decode(ByteBuffer.self) { identities.append(Array(buffer: identity)) }
        return identities
    }

    package func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws {
        try await client.query(
            """
            INSERT INTO ledgerlink_challenges (challenge, identity, device, expires)
            VALUES (\(ByteBuffer(bytes: challenge)), \(ByteBuffer(bytes: grant.identity)), \(ByteBuffer(bytes: grant.device)), \(grant.expires))
            """, logger: logger
        ).drain()
    }

    package func takeChallenge(_ challenge: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        let rows = try await client.query(
            """
            DELETE FROM ledgerlink_challenges WHERE challenge = \(ByteBuffer(bytes: challenge))
            AND identity = \(ByteBuffer(bytes: identity)) RETURNING identity, device, expires
            """, logger: logger)
        for try await (identity, device, expires) in rows.decode((ByteBuffer, ByteBuffer, Int64).self) {
            return AuthGrant(
                identity: Array(identity.readableBytesView), device: Array(device.readableBytesView), expires: expires)
        }
        return nil
    }

    package func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws {
        try await client.query(
            """
            INSERT INTO ledgerlink_tokens (hash, identity, device, expires)
            VALUES (\(ByteBuffer(bytes: hash)), \(ByteBuffer(bytes: grant.identity)), \(ByteBuffer(bytes: grant.device)), \(grant.expires))
            """, logger: logger
        ).drain()
    }

    package func token(hash: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        let rows = try await all(Statements.Token(hash: ByteBuffer(bytes: hash), identity: ByteBuffer(bytes: identity)))
        guard let (identity, device, expires) = rows.first else { return nil }
        return AuthGrant(
            identity: Array(identity.readableBytesView), device: Array(device.readableBytesView), expires: expires)
    }

    package func openMailbox(_ id: [UInt8], identity: [UInt8], expires: Int64, now: Int64, maxOpen: Int) async throws
        -> Bool
    {
        try await client.withTransaction(logger: logger) { connection in
            // One identity's mailboxes are counted and opened under a lock on the identity.
            try await connection.query(
                "SELECT pg_advisory_xact_lock(hashtextextended(encode(\(ByteBuffer(bytes: identity)), 'hex'), 7))",
                logger: logger
            ).drain()
            let rows = try await connection.query(
                """
                SELECT count(*)::BIGINT FROM ledgerlink_mailboxes
                WHERE identity = \(ByteBuffer(bytes: identity)) AND expires >= \(now) AND NOT closed
                """, logger: logger)
            var open: Int64 = 0
            for try await count in rows.decode(Int64.self) { open = count }
            guard open < Int64(maxOpen) else { return false }
            try await connection.query(
                """
                INSERT INTO ledgerlink_mailboxes (id, identity, expires, closed)
                VALUES (\(ByteBuffer(bytes: id)), \(ByteBuffer(bytes: identity)), \(expires), FALSE)
                ON CONFLICT (id) DO UPDATE SET identity = EXCLUDED.identity, expires = EXCLUDED.expires, closed = FALSE
                """, logger: logger
            ).drain()
            try await connection.query(
                "DELETE FROM ledgerlink_mailbox_messages WHERE mailbox = \(ByteBuffer(bytes: id))", logger: logger
            ).drain()
            return true
        }
    }

    package func mailbox(_ id: [UInt8]) async throws -> MailboxRecord? {
        let rows = try await client.query(
            "SELECT identity, expires, closed FROM ledgerlink_mailboxes WHERE id = \(ByteBuffer(bytes: id))",
            logger: logger)
        for try await (identity, expires, closed) in rows.decode((ByteBuffer, Int64, Bool).self) {
            return MailboxRecord(identity: Array(identity.readableBytesView), expires: expires, closed: closed)
        }
        return nil
    }

    package func closeMailbox(_ id: [UInt8]) async throws {
        try await client.query(
            "UPDATE ledgerlink_mailboxes SET closed = TRUE WHERE id = \(ByteBuffer(bytes: id))", logger: logger
        ).drain()
    }

    package func putMessage(_ id: [UInt8], side: Int, index: Int, body: [UInt8], limit: Int) async throws -> MailboxPut
    {
        try await client.withTransaction(logger: logger) { connection in
            // The mailbox row serialises writers of one mailbox.
            try await connection.query(
                "SELECT 1 FROM ledgerlink_mailboxes WHERE id = \(ByteBuffer(bytes: id)) FOR UPDATE", logger: logger
            ).drain()
            let side32 = Int32(side)
            let index32 = Int32(index)
            let existing = try await connection.query(
                """
                SELECT body FROM ledgerlink_mailbox_messages
                WHERE mailbox = \(ByteBuffer(bytes: id)) AND side = \(side32) AND idx = \(index32)
                """, logger: logger)
            for try await stored in existing.decode(ByteBuffer.self) {
                return Array(stored.readableBytesView) == body ? .duplicate : .conflict
            }
            let counted = try await connection.query(
                """
                SELECT count(*)::BIGINT FROM ledgerlink_mailbox_messages
                WHERE mailbox = \(ByteBuffer(bytes: id)) AND side = \(side32)
                """, logger: logger)
            var count: Int64 = 0
            for try await value in counted.decode(Int64.self) { count = value }
            guard Int64(index) == count, count < Int64(limit) else { return .outOfOrder }
            try await connection.query(
                """
                INSERT INTO ledgerlink_mailbox_messages (mailbox, side, idx, body)
                VALUES (\(ByteBuffer(bytes: id)), \(side32), \(index32), \(ByteBuffer(bytes: body)))
                """, logger: logger
            ).drain()
            return .stored
        }
    }

    package func message(_ id: [UInt8], side: Int, index: Int) async throws -> [UInt8]? {
        let rows = try await client.query(
            """
            SELECT body FROM ledgerlink_mailbox_messages
            WHERE mailbox = \(ByteBuffer(bytes: id)) AND side = \(Int32(side)) AND idx = \(Int32(index))
            """, logger: logger)
        for try await body in rows.decode(ByteBuffer.self) { return Array(body.readableBytesView) }
        return nil
    }

    package func purge(before now: Int64) async throws {
        try await client.query("DELETE FROM ledgerlink_challenges WHERE expires < \(now)", logger: logger).drain()
        try await client.query("DELETE FROM ledgerlink_tokens WHERE expires < \(now)", logger: logger).drain()
        let stale = now - 3600
        try await client.query(
            """
            DELETE FROM ledgerlink_mailbox_messages
            WHERE mailbox IN (SELECT id FROM ledgerlink_mailboxes WHERE expires < \(stale))
            """, logger: logger
        ).drain()
        try await client.query("DELETE FROM ledgerlink_mailboxes WHERE expires < \(stale)", logger: logger).drain()
    }

    package func counts() async throws -> (identities: Int64, entries: Int64) {
        let rows = try await client.query(
            "SELECT count(*)::BIGINT, coalesce(sum(version), 0)::BIGINT FROM ledgerlink_identities", logger: logger)
        for try await (identities, entries) in rows.decode((Int64, Int64).self) { return (identities, entries) }
        return (0, 0)
    }

    package func ping() async throws {
        try await client.query("SELECT 1", logger: logger).drain()
    }

    package func storeKeySeed(proposed: [UInt8]) async throws -> [UInt8] {
        try await client.query(
            """
            INSERT INTO ledgerlink_meta (name, value) VALUES ('store_key_seed', \(ByteBuffer(bytes: proposed)))
            ON CONFLICT (name) DO NOTHING
            """, logger: logger
        ).drain()
        let rows = try await client.query(
            "SELECT value FROM ledgerlink_meta WHERE name = 'store_key_seed'", logger: logger)
        for try await seed in rows.decode(ByteBuffer.self) { return Array(seed.readableBytesView) }
        throw StoreError(.corruptStore, "the store's key is missing from its database")
    }
}

/// Set once, read from any thread.
final class RunFlag: Sendable {
    private let value = Mutex(false)

    func set() { value.withLock { $0 = true } }

    var isSet: Bool { value.withLock { $0 } }
}

extension PostgresRowSequence {
    /// Reads the rows to the end (a statement is complete only then).
    func drain() async throws {
        for try await _ in self {}
    }
}

/// The reads every poll and sync makes, as statements PostgreSQL prepares once per connection
/// (`PostgresBackend.all`). Their SQL is what the unprepared form runs too.
enum Statements {
    struct Version: Read {
        static let name = "ledgerlink_version_v1"
        static let sql = "SELECT version FROM ledgerlink_identities WHERE id = $1"
        let bindings: PostgresBindings
        init(identity: ByteBuffer) { bindings = bound(identity) }
        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    struct Head: Read {
        static let name = "ledgerlink_head_v1"
        static let sql = "SELECT version, digest, devices, heads FROM ledgerlink_identities WHERE id = $1"
        let bindings: PostgresBindings
        init(identity: ByteBuffer) { bindings = bound(identity) }
        func decodeRow(_ row: PostgresRow) throws -> (Int64, ByteBuffer?, ByteBuffer?, ByteBuffer?) {
            try row.decode((Int64, ByteBuffer?, ByteBuffer?, ByteBuffer?).self)
        }
    }

    struct Token: Read {
        static let name = "ledgerlink_token_v1"
        static let sql = "SELECT identity, device, expires FROM ledgerlink_tokens WHERE hash = $1 AND identity = $2"
        let bindings: PostgresBindings
        init(hash: ByteBuffer, identity: ByteBuffer) { bindings = bound(hash, identity) }
        func decodeRow(_ row: PostgresRow) throws -> (ByteBuffer, ByteBuffer, Int64) {
            try row.decode((ByteBuffer, ByteBuffer, Int64).self)
        }
    }

    /// A stored row's `n, span, seq, raw`.
    typealias StoredRowFields = (Int64, Int64, Int64, ByteBuffer)

    /// Rows placed `lowest...highest` that end after place `after`, in order of place.
    struct RowsAfter: Read {
        static let name = "ledgerlink_rows_after_v1"
        static let sql = """
            SELECT n, span, seq, raw FROM ledgerlink_entries WHERE identity = $1
            AND n >= $2 AND n <= $3 AND n + span - 1 > $4 ORDER BY n
            """
        let bindings: PostgresBindings
        init(identity: ByteBuffer, lowest: Int64, highest: Int64, after: Int64) {
            bindings = bound(identity, lowest, highest, after)
        }
        func decodeRow(_ row: PostgresRow) throws -> StoredRowFields { try row.decode(StoredRowFields.self) }
    }

    /// Rows of one author's log starting at seqs `lowest...highest` that reach seq `from`, in
    /// order of seq.
    struct RowsOfLog: Read {
        static let name = "ledgerlink_rows_of_log_v1"
        static let sql = """
            SELECT n, span, seq, raw FROM ledgerlink_entries WHERE identity = $1
            AND author = $2 AND seq >= $3 AND seq <= $4 AND seq + span - 1 >= $5 ORDER BY seq, n
            """
        let bindings: PostgresBindings
        init(identity: ByteBuffer, author: ByteBuffer, lowest: Int64, highest: Int64, from: Int64) {
            bindings = bound(identity, author, lowest, highest, from)
        }
        func decodeRow(_ row: PostgresRow) throws -> StoredRowFields { try row.decode(StoredRowFields.self) }
    }
}

/// A read whose bindings are made as it is built.
protocol Read: PostgresPreparedStatement {
    var bindings: PostgresBindings { get }
}

extension Read {
    func makeBindings() throws -> PostgresBindings { bindings }
}

/// `values` bound in order, as `$1`, `$2`, ….
private func bound(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings {
    var bindings = PostgresBindings(capacity: values.count)
    for value in values { bindings.append(value) }
    return bindings
}
