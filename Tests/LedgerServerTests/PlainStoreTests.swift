import Foundation
import GRDB
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

/// A store checks pushes against the heads an identity's row keeps and answers pulls from its
/// rows by author and seq, without a replica, whenever no log is forked; the merge engine
/// decides the rest. These hold it to the engine's answers, and to its memory.
@Suite("A store answers from heads and rows, without a replica")
struct PlainStoreTests {
    /// A laptop (the genesis device) that linked two more devices and wrote records on each.
    static func ledger() throws -> LedgerFixture {
        var built = try LedgerFixture(deviceCount: 3)
        for i in 0..<40 { try built.record(device: 0, .credit, amount: Int64(i + 1), memo: "laptop \(i)") }
        for i in 0..<30 { try built.record(device: 1, .debit, amount: Int64(i + 1), memo: "phone \(i)") }
        for i in 0..<20 { try built.record(device: 2, .credit, amount: 3, memo: "tablet \(i)") }
        return built
    }

    /// The genesis device's replica holding every entry of `fixture`, synced through a live
    /// server of `store`.
    static func laptopSynced(_ fixture: LedgerFixture, through store: TestStore) async throws -> MergeEngine {
        let laptop = try await fixture.replica(device: 0)
        try await laptop.merge(fixture.allEntries)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { server in
            let port = try #require(server.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            #expect(try await StoreClient(url: url, engine: laptop, keyPair: fixture.root).sync().converged)
        }
        return laptop
    }

    /// Prepares `backend`, then says whether every row of `fixture` is found by its author and
    /// seq at that moment.
    static func startedWhole(_ backend: any StoreBackend, _ fixture: LedgerFixture) async throws -> Bool {
        try await backend.prepare()
        for (index, log) in fixture.logs.enumerated() {
            let rows = try await backend.rows(
                of: fixture.identity.bytes, author: fixture.devices[index].publicKey.bytes, seqs: 1...Int64.max,
                limit: 10_000)
            guard rows.count == log.count else { return false }
        }
        return true
    }

    /// Every row of `fixture` is found by its author and seq, in seq order.
    static func expectPositions(_ fixture: LedgerFixture, in backend: any StoreBackend) async throws {
        #expect(try await backend.fillPositions(limit: 1000) == 0, "every row was given its author and seq")
        for (index, log) in fixture.logs.enumerated() {
            let rows = try await backend.rows(
                of: fixture.identity.bytes, author: fixture.devices[index].publicKey.bytes, seqs: 1...Int64.max,
                limit: 10_000)
            #expect(rows.map(\.raw) == log.map(\.encoded))
        }
    }

