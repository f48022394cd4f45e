import Foundation
import GRDB
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("Ledger store")
struct LedgerStoreTests {
    static func folder() throws -> URL {
        let url = TestFolder.url("ledgerlink-store")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A new ledger file of `fixture`'s identity for its device `device` (the root when nil),
    /// in a folder of its own, and its path.
    static func newLedger(_ fixture: LedgerFixture, device: Int? = nil) throws -> (store: LedgerStore, path: String) {
        let path = try folder().appendingPathComponent("ledger.sqlite").path
        let key = device.map { fixture.devices[$0].publicKey } ?? fixture.root.publicKey
        let store = try LedgerStore.create(
            at: path, identity: fixture.identity, root: fixture.root.publicKey, device: key)
        return (store, path)
    }

    @Test("a ledger survives closing and reopening, with the same clock and totals")
    func reopen() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 1, .credit, amount: 300, memo: "kept")
        let path: String
        do {
            let store: LedgerStore
            (store, path) = try Self.newLedger(fixture, device: 1)
            let engine = try await MergeEngine(store: store, keyPair: fixture.devices[1])
            try await engine.merge(fixture.allEntries)
            try await engine.appendRecord(.debit, amount: 100, memo: "mine")
        }
        let engine = try await MergeEngine(store: try LedgerStore.open(at: path), keyPair: nil)
        #expect(try await engine.totals().balance == 200)
        #expect(try await engine.verifyAll().isEmpty)
        #expect(try await engine.history(limit: 5).map(\.memo) == ["mine", "kept"])
    }

    @Test("every commit waits for the disk (synchronous=FULL), in a new ledger and a reopened one")
    func commitsAreDurable() async throws {
        // GRDB's pool turns a WAL database to synchronous=NORMAL after the configuration's own
        // set-up: commits then returned before their log frames reached the disk, and a power
        // cut could take entries already shown as recorded (and pushed) with it.
        let (created, path) = try Self.newLedger(try LedgerFixture(deviceCount: 1))
        #expect(try created.commitSyncLevel == 2)
        #expect(try LedgerStore.open(at: path).commitSyncLevel == 2)
    }

    @Test("a scratch ledger (a store's replica) holds more than its page cache and reads back as one in memory does")
    func scratch() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        // About 3.6 MB of entries, nearly twice the scratch ledger's page cache: pages go to its file.
        for i in 0..<12_000 { try fixture.record(device: i % 2, .credit, amount: Int64(i % 97 + 1), memo: "m \(i)") }
        let entries = fixture.allEntries
        try LedgerStore.checkScratch()  // what `serve` checks at start
        let scratch = try await MergeEngine(
            store: try LedgerStore.scratch(
                identity: fixture.identity, root: fixture.root.publicKey, device: fixture.root.publicKey),
            keyPair: nil, maxHeld: .max, readsBodies: false)
        let memory = try await MergeEngine(
            store: try LedgerStore.inMemory(
                identity: fixture.identity, root: fixture.root.publicKey, device: fixture.root.publicKey),
            keyPair: nil, maxHeld: .max, readsBodies: false)
        for start in stride(from: 0, to: entries.count, by: 4_096) {
            let page = Array(entries[start..<min(start + 4_096, entries.count)])
            try await scratch.merge(page)
            try await memory.merge(page)
        }
        #expect(try await scratch.clock() == (try await memory.clock()))
        #expect(try await scratch.storedEntryCount() == entries.count)
        #expect(try await scratch.holds(entries) == Set(entries.map(\.hash)))
        let device = fixture.devices[1].publicKey
        #expect(
            try await scratch.entries(of: device, from: 1, through: 6_001).map(\.encoded)
                == (try await memory.entries(of: device, from: 1, through: 6_001)).map(\.encoded))
        #expect(try await scratch.verifyAll().isEmpty)
    }

    @Test("a checkpoint copies the write-ahead log into the database file, on a connection of its own")
    func checkpoint() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<3_000 { try fixture.record(device: 1, .credit, amount: Int64(i + 1), memo: "entry \(i)") }
        let (store, path) = try Self.newLedger(fixture, device: 1)
        let engine = try await MergeEngine(store: store, keyPair: fixture.devices[1])
        try await engine.merge(fixture.allEntries)
        func size(_ file: String) -> Int {
            (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        }
        let before = size(path)
        #expect(store.writeAheadLogSize > 500_000)  // the entries are in the log, not yet in the file
        store.checkpoint()
        #expect(size(path) > before + 500_000)
        // The engine goes on writing and reading as before.
        try await engine.appendRecord(.debit, amount: 1, memo: "after")
        #expect(try await engine.storedEntryCount() == fixture.allEntries.count + 1)
    }

    @Test("a corrupt file is refused with a clear message and left exactly as it was")
    func corrupt() throws {
        let path = try Self.folder().appendingPathComponent("ledger.sqlite").path
        let junk = Data((0..<8192).map { UInt8($0 % 251) })
        try junk.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try LedgerStore.open(at: path)
        } throws: { error in
            (error as? LedgerError)?.description.contains("corrupt or not a ledgerlink database") ?? false
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == junk)
    }

    @Test("a database written by a newer version is refused and not modified")
    func newerSchema() throws {
        let path = try Self.newLedger(try LedgerFixture(deviceCount: 1)).path
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "PRAGMA user_version = 99") }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect {
            _ = try LedgerStore.open(at: path)
        } throws: { error in
            (error as? LedgerError)?.description.contains("newer ledgerlink") ?? false
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("an SQLite database of another program is refused")
    func foreignDatabase() throws {
        let path = try Self.folder().appendingPathComponent("other.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "CREATE TABLE t (x)") }
        try queue.close()
        #expect {
            _ = try LedgerStore.open(at: path)
        } throws: { error in
            (error as? LedgerError)?.description.contains("not a ledgerlink database") ?? false
        }
    }

    @Test("two engines on one file (two processes) never make the device fork itself")
    func twoWriters() async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let (store, path) = try Self.newLedger(fixture)
        let first = try await MergeEngine(store: store, keyPair: fixture.root)
        try await first.merge(fixture.allEntries)
        let second = try await MergeEngine(store: try LedgerStore.open(at: path), keyPair: fixture.root)
        for i in 1...10 {
            try await (i % 2 == 0 ? first : second).appendRecord(.credit, amount: Int64(i), memo: "")
        }
        #expect(try await first.totals().credits == 55)
        #expect(try await second.totals().credits == 55)
        #expect(try await first.status().forks == 0)
        #expect(try await first.verifyAll().isEmpty)
    }
}
