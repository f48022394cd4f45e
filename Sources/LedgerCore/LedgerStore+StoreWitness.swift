import Foundation
import GRDB

/// What this device knows of the stores it syncs with (docs/PROTOCOL.md, "Store heads"): the
/// key pinned for each store address, the newest signed head of each store key (with the
/// clock it states, when known), and every problem found, with its proof. Kept beside the
/// ledger in the same database, never synced as entries.
public struct StoreProblemRecord: Sendable, Equatable {
    /// What kind of problem: `rollback`, `contradiction`, `dropped`, `key_changed`.
    public var kind: String
    /// The store's address as this device addressed it.
    public var origin: String
    /// The store's key (32 bytes).
    public var storeKey: [UInt8]
    /// The problem, in words.
    public var message: String
    /// The signed heads (and clocks) that prove it, as JSON (empty when there is no proof).
    public var proof: [UInt8]
    /// Unix milliseconds when it was found.
    public var time: Int64

    public init(kind: String, origin: String, storeKey: [UInt8], message: String, proof: [UInt8], time: Int64) {
        self.kind = kind
        self.origin = origin
        self.storeKey = storeKey
        self.message = message
        self.proof = proof
        self.time = time
    }
}

extension LedgerStore {
    static let storeWitnessSchema = """
        CREATE TABLE IF NOT EXISTS store_pins (origin TEXT PRIMARY KEY, key BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS store_heads (
            key BLOB PRIMARY KEY, origin TEXT NOT NULL, head BLOB NOT NULL, clock BLOB) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS store_possession (
            key BLOB PRIMARY KEY, origin TEXT NOT NULL, sampled INTEGER NOT NULL, through INTEGER NOT NULL,
            time INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS store_problems (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, origin TEXT NOT NULL, key BLOB NOT NULL,
            message TEXT NOT NULL, proof BLOB NOT NULL, time INTEGER NOT NULL);
        """

    /// The key pinned for the store at `origin`, if one is.
    public func pinnedStoreKey(origin: String) throws(LedgerError) -> [UInt8]? {
        try read { db in
            // A database opened read-only from before these tables has none of them.
            guard try db.tableExists("store_pins") else { return nil }
            return try Data.fetchOne(db, sql: "SELECT key FROM store_pins WHERE origin = ?", arguments: [origin]).map(
                Array.init)
        }
    }

