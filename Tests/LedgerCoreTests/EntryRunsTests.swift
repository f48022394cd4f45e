import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import PropertyBased
import Testing

@Suite("Entry runs")
struct EntryRunsTests {
    /// Entries of `count` devices recorded in a random order: runs of random lengths.
    static func interleaved(devices: Int, entries: Int, seed: UInt64) throws -> [Entry] {
        var random = Xoshiro(seed: (seed, seed &* 31, 5, 7))
        var fixture = try LedgerFixture(deviceCount: devices)
        for i in 0..<entries {
            let memo = String(repeating: "m", count: Int.random(in: 0...40, using: &random))
            try fixture.record(
                device: Int.random(in: 0..<devices, using: &random), i % 3 == 0 ? .debit : .credit,
                amount: Int64(i + 1), memo: memo)
        }
        return fixture.logs.flatMap { $0 }.shuffledKeepingRuns(using: &random)
    }

    static func roundTrip(_ entries: [Entry], maxCount: Int = .max) throws -> [Entry] {
        let bytes = EntryRuns.encoded(entries)
        #expect(bytes.count == EntryRuns.size(of: entries))
        var reader = ByteReader(bytes)
        let decoded = try EntryRuns.decode(&reader, maxCount: maxCount)
        #expect(reader.isAtEnd)
        return decoded
    }

    /// An entry with any fields, signed by `key` (the codec checks structure, not meaning).
    static func entry(
        _ identity: IdentityID, _ key: SigningKeyPair, seq: Seq, prev: EntryHash, publicBody: [UInt8] = [],
        sealed: [UInt8] = [7, 7, 7]
    ) -> Entry {
        Entry(
            identity: identity, keyPair: key, seq: seq, prev: prev, kind: .credit, time: Int64(seq) * 1000,
            publicBody: publicBody, sealed: sealed)
    }

    @Test("random runs of several devices rebuild byte-identical entries, in order", arguments: [1, 2, 3, 4, 5])
    func randomRuns(seed: UInt64) throws {
        let entries = try Self.interleaved(devices: 4, entries: 600, seed: seed)
        let decoded = try Self.roundTrip(entries)
        #expect(decoded.map(\.encoded) == entries.map(\.encoded))
        #expect(decoded.map(\.hash) == entries.map(\.hash))
    }