    @Test(
        "a server that never held the identity answers pulls and takes pushes without building a replica, in pages, certificates first",
        arguments: BackendKind.testable)
    func noReplica(_ kind: BackendKind) async throws {
        let fixture = try Self.ledger()
        let backend = try await kind.make()
        let writer = try await TestStore(backend: backend, realTime: true)
        let reader = try await TestStore(backend: backend, realTime: true, pageEntries: 25, rowsPerRead: 7)
        try await withTwoServers(writer, reader) { urlOne, urlTwo, _ in
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            #expect(try await StoreClient(url: urlOne, engine: laptop, keyPair: fixture.root).sync().converged)
            #expect(try await backend.head(of: fixture.identity.bytes)?.summary?.heads != nil)

            // A new device pulls 93 entries, 25 a page, from the other server: each page is
            // merged whole (every device's certificate came before its entries).
            let tablet = try await fixture.replica(device: 2)
            let client = StoreClient(url: urlTwo, engine: tablet, keyPair: fixture.devices[2])
            let pulled = try await client.sync()
            #expect(pulled.converged)
            #expect(pulled.received == fixture.allEntries.count)
            #expect(try await tablet.status().held == 0)
            #expect(try await tablet.clock() == (try await laptop.clock()))
            // It writes, pushes through that server, and the laptop pulls through the first.
            for i in 0..<12 { try await tablet.appendRecord(.debit, amount: Int64(i + 100), memo: "later \(i)") }
            #expect(try await client.sync().converged)
            #expect(try await StoreClient(url: urlOne, engine: laptop, keyPair: fixture.root).sync().converged)
            #expect(try await laptop.totals() == (try await tablet.totals()))
            #expect(await reader.service.cacheState().engines == 0, "the second server built no replica")
            #expect(
                await writer.service.cacheState().engines == 0,
                "the first server kept no replica after checking the certificates in the laptop's push")
        }
    }

    @Test(
        "what a pull answers from rows is what the merge engine's delta holds, for devices at any point and with heads that differ",
        arguments: BackendKind.testable)
    func sameAnswerAsTheEngine(_ kind: BackendKind) async throws {
        let fixture = try Self.ledger()
        let store = try await TestStore(kind, realTime: true)
        let full = try await Self.laptopSynced(fixture, through: store)
        // Asked of a server that never held the identity (the first built a replica for the
        // certificates in the laptop's push).
        let other = try await TestStore(backend: store.backend, realTime: true)
        let mine = try await full.clock()
        var random = SeededRandom(seed: 11)
        var clocks: [VectorClock] = [.empty, mine]
        for _ in 0..<30 {
            var entries: [ClockEntry] = []
            for (index, log) in fixture.logs.enumerated() where random.next() % 4 != 0 {
                let seq = Int(random.next() % UInt64(log.count + 1))
                guard seq > 0 else { continue }
                // Now and then the device holds another entry at that seq (a fork the store
                // does not know): the answer starts at that seq, or carries the store's head.
                let head = random.next() % 5 == 0 ? try EntryHash(bytes: SecureRandom.bytes(32)) : log[seq - 1].hash
                entries.append(ClockEntry(author: fixture.devices[index].publicKey, seq: Seq(seq), head: head))
            }
            clocks.append(VectorClock(entries))
        }
        for clock in clocks {
            let response = try await other.service.sync(
                identity: fixture.identity, request: SyncRequest(clock: Data.base64(VectorClock.encode(clock.entries))))
            let answered = try (response.entries ?? []).map { try Entry(decoding: try #require(base64Bytes($0))) }
            let expected = try await full.delta(for: clock)
            #expect(Set(answered.map(\.hash)) == Set(expected.map(\.hash)))
            #expect(answered.count == expected.count)
            #expect(response.remaining == expected.count)
            #expect(response.more == false)
            #expect(response.digest == mine.digest.hex)
        }
        #expect(await other.service.cacheState().engines == 0)
    }

    @Test(
        "a fork sends the identity to the merge engine: its row keeps no heads, and a new device learns the fork",
        arguments: BackendKind.testable)
    func forkGoesToTheEngine(_ kind: BackendKind) async throws {
        var built = try Self.ledger()
        var rivalLedger = built
        let original = try built.record(device: 1, .credit, amount: 5)
        let rival = try rivalLedger.record(device: 1, .credit, amount: 6)
        let fixture = built
        let store = try await TestStore(kind, realTime: true)
        let laptop = try await Self.laptopSynced(fixture, through: store)
        #expect(try await store.backend.head(of: fixture.identity.bytes)?.summary?.heads != nil)
        let clock = try await laptop.clock()
        let response = try await store.service.sync(
            identity: fixture.identity,
            request: SyncRequest(
                clock: Data.base64(VectorClock.encode(clock.entries)), entries: [Data.base64(rival.encoded)]))
        #expect(response.forks == [fixture.devices[1].publicKey.hex])
        #expect(try await store.backend.head(of: fixture.identity.bytes)?.summary?.heads == nil)
        // A device starting empty gets every entry and the proof of the fork.
        let fresh = try await store.service.sync(
            identity: fixture.identity, request: SyncRequest(clock: Data.base64(VectorClock.encode([]))))
        let hashes = Set(try (fresh.entries ?? []).map { try Entry(decoding: try #require(base64Bytes($0))).hash })
        #expect(hashes.contains(original.hash) && hashes.contains(rival.hash))
        #expect(hashes.count == fixture.allEntries.count + 1)
    }

    @Test(
        "a push retried after its answer was lost is matched with the rows, nothing twice and no replica; a rival among it is a fork",
        arguments: BackendKind.testable)
    func retriedPush(_ kind: BackendKind) async throws {
        var built = try Self.ledger()
        let store = try await TestStore(kind, realTime: true)
        _ = try await Self.laptopSynced(built, through: store)
        let other = try await TestStore(backend: store.backend, realTime: true)
        let before = try await store.backend.version(of: built.identity.bytes)
        let storeClock = try await built.replica(device: 0)
        try await storeClock.merge(built.allEntries)
        let clock = Data.base64(VectorClock.encode(try await storeClock.clock().entries))
        var rival = built
        var page: [Entry] = []
        for i in 0..<30 { page.append(try built.record(device: 1, .credit, amount: Int64(i + 1))) }
        let request = SyncRequest(clock: clock, entries: page.map { Data.base64($0.encoded) })
        #expect(try await other.service.sync(identity: built.identity, request: request).accepted == 30)
        // The same page again, and again with one more entry after it.
        #expect(try await other.service.sync(identity: built.identity, request: request).accepted == 0)
        let next = try built.record(device: 1, .debit, amount: 7)
        let longer = SyncRequest(clock: clock, entries: (page + [next]).map { Data.base64($0.encoded) })
        #expect(try await other.service.sync(identity: built.identity, request: longer).accepted == 1)
        #expect(try await store.backend.version(of: built.identity.bytes) == before.map { $0 + 31 })
        #expect(await other.service.cacheState().engines == 0)
        // A different entry at a seq the store holds: the merge engine proves the fork.
        let fork = try rival.record(device: 1, .credit, amount: 999)
        let forked = try await other.service.sync(
            identity: built.identity, request: SyncRequest(clock: clock, entries: [Data.base64(fork.encoded)]))
        #expect(forked.forks == [built.devices[1].publicKey.hex])
    }

    @Test(
        "a push in any order is stored in rank order: a new device's first page holds no entry before its certificate")
    func storedInRankOrder() async throws {
        let fixture = try Self.ledger()
        let store = try await TestStore(.sqlite, realTime: true)
        // The genesis entry first (the identity must exist), then the linked devices' entries
        // before the certificates that admit them, in one push.
        _ = try await store.backend.append(
            [fixture.logs[0][0].encoded], to: fixture.identity.bytes, expected: nil, recoveryKeys: [],
            summary: IdentitySummary?.none)
        let reversed = Array(fixture.logs.reversed().joined()).filter {
            $0.seq > 1 || $0.author != fixture.root.publicKey
        }
        let genesisOnly = try await fixture.replica(device: 0)
        try await genesisOnly.merge([fixture.logs[0][0]])
        let pushed = try await store.service.sync(
            identity: fixture.identity,
            request: SyncRequest(
                clock: Data.base64(VectorClock.encode(try await genesisOnly.clock().entries)),
                entries: reversed.map { Data.base64($0.encoded) }))
        #expect(pushed.accepted == reversed.count)
        let other = try await TestStore(backend: store.backend, realTime: true, pageEntries: 25)
        let phone = try await fixture.replica(device: 1)
        var pages = 0
        while true {
            let answer = try await other.service.sync(
                identity: fixture.identity,
                request: SyncRequest(clock: Data.base64(VectorClock.encode(try await phone.clock().entries))))
            let entries = try (answer.entries ?? []).map { try Entry(decoding: try #require(base64Bytes($0))) }
            let report = try await phone.merge(entries)
            #expect(report.held.isEmpty, "page \(pages) held \(report.held.count) entries")
            pages += 1
            guard answer.more == true, pages < 10 else { break }
        }
        #expect(pages == 4)
        #expect(try await phone.storedEntryCount() == fixture.allEntries.count)
    }

    @Test(
        "records after a push's links are checked against the heads the links leave and stored with them, the push whole: a forged record refuses all of it",
        arguments: BackendKind.testable)
    func linksThenRecords(_ kind: BackendKind) async throws {
        let fixture = try Self.ledger()
        // The laptop's links and records, then the phone's and the tablet's records.
        let pushed = Array(fixture.allEntries.dropFirst())
        var forgedBytes = try #require(pushed.last).encoded
        forgedBytes[forgedBytes.count - 1] ^= 1
        let forged = Array(pushed.dropLast()) + [try Entry(decoding: forgedBytes)]
        let genesisOnly = try await fixture.replica(device: 0)
        try await genesisOnly.merge([fixture.logs[0][0]])
        let clock = Data.base64(VectorClock.encode(try await genesisOnly.clock().entries))
        for (entries, whole) in [(forged, false), (pushed, true)] {
            let store = try await TestStore(backend: try await kind.make(), realTime: true)
            #expect(
                try await store.backend.append(
                    [fixture.logs[0][0].encoded], to: fixture.identity.bytes, expected: nil, recoveryKeys: [],
                    summary: IdentitySummary?.none))
            let request = SyncRequest(clock: clock, entries: entries.map { Data.base64($0.encoded) })
            guard whole else {
                let error = await #expect(throws: StoreError.self) {
                    _ = try await store.service.sync(identity: fixture.identity, request: request)
                }
                #expect(error?.code == "invalid_entry")
                #expect(try await store.backend.version(of: fixture.identity.bytes) == 1, "nothing of it stored")
                continue
            }
            let answer = try await store.service.sync(identity: fixture.identity, request: request)
            #expect(answer.accepted == pushed.count)
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            #expect(answer.digest == (try await laptop.clock()).digest.hex)
            let heads = try #require(try await store.backend.head(of: fixture.identity.bytes)?.summary?.heads)
            #expect(try VectorClock(decoding: heads) == (try await laptop.clock()))
            #expect(await store.service.cacheState().engines == 0)
            let phone = try await fixture.replica(device: 1)
            let pulled = try await store.service.sync(
                identity: fixture.identity, request: SyncRequest(clock: Data.base64(VectorClock.encode([]))))
            let entries = try (pulled.entries ?? []).map { try Entry(decoding: try #require(base64Bytes($0))) }
            #expect(try await phone.merge(entries).held.isEmpty)
            #expect(try await phone.totals() == (try await laptop.totals()))
        }
    }

    @Test(
        "a push that starts past its log's head is refused as missing entries at once, without reading the identity's rows",
        arguments: BackendKind.testable)
    func gapRefusedAtOnce(_ kind: BackendKind) async throws {
        var built = try Self.ledger()
        let held = built.allEntries
        let later = try (0..<3).map { try built.record(device: 1, .credit, amount: Int64($0 + 1)) }
        let reader = CountingBackend(try await kind.make())
        let store = try await TestStore(backend: reader, realTime: true)
        #expect(
            try await reader.append(
                [held[0].encoded], to: built.identity.bytes, expected: nil, recoveryKeys: [],
                summary: IdentitySummary?.none))
        let phone = try await built.replica(device: 1)
        try await phone.merge(built.allEntries)
        let clock = Data.base64(VectorClock.encode(try await phone.clock().entries))
        let first = try await store.service.sync(
            identity: built.identity,
            request: SyncRequest(clock: clock, entries: held.dropFirst().map { Data.base64($0.encoded) }))
        #expect(first.accepted == held.count - 1)
        reader.entryReads.withLock { $0 = 0 }
        // The phone's first new record is not sent: the other two start past its log's head.
        let error = await #expect(throws: StoreError.self) {
            _ = try await store.service.sync(
                identity: built.identity,
                request: SyncRequest(clock: clock, entries: later.dropFirst().map { Data.base64($0.encoded) }))
        }
        #expect(error?.code == "missing_entries")
        #expect(error?.message.contains("#\(later[1].seq)") == true)
        #expect(reader.entryReads.value == 0, "no replica was built to find the gap")
        #expect(try await reader.version(of: built.identity.bytes) == Int64(held.count))
    }

    @Test("an identity last written before heads were kept gains them on its next push")
    func oldSummaryGainsHeads() async throws {
        var built = try Self.ledger()
        let store = try await TestStore(.sqlite, realTime: true)
        // Written as an older server did: rows, and no summary.
        #expect(
            try await store.backend.append(
                built.allEntries.map(\.encoded), to: built.identity.bytes, expected: nil))
        #expect(try await store.backend.head(of: built.identity.bytes)?.summary == nil)
        let more = try built.record(device: 1, .credit, amount: 77)
        let laptop = try await built.replica(device: 0)
        try await laptop.merge(built.allEntries.filter { $0.hash != more.hash })
        let response = try await store.service.sync(
            identity: built.identity,
            request: SyncRequest(
                clock: Data.base64(VectorClock.encode(try await laptop.clock().entries)),
                entries: [Data.base64(more.encoded)]))
        #expect(response.accepted == 1)
        let heads = try #require(try await store.backend.head(of: built.identity.bytes)?.summary?.heads)
        try await laptop.merge([more])
        #expect(try VectorClock(decoding: heads) == (try await laptop.clock()))
    }

    @Test("a store from before rows named their author and seq gets them when a server starts, and serves the identity")
    func olderStoreFilled() async throws {
        let fixture = try Self.ledger()
        let folder = TestFolder.url("ll-old")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("store.sqlite").path
        // The schema and rows as an older server left them (2,500 rows: more than one batch).
        do {
            let old = try DatabaseQueue(path: path)
            try await old.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE identities (id BLOB PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
                        CREATE TABLE entries (identity BLOB NOT NULL, n INTEGER NOT NULL, raw BLOB NOT NULL,
                            PRIMARY KEY (identity, n)) WITHOUT ROWID;
                        """)
                let id = Data(fixture.identity.bytes)
                try db.execute(
                    sql: "INSERT INTO identities (id, version) VALUES (?, ?)",
                    arguments: [id, fixture.allEntries.count])
                for (offset, entry) in fixture.allEntries.enumerated() {
                    try db.execute(
                        sql: "INSERT INTO entries (identity, n, raw) VALUES (?, ?, ?)",
                        arguments: [id, offset + 1, Data(entry.encoded)])
                }
                for n in 0..<2_500 {
                    try db.execute(
                        sql: "INSERT INTO entries (identity, n, raw) VALUES (?, ?, ?)",
                        arguments: [Data(SecureRandom.bytes(32)), n, Data(fixture.allEntries[n % 90].encoded)])
                }
            }
        }
        let backend = try SQLiteBackend(path: path)
        try await backend.prepare()
        try await Self.expectPositions(fixture, in: backend)
        let store = try await TestStore(backend: backend, realTime: true)
        let response = try await store.service.sync(
            identity: fixture.identity, request: SyncRequest(clock: Data.base64(VectorClock.encode([]))))
        #expect(response.entries?.count == fixture.allEntries.count)
    }

    @Test(
        "PostgreSQL rows stored before rows named their author and seq get them when a server starts",
        .enabled(if: PostgresTestServer.isAvailable))
    func olderPostgresFilled() async throws {
        // 3,093 rows: batches of a thousand, for two servers to share.
        var built = try Self.ledger()
        for i in 0..<3_000 { try built.record(device: 2, .credit, amount: Int64(i + 1)) }
        let fixture = built
        let url = try await PostgresTestServer.shared.freshDatabase()
        let first = try PostgresBackend(url: url)
        try await first.prepare()
        #expect(try await first.append(fixture.allEntries.map(\.encoded), to: fixture.identity.bytes, expected: nil))
        first.shutdown()
        // As an older server left them: no author, no seq. Two servers start on it at once:
        // each is done only when every row is (neither serves rows the other is still filling).
        try await PostgresTestServer.shared.psql(url, "UPDATE ledgerlink_entries SET author = NULL, seq = NULL")
        let backend = try PostgresBackend(url: url)
        let other = try PostgresBackend(url: url)
        defer {
            backend.shutdown()
            other.shutdown()
        }
        // Each looks the moment its own start is over, while the other may still be working.
        async let otherDone = Self.startedWhole(other, fixture)
        let done = try await Self.startedWhole(backend, fixture)
        let alsoDone = try await otherDone
        #expect(done && alsoDone, "a server started while rows still lacked their author")
        try await Self.expectPositions(fixture, in: backend)
    }

    @Test("heads that name entries the rows do not hold are a corrupt store, said so, never an answer cut short")
    func headsBeyondRows() async throws {
        let fixture = try Self.ledger()
        let laptop = try await fixture.replica(device: 0)
        try await laptop.merge(fixture.allEntries)
        let clock = try await laptop.clock()
        // Five entries short of the heads; and heads claiming the largest seq for every device
        // (sums of such seqs must not trap).
        let huge = VectorClock(
            clock.entries.map { ClockEntry(author: $0.author, seq: VectorClock.maxSeq, head: $0.head) })
        let cases = [
            (clock, Array(fixture.allEntries.dropLast(5)), [VectorClock.empty]),
            (huge, fixture.allEntries, [.empty, clock]),
        ]
        for (heads, stored, askers) in cases {
            let store = try await TestStore(.sqlite, realTime: true)
            let summary = IdentitySummary(
                digest: heads.digest.bytes, devices: fixture.devices.map(\.publicKey).sorted().flatMap(\.bytes),
                heads: VectorClock.encode(heads.entries))
            #expect(
                try await store.backend.append(
                    stored.map(\.encoded), to: fixture.identity.bytes, expected: nil, recoveryKeys: [],
                    summary: summary))
            for theirs in askers {
                let error = await #expect(throws: StoreError.self) {
                    _ = try await store.service.sync(
                        identity: fixture.identity,
                        request: SyncRequest(clock: Data.base64(VectorClock.encode(theirs.entries))))
                }
                #expect(error?.code == "corrupt_store")
            }
        }
    }
}
