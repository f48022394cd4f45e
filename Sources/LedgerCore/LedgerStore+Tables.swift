import Foundation
import GRDB
import LedgerCrypto

/// Every SQL statement the merge engine runs, table by table (the schema is in
/// LedgerStore.swift; the logs' packed segments are LogSegments.swift). The engine decides
/// what to keep; these only read and write, inside the engine's transactions.
extension LedgerStore {
    /// Shrinks the connection's page cache to at most 2 MB (a scan that reads each page once, a
    /// transaction that writes a whole file); returns the size to give back.
    static func useSmallPageCache(_ db: Database) -> Int {
        let size = (try? Int.fetchOne(db, sql: "PRAGMA cache_size")) ?? cacheSize
        if size < -2048 { try? db.execute(sql: "PRAGMA cache_size = -2048") }
        return size
    }

    /// Gives the connection the page cache `useSmallPageCache` found back.
    static func restorePageCache(_ db: Database, to size: Int) { try? db.execute(sql: "PRAGMA cache_size = \(size)") }

    /// `local`: this replica's identity record and the unit's decimals.
    enum Local {
        static func all(_ db: Database) throws -> [String: [UInt8]] {
            try Row.fetchAll(db, sql: "SELECT key, value FROM local").reduce(into: [:]) {
                $0[$1["key"] as String] = ($1["value"] as Data).bytes
            }
        }

        static func decimals(_ db: Database) throws -> UInt8? {
            try Data.fetchOne(db, sql: "SELECT value FROM local WHERE key = 'decimals'")?.first
        }

        /// Records the decimals once (the genesis entry never changes them).
        static func keepDecimals(_ db: Database, _ decimals: UInt8) throws {
            try db.execute(
                sql: "INSERT OR IGNORE INTO local (key, value) VALUES ('decimals', ?)", arguments: [Data([decimals])])
        }

        /// SQLite's count of commits by other connections: it moves when another process wrote.
        static func dataVersion(_ db: Database) throws -> Int64? {
            try Int64.fetchOne(db, sql: "PRAGMA data_version")
        }
    }

    /// `authors`: the row id each device key has in log rows.
    enum Authors {
        static func all(_ db: Database) throws -> [(id: Int64, key: DevicePublicKey)] {
            try Row.fetchAll(db, sql: "SELECT id, key FROM authors").map {
                (id: $0["id"], key: try DevicePublicKey(bytes: ($0["key"] as Data).bytes))
            }
        }

        static func insert(_ db: Database, _ key: DevicePublicKey) throws -> Int64 {
            try db.execute(sql: "INSERT INTO authors (key) VALUES (?)", arguments: [Data(key.bytes)])
            return db.lastInsertedRowID
        }
    }

    /// `held`: entries waiting for an earlier one of their log.
    enum Held {
        /// The hashes of `author`'s waiting entries at `seqs`.
        static func hashes(_ db: Database, author: DevicePublicKey, seqs: ClosedRange<Seq>) throws -> Set<EntryHash> {
            guard seqs.lowerBound <= Seq(Int64.max) else { return [] }
            let rows = try Data.fetchAll(
                db, sql: "SELECT hash FROM held WHERE author = ? AND seq >= ? AND seq <= ?",
                arguments: [
                    Data(author.bytes), Int64(seqs.lowerBound), Int64(min(seqs.upperBound, Seq(Int64.max))),
                ])
            return Set(rows.compactMap { try? EntryHash(bytes: $0.bytes) })
        }

        static func entries(_ db: Database, author: DevicePublicKey) throws -> [Entry] {
            try Data.fetchAll(
                db, sql: "SELECT raw FROM held WHERE author = ? ORDER BY seq", arguments: [Data(author.bytes)]
            )
            .compactMap { try? Entry(decoding: $0.bytes) }
        }

        static func insert(_ db: Database, _ entry: Entry, receivedAt: Int64) throws {
            try db.execute(
                sql: "INSERT OR IGNORE INTO held (hash, author, seq, raw, received) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    Data(entry.hash.bytes), Data(entry.author.bytes), Int64(entry.seq), Data(entry.encoded), receivedAt,
                ])
        }

        /// Deletes one entry; the bytes it took, nil when it was not there. (One statement:
        /// what it deleted is what the engine's bounds give back.)
        static func delete(_ db: Database, _ hash: EntryHash) throws -> Int? {
            try Int.fetchOne(
                db, sql: "DELETE FROM held WHERE hash = ? RETURNING length(raw)", arguments: [Data(hash.bytes)])
        }

        /// Deletes `author`'s entries from `seq` on; how many went.
        static func delete(_ db: Database, author: DevicePublicKey, from seq: Seq) throws -> Int {
            try db.execute(
                sql: "DELETE FROM held WHERE author = ? AND seq >= ?", arguments: [Data(author.bytes), Int64(seq)])
            return db.changesCount
        }

