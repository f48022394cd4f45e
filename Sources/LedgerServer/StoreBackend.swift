import Foundation
import GRDB
import GRDBSQLite
import LedgerCore

/// One stored entry of an identity: its place in arrival order and its encoding.
package struct StoredRow: Sendable {
    package let n: Int64
    package let raw: [UInt8]
}

/// What a poll needs of an identity, written beside its version by each append: the clock
/// digest of exactly that version and the devices (and recovery keys) it authorises, so a
/// server answers "nothing changed" and checks a token with one indexed read and no replica.
package struct IdentitySummary: Sendable, Equatable {
    /// The clock digest (32 bytes).
    package let digest: [UInt8]
    /// The authorised, unrevoked keys, 32 bytes each, in key order.
    package let devices: [UInt8]
    /// The clock itself (its canonical encoding) when no log is forked: a push is then checked
    /// and a pull answered from it and the rows, without a replica (`PlainPush`). Nil for a
    /// forked identity, and for one last written before heads were kept.
    package let heads: [UInt8]?

    package init(digest: [UInt8], devices: [UInt8], heads: [UInt8]? = nil) {
        (self.digest, self.devices, self.heads) = (digest, devices, heads)
    }

    /// Most keys a summary lists (far above any identity's devices).
    package static let maxDevices = 4096

    /// Whether it is well formed (a damaged row is read as no summary).
    package var isValid: Bool {
        digest.count == 32 && devices.count % 32 == 0 && devices.count / 32 <= Self.maxDevices
    }
}

/// An identity's row: how many entries it holds, and their summary when an append wrote one
/// (identities last written by an older server have none until their next append).
package struct StoredHead: Sendable, Equatable {
    package let version: Int64
    package let summary: IdentitySummary?

    package init(version: Int64, summary: IdentitySummary?) { (self.version, self.summary) = (version, summary) }
}

/// A challenge or token as stored.
package struct AuthGrant: Sendable, Equatable {
    package let identity: [UInt8]
    package let device: [UInt8]
    package let expires: Int64
}

/// A pairing mailbox as stored.
package struct MailboxRecord: Sendable, Equatable {
    package let identity: [UInt8]
    package let expires: Int64
    package let closed: Bool
}

/// What leaving a message in a mailbox did.
package enum MailboxPut: Sendable, Equatable {
    case stored
    /// The same message was already there (a retried request).
    case duplicate
    /// Another message holds that place (a second device used the code).
    case conflict
    /// Earlier messages of the side are missing, or the side is full.
    case outOfOrder
}

