import Foundation
import GRDB
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerTestSupport
import Testing

/// A store keeps each run of one author's entries in one row (`StoreSegments`), and reads
/// them back one entry at a time from any place, by arrival or by author and seq; a row that
/// does not hold what it claims is a corrupt store.
@Suite("A store keeps entries a run per row")
struct StoreSegmentTests {
    /// Logs longer than a row (the fixture lists its entries a log after another).
    static func ledger() throws -> LedgerFixture {
        var built = try LedgerFixture(deviceCount: 3)
        for i in 0..<600 { try built.record(device: 0, .credit, amount: Int64(i + 1), memo: "laptop \(i)") }
        for i in 0..<10 { try built.record(device: 1 + i % 2, .debit, amount: 2) }
        for i in 0..<300 { try built.record(device: 1, .credit, amount: Int64(i + 1)) }
        return built
    }

    /// A database of `kind` (its backend, and SQL run on it directly), holding `fixture`
    /// appended in two parts (the first ends inside a run).
    struct Stored {
        let backend: any StoreBackend
        /// Runs a statement (written for PostgreSQL's table names; SQLite's lack the prefix).
        let execute: @Sendable (String) async throws -> Void
        /// The number of rows of the entries table.
        let rowCount: @Sendable () async throws -> Int
    }

    static func stored(_ kind: BackendKind, _ fixture: LedgerFixture) async throws -> Stored {
        let stored: Stored
        switch kind {
        case .sqlite:
            let folder = TestFolder.url("ll-seg")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let path = folder.appendingPathComponent("store.sqlite").path
            stored = Stored(
                backend: try SQLiteBackend(path: path),
                execute: { statement in
                    let queue = try DatabaseQueue(path: path)
                    try await queue.write {
                        try $0.execute(sql: statement.replacingOccurrences(of: "ledgerlink_", with: ""))
                    }
                },
                rowCount: {
                    try await DatabaseQueue(path: path).read {
                        try Int.fetchOne($0, sql: "SELECT count(*) FROM entries")
                    }
                        ?? 0
                })
        case .postgres, .pooledPostgres:
            let url =
                kind == .postgres
                ? try await PostgresTestServer.shared.freshDatabase()
                : try await PgBouncerTestServer.shared.freshDatabase()
            stored = Stored(
                backend: try PostgresBackend(url: url), execute: { try await PostgresTestServer.shared.psql(url, $0) },
                rowCount: {
                    Int(try await PostgresTestServer.shared.psqlValue(url, "SELECT count(*) FROM ledgerlink_entries"))
                        ?? -1
                })
        }
        try await stored.backend.prepare()
        let raws = fixture.allEntries.map(\.encoded)
        #expect(try await stored.backend.append(Array(raws[..<400]), to: fixture.identity.bytes, expected: nil))
        #expect(try await stored.backend.append(Array(raws[400...]), to: fixture.identity.bytes, expected: 400))
        return stored
    }

    @Test("every entry is read back from any place, by arrival and by author and seq", arguments: BackendKind.testable)
    func readsBack(_ kind: BackendKind) async throws {
        let fixture = try Self.ledger()
        let backend = try await Self.stored(kind, fixture).backend
        let all = fixture.allEntries.map(\.encoded)
        let id = fixture.identity.bytes
        for after in [0, 1, 255, 256, 257, 399, 400, 401, 511, 512, 700, all.count - 1, all.count] {
            for limit in [1, 7, 300, 10_000] {
                let rows = try await backend.rows(of: id, after: Int64(after), limit: limit)
                let end = min(after + limit, all.count)
                #expect(rows.map(\.raw) == Array(all[after..<end]), "after \(after), limit \(limit)")
                #expect(rows.map(\.n) == (after..<end).map { Int64($0 + 1) })
            }
        }
        for (index, log) in fixture.logs.enumerated() {
            let author = fixture.devices[index].publicKey.bytes
            let count = Int64(log.count)
            for (low, high, limit) in [
                (1, 1, 1), (1, count, 10_000), (255, 258, 10), (256, count, 2), (2, count, 300),
                (count, Int64.max, 5), (count + 1, count + 10, 5),
            ] as [(Int64, Int64, Int)] where low <= high {
                let seqs = low...high
                let rows = try await backend.rows(of: id, author: author, seqs: seqs, limit: limit)
                let wanted = log.filter { seqs.contains(Int64($0.seq)) }.prefix(limit)
                #expect(rows.map(\.raw) == wanted.map(\.encoded), "device \(index), seqs \(seqs), limit \(limit)")
            }
        }
    }

