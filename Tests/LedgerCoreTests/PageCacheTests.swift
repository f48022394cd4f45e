import Foundation
import GRDB
import GRDBSQLite
import LedgerCrypto
import LedgerTestSupport
import Testing

@testable import LedgerCore

@Suite("The ledger file's page cache")
struct PageCacheTests {
    /// Bytes of page cache the connection holds now.
    static func cacheUsed(_ db: Database) -> Int32 {
        var current: Int32 = 0
        var highest: Int32 = 0
        _ = sqlite3_db_status(db.sqliteConnection, SQLITE_DBSTATUS_CACHE_USED, &current, &highest, 0)
        return current
    }

    @Test("a merge of thousands (a pull's page) writes through a small page cache and gives the reading one back")
    func largeMerge() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<20_000 {
            try fixture.record(device: 0, .credit, amount: Int64(i % 900 + 1), memo: "coffee \(i % 1000)")
        }
        let store = try LedgerStore.create(
            at: TestFolder.url("page-cache").path, identity: fixture.identity, root: fixture.root.publicKey,
            device: fixture.devices[1].publicKey)
        let replica = try await MergeEngine(store: store, keyPair: fixture.devices[1])
        let report = try await replica.merge(fixture.allEntries)
        #expect(report.newlyCounted == fixture.allEntries.count)
        let (size, used) = try store.write { db in
            (try Int.fetchOne(db, sql: "PRAGMA cache_size"), Self.cacheUsed(db))
        }
        // The 4 MB or so the merge wrote did not stay in memory; the cache's size is back.
        #expect(size == LedgerStore.cacheSize)
        #expect(used <= 2_500_000, "\(used) bytes of page cache after the merge")
        // A small merge keeps what it writes in the cache, as before.
        try fixture.record(device: 0, .credit, amount: 5, memo: "one more")
        #expect(try await replica.merge(Array(fixture.allEntries.suffix(1))).newlyCounted == 1)
    }
}