        static func size(_ db: Database) throws -> (count: Int, bytes: Int) {
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(length(raw)), 0) AS b FROM held")
            return (row?["n"] ?? 0, row?["b"] ?? 0)
        }

        static func cursor(_ db: Database) throws -> RowCursor {
            try Row.fetchCursor(db, sql: "SELECT raw FROM held ORDER BY author, seq")
        }
    }

    /// `forks`: both entries of every proven fork, kept as proof.
    enum Forks {
        /// The lowest forked seq of each author with a fork.
        static func lowestSeqs(_ db: Database) throws -> [DevicePublicKey: Seq] {
            try Row.fetchAll(db, sql: "SELECT author, MIN(seq) AS seq FROM forks GROUP BY author").reduce(into: [:]) {
                $0[try DevicePublicKey(bytes: ($1["author"] as Data).bytes)] = Seq($1["seq"] as Int64)
            }
        }

        static func any(_ db: Database, author: DevicePublicKey) throws -> Bool {
            try Bool.fetchOne(db, sql: "SELECT 1 FROM forks WHERE author = ? LIMIT 1", arguments: [Data(author.bytes)])
                ?? false
        }

        static func isProof(_ db: Database, _ entry: Entry) throws -> Bool {
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM forks WHERE author = ? AND hash = ?",
                arguments: [Data(entry.author.bytes), Data(entry.hash.bytes)]) ?? false
        }

        static func insert(_ db: Database, _ entry: Entry, seq: Seq) throws {
            try db.execute(
                sql: "INSERT OR IGNORE INTO forks (author, seq, hash, raw) VALUES (?, ?, ?, ?)",
                arguments: [Data(entry.author.bytes), Int64(seq), Data(entry.hash.bytes), Data(entry.encoded)])
        }

        /// Every seq of `author` with a proof.
        static func seqs(_ db: Database, author: DevicePublicKey) throws -> [Seq] {
            try Int64.fetchAll(
                db, sql: "SELECT DISTINCT seq FROM forks WHERE author = ? ORDER BY seq", arguments: [Data(author.bytes)]
            ).map { Seq($0) }
        }

        static func proofs(_ db: Database, author: DevicePublicKey) throws -> [Entry] {
            try Data.fetchAll(
                db, sql: "SELECT raw FROM forks WHERE author = ? ORDER BY seq, hash", arguments: [Data(author.bytes)]
            ).map { try Entry(decoding: $0.bytes) }
        }

        static func count(_ db: Database) throws -> Int {
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM forks") ?? 0
        }

        static func cursor(_ db: Database) throws -> RowCursor {
            try Row.fetchCursor(db, sql: "SELECT raw FROM forks ORDER BY author, seq, hash")
        }
    }

    /// `branches`: every validly signed entry of a forked device at or after its fork that is
    /// not in its log (the other branch, and whatever it wrote on after), kept so that a
    /// settlement can choose a branch and so that nothing signed is lost.
    enum Branches {
        static let schema = """
            CREATE TABLE branches (
                author BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, raw BLOB NOT NULL,
                PRIMARY KEY (author, hash)) WITHOUT ROWID;
            """
        /// Most entries kept per forked device (a stolen key could write without end).
        static let maxPerDevice = 100_000

        /// Keeps `entries` (of one device), as many as its share still holds; the device's count
        /// is read once, so moving a long log here costs one query plus one insert per entry.
        static func insert(_ db: Database, _ entries: [Entry]) throws {
            guard let author = entries.first?.author else { return }
            var count =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM branches WHERE author = ?", arguments: [Data(author.bytes)]) ?? 0
            let statement = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO branches (author, seq, hash, raw) VALUES (?, ?, ?, ?)")
            for entry in entries where count < maxPerDevice {
                try statement.execute(arguments: [
                    Data(entry.author.bytes), Int64(entry.seq), Data(entry.hash.bytes), Data(entry.encoded),
                ])
                count += db.changesCount
            }
        }

        static func any(_ db: Database, author: DevicePublicKey) throws -> Bool {
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM branches WHERE author = ? LIMIT 1", arguments: [Data(author.bytes)]) ?? false
        }

        static func contains(_ db: Database, _ entry: Entry) throws -> Bool {
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM branches WHERE author = ? AND hash = ?",
                arguments: [Data(entry.author.bytes), Data(entry.hash.bytes)]) ?? false
        }

        /// The kept entries of `author` at `seq` or later, by seq.
        static func entries(_ db: Database, author: DevicePublicKey, from seq: Seq) throws -> [Entry] {
            try Data.fetchAll(
                db, sql: "SELECT raw FROM branches WHERE author = ? AND seq >= ? ORDER BY seq, hash",
                arguments: [Data(author.bytes), Int64(seq)]
            ).map { try Entry(decoding: $0.bytes) }
        }
    }

    /// `data_keys`: every data key this device has opened.
    enum Keys {
        static func all(_ db: Database) throws -> [DataKey] {
            try Row.fetchAll(db, sql: "SELECT generation, key FROM data_keys").map {
                DataKey(
                    generation: UInt32($0["generation"] as Int64),
                    key: try SymmetricKey(bytes: ($0["key"] as Data).bytes))
            }
        }

        static func insert(_ db: Database, _ key: DataKey) throws {
            try db.execute(
                sql: "INSERT OR IGNORE INTO data_keys (id, generation, key) VALUES (?, ?, ?)",
                arguments: [Data(key.id.bytes), Int64(key.generation), Data(key.key.copyBytes())])
        }
    }

    /// `controls`: where control entries (genesis, links, revokes) stand in the logs.
    enum Controls {
        static func positions(_ db: Database) throws -> [(authorID: Int64, seq: Seq)] {
            try Row.fetchAll(db, sql: "SELECT author, seq FROM controls").map {
                (authorID: $0["author"], seq: Seq($0["seq"] as Int64))
            }
        }

        static func insert(_ db: Database, authorID: Int64, seq: Seq) throws {
            try db.cachedStatement(sql: "INSERT INTO controls (author, seq) VALUES (?, ?)")
                .execute(arguments: [authorID, Int64(seq)])
        }

        /// True when `authorID` has a control entry at `seq` or later.
        static func exists(_ db: Database, authorID: Int64, from seq: Seq) throws -> Bool {
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM controls WHERE author = ? AND seq >= ? LIMIT 1",
                arguments: [authorID, Int64(seq)]) ?? false
        }
    }

    /// `unopened`: entries whose sealed part this device could not open yet.
    enum Unopened {
        static func insert(_ db: Database, authorID: Int64, seq: Seq) throws {
            try db.cachedStatement(sql: "INSERT INTO unopened (author, seq) VALUES (?, ?)")
                .execute(arguments: [authorID, Int64(seq)])
        }

        static func delete(_ db: Database, authorID: Int64, seq: Seq) throws {
            try db.cachedStatement(sql: "DELETE FROM unopened WHERE author = ? AND seq = ?")
                .execute(arguments: [authorID, Int64(seq)])
        }

        /// The lowest unopened seq of each author with any.
        static func lowestSeqs(_ db: Database) throws -> [Int64: Seq] {
            try Row.fetchAll(db, sql: "SELECT author, seq FROM unopened").reduce(into: [:]) { lowest, row in
                let author: Int64 = row["author"]
                lowest[author] = min(lowest[author] ?? .max, Seq(row["seq"] as Int64))
            }
        }
    }

    /// `corrections`: every correction this device could open, with what it names (the log
    /// holds the entries; this table lets a replica resolve them without reading every log).
    enum Corrections {
        static func insert(_ db: Database, authorID: Int64, seq: Seq, hash: EntryHash, time: Int64, body: PrivateBody)
            throws
        {
            guard case .correction(let target, let amount, let memo) = body else { return }
            try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO corrections
                        (author, seq, hash, time, target_author, target_seq, target_hash, amount, memo)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                authorID, Int64(seq), Data(hash.bytes), time, Data(target.author.bytes), Int64(target.seq),
                Data(target.hash.bytes), amount, memo,
            ])
        }

        /// Forgets corrections at `seq` or later of `authorID` (a fork cut the log there).
        static func delete(_ db: Database, authorID: Int64, from seq: Seq) throws {
            try db.execute(
                sql: "DELETE FROM corrections WHERE author = ? AND seq >= ?", arguments: [authorID, Int64(seq)])
        }

        /// Every stored correction, its author named by row id (`author` turns it into a key).
        static func all(_ db: Database, author: (Int64) throws -> DevicePublicKey) throws
            -> [(authorID: Int64, item: LedgerCore.Corrections.Item)]
        {
            try Row.fetchAll(db, sql: "SELECT * FROM corrections").map { row in
                let authorID: Int64 = row["author"]
                let item = LedgerCore.Corrections.Item(
                    ref: EntryRef(
                        author: try author(authorID), seq: Seq(row["seq"] as Int64),
                        hash: try EntryHash(bytes: (row["hash"] as Data).bytes)),
                    time: row["time"],
                    target: EntryRef(
                        author: try DevicePublicKey(bytes: (row["target_author"] as Data).bytes),
                        seq: Seq(row["target_seq"] as Int64),
                        hash: try EntryHash(bytes: (row["target_hash"] as Data).bytes)),
                    amount: row["amount"], memo: row["memo"])
                return (authorID, item)
            }
        }
    }
}
