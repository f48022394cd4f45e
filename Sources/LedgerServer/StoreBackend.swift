import Foundation
import GRDB

/// One stored entry of an identity: its place in arrival order and its encoding.
public struct StoredRow: Sendable {
    public let n: Int64
    public let raw: [UInt8]
}

/// A challenge or token as stored.
public struct AuthGrant: Sendable, Equatable {
    public let identity: [UInt8]
    public let device: [UInt8]
    public let expires: Int64
}

/// Where a store server keeps everything: identities' entries (append-only, in arrival order),
/// challenges and tokens. A server holds nothing else that matters, so several servers on one
/// database serve the same identities consistently.
public protocol StoreBackend: Sendable {
    /// Creates the schema when missing.
    func prepare() async throws
    /// The number of entries stored for `identity`, or nil when the store does not know it.
    func version(of identity: [UInt8]) async throws -> Int64?
    /// Entries of `identity` stored after position `n`, in order.
    func rows(of identity: [UInt8], after n: Int64) async throws -> [StoredRow]
    /// Appends `raws` to `identity` (creating it when `expected` is nil) if nothing was appended
    /// since `expected`; false when another writer got there first (nothing is written then).
    func append(_ raws: [[UInt8]], to identity: [UInt8], expected: Int64?) async throws -> Bool
    func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws
    /// Removes the challenge and returns what it was issued for (single use).
    func takeChallenge(_ challenge: [UInt8]) async throws -> AuthGrant?
    func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws
    func token(hash: [UInt8]) async throws -> AuthGrant?
    /// Forgets challenges and tokens that expired before `now` (unix seconds).
    func purge(before now: Int64) async throws
    /// Number of identities and entries, for metrics.
    func counts() async throws -> (identities: Int64, entries: Int64)
    /// A cheap query that fails when the database is unreachable.
    func ping() async throws
}

/// The default backend: one SQLite file (WAL, synchronous=FULL), created on first start.
public final class SQLiteBackend: StoreBackend {
    private let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA busy_timeout = 5000")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
    }

    public func prepare() async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS identities (id BLOB PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS entries (
                        identity BLOB NOT NULL, n INTEGER NOT NULL, raw BLOB NOT NULL,
                        PRIMARY KEY (identity, n)) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS challenges (
                        challenge BLOB PRIMARY KEY, identity BLOB NOT NULL, device BLOB NOT NULL,
                        expires INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS tokens (
                        hash BLOB PRIMARY KEY, identity BLOB NOT NULL, device BLOB NOT NULL,
                        expires INTEGER NOT NULL) WITHOUT ROWID;
                    """)
        }
    }

    public func version(of identity: [UInt8]) async throws -> Int64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT version FROM identities WHERE id = ?", arguments: [Data(identity)])
        }
    }

    public func rows(of identity: [UInt8], after n: Int64) async throws -> [StoredRow] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT n, raw FROM entries WHERE identity = ? AND n > ? ORDER BY n",
                arguments: [Data(identity), n]
            ).map { StoredRow(n: $0["n"], raw: Array($0["raw"] as Data)) }
        }
    }

    public func append(_ raws: [[UInt8]], to identity: [UInt8], expected: Int64?) async throws -> Bool {
        try await pool.write { db in
            let id = Data(identity)
            let current = try Int64.fetchOne(db, sql: "SELECT version FROM identities WHERE id = ?", arguments: [id])
            guard current == expected else { return false }
            let base = current ?? 0
            if current == nil {
                try db.execute(sql: "INSERT INTO identities (id, version) VALUES (?, 0)", arguments: [id])
            }
            let insert = try db.makeStatement(sql: "INSERT INTO entries (identity, n, raw) VALUES (?, ?, ?)")
            for (offset, raw) in raws.enumerated() {
                try insert.execute(arguments: [id, base + Int64(offset) + 1, Data(raw)])
            }
            try db.execute(
                sql: "UPDATE identities SET version = ? WHERE id = ?", arguments: [base + Int64(raws.count), id])
            return true
        }
    }

    public func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO challenges (challenge, identity, device, expires) VALUES (?, ?, ?, ?)",
                arguments: [Data(challenge), Data(grant.identity), Data(grant.device), grant.expires])
        }
    }

    public func takeChallenge(_ challenge: [UInt8]) async throws -> AuthGrant? {
        try await pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "DELETE FROM challenges WHERE challenge = ? RETURNING identity, device, expires",
                    arguments: [Data(challenge)])
            else { return nil }
            return AuthGrant(
                identity: Array(row["identity"] as Data), device: Array(row["device"] as Data), expires: row["expires"])
        }
    }

    public func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO tokens (hash, identity, device, expires) VALUES (?, ?, ?, ?)",
                arguments: [Data(hash), Data(grant.identity), Data(grant.device), grant.expires])
        }
    }

    public func token(hash: [UInt8]) async throws -> AuthGrant? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT identity, device, expires FROM tokens WHERE hash = ?", arguments: [Data(hash)])
            else { return nil }
            return AuthGrant(
                identity: Array(row["identity"] as Data), device: Array(row["device"] as Data), expires: row["expires"])
        }
    }

    public func purge(before now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM challenges WHERE expires < ?", arguments: [now])
            try db.execute(sql: "DELETE FROM tokens WHERE expires < ?", arguments: [now])
        }
    }

    public func counts() async throws -> (identities: Int64, entries: Int64) {
        try await pool.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT count(*) FROM identities") ?? 0,
                try Int64.fetchOne(db, sql: "SELECT coalesce(sum(version), 0) FROM identities") ?? 0
            )
        }
    }

    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}