    @Test("a run longer than a row takes a few rows, not a row per entry", arguments: BackendKind.testable)
    func fewRows(_ kind: BackendKind) async throws {
        let fixture = try Self.ledger()
        let stored = try await Self.stored(kind, fixture)
        // 913 entries, a log after another: the laptop's 603 (the genesis, two links, 600
        // records) cut at 400 by the appends (256 + 144, then 203), the phone's 305 (256 + 49),
        // the tablet's 5.
        #expect(try await stored.rowCount() == 6)
    }

    @Test("a row is one author's consecutive seqs, cut at 256 entries or 128 KiB; bytes naming no author go alone")
    func plannedRows() throws {
        var built = try LedgerFixture(deviceCount: 3)
        for i in 0..<4 { try built.record(device: 1 + i % 2, .credit, amount: 1) }
        for _ in 0..<300 { try built.record(device: 0, .credit, amount: 1) }
        // Large memos: 600 bytes each at least, so 128 KiB holds fewer than 256 of them.
        for _ in 0..<300 { try built.record(device: 1, .credit, amount: 1, memo: String(repeating: "m", count: 600)) }
        let laptop = built.logs[0].map(\.encoded)
        let phone = built.logs[1].map(\.encoded)
        let tablet = built.logs[2].map(\.encoded)
        func spans(_ raws: [[UInt8]]) -> [Int] { StoreSegments.plan(raws).map(\.range.count) }

        #expect(spans(laptop) == [256, laptop.count - 256])
        // Authors taking turns, a gap in a log, bytes too short to name an author.
        #expect(spans([phone[0], tablet[0], phone[1], tablet[1]]) == [1, 1, 1, 1])
        #expect(spans([laptop[0], laptop[1], laptop[3], laptop[4]]) == [2, 2])
        #expect(spans([laptop[0], [1, 2, 3], laptop[1], laptop[2]]) == [1, 1, 2])
        let big = Array(phone[3...])
        let cuts = spans(big)
        #expect(cuts.count > 1 && cuts.reduce(0, +) == big.count)
        var offset = 0
        for cut in cuts {
            #expect(big[offset..<offset + cut].reduce(0) { $0 + $1.count } <= StoreSegments.maxBytes)
            offset += cut
        }
        let first = try #require(StoreSegments.plan(laptop).last)
        #expect(first.author == built.devices[0].publicKey.bytes && first.seq == 257)
    }

    @Test(
        "a row that does not hold the entries it claims is a corrupt store, said so by reads and by sync",
        arguments: BackendKind.testable)
    func damagedRow(_ kind: BackendKind) async throws {
        let damage = [
            "UPDATE ledgerlink_entries SET span = span + 1 WHERE span > 1",
            "UPDATE ledgerlink_entries SET span = span - 1 WHERE span > 2",
            "UPDATE ledgerlink_entries SET span = 100000 WHERE span > 1",
            kind == .sqlite
                ? "UPDATE ledgerlink_entries SET raw = substr(raw, 1, length(raw) - 1) WHERE span > 1"
                : "UPDATE ledgerlink_entries SET raw = substring(raw from 1 for length(raw) - 1) WHERE span > 1",
        ]
        for statement in damage {
            let fixture = try Self.ledger()
            let stored = try await Self.stored(kind, fixture)
            let backend = stored.backend
            try await stored.execute(statement)
            let error = await #expect(throws: StoreError.self, "\(statement)") {
                _ = try await backend.rows(of: fixture.identity.bytes, after: 0, limit: 10_000)
            }
            #expect(error?.code == "corrupt_store")
            let store = try await TestStore(backend: backend, realTime: true)
            let answer = await #expect(throws: StoreError.self, "\(statement)") {
                _ = try await store.service.sync(
                    identity: fixture.identity, request: SyncRequest(clock: Data.base64(VectorClock.encode([]))))
            }
            #expect(answer?.code == "corrupt_store")
        }
    }
}