    @Test("a long run of one device (past the run limit, rebuilt on every core) and the empty list")
    func longRun() throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        for i in 0..<3_000 { try fixture.record(device: 0, .credit, amount: 1, memo: "entry \(i)") }
        let entries = fixture.allEntries
        #expect(try Self.roundTrip(entries).map(\.encoded) == entries.map(\.encoded))
        #expect(try Self.roundTrip([]).isEmpty)
        // Runs implied most of each entry: a credit with a short memo is well under its full encoding.
        let credit = entries[100]
        #expect(EntryRuns.itemSize(of: credit) == credit.encoded.count - 105)
        let perEntry = Double(EntryRuns.size(of: entries)) / Double(entries.count)
        #expect(perEntry < Double(credit.encoded.count) - 100)
    }

    @Test("forks inside a run: two entries at one seq, and an entry whose prev is not the one before")
    func forks() throws {
        let identity = try IdentityID(bytes: [UInt8](repeating: 9, count: 32))
        let key = SigningKeyPair.generate()
        let first = Self.entry(identity, key, seq: 1, prev: .zero)
        let second = Self.entry(identity, key, seq: 2, prev: first.hash)
        let twin = Self.entry(identity, key, seq: 2, prev: first.hash, sealed: [1])
        let afterTwin = Self.entry(identity, key, seq: 3, prev: twin.hash)
        let stray = Self.entry(identity, key, seq: 4, prev: second.hash)  // links to an entry two back
        let gap = Self.entry(identity, key, seq: 9, prev: stray.hash)
        let entries = [first, second, twin, afterTwin, stray, gap, first]
        #expect(try Self.roundTrip(entries).map(\.encoded) == entries.map(\.encoded))
    }

    @Test("entries of the largest size, and a run split across pages by the batcher")
    func largestAndSplit() throws {
        let identity = try IdentityID(bytes: [UInt8](repeating: 3, count: 32))
        let key = SigningKeyPair.generate()
        var entries: [Entry] = []
        var prev = EntryHash.zero
        for seq in 1...6 {
            let big = [UInt8](repeating: UInt8(seq), count: Entry.maxPartLength)
            let entry = Self.entry(identity, key, seq: Seq(seq), prev: prev, publicBody: big, sealed: big)
            #expect(entry.encoded.count == Entry.maxEncodedLength)
            entries.append(entry)
            prev = entry.hash
        }
        #expect(try Self.roundTrip(entries).map(\.encoded) == entries.map(\.encoded))
        // Pages of at most 300 KiB: each page starts a run of its own, with the prev it links to.
        let batcher = DeltaBatcher(maxEntries: 1_000, maxBytes: 300 << 10, cost: EntryRuns.cost(of:))
        let pages = batcher.batches(entries)
        #expect(pages.count == 3)
        var rebuilt: [Entry] = []
        for page in pages {
            #expect(EntryRuns.size(of: page) <= 300 << 10)
            rebuilt += try Self.roundTrip(page)
        }
        #expect(rebuilt.map(\.encoded) == entries.map(\.encoded))
    }

    @Test("lies are refused, never trusted: counts, seqs, lengths and trailing runs")
    func hostile() throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        for i in 0..<5 { try fixture.record(device: 0, .credit, amount: 1, memo: "entry \(i)") }
        let good = EntryRuns.encoded(fixture.allEntries)
        func refusal(_ bytes: [UInt8], maxCount: Int = .max) -> EntryList.Malformed? {
            var reader = ByteReader(bytes)
            do {
                _ = try EntryRuns.decode(&reader, maxCount: maxCount)
                return nil
            } catch { return error }
        }
        #expect(refusal(good) == nil)
        #expect(refusal(good, maxCount: 5) == .tooMany(6))
        #expect(refusal(Array(good.prefix(good.count - 1))) == .truncated)
        #expect(refusal([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1]) == .tooMany(0xFFFF_FFFF))
        var moreRuns = good
        moreRuns[7] = 2  // two runs announced, one present
        #expect(refusal(moreRuns) == .truncated)
        var zeroLength = good
        zeroLength[8 + 104] = 0
        zeroLength[8 + 105] = 0  // a run of no entries
        #expect(refusal(zeroLength) == .truncated)
        var lastSeq = good
        for i in 0..<8 { lastSeq[8 + 64 + i] = i == 0 ? 0x7F : 0xFF }  // seqs would pass Int64.max
        #expect(refusal(lastSeq) == .truncated)
        var badPrev = good
        badPrev[8 + 72] ^= 1  // the genesis entry must have a zero prev
        #expect(refusal(badPrev) == .badEntry)
        var badKind = good
        badKind[8 + EntryRuns.runHeaderLength] = 0xEE
        #expect(refusal(badKind) == .badEntry)
    }

    @Test("entries decoded with their links already checked carry the hashes of their bytes, in any order of logs")
    func decodedWithCheckedLinks() throws {
        var built = try LedgerFixture(deviceCount: 3)
        for i in 0..<90 { try built.record(device: i % 3, .credit, amount: Int64(i + 1)) }
        let byLog = built.allEntries
        let interleaved = built.allEntries.sorted { ($0.seq, $0.author) < ($1.seq, $1.author) }
        let gapped = byLog.enumerated().filter { $0.offset % 7 != 3 }.map(\.element)
        for list in [byLog, interleaved, gapped, Array(byLog.reversed())] {
            let decoded = try Entry.decodeAll(list.map(\.encoded), linksChecked: true)
            #expect(decoded.map(\.hash) == list.map(\.hash))
            // Checked without building entries (a store's rows): the same hashes, authors and seqs.
            let checked = try Entry.checkedAll(list.map(\.encoded))
            #expect(checked.map(\.hash) == list.map(\.hash))
            #expect(checked.map(\.author) == list.map(\.author))
            #expect(checked.map(\.seq) == list.map(\.seq))
        }
        // A row that is not an entry's encoding is refused as decoding refuses it.
        var broken = byLog.map(\.encoded)
        broken[5][0] = 9  // an unknown version
        #expect(throws: LedgerError.self) { try Entry.checkedAll(broken) }
        broken = byLog.map(\.encoded)
        broken[7].removeLast()
        #expect(throws: LedgerError.self) { try Entry.checkedAll(broken) }
    }

    @Test("runs written an entry at a time are the bytes of the list encoded at once, and decode to the same entries")
    func writtenAnEntryAtATime() throws {
        for seed in UInt64(1)...12 {
            let entries = try Self.interleaved(
                devices: 1 + Int(seed % 3), entries: Int(seed * 37 % 400) + 1, seed: seed)
            for list in [entries, [], Array(entries.prefix(1)), entries + entries.prefix(3)] {
                var writer = EntryRuns.Writer()
                for entry in list { writer.append(entry) }
                writer.finish()
                #expect(writer.bytes == EntryRuns.encoded(list), "seed \(seed), \(list.count) entries")
                #expect(writer.count == list.count)
                var reader = ByteReader(writer.bytes)
                #expect(try EntryRuns.decode(&reader, maxCount: 10_000).map(\.encoded) == list.map(\.encoded))
            }
        }
        // Entries whose hash was taken from the next one's link (as a store reads its rows).
        let entries = try Self.interleaved(devices: 2, entries: 300, seed: 99)
        var writer = EntryRuns.Writer()
        for entry in try Entry.decodeAll(entries.map(\.encoded), linksChecked: true) { writer.append(entry) }
        writer.finish()
        #expect(writer.bytes == EntryRuns.encoded(entries))
        // And written from checked encodings, as a store writes its rows, in any order of logs.
        for list in [entries, entries.sorted { ($0.seq, $0.author) < ($1.seq, $1.author) }] {
            var fromRows = EntryRuns.Writer()
            for entry in try Entry.checkedAll(list.map(\.encoded)) { fromRows.append(entry) }
            fromRows.finish()
            #expect(fromRows.bytes == EntryRuns.encoded(list))
        }
    }

    @Test(
        "runs set aside while they are written, then the rest: the header, the parts and the rest are the list's bytes")
    func setAsideInParts() throws {
        for seed in UInt64(1)...12 {
            let entries = try Self.interleaved(
                devices: 1 + Int(seed % 3), entries: Int(seed * 53 % 700) + 1, seed: seed)
            for every in [1, 7, 100, 256, 257, 1000] {
                var batch = DeltaBatcher.Batch(writingRuns: true)
                let batcher = DeltaBatcher(maxEntries: .max, maxBytes: .max, cost: { $0.encoded.count })
                for (index, entry) in entries.enumerated() {
                    let added = batch.add(entry, batcher)
                    #expect(added)
                    if index % every == every - 1 { batch.setAsideRuns() }
                }
                let finished = batch.finishedRunParts()
                let parts = try #require(finished)
                #expect(parts.count >= 2)
                #expect(Array(parts.joined()) == EntryRuns.encoded(entries), "seed \(seed), every \(every)")
                // A part set aside holds whole runs only: the run being written stays behind.
                #expect(parts.dropFirst().dropLast().allSatisfy { !$0.isEmpty })
            }
        }
        var empty = DeltaBatcher.Batch(writingRuns: true)
        empty.setAsideRuns()
        let none = empty.finishedRunParts()
        #expect(Array(try #require(none).joined()) == EntryRuns.encoded([]))
        var kept = DeltaBatcher.Batch()
        let entries = kept.finishedRunParts()
        #expect(entries == nil)
    }
}

extension Array where Element == Entry {
    /// Runs of each device kept in order, the devices' runs interleaved at random.
    fileprivate func shuffledKeepingRuns(using random: inout Xoshiro) -> [Entry] {
        var queues = Dictionary(grouping: self, by: \.author).values.map { ArraySlice($0) }
        var out: [Entry] = []
        while !queues.isEmpty {
            let i = Int.random(in: 0..<queues.count, using: &random)
            let take = Int.random(in: 1...20, using: &random)
            out += queues[i].prefix(take)
            queues[i] = queues[i].dropFirst(take)
            if queues[i].isEmpty { queues.remove(at: i) }
        }
        return out
    }
}