    /// Pins `key` for `origin` (replacing any other: only when the person accepted it).
    public func pinStoreKey(origin: String, key: [UInt8]) throws(LedgerError) {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO store_pins (origin, key) VALUES (?, ?)", arguments: [origin, Data(key)])
        }
    }

    /// The newest head kept for the store with `key` (its JSON), and the clock it states.
    public func storeHead(key: [UInt8]) throws(LedgerError) -> (head: [UInt8], clock: [UInt8]?)? {
        try read { db in
            guard try db.tableExists("store_heads") else { return nil }
            return try Row.fetchOne(
                db, sql: "SELECT head, clock FROM store_heads WHERE key = ?", arguments: [Data(key)]
            ).map {
                (Array($0["head"] as Data), ($0["clock"] as Data?).map(Array.init))
            }
        }
    }

    /// Every kept head: the store's key, its address, the head's JSON.
    public func storeHeads() throws(LedgerError) -> [(key: [UInt8], origin: String, head: [UInt8])] {
        try read { db in
            guard try db.tableExists("store_heads") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT key, origin, head FROM store_heads ORDER BY key").map {
                (Array($0["key"] as Data), $0["origin"] as String, Array($0["head"] as Data))
            }
        }
    }

    /// Keeps `head` (JSON) as the newest of the store with `key`.
    public func keepStoreHead(key: [UInt8], origin: String, head: [UInt8], clock: [UInt8]?) throws(LedgerError) {
        try write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO store_heads (key, origin, head, clock) VALUES (?, ?, ?, ?)",
                arguments: [Data(key), origin, Data(head), clock.map { Data($0) }])
        }
    }

    /// How many problems of one kind one store may have kept: beyond it, the newest replaces
    /// the one before (the first ones, and the latest, stay), so a store that misbehaves on
    /// every poll cannot fill the device's disk.
    public static let maxStoreProblemsPerKind = 100

    /// Records a problem found with a store (kept until the person clears it).
    public func recordStoreProblem(_ problem: StoreProblemRecord) throws(LedgerError) {
        try write { db in
            let kept =
                try Int.fetchOne(
                    db, sql: "SELECT count(*) FROM store_problems WHERE origin = ? AND kind = ?",
                    arguments: [problem.origin, problem.kind]) ?? 0
            if kept >= Self.maxStoreProblemsPerKind {
                try db.execute(
                    sql: """
                        DELETE FROM store_problems WHERE id = (
                            SELECT max(id) FROM store_problems WHERE origin = ? AND kind = ?)
                        """, arguments: [problem.origin, problem.kind])
            }
            try db.execute(
                sql: "INSERT INTO store_problems (kind, origin, key, message, proof, time) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    problem.kind, problem.origin, Data(problem.storeKey), problem.message, Data(problem.proof),
                    problem.time,
                ])
        }
    }

    /// Forgets the problems found with the store at `origin` and the head kept of its key, so
    /// its next answer is the new starting point: the person's choice, once they know what
    /// happened (a backup restored on purpose). The pinned key stays. Returns how many problems
    /// were forgotten.
    public func clearStoreProblems(origin: String) throws(LedgerError) -> Int {
        try write { db in
            guard try db.tableExists("store_problems") else { return 0 }
            try db.execute(sql: "DELETE FROM store_problems WHERE origin = ?", arguments: [origin])
            let cleared = db.changesCount
            try db.execute(
                sql: """
                    DELETE FROM store_heads WHERE origin = ? OR key IN (SELECT key FROM store_pins WHERE origin = ?)
                    """, arguments: [origin, origin])
            return cleared
        }
    }

    /// Every store address this device has pinned a key for, with the key.
    public func storePins() throws(LedgerError) -> [(origin: String, key: [UInt8])] {
        try read { db in
            guard try db.tableExists("store_pins") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT origin, key FROM store_pins ORDER BY origin").map {
                ($0["origin"], Array($0["key"] as Data))
            }
        }
    }

    /// Records that the store with `key` proved it holds `sampled` entries of this device's log,
    /// picked at random up to seq `through`, at `time` (unix milliseconds).
    public func recordPossession(key: [UInt8], origin: String, sampled: Int, through: UInt64, time: Int64)
        throws(LedgerError)
    {
        try write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO store_possession (key, origin, sampled, through, time)
                    VALUES (?, ?, ?, ?, ?)
                    """, arguments: [Data(key), origin, sampled, Int64(clamping: through), time])
        }
    }

    /// When (unix milliseconds) the store with `key` last proved it holds this device's entries.
    public func possessionTime(key: [UInt8]) throws(LedgerError) -> Int64? {
        try read { db in
            guard try db.tableExists("store_possession") else { return nil }
            return try Int64.fetchOne(
                db, sql: "SELECT time FROM store_possession WHERE key = ?", arguments: [Data(key)])
        }
    }

    /// The last proof of possession of each store: its address, how many entries it proved up
    /// to which seq of this device's log, and when.
    public func possessionProofs() throws(LedgerError) -> [(origin: String, sampled: Int, through: UInt64, time: Int64)]
    {
        try read { db in
            guard try db.tableExists("store_possession") else { return [] }
            return try Row.fetchAll(
                db, sql: "SELECT origin, sampled, through, time FROM store_possession ORDER BY origin"
            )
            .map { ($0["origin"], $0["sampled"], UInt64(max(0, $0["through"] as Int64)), $0["time"]) }
        }
    }

    /// Every problem found with a store, oldest first.
    public func storeProblems() throws(LedgerError) -> [StoreProblemRecord] {
        try read { db in
            guard try db.tableExists("store_problems") else { return [] }
            return try Row.fetchAll(
                db, sql: "SELECT kind, origin, key, message, proof, time FROM store_problems ORDER BY id"
            ).map {
                StoreProblemRecord(
                    kind: $0["kind"], origin: $0["origin"], storeKey: Array($0["key"] as Data), message: $0["message"],
                    proof: Array($0["proof"] as Data), time: $0["time"])
            }
        }
    }
}
