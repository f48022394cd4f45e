import Foundation
import GRDB
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Logs are stored in segments of up to 256 entries; these tests make logs several segments
/// long and read and cut them across segment boundaries.
@Suite("Log segments")
struct LogSegmentTests {
    static func path() throws -> String {
        let url = TestFolder.url("ledgerlink-segments")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.appendingPathComponent("ledger.sqlite").path
    }

    /// Segment rows of a ledger file: (entries per segment, total entries).
    static func segments(_ path: String) throws -> [Int] {
        var readOnly = Configuration()
        readOnly.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: readOnly)
        defer { try? queue.close() }
        return try queue.read { db in
            try Int.fetchAll(db, sql: "SELECT last_seq - first_seq + 1 FROM segments ORDER BY author, first_seq")
        }
    }

    /// Two devices, 700 and 300 records, with amounts that make every total distinct.
    static func longFixture() throws -> LedgerFixture {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<1000 {
            try fixture.record(
                device: i % 10 < 7 ? 1 : 0, i % 4 == 0 ? .debit : .credit, amount: Int64(1 + i), memo: "m\(i)")
        }
        return fixture
    }

    @Test("long logs span many segments: history, ranges, totals, delta and verify read across their boundaries")
    func longLogs() async throws {
        let fixture = try Self.longFixture()
        let path = try Self.path()
        let store = try LedgerStore.create(
            at: path, identity: fixture.identity, root: fixture.root.publicKey, device: fixture.devices[1].publicKey)
        let engine = try await MergeEngine(store: store, keyPair: fixture.devices[1])
        // Some entries one at a time (small segments grow), the rest in large shuffled batches.
        var rest = fixture.allEntries
        let singles = Array(fixture.logs[1].prefix(40))
        try await engine.merge(Array(fixture.logs[0].prefix(2)))
        for entry in singles { try await engine.merge([entry]) }
        rest.removeAll { entry in singles.contains(entry) }
        rest.shuffle()
        try await engine.merge(Array(rest.prefix(500)))
        try await engine.merge(Array(rest.dropFirst(500)))

        let records = fixture.allEntries.filter { $0.kind == .credit || $0.kind == .debit }
        let credits = records.filter { $0.kind == .credit }.count
        #expect(credits > 0)
        var expectedBalance: Int64 = 0
        for i in 0..<1000 { expectedBalance += i % 4 == 0 ? -Int64(1 + i) : Int64(1 + i) }
        #expect(try await engine.totals().balance == Int128(expectedBalance))
        #expect(try await engine.storedEntryCount() == fixture.allEntries.count)
        #expect(try await engine.verifyAll().isEmpty)

        // Every segment holds at most 256 entries, and there are far fewer rows than entries.
        let sizes = try Self.segments(path)
        #expect(sizes.allSatisfy { $0 >= 1 && $0 <= 256 })
        #expect(sizes.reduce(0, +) == fixture.allEntries.count)
        #expect(sizes.count < 20)

        // History, newest first, the same whole or in pages that cross segment boundaries.
        let newestFirst = records.sorted { $0.time > $1.time }.map(\.hash)
        let all = try await engine.history(limit: 2000)
        #expect(all.map(\.hash) == newestFirst)
        #expect(all.map(\.memo) == (0..<1000).reversed().map { "m\($0)" })
        var paged: [HistoryItem] = []
        while true {
            let page = try await engine.history(limit: 97, offset: paged.count)
            if page.isEmpty { break }
            paged += page
        }
        #expect(paged == all)

        // Ranges across boundaries, and a delta for a replica that has part of each log.
        let log = fixture.logs[1]
        #expect(try await engine.entries(of: log[0].author, from: 250, through: 520) == Array(log[249..<520]))
        let partial = try await fixture.replica(device: 0)
        try await partial.merge(Array(fixture.logs[0].prefix(100)) + Array(log.prefix(300)))
        try await partial.merge(try await engine.delta(for: try await partial.clock()))
        #expect(try await partial.clock() == (try await engine.clock()))
        #expect(try await partial.totals() == (try await engine.totals()))

        // Reopened, the heads, totals and history come back from the segments.
        let reopened = try await MergeEngine(store: try LedgerStore.open(at: path), keyPair: fixture.devices[1])
        #expect(try await reopened.clock() == (try await engine.clock()))
        #expect(try await reopened.history(limit: 3) == Array(all.prefix(3)))
        try await reopened.appendRecord(.credit, amount: 5, memo: "after reopening")
        #expect(try await reopened.history(limit: 1).first?.memo == "after reopening")
        #expect(try await reopened.verifyAll().isEmpty)
    }

    @Test("a fork inside a segment cuts the log at the fork and keeps both entries as proof")
    func forkInsideSegment() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<200 { try fixture.record(device: 1, .credit, amount: 1, memo: "first \(i)") }
        var rival = fixture
        for i in 200..<400 { try fixture.record(device: 1, .credit, amount: 10, memo: "kept \(i)") }
        // Device 1's rival entry at seq 201, inside the first of its log's two segments.
        let forked = try rival.record(device: 1, .credit, amount: 999, memo: "rival")
        let path = try Self.path()
        let engine = try await MergeEngine(
            store: try LedgerStore.create(
                at: path, identity: fixture.identity, root: fixture.root.publicKey, device: fixture.root.publicKey),
            keyPair: fixture.root)
        try await engine.merge(fixture.allEntries)
        let report = try await engine.merge([forked])
        #expect(report.forks.map(\.seq) == [forked.seq])
        let cut = forked.seq - 1
        #expect(try await engine.clock().entries.first { $0.author == forked.author }?.seq == cut)
        // 200 credits of 1 before the fork count; nothing from either branch after it.
        #expect(try await engine.totals().balance == 200)
        #expect(try await engine.entries(of: forked.author, from: 1, through: 1000).count == Int(cut))
        #expect(try await engine.status().forks == 2)
        #expect(try await engine.verifyAll().isEmpty)
        #expect(try Self.segments(path).reduce(0, +) == fixture.logs[0].count + Int(cut))
        // Nothing past the fork is taken later, and reopening agrees.
        #expect(try await engine.merge([fixture.logs[1][250]]).accepted.isEmpty)
        let reopened = try await MergeEngine(store: try LedgerStore.open(at: path), keyPair: fixture.root)
        #expect(try await reopened.totals().balance == 200)
        let devices = try await reopened.devices()
        #expect(devices.first { $0.key == forked.author }?.forkSeq == forked.seq)
    }

    @Test("a ledger written by the previous schema (one row per entry) is moved into segments and reads the same")
    func migratesSchemaOne() async throws {
        var fixture = try Self.longFixture()
        _ = try fixture.revoke(device: 1, by: 0, boundary: 650)
        let path = try Self.path()
        try Self.writeSchemaOne(fixture, device: 1, at: path)

        let engine = try await MergeEngine(store: try LedgerStore.open(at: path), keyPair: fixture.devices[1])
        let reference = try await fixture.replica(device: 1)
        try await reference.merge(fixture.allEntries)
        #expect(try await engine.clock() == (try await reference.clock()))
        #expect(try await engine.totals() == (try await reference.totals()))
        #expect(try await engine.history(limit: 2000) == (try await reference.history(limit: 2000)))
        #expect(try await engine.quarantined() == (try await reference.quarantined()))
        #expect(try await engine.devices().map(\.name) == (try await reference.devices().map(\.name)))
        #expect(try await engine.storedEntryCount() == fixture.allEntries.count)
        #expect(try await engine.verifyAll().isEmpty)

        var readOnly = Configuration()
        readOnly.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: readOnly)
        let (version, oldTable) = try await queue.read { db in
            (
                try Int.fetchOne(db, sql: "PRAGMA user_version"),
                try Bool.fetchOne(db, sql: "SELECT 1 FROM sqlite_master WHERE name = 'entries'")
            )
        }
        try queue.close()
        #expect(version == LedgerStore.schemaVersion)
        #expect(oldTable == nil)
        #expect(try Self.segments(path).allSatisfy { $0 <= 256 })
    }

    /// Writes `fixture` as schema 1 stored it: one `entries` row per entry with its opened
    /// amount, label and running totals. The DDL is a frozen copy of schema 1, deliberately not
    /// shared with `LedgerStore`: the tables both schemas have may change in a later schema,
    /// and this must stay what schema-1 files hold.
    static func writeSchemaOne(_ fixture: LedgerFixture, device: Int, at path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(
                sql: """
                    PRAGMA application_id = \(LedgerStore.applicationID);
                    PRAGMA user_version = 1;
                    CREATE TABLE local (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE authors (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE);
                    CREATE TABLE entries (
                        author INTEGER NOT NULL, seq INTEGER NOT NULL,
                        kind INTEGER NOT NULL, time INTEGER NOT NULL, body BLOB NOT NULL,
                        opened INTEGER NOT NULL, amount INTEGER, label TEXT,
                        cum_credit INTEGER, cum_debit INTEGER,
                        PRIMARY KEY (author, seq)) WITHOUT ROWID;
                    CREATE INDEX entries_control ON entries(kind) WHERE kind <= 3;
                    CREATE INDEX entries_unopened ON entries(opened) WHERE opened = 0;
                    CREATE TABLE held (
                        hash BLOB PRIMARY KEY, author BLOB NOT NULL, seq INTEGER NOT NULL,
                        raw BLOB NOT NULL, received INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE INDEX held_author ON held(author, seq);
                    CREATE TABLE forks (
                        author BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, raw BLOB NOT NULL,
                        PRIMARY KEY (author, hash)) WITHOUT ROWID;
                    CREATE TABLE data_keys (
                        id BLOB PRIMARY KEY, generation INTEGER NOT NULL, key BLOB NOT NULL) WITHOUT ROWID;
                    """)
            for (key, value) in [
                ("identity", fixture.identity.bytes), ("root", fixture.root.publicKey.bytes),
                ("device", fixture.devices[device].publicKey.bytes), ("decimals", [2]),
            ] {
                try db.execute(sql: "INSERT INTO local (key, value) VALUES (?, ?)", arguments: [key, Data(value)])
            }
            for (index, log) in fixture.logs.enumerated() {
                try db.execute(
                    sql: "INSERT INTO authors (id, key) VALUES (?, ?)",
                    arguments: [index + 1, Data(fixture.devices[index].publicKey.bytes)])
                var credit: Int64 = 0
                var debit: Int64 = 0
                for entry in log {
                    var amount: Int64?
                    var label: String?
                    if !entry.sealed.isEmpty {
                        switch try BodySeal.open(entry, key: fixture.dataKey) {
                        case .record(let value, let memo): (amount, label) = (value, memo)
                        case .genesis(_, let name), .link(let name): label = name
                        case .revoke, .correction, .settle: break
                        }
                    }
                    if entry.kind == .credit { credit += amount ?? 0 }
                    if entry.kind == .debit { debit += amount ?? 0 }
                    try db.execute(
                        sql: """
                            INSERT INTO entries (author, seq, kind, time, body, opened, amount, label, cum_credit, cum_debit)
                            VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
                            """,
                        arguments: [
                            index + 1, Int64(entry.seq), Int64(entry.kind.rawValue), entry.time,
                            Data(entry.storedForm), amount, label, credit, debit,
                        ])
                }
            }
        }
        try queue.close()
    }
}