/// Where a store server keeps everything: identities' entries (append-only, in arrival order),
/// challenges and tokens. A server holds nothing else that matters, so several servers on one
/// database serve the same identities consistently.
package protocol StoreBackend: Sendable {
    /// Creates the schema when missing, and brings an older store's rows up to it (below).
    func prepare() async throws
    /// Creates the schema when missing (tables, and columns older stores lack).
    func prepareSchema() async throws
    /// Gives up to `limit` rows stored before rows named their author and seq those columns, in
    /// one transaction; the number given, 0 once none is left (called until it says 0).
    func fillPositions(limit: Int) async throws -> Int
    /// The number of entries stored for `identity`, or nil when the store does not know it.
    func version(of identity: [UInt8]) async throws -> Int64?
    /// The identity's version and summary in one read, or nil when the store does not know it.
    func head(of identity: [UInt8]) async throws -> StoredHead?
    /// Entries of `identity` stored after position `n`, in order, at most `limit` of them.
    func rows(of identity: [UInt8], after n: Int64, limit: Int) async throws -> [StoredRow]
    /// Entries of `identity` by `author` with a seq in `seqs`, in seq order (then arrival order),
    /// at most `limit` of them: one range of an index on (identity, author, seq).
    func rows(of identity: [UInt8], author: [UInt8], seqs: ClosedRange<Int64>, limit: Int) async throws
        -> [StoredRow]
    /// Appends `raws` to `identity` (creating it when `expected` is nil) if nothing was appended
    /// since `expected`; false when another writer got there first (nothing is written then).
    /// `recoveryKeys` (keys the appended entries link as recovery keys) are indexed in the same
    /// transaction, for `identities(recoveryKey:)`, and `summary` (of the state after the
    /// append) is kept with the new version.
    func append(
        _ raws: [[UInt8]], to identity: [UInt8], expected: Int64?, recoveryKeys: [[UInt8]], summary: IdentitySummary?
    ) async throws -> Bool
    /// The identities that linked `recoveryKey` as a recovery key.
    func identities(recoveryKey: [UInt8]) async throws -> [[UInt8]]
    func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws
    /// Removes the challenge and returns what it was issued for (single use).
    func takeChallenge(_ challenge: [UInt8], identity: [UInt8]) async throws -> AuthGrant?
    func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws
    func token(hash: [UInt8], identity: [UInt8]) async throws -> AuthGrant?
    /// Opens a pairing mailbox unless `identity` already has `maxOpen` open ones (false then).
    func openMailbox(_ id: [UInt8], identity: [UInt8], expires: Int64, now: Int64, maxOpen: Int) async throws -> Bool
    func mailbox(_ id: [UInt8]) async throws -> MailboxRecord?
    func closeMailbox(_ id: [UInt8]) async throws
    /// Leaves message `index` of `side` (0 the joiner, 1 the inviter); messages of a side are
    /// numbered from 0 without gaps, at most `limit` of them.
    func putMessage(_ id: [UInt8], side: Int, index: Int, body: [UInt8], limit: Int) async throws -> MailboxPut
    func message(_ id: [UInt8], side: Int, index: Int) async throws -> [UInt8]?
    /// Forgets challenges and tokens that expired before `now` (unix seconds), and mailboxes
    /// (with their messages) an hour after they expired.
    func purge(before now: Int64) async throws
    /// Number of identities and entries, for metrics.
    func counts() async throws -> (identities: Int64, entries: Int64)
    /// A cheap query that fails when the database is unreachable.
    func ping() async throws
    /// The seed of the store's signing key, kept with its data: `proposed` is stored when there
    /// is none yet (the first server to start), and every server gets the one stored.
    func storeKeySeed(proposed: [UInt8]) async throws -> [UInt8]
}

