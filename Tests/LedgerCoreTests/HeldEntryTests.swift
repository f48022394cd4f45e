import Foundation
import GRDB
import LedgerCrypto
import LedgerTestSupport
import Testing

@testable import LedgerCore

@Suite("Entries waiting for a gap or a certificate are bounded and verified")
struct HeldEntryTests {
    func forged(_ entry: Entry) throws -> Entry {
        var bytes = entry.encoded
        bytes[bytes.count - 3] ^= 0x01
        return try Entry(decoding: bytes)
    }

    @Test("an entry beyond a gap whose signature does not verify is refused, not held")
    func forgedBeyondGap() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await fixture.replica(device: 1)
        try await replica.merge(fixture.allEntries)
        try fixture.record(device: 0, .credit, amount: 1)  // withheld
        let beyond = try fixture.record(device: 0, .credit, amount: 2)
        let report = try await replica.merge([try forged(beyond)])
        #expect(report.rejected.map(\.reason) == [.invalidSignature])
        #expect(report.held.isEmpty)
        #expect(try await replica.status().held == 0)
        // The genuine one waits, as before.
        #expect(try await replica.merge([beyond]).held.count == 1)
    }

    @Test("entries that cannot count yet are refused past the byte bound as well as the count bound")
    func byteBound() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let store = try LedgerStore.inMemory(
            identity: fixture.identity, root: fixture.root.publicKey, device: fixture.devices[1].publicKey)
        let replica = try await MergeEngine(
            store: store, keyPair: fixture.devices[1], maxHeld: 1_000, maxHeldBytes: 4 * 1024)
        try await replica.merge(fixture.allEntries)
        try fixture.record(device: 0, .credit, amount: 1)  // withheld: everything after waits
        var waiting: [Entry] = []
        for i in 0..<20 {
            waiting.append(
                try fixture.record(device: 0, .credit, amount: 1, memo: String(repeating: "m", count: 300 + i)))
        }
        let report = try await replica.merge(waiting)
        let held = report.held.count
        #expect(held > 0)
        #expect(held < 20)
        #expect(report.rejected.allSatisfy { $0.reason == .holdLimitReached })
        #expect(report.rejected.count == 20 - held)
        let bytes = waiting.prefix(held).reduce(0) { $0 + $1.encoded.count }
        #expect(bytes <= 4 * 1024)
    }

    @Test("verify checks held entries too, and names one that no longer verifies")
    func verifyChecksHeld() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await fixture.replica(device: 1)
        try await replica.merge(fixture.allEntries)
        try fixture.record(device: 0, .credit, amount: 1)  // withheld
        let beyond = try fixture.record(device: 0, .credit, amount: 2)
        #expect(try await replica.merge([beyond]).held.count == 1)
        #expect(try await replica.verifyAll().isEmpty)
        // The stored copy is changed behind the engine's back (a damaged file, or one written
        // by a build that stored held entries unchecked).
        let bad = try forged(beyond)
        try replica.store.write { db in
            try db.execute(
                sql: "UPDATE held SET raw = ? WHERE hash = ?", arguments: [Data(bad.encoded), Data(beyond.hash.bytes)])
        }
        let problems = try await replica.verifyAll()
        #expect(
            problems == [
                "\(beyond.author.fingerprint) seq \(beyond.seq) (waiting for seq \(beyond.seq - 1)): signature does not verify"
            ])
    }
}

@Suite("A merge that fails changes nothing, in the database or in memory")
struct FailedMergeTests {
    @Test("a key learnt from a batch whose transaction fails is forgotten with it")
    func keyForgottenOnRollback() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await fixture.replica(device: 1)
        // The database refuses the batch's log rows, after the batch's link entry has handed
        // this device the data key.
        try replica.store.write { db in
            try db.execute(
                sql: """
                    CREATE TEMP TRIGGER refuse BEFORE INSERT ON segments
                    BEGIN SELECT RAISE(ABORT, 'refused for the test'); END
                    """)
        }
        await #expect(throws: LedgerError.self) { try await replica.merge(fixture.allEntries) }
        #expect(await replica.cache.keys.isEmpty, "the key of a rolled-back batch stayed in memory")
        #expect(await replica.cache.authors.isEmpty)
        try replica.store.write { db in try db.execute(sql: "DROP TRIGGER refuse") }
        try await replica.merge(fixture.allEntries)
        #expect(await replica.cache.keys.count == 1)
        #expect(try await replica.devices().map(\.name) == ["device-0", "device-1"])
    }
}
