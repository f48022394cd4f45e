import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("Merge engine")
struct MergeEngineTests {
    @Test("a replica that merges every log counts every record and lists every device")
    func mergesEverything() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.record(device: 0, .credit, amount: 1000, memo: "salary")
        try fixture.record(device: 1, .debit, amount: 250, memo: "lunch")
        try fixture.record(device: 2, .credit, amount: 5)
        let replica = try await fixture.replica(device: 1)
        let report = try await replica.merge(fixture.allEntries)
        #expect(report.rejected.isEmpty)
        #expect(report.accepted.count == fixture.allEntries.count)
        let totals = try await replica.totals()
        #expect(totals.credits == 1005)
        #expect(totals.debits == 250)
        #expect(totals.balance == 755)
        #expect(try await replica.devices().count == 3)
        #expect(await replica.decimals == 2)
        let history = try await replica.history(limit: 10)
        #expect(history.map(\.amount) == [5, 250, 1000])
        #expect(history.map(\.memo) == ["", "lunch", "salary"])
    }

    @Test("entries that arrive before the key to read them are opened and counted once it comes")
    func keyArrivesLater() async throws {
        // Device 1's key reaches it in its link certificate, written after these records.
        var fixture = try LedgerFixture(deviceCount: 1)
        try fixture.record(device: 0, .credit, amount: 700, memo: "before the link")
        try fixture.record(device: 0, .debit, amount: 200, memo: "also before")
        let newcomer = SigningKeyPair.generate()
        let link = try fixture.link(device: newcomer, name: "phone", by: 0)
        let store = try LedgerStore.inMemory(
            identity: fixture.identity, root: fixture.root.publicKey, device: newcomer.publicKey)
        let phone = try await MergeEngine(store: store, keyPair: newcomer)
        try await phone.merge(Array(fixture.logs[0].dropLast()))
        #expect(try await phone.totals().unreadable == 2)
        try await phone.merge([link])
        let totals = try await phone.totals()
        #expect(totals.unreadable == 0)
        #expect(totals.balance == 500)
        #expect(try await phone.history(limit: 5).map(\.memo) == ["also before", "before the link"])
        #expect(try await phone.verifyAll().isEmpty)
    }

    @Test("a device appends through the engine and a second replica converges")
    func localAppend() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        try await a.merge(fixture.allEntries)
        try await b.merge(fixture.allEntries)
        try await a.appendRecord(.credit, amount: 700, memo: "from a")
        try await b.appendRecord(.debit, amount: 200, memo: "from b")
        try await b.merge(try await a.delta(for: try await b.clock()))
        try await a.merge(try await b.delta(for: try await a.clock()))
        #expect(try await a.clock() == (try await b.clock()))
        #expect(try await a.totals().balance == 500)
        #expect(try await b.totals().balance == 500)
    }

    @Test("a device's own newer entries, arriving from elsewhere, are adopted and said, and it writes after them")
    func caughtUp() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<4 { try built.record(device: 1, .credit, amount: Int64(i + 1)) }
        let fixture = built
        let own = fixture.logs[1]
        // The folder was restored with only the first two entries of its own log.
        let restored = try await fixture.replica(device: 1)
        try await restored.merge(fixture.logs[0] + own.prefix(2))
        let events = await restored.subscribe()
        let report = try await restored.merge(Array(own.dropFirst(2)) + fixture.logs[0])
        #expect(report.caughtUp == own.count - 2)
        #expect(report.forks.isEmpty)
        var iterator = events.makeAsyncIterator()
        var said: Int?
        while said == nil, let event = await iterator.next() {
            if case .caughtUp(let entries) = event { said = entries }
        }
        #expect(said == own.count - 2)
        let next = try await restored.appendRecord(.debit, amount: 1, memo: "after catching up")
        #expect(next.seq == UInt64(own.count + 1))
        #expect(try await restored.provenForks().isEmpty)
        // Others' entries are not "caught up", nor are entries merged again.
        #expect(try await restored.merge(fixture.allEntries).caughtUp == 0)
    }

    @Test("what a replica holds: its logs, entries waiting for a gap, a fork's proofs and branches; nothing else")
    func holds() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<5 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        var other = built
        try built.record(device: 1, .credit, amount: 5, memo: "main")
        try built.record(device: 1, .credit, amount: 6, memo: "after main")  // kept with its branch
        let rival = try other.record(device: 1, .credit, amount: 7, memo: "rival")
        let missing = try built.record(device: 0, .credit, amount: 8)
        let waiting = try built.record(device: 0, .credit, amount: 9)  // waits for `missing`
        let never = try built.record(device: 0, .credit, amount: 10)
        let stored = built.allEntries.filter { $0 != missing && $0 != waiting && $0 != never }
        let replica = try await built.replica(device: 0)
        try await replica.merge(stored + [rival, waiting])
        #expect(try await replica.provenForks()[built.devices[1].publicKey] != nil)
        let held = try await replica.holds(built.allEntries + [rival])
        #expect(held == Set(stored.map(\.hash) + [rival.hash, waiting.hash]))
        #expect(try await replica.holds([]).isEmpty)
        // Seqs far apart in one log, read a stretch at a time.
        let log = built.logs[0]
        let apart = [log[0], log[2], log[3], log[log.count - 4], never]
        #expect(try await replica.holds(apart) == Set(apart.dropLast().map(\.hash)))
        // Out of seq order, one entry twice, and the two logs interleaved: the same answer.
        let mixed = [log[3], never, log[0], log[3], rival] + built.logs[1].reversed()
        #expect(try await replica.holds(mixed) == Set(mixed.filter { $0 != never }.map(\.hash)))
    }

    @Test("a push of nothing the replica holds (the usual push) is answered empty, new logs or old")
    func holdsNothing() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<6 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        let replica = try await built.replica(device: 0)
        try await replica.merge(built.allEntries)
        var later = built
        let more = try (0..<5).map { try later.record(device: 0, .debit, amount: Int64($0 + 1)) }
        let phone = try (0..<3).map { try later.record(device: 1, .credit, amount: Int64($0 + 1)) }
        #expect(try await replica.holds(more + phone).isEmpty)
        #expect(try await replica.holds(phone + more.reversed()).isEmpty)
        // One held entry among them is found.
        #expect(try await replica.holds(more + [built.logs[0][2]] + phone) == [built.logs[0][2].hash])
    }

    @Test(
        "places named once: one stretch per author in increasing seqs; a repeat, a step back or a log in two stretches is not"
    )
    func distinctPositions() throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let laptop = try (0..<4).map { try fixture.record(device: 0, .credit, amount: Int64($0 + 1)) }
        let phone = try (0..<3).map { try fixture.record(device: 1, .debit, amount: Int64($0 + 1)) }
        #expect(Entry.distinctPositions([]))
        #expect(Entry.distinctPositions(laptop))
        #expect(Entry.distinctPositions(laptop + phone))
        #expect(!Entry.distinctPositions(laptop + [laptop[3]]))
        #expect(!Entry.distinctPositions([laptop[1], laptop[0]]))
        #expect(!Entry.distinctPositions(Array(laptop.prefix(2)) + phone + laptop.dropFirst(2)))
    }
}

@Suite("Delta pages")
struct DeltaPagesTests {
    @Test("pages hold exactly the delta, in order, at most `size` entries each, extras last")
    func pagesMatchDelta() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        for i in 0..<250 { try fixture.record(device: i % 3, .credit, amount: Int64(i + 1)) }
        let full = try await fixture.replica(device: 0)
        try await full.merge(fixture.allEntries)
        let partial = try await fixture.replica(device: 1)
        try await partial.merge(Array(fixture.logs[0].prefix(20)) + fixture.logs[1])
        for clock in [VectorClock.empty, try await partial.clock()] {
            let plan = try await full.deltaPlan(for: clock)
            var seen: [Entry] = []
            for try await page in plan.pages(from: full, size: 37) {
                #expect(!page.isEmpty && page.count <= max(37, plan.extra.count))
                seen += page
            }
            #expect(seen.map(\.hash) == (try await full.delta(for: clock)).map(\.hash))
        }
        // Stopping early reads no further.
        var first: [Entry]?
        for try await page in try await full.deltaPlan(for: .empty).pages(from: full, size: 10) {
            first = page
            break
        }
        #expect(first?.count == 10)
    }
}