/// The default backend: one SQLite file (WAL, synchronous=FULL), created on first start.
package final class SQLiteBackend: StoreBackend {
    private let pool: DatabasePool
    /// Page cache of each reader connection, KiB (SQLite's default is 2,000). Readers scan
    /// rows once for a pull and look up one identity's summary for a poll: a large cache only
    /// kept the last pull's pages, up to 2 MB in each of the pool's readers for good (a pull of
    /// 100,000 entries left a new server 1.5-2 MB more anonymous memory with the default).
    package static let readerCacheKiB = 512

    package init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // 16 KiB pages for a new file: a row of entries is tens of kilobytes, and SQLite
            // writes and syncs its write-ahead log a page at a time (a page of 16,000 entries
            // took 24 ms with 4 KiB pages, 10 ms with these). An existing file keeps its size.
            try db.execute(sql: "PRAGMA page_size = 16384")
            try db.execute(sql: "PRAGMA busy_timeout = 5000")
            if db.configuration.readonly {
                try db.execute(sql: "PRAGMA cache_size = -\(SQLiteBackend.readerCacheKiB)")
            }
        }
        // A push is answered once it is on disk.
        pool = try LedgerStore.durablePool(path, configuration: configuration)
    }

    /// A reader connection's `PRAGMA cache_size` (negative: KiB), for tests and diagnostics.
    package func readerCacheSize() async throws -> Int {
        try await pool.read { try Int.fetchOne($0, sql: "PRAGMA cache_size") } ?? 0
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL), for tests and diagnostics.
    package func commitSyncLevel() async throws -> Int {
        try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } ?? 0
    }

    package func prepareSchema() async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS identities (id BLOB PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS entries (
                        identity BLOB NOT NULL, n INTEGER NOT NULL, raw BLOB NOT NULL, UNIQUE (identity, n));
                    CREATE TABLE IF NOT EXISTS challenges (
                        challenge BLOB PRIMARY KEY, identity BLOB NOT NULL, device BLOB NOT NULL,
                        expires INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS tokens (
                        hash BLOB PRIMARY KEY, identity BLOB NOT NULL, device BLOB NOT NULL,
                        expires INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS mailboxes (
                        id BLOB PRIMARY KEY, identity BLOB NOT NULL, expires INTEGER NOT NULL,
                        closed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS mailboxes_identity ON mailboxes (identity, expires);
                    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS recovery_keys (
                        key BLOB NOT NULL, identity BLOB NOT NULL, PRIMARY KEY (key, identity)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS mailbox_messages (
                        mailbox BLOB NOT NULL, side INTEGER NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL,
                        PRIMARY KEY (mailbox, side, idx)) WITHOUT ROWID;
                    """)
            // Stores made before summaries were kept gain the columns (empty until the next append).
            let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('identities')")
            if !columns.contains("digest") {
                try db.execute(
                    sql: "ALTER TABLE identities ADD COLUMN digest BLOB; ALTER TABLE identities ADD COLUMN devices BLOB"
                )
            }
            if !columns.contains("heads") { try db.execute(sql: "ALTER TABLE identities ADD COLUMN heads BLOB") }
            // Rows name their author and seq, so a pull reads what a device lacks by index.
            let entryColumns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('entries')")
            if !entryColumns.contains("author") {
                try db.execute(
                    sql: "ALTER TABLE entries ADD COLUMN author BLOB; ALTER TABLE entries ADD COLUMN seq INTEGER")
            }
            // Rows hold runs of entries (`StoreSegments`); every older row holds one. (A new
            // store's table has rowids: it keeps a row of a few kilobytes in its page, where a
            // table without them, as older stores have, spills what exceeds a quarter of a page
            // onto an overflow page of its own: 10,000 identities of 21 entries took 195 MB with
            // 16 KiB pages, 68 MB with rowids.)
            if !entryColumns.contains("span") {
                try db.execute(sql: "ALTER TABLE entries ADD COLUMN span INTEGER NOT NULL DEFAULT 1")
            }
            try db.execute(
                sql: """
                    DROP INDEX IF EXISTS entries_author;
                    CREATE INDEX IF NOT EXISTS entries_runs ON entries (identity, author, seq, span);
                    """)
        }
    }

    package func fillPositions(limit: Int) async throws -> Int {
        try await pool.write { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT identity, n, raw FROM entries WHERE author IS NULL LIMIT ?", arguments: [limit])
            for row in rows {
                let raw = Array(row["raw"] as Data)
                // A row too damaged to name them gets an empty author, which no device has.
                let position = Entry.position(in: raw)
                try db.execute(
                    sql: "UPDATE entries SET author = ?, seq = ? WHERE identity = ? AND n = ?",
                    arguments: [
                        Data(position?.author ?? []), position?.seq ?? 0, row["identity"] as Data, row["n"] as Int64,
                    ])
            }
            return rows.count
        }
    }

    package func version(of identity: [UInt8]) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT version FROM identities WHERE id = ?"), arguments: [Data(identity)])
        }
    }

    package func head(of identity: [UInt8]) async throws -> StoredHead? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT version, digest, devices, heads FROM identities WHERE id = ?"),
                    arguments: [Data(identity)])
            else { return nil }
            let digest = (row["digest"] as Data?).map(Array.init)
            let devices = (row["devices"] as Data?).map(Array.init)
            let heads = (row["heads"] as Data?).map(Array.init)
            let summary = digest.flatMap { d in devices.map { IdentitySummary(digest: d, devices: $0, heads: heads) } }
            return StoredHead(version: row["version"], summary: summary?.isValid == true ? summary : nil)
        }
    }

    package func rows(of identity: [UInt8], after n: Int64, limit: Int) async throws -> [StoredRow] {
        let bounds = StoreSegments.places(after: n, limit: limit)
        return try await pool.read { db in
            try Self.storedRows(
                db,
                sql: """
                    SELECT n, span, seq, raw FROM entries WHERE identity = ? AND n >= ? AND n <= ? AND n + span - 1 > ?
                    ORDER BY n
                    """,
                blobs: [identity], integers: [bounds.lowerBound, bounds.upperBound, n], after: n, seqs: nil,
                limit: limit)
        }
    }

    package func rows(of identity: [UInt8], author: [UInt8], seqs: ClosedRange<Int64>, limit: Int) async throws
        -> [StoredRow]
    {
        let (bounds, wanted) = StoreSegments.seqs(seqs, limit: limit)
        return try await pool.read { db in
            try Self.storedRows(
                db,
                sql: """
                    SELECT n, span, seq, raw FROM entries WHERE identity = ? AND author = ? AND seq >= ? AND seq <= ?
                    AND seq + span - 1 >= ? ORDER BY seq, n
                    """,
                blobs: [identity, author], integers: [bounds.lowerBound, bounds.upperBound, wanted.lowerBound],
                after: 0, seqs: wanted, limit: limit)
        }
    }

    /// The entries of the rows `(n, span, seq, raw)` a statement reads (its parameters are
    /// `blobs` then `integers`) placed after `after` and within `seqs`, at most `limit` of them
    /// in (seq, place) order when `seqs` is given, else in place order. Read through SQLite's own calls: a
    /// pull reads a hundred thousand entries, and a row object with its columns looked up by
    /// name and its blob copied twice cost a quarter of the server's time.
    static func storedRows(
        _ db: Database, sql: String, blobs: [[UInt8]], integers: [Int64], after: Int64, seqs: ClosedRange<Int64>?,
        limit: Int
    ) throws -> [StoredRow] {
        // Cached: a pull reads a hundred times, and parsing the statement each time was 7% of the
        // server's work for it.
        let statement = try db.cachedStatement(sql: sql)
        let handle = statement.sqliteStatement
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        var out: [StoredRow] = []
        // SQLITE_TRANSIENT: SQLite copies each blob, so none need outlive the binding.
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (index, blob) in blobs.enumerated() {
            blob.withUnsafeBytes { bytes in
                _ = sqlite3_bind_blob(
                    handle, Int32(index + 1), bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count),
                    transient)
            }
        }
        for (index, value) in integers.enumerated() {
            sqlite3_bind_int64(handle, Int32(blobs.count + index + 1), value)
        }
        // The key ranges bound what is read; in place order, stepping stops once `limit`
        // entries are in hand (in seq order a forked log's rival may still come).
        while seqs != nil || out.count < limit {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            let count = Int(sqlite3_column_bytes(handle, 3))
            let start = sqlite3_column_blob(handle, 3)
            try StoreSegments.split(
                UnsafeRawBufferPointer(start: count > 0 ? start : nil, count: count > 0 && start != nil ? count : 0),
                n: sqlite3_column_int64(handle, 0), span: sqlite3_column_int64(handle, 1),
                seq: sqlite3_column_int64(handle, 2), after: after, seqs: seqs, into: &out)
        }
        return StoreSegments.ordered(out, bySeq: seqs != nil, limit: limit)
    }

    package func append(
        _ raws: [[UInt8]], to identity: [UInt8], expected: Int64?, recoveryKeys: [[UInt8]], summary: IdentitySummary?
    ) async throws -> Bool {
        try await pool.write { db in
            let id = Data(identity)
            let current = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT version FROM identities WHERE id = ?"), arguments: [id])
            guard current == expected else { return false }
            let base = current ?? 0
            if current == nil {
                try db.execute(sql: "INSERT INTO identities (id, version) VALUES (?, 0)", arguments: [id])
            }
            try Self.insertEntries(db, raws, identity: identity, after: base)
            try db.cachedStatement(
                sql: "UPDATE identities SET version = ?, digest = ?, devices = ?, heads = ? WHERE id = ?"
            )
            .execute(arguments: [
                base + Int64(raws.count), summary.map { Data($0.digest) }, summary.map { Data($0.devices) },
                summary?.heads.map { Data($0) }, id,
            ])
            for key in recoveryKeys {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO recovery_keys (key, identity) VALUES (?, ?)",
                    arguments: [Data(key), id])
            }
            return true
        }
    }

    /// Inserts `raws` as entries `after + 1`, `after + 2`, … of `identity`, a row per run of
    /// one author's entries (`StoreSegments`), with the author and seq of its first: one
    /// statement (cached, and left reset and unbound) stepped per row, without building
    /// arguments per row.
    static func insertEntries(_ db: Database, _ raws: [[UInt8]], identity: [UInt8], after base: Int64) throws {
        let insert = try db.cachedStatement(
            sql: "INSERT INTO entries (identity, n, raw, author, seq, span) VALUES (?, ?, ?, ?, ?, ?)")
        let handle = insert.sqliteStatement
        try identity.withUnsafeBytes { id in
            for row in StoreSegments.plan(raws) {
                sqlite3_reset(handle)
                sqlite3_bind_blob(handle, 1, id.baseAddress, Int32(id.count), nil)
                sqlite3_bind_int64(handle, 2, base + Int64(row.range.lowerBound) + 1)
                let raw = StoreSegments.joined(raws[row.range])
                let code = raw.withUnsafeBytes { bytes in
                    row.author.withUnsafeBytes { author in
                        let start = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)
                        sqlite3_bind_blob(handle, 3, start, Int32(bytes.count), nil)
                        sqlite3_bind_blob(
                            handle, 4, author.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(author.count), nil)
                        sqlite3_bind_int64(handle, 5, row.seq)
                        sqlite3_bind_int64(handle, 6, row.span)
                        return sqlite3_step(handle)
                    }
                }
                guard code == SQLITE_DONE else {
                    let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
                    sqlite3_reset(handle)
                    sqlite3_clear_bindings(handle)
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
                }
                // The bytes bound go out of scope after each row: the statement keeps none of them.
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
        }
    }

    package func identities(recoveryKey: [UInt8]) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(
                db, sql: "SELECT identity FROM recovery_keys WHERE key = ? ORDER BY identity LIMIT 16",
                arguments: [Data(recoveryKey)]
            ).map(Array.init)
        }
    }

    package func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws {
        try await pool.write { db in
            try db.cachedStatement(
                sql: "INSERT INTO challenges (challenge, identity, device, expires) VALUES (?, ?, ?, ?)"
            )
            .execute(arguments: [Data(challenge), Data(grant.identity), Data(grant.device), grant.expires])
        }
    }

    package func takeChallenge(_ challenge: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            DELETE FROM challenges WHERE challenge = ? AND identity = ? RETURNING identity, device, expires
                            """), arguments: [Data(challenge), Data(identity)])
            else { return nil }
            return AuthGrant(
                identity: Array(row["identity"] as Data), device: Array(row["device"] as Data), expires: row["expires"])
        }
    }

    package func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws {
        try await pool.write { db in
            try db.cachedStatement(sql: "INSERT INTO tokens (hash, identity, device, expires) VALUES (?, ?, ?, ?)")
                .execute(arguments: [Data(hash), Data(grant.identity), Data(grant.device), grant.expires])
        }
    }

    package func token(hash: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: "SELECT identity, device, expires FROM tokens WHERE hash = ? AND identity = ?"),
                    arguments: [Data(hash), Data(identity)])
            else { return nil }
            return AuthGrant(
                identity: Array(row["identity"] as Data), device: Array(row["device"] as Data), expires: row["expires"])
        }
    }

    package func openMailbox(_ id: [UInt8], identity: [UInt8], expires: Int64, now: Int64, maxOpen: Int) async throws
        -> Bool
    {
        try await pool.write { db in
            let open =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM mailboxes WHERE identity = ? AND expires >= ? AND closed = 0",
                    arguments: [Data(identity), now]) ?? 0
            guard open < maxOpen else { return false }
            try db.execute(
                sql: "INSERT OR REPLACE INTO mailboxes (id, identity, expires, closed) VALUES (?, ?, ?, 0)",
                arguments: [Data(id), Data(identity), expires])
            try db.execute(sql: "DELETE FROM mailbox_messages WHERE mailbox = ?", arguments: [Data(id)])
            return true
        }
    }

    package func mailbox(_ id: [UInt8]) async throws -> MailboxRecord? {
        try await pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT identity, expires, closed FROM mailboxes WHERE id = ?", arguments: [Data(id)]
            )
            .map {
                MailboxRecord(identity: Array($0["identity"] as Data), expires: $0["expires"], closed: $0["closed"])
            }
        }
    }

    package func closeMailbox(_ id: [UInt8]) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE mailboxes SET closed = 1 WHERE id = ?", arguments: [Data(id)])
        }
    }

    package func putMessage(_ id: [UInt8], side: Int, index: Int, body: [UInt8], limit: Int) async throws -> MailboxPut
    {
        try await pool.write { db in
            if let existing = try Data.fetchOne(
                db, sql: "SELECT body FROM mailbox_messages WHERE mailbox = ? AND side = ? AND idx = ?",
                arguments: [Data(id), side, index])
            {
                return Array(existing) == body ? .duplicate : .conflict
            }
            let count =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM mailbox_messages WHERE mailbox = ? AND side = ?",
                    arguments: [Data(id), side]) ?? 0
            guard index == count, count < limit else { return .outOfOrder }
            try db.execute(
                sql: "INSERT INTO mailbox_messages (mailbox, side, idx, body) VALUES (?, ?, ?, ?)",
                arguments: [Data(id), side, index, Data(body)])
            return .stored
        }
    }

    package func message(_ id: [UInt8], side: Int, index: Int) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(
                db, sql: "SELECT body FROM mailbox_messages WHERE mailbox = ? AND side = ? AND idx = ?",
                arguments: [Data(id), side, index]
            ).map { Array($0) }
        }
    }

    package func purge(before now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM challenges WHERE expires < ?", arguments: [now])
            try db.execute(sql: "DELETE FROM tokens WHERE expires < ?", arguments: [now])
            try db.execute(
                sql: """
                    DELETE FROM mailbox_messages WHERE mailbox IN (SELECT id FROM mailboxes WHERE expires < ?);
                    DELETE FROM mailboxes WHERE expires < ?;
                    """, arguments: [now - 3600, now - 3600])
        }
    }

    package func counts() async throws -> (identities: Int64, entries: Int64) {
        try await pool.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM identities") ?? 0,
                try Int64.fetchOne(db, sql: "SELECT coalesce(sum(version), 0) FROM identities") ?? 0
            )
        }
    }

    package func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    package func storeKeySeed(proposed: [UInt8]) async throws -> [UInt8] {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO meta (name, value) VALUES ('store_key_seed', ?)",
                arguments: [Data(proposed)])
            guard let seed = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'store_key_seed'") else {
                throw StoreError(.corruptStore, "the store's key is missing from its database")
            }
            return Array(seed)
        }
    }
}

extension StoreBackend {
    /// The schema, then every older row given its author and seq, a thousand at a time (a large
    /// store upgraded from an older version takes a while, once).
    package func prepare() async throws {
        try await prepareSchema()
        while try await fillPositions(limit: 1000) > 0 {}
    }

    /// Appends entries that link no recovery key, without a summary.
    package func append(_ raws: [[UInt8]], to identity: [UInt8], expected: Int64?) async throws -> Bool {
        try await append(raws, to: identity, expected: expected, recoveryKeys: [], summary: nil)
    }
}
