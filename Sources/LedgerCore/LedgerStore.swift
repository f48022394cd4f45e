import Foundation
import GRDB
import LedgerCrypto

/// The device's durable copy of the ledger: an SQLite database in WAL mode, through GRDB.
///
/// Every change is one transaction that is durable (synchronous=FULL) before the call returns.
/// A file that is corrupt, not a ledgerlink database, or written by a newer schema is refused
/// before anything is written to it.
public final class LedgerStore: Sendable {
    /// The schema this build writes. Schema 1 (one row per entry) is moved to segments when
    /// first opened by this build.
    public static let schemaVersion = 5
    /// SQLite application_id marking a ledgerlink database ("LLNK").
    public static let applicationID: Int32 = 0x4C4C_4E4B

    let writer: any DatabaseWriter
    /// Where the database lives, or nil for an in-memory store.
    public let path: String?
    /// True when opened for reading only (`open(at:readOnly:)`): nothing can be written.
    public let isReadOnly: Bool

    private init(writer: any DatabaseWriter, path: String?, isReadOnly: Bool = false) {
        self.writer = writer
        self.path = path
        self.isReadOnly = isReadOnly
    }

    /// Creates a new database at `path`; fails when a file is already there.
    public static func create(at path: String, identity: IdentityID, root: DevicePublicKey, device: DevicePublicKey)
        throws(LedgerError) -> LedgerStore
    {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw .database("a ledger database already exists at \(path)")
        }
        // Create the file private to its user first: SQLite gives the WAL and shared-memory
        // files the permissions of the database file.
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw .database("cannot create \(path)")
        }
        let store = try wrap(path) {
            LedgerStore(writer: try durablePool(path, configuration: configuration()), path: path)
        }
        try store.initialise(identity: identity, root: root, device: device)
        return store
    }

    /// Opens an existing database, refusing corrupt, foreign or newer files without touching them.
    ///
    /// With `readOnly`, nothing is ever written (reading commands): a ledger in a folder that
    /// cannot be written (a read-only mount, a backup) or on a full disk can still be read.
    public static func open(at path: String, readOnly: Bool = false) throws(LedgerError) -> LedgerStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw .database("no ledger database at \(path)")
        }
        if readOnly {
            var queue = try wrap(path) { try readOnlyQueue(path) }
            if try wrap(path, { try checkedVersion(queue, path) }) < schemaVersion {
                // An older file is converted once, which is a write; then it is read as usual.
                do {
                    _ = try open(at: path, readOnly: false)
                } catch {
                    throw .database(
                        "\(path) is in an older format that must be converted before it can be read, and it "
                            + "cannot be written here (\(error)); open it once where it can be written")
                }
                queue = try wrap(path) { try readOnlyQueue(path) }
            }
            return LedgerStore(writer: queue, path: path, isReadOnly: true)
        }
        let version = try wrap(path) {
            // Inspect read-only first: opening a pool switches the file to WAL, which is a write.
            try checkedVersion(try DatabaseQueue(path: path, configuration: readOnlyConfiguration()), path)
        }
        let store = try wrap(path) {
            LedgerStore(writer: try durablePool(path, configuration: configuration()), path: path)
        }
        // Only an older file takes the write lock here: reading commands open without waiting
        // for a process that is writing.
        if version < schemaVersion { try store.migrate() }
        return store
    }

    /// A pool whose writer commits with synchronous=FULL (the device's ledger, the store's
    /// SQLite file). GRDB's pool switches a database to WAL after the configuration's own
    /// set-up and sets synchronous=NORMAL as it does, which leaves commits in the OS's cache
    /// until the next checkpoint: a power cut could take entries already shown and sent.
    package static func durablePool(_ path: String, configuration: Configuration) throws -> DatabasePool {
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    private static func readOnlyConfiguration() -> Configuration {
        var readOnly = Configuration()
        readOnly.readonly = true
        // Another process may be writing or checkpointing: wait as every connection does.
        readOnly.busyMode = .timeout(10)
        return readOnly
    }

    /// A read-only connection. Reading a WAL database needs its shared-memory file; where that
    /// cannot be created (a folder nobody can write, a full disk) the file is opened as
    /// immutable, which is sound there because nothing can change it either.
    private static func readOnlyQueue(_ path: String) throws -> DatabaseQueue {
        do {
            let queue = try DatabaseQueue(path: path, configuration: readOnlyConfiguration())
            _ = try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
            return queue
        } catch let error as DatabaseError
            where [.SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_READONLY].contains(error.resultCode)
        {
            let folder = (path as NSString).deletingLastPathComponent
            guard !FileManager.default.isWritableFile(atPath: folder.isEmpty ? "." : folder) || isDiskFull(path)
            else { throw error }
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
            return try DatabaseQueue(path: "file:\(encoded)?immutable=1", configuration: readOnlyConfiguration())
        }
    }

    /// Checks that `queue` holds a ledgerlink database this build can read; returns its schema.
    private static func checkedVersion(_ probe: DatabaseQueue, _ path: String) throws -> Int {
        let (appID, version) = try probe.read { db in
            (
                try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            )
        }
        guard appID == applicationID else {
            throw LedgerError.database("\(path) is not a ledgerlink database; nothing was changed")
        }
        guard version <= schemaVersion else {
            throw LedgerError.database(
                "\(path) was written by a newer ledgerlink (schema \(version); this build reads up to \(schemaVersion)). "
                    + "Upgrade ledgerlink; the file was not changed")
        }
        guard version >= 1 else {
            throw LedgerError.database("\(path) has an unknown schema version \(version); the file was not changed")
        }
        return version
    }

    /// Brings an older schema up to this build's, in one transaction: a failure leaves the
    /// file as it was.
    private func migrate() throws(LedgerError) {
        try write { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? Self.schemaVersion
            if version < 2 { try LogSegments.migrateFromRows(db) }
            if version < 3 { try db.execute(sql: Self.storeWitnessSchema) }
            if version < 4 { try db.execute(sql: LedgerCore.Corrections.schema) }
            if version < 5 { try db.execute(sql: Branches.schema) }
            try db.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)")
        }
    }

    /// A store in memory, for tests and benchmarks.
    public static func inMemory(identity: IdentityID, root: DevicePublicKey, device: DevicePublicKey)
        throws(LedgerError) -> LedgerStore
    {
        let store = try wrap(nil) { LedgerStore(writer: try DatabaseQueue(configuration: configuration()), path: nil) }
        try store.initialise(identity: identity, root: root, device: device)
        return store
    }

    /// A ledger in a private temporary file that SQLite deletes when it is closed (or at once,
    /// on systems that allow it, so that nothing is left behind by a crash): what it holds is on
    /// disk, and memory holds its page cache (512 KiB) only. Nothing in it needs to survive the
    /// process, so nothing is synced. A store's replicas of identities are made this way: a
    /// server's memory does not grow with the size of the identities it checks. (A cache of
    /// 2 MiB merged as fast; it took the first pull of a forked identity of 100,000 entries,
    /// which rebuilds the replica, 0.4 pages of 4 MiB higher: docs/BENCHMARKS.md.)
    public static func scratch(identity: IdentityID, root: DevicePublicKey, device: DevicePublicKey)
        throws(LedgerError) -> LedgerStore
    {
        let store = try wrap(nil) { LedgerStore(writer: try temporaryQueue(cacheSize: -512), path: nil) }
        try store.initialise(identity: identity, root: root, device: device)
        return store
    }

    /// A connection to a private temporary database, not synced, with this page cache.
    private static func temporaryQueue(cacheSize: Int) throws -> DatabaseQueue {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(
                sql: "PRAGMA page_size = 16384; PRAGMA synchronous = OFF; PRAGMA cache_size = \(cacheSize)")
        }
        return try DatabaseQueue(path: "", configuration: config)
    }

    /// Checks that scratch ledgers can be made: writes more than a page cache of one page holds,
    /// so SQLite must create its temporary file. Throws SQLite's reason when it cannot (the
    /// folder is `SQLITE_TMPDIR`, else `TMPDIR`, else `/var/tmp`, else `/usr/tmp`, else `/tmp`).
    public static func checkScratch() throws(LedgerError) {
        try wrap(nil) {
            let queue = try temporaryQueue(cacheSize: 1)
            try queue.write { db in
                try db.execute(sql: "CREATE TABLE probe (data BLOB NOT NULL)")
                for _ in 0..<8 { try db.execute(sql: "INSERT INTO probe (data) VALUES (zeroblob(65536))") }
            }
            _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM probe") }
        }
    }

    /// Page cache of each connection, in SQLite's negative-KiB form: 32 MiB.
    static let cacheSize = -32768

    private static func configuration() -> Configuration {
        var config = Configuration()
        config.prepareDatabase { db in
            // Commits are durable in the WAL (synchronous=FULL; for a pool's writer GRDB
            // overrides this, and `durablePool` sets it again). Copying the WAL back into the
            // database is maintenance, done off the merge path by `checkpoint()`. A new database
            // gets 16 KiB pages (entries are a few hundred bytes; larger pages mean fewer B-tree
            // splits per merge); an existing one keeps the size it has.
            try db.execute(
                sql: """
                    PRAGMA page_size = 16384; PRAGMA synchronous = FULL; PRAGMA cache_size = \(Self.cacheSize);
                    PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 4194304
                    """)
        }
        config.busyMode = .timeout(10)
        return config
    }

    private func initialise(identity: IdentityID, root: DevicePublicKey, device: DevicePublicKey) throws(LedgerError) {
        try write { db in
            try db.execute(
                sql: """
                    PRAGMA application_id = \(Self.applicationID);
                    PRAGMA user_version = \(Self.schemaVersion);
                    CREATE TABLE local (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE authors (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE);
                    \(LogSegments.schema)
                    CREATE TABLE held (
                        hash BLOB PRIMARY KEY, author BLOB NOT NULL, seq INTEGER NOT NULL,
                        raw BLOB NOT NULL, received INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE INDEX held_author ON held(author, seq);
                    CREATE TABLE forks (
                        author BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, raw BLOB NOT NULL,
                        PRIMARY KEY (author, hash)) WITHOUT ROWID;
                    CREATE TABLE data_keys (
                        id BLOB PRIMARY KEY, generation INTEGER NOT NULL, key BLOB NOT NULL) WITHOUT ROWID;
                    \(Self.storeWitnessSchema)
                    \(LedgerCore.Corrections.schema)
                    \(Branches.schema)
                    """)
            for (key, value) in [("identity", identity.bytes), ("root", root.bytes), ("device", device.bytes)] {
                try db.execute(sql: "INSERT INTO local (key, value) VALUES (?, ?)", arguments: [key, Data(value)])
            }
        }
    }

    /// Runs `body` in one IMMEDIATE write transaction: it holds the write lock from the start,
    /// so two processes writing to one ledger never interleave.
    func write<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        try onWriter(.immediate, body)
    }

    /// Runs `body` in a read transaction on the writer connection, whose data_version tells
    /// commits by other processes from this process's own.
    func readOnWriter<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        try onWriter(.deferred, body)
    }

    private func onWriter<T>(_ kind: Database.TransactionKind, _ body: (Database) throws -> T) throws(LedgerError) -> T
    {
        try Self.wrap(path) {
            try writer.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(kind) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw LedgerError.database("a transaction returned nothing") }
                return result
            }
        }
    }

    /// Runs `body` against a consistent snapshot.
    func read<T>(_ body: (Database) throws -> T) throws(LedgerError) -> T {
        try Self.wrap(path) { try writer.read(body) }
    }

    /// Maps database failures to messages a person can act on.
    static func wrap<T>(_ path: String?, _ body: () throws -> T) throws(LedgerError) -> T {
        do {
            return try body()
        } catch let error as LedgerError {
            throw error
        } catch let error as DatabaseError {
            let place = path ?? "the in-memory ledger"
            switch error.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                throw .database("\(place) is corrupt or not a ledgerlink database; nothing was changed")
            case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY:
                throw .database("cannot open \(place) for writing: \(error.message ?? "permission denied")")
            case .SQLITE_FULL:
                throw .database("the disk holding \(place) is full; nothing was changed")
            case .SQLITE_IOERR where path.map(isDiskFull) ?? false:
                // SQLite reports a write that found no room as an I/O error.
                throw .database("the disk holding \(place) is full; nothing was changed (free some space)")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                throw .database("\(place) is busy in another process; try again")
            default:
                throw .database("database error in \(place): \(error.message ?? "\(error.resultCode)")")
            }
        } catch {
            throw .database("database error: \(error)")
        }
    }

    /// True when the file system holding `path` has (almost) no room left for this user.
    static func isDiskFull(_ path: String) -> Bool {
        var stats = statvfs()
        let folder = (path as NSString).deletingLastPathComponent
        guard statvfs(folder.isEmpty ? "." : folder, &stats) == 0 else { return false }
        let free = UInt64(stats.f_bavail).multipliedReportingOverflow(by: UInt64(stats.f_frsize))
        return !free.overflow && free.partialValue < 1 << 20
    }

    /// Bytes in the write-ahead log not yet copied back into the database file (0 in memory).
    /// Asked after every merge: read with `stat` (Foundation's file attributes also look up the
    /// owner's and group's names, reading /etc/passwd and /etc/group: a millisecond or two a page
    /// of a pull).
    public var writeAheadLogSize: Int {
        guard let path else { return 0 }
        var info = stat()
        guard stat(path + "-wal", &info) == 0 else { return 0 }
        return Int(info.st_size)
    }

    /// Copies the write-ahead log into the database file (SQLite's passive checkpoint), on a
    /// connection of its own: on the writer's, every merge (and every read of the engine's
    /// state, which asks the writer whether another process wrote) waited for it, 15 ms at a
    /// time, several times in a pull. A passive checkpoint waits for no reader or writer.
    public func checkpoint() {
        guard let path, !isReadOnly else { return }
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA cache_size = -512") }
        config.busyMode = .timeout(10)
        _ = try? DatabaseQueue(path: path, configuration: config).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)")
        }
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL: a commit returns once its
    /// write-ahead log frames are on disk), for tests and diagnostics.
    package var commitSyncLevel: Int {
        get throws(LedgerError) {
            try Self.wrap(path) {
                try writer.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            }
                ?? 0
        }
    }

    /// Checks the file's structure (SQLite's quick_check); returns problems found.
    public func quickCheck() throws(LedgerError) -> [String] {
        try read { db in
            let rows = try String.fetchAll(db, sql: "PRAGMA quick_check")
            return rows == ["ok"] ? [] : rows
        }
    }
}

extension Data {
    var bytes: [UInt8] { [UInt8](self) }
}
