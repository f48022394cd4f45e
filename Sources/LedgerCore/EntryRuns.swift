import Foundation
import LedgerCrypto

/// Entries in runs: the compact form every page of entries travels in (docs/PROTOCOL.md,
/// "Entry runs").
///
/// Within a run of one author's consecutive entries, the identity, the author, each seq and
/// each prev are implied: they are sent once per run, and every entry after the first links to
/// the hash of the entry before it, which the receiver computes anyway. What arrives is rebuilt
/// into the exact signed entries, so nothing about what is signed, stored or exported changes.
///
///     runs  = u32 entries || u32 runs || run × runs
///     run   = identity(32) || author(32) || u64 first seq || prev of the first(32) || u16 n || item × n
///     item  = u8 kind || i64 time || lp32 public body || lp32 sealed part || signature(64)
///
/// A run holds at most `maxRun` entries, so a receiver rebuilds runs on every core at once
/// (each entry's prev is the hash of the one before it, so one run rebuilds in order).
public enum EntryRuns {
    /// Most entries in one run.
    public static let maxRun = 256
    /// Bytes of a run's header.
    public static let runHeaderLength = 32 + 32 + 8 + 32 + 2
    /// Bytes of an item besides its two parts.
    public static let itemFixedLength = 1 + 8 + 4 + 4 + Signature.length
    /// Bytes of the list's two counts.
    public static let listHeaderLength = 8

    /// Bytes `entry` takes as an item of a run.
    public static func itemSize(of entry: Entry) -> Int { entry.encoded.count - itemOffset }

    /// Where an entry's encoding reaches its kind: what comes before (version, identity,
    /// author, seq, prev) is what a run implies.
    static let itemOffset = 1 + 32 + 32 + 8 + 32

    /// Most bytes one entry can add to a list: its item, and a run header of its own. A
    /// batcher's budget counted with this is never exceeded by the encoding.
    public static func cost(of entry: Entry) -> Int { itemSize(of: entry) + runHeaderLength }

    /// Exact bytes `entries` take as a list of runs.
    public static func size(of entries: [Entry]) -> Int {
        var size = listHeaderLength
        forEachRun(entries) { run in
            size += runHeaderLength
            for entry in run { size += itemSize(of: entry) }
        }
        return size
    }

    /// `entries`, in order, as runs.
    public static func encoded(_ entries: [Entry]) -> [UInt8] {
        var writer = Writer(capacity: size(of: entries))
        for entry in entries { writer.append(entry) }
        writer.finish()
        return writer.bytes
    }

    /// Appends `entries`, in order, as runs: the bytes `Writer` writes for them.
    public static func encode(_ entries: [Entry], into w: inout ByteWriter) {
        w.raw(encoded(entries))
    }

    /// A list of runs written an entry at a time (a page read a few rows at a time keeps only
    /// its bytes, not its entries): the one writer of the format, which `encoded` uses too.
    public struct Writer: Sendable {
        /// The list so far; its counts are right once `finish()` has been called.
        public private(set) var bytes: [UInt8]
        /// Entries written.
        public private(set) var count = 0
        private var runs = 0
        /// Where the current run starts, where its `n` is, and how many entries it holds.
        private var runStart = 0
        private var runCountAt = 0
        private var runLength = 0
        /// The last entry written (its encoding, seq and hash): what the next entry must
        /// continue to join the current run.
        private var last: (encoded: [UInt8], seq: Seq, hash: EntryHash)?

        public init(capacity: Int = 0) {
            bytes = []
            bytes.reserveCapacity(max(capacity, listHeaderLength))
            bytes.append(contentsOf: [UInt8](repeating: 0, count: listHeaderLength))
        }

        public mutating func append(_ entry: Entry) { append(encoded: entry.encoded, seq: entry.seq, hash: entry.hash) }

        public mutating func append(_ entry: CheckedEncoding) {
            append(encoded: entry.encoded, seq: entry.seq, hash: entry.hash)
        }

        /// Appends an entry given by its checked encoding (at least `Entry.fixedLength` bytes),
        /// its seq and its hash.
        private mutating func append(encoded: [UInt8], seq: Seq, hash: EntryHash) {
            let continues =
                runLength > 0 && runLength < maxRun
                && last.map { last in
                    last.seq < Seq.max && seq == last.seq + 1 && Self.continues(encoded, last.encoded, last.hash)
                } ?? false
            if !continues {
                finishRun()
                runStart = bytes.count
                // The run's header is the identity, author, seq and prev of its first entry, as
                // they lie in its encoding, then the count.
                bytes.append(contentsOf: encoded[1..<itemOffset])
                runCountAt = bytes.count
                bytes.append(contentsOf: [0, 0])
                runs += 1
                runLength = 0
            }
            bytes.append(contentsOf: encoded[itemOffset...])
            runLength += 1
            count += 1
            last = (encoded, seq, hash)
        }

        /// Whether `encoded` names the same identity and author as `previous` and links to
        /// `previousHash`, compared as memory.
        private static func continues(_ encoded: [UInt8], _ previous: [UInt8], _ previousHash: EntryHash) -> Bool {
            encoded.withUnsafeBytes { x in
                previous.withUnsafeBytes { y in
                    previousHash.storage.withUnsafeBytes { h in
                        guard let p = x.baseAddress, let q = y.baseAddress, let r = h.baseAddress else { return false }
                        return memcmp(p + 1, q + 1, 64) == 0 && memcmp(p + 73, r, 32) == 0
                    }
                }
            }
        }

        /// Makes room for `capacity` bytes in all (growing a page of megabytes by doubling
        /// holds the old and the new buffer at once).
        public mutating func reserve(_ capacity: Int) { bytes.reserveCapacity(capacity) }

        /// Hands out the runs finished so far, keeping the list's header and the run being
        /// written (its count is written when it ends): the header, what was handed out in
        /// order, then the rest, are exactly the bytes of the whole list. A page written this
        /// way, a part at a time, is never held in one buffer of its full size.
        public mutating func takeFinishedRuns() -> [UInt8] {
            let end = runLength > 0 ? runStart : bytes.count
            guard end > listHeaderLength else { return [] }
            let taken = Array(bytes[listHeaderLength..<end])
            bytes.removeSubrange(listHeaderLength..<end)
            runStart -= end - listHeaderLength
            runCountAt -= end - listHeaderLength
            return taken
        }

        /// Hands out everything written as a whole list (counts written) and starts a new one,
        /// empty, whose first entry starts a run of its own: a streamed answer sends a page as
        /// lists of what each read found. Empty when nothing was written since the last.
        public mutating func takeList() -> [UInt8] {
            guard count > 0 else { return [] }
            finish()
            var list = [UInt8](repeating: 0, count: listHeaderLength)
            list.reserveCapacity(bytes.capacity)
            swap(&list, &bytes)
            (count, runs, runLength) = (0, 0, 0)
            return list
        }

        /// Writes the counts: the list's, and the last run's.
        public mutating func finish() {
            finishRun()
            Self.patch(UInt64(count), count: 4, at: 0, in: &bytes)
            Self.patch(UInt64(runs), count: 4, at: 4, in: &bytes)
        }

        private mutating func finishRun() {
            if runLength > 0 { Self.patch(UInt64(runLength), count: 2, at: runCountAt, in: &bytes) }
        }

        private static func patch(_ value: UInt64, count: Int, at offset: Int, in bytes: inout [UInt8]) {
            for index in 0..<count {
                bytes[offset + index] = UInt8(truncatingIfNeeded: value >> ((count - 1 - index) * 8))
            }
        }
    }

    /// Calls `body` with each run of `entries`: consecutive entries of one identity and author
    /// where each links to the one before it, at most `maxRun` long.
    public static func forEachRun(_ entries: [Entry], _ body: (ArraySlice<Entry>) -> Void) {
        var start = entries.startIndex
        for i in entries.indices.dropFirst() {
            let previous = entries[i - 1]
            let entry = entries[i]
            let continues =
                i - start < maxRun && entry.identity == previous.identity && entry.author == previous.author
                && previous.seq < Seq.max && entry.seq == previous.seq + 1 && entry.prev == previous.hash
            if !continues {
                body(entries[start..<i])
                start = i
            }
        }
        if start < entries.endIndex { body(entries[start...]) }
    }

    /// Reads a list of at most `maxCount` entries and rebuilds them. Counts are checked against
    /// `maxCount` and the bytes left before anything is reserved; every run's seqs stay in
    /// range; each rebuilt entry is checked as any entry's encoding is.
    public static func decode(_ r: inout ByteReader, maxCount: Int) throws(EntryList.Malformed) -> [Entry] {
        var found = Found()
        try find(&r, maxCount: maxCount, into: &found)
        return try found.rebuild(from: r.bytes)
    }

    /// Runs found in one byte array and not rebuilt yet: a large list's are rebuilt on every
    /// core at once, a streamed answer's part's on the thread reading it.
    public struct Found: Sendable {
        var runs: [RunLayout] = []
        /// Entries in the runs found.
        public fileprivate(set) var count = 0

        public init() {}

        /// The entries of every run found, in order, each rebuilt with its implied fields and
        /// decoded; `bytes` are those the runs were found in. Each run puts its entries straight
        /// into their places in the result (gathering arrays of runs into one copied every
        /// entry: a retain, and a release, for each).
        public func rebuild(from bytes: [UInt8]) throws(EntryList.Malformed) -> [Entry] {
            // Each run with the place of its first entry in the result (`count` in all).
            var work: [(run: RunLayout, start: Int)] = []
            work.reserveCapacity(runs.count)
            var start = 0
            for run in runs {
                work.append((run, start))
                start += run.items.count
            }
            let slots = ResultBuffer<Entry>(count: count)
            let rebuildRun = { @Sendable (piece: (run: RunLayout, start: Int)) -> EntryList.Malformed? in
                let rebuilt = Result { () throws(EntryList.Malformed) in
                    try EntryRuns.rebuild(piece.run, from: bytes) { offset, entry in
                        slots.set(piece.start + offset, entry)
                    }
                }
                if case .failure(let error) = rebuilt { return error }
                return nil
            }
            let failures =
                count < 2048
                ? work.map { rebuildRun($0) } : BackgroundMap(work, minimumChunk: 4, rebuildRun).values()
            // The first run that does not rebuild, in order, as before.
            if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
            return slots.values()
        }

        /// The entries of every run found, rebuilt in order on this thread and moved onto the
        /// end of `entries`: a streamed answer's part (a thousand entries or so) is rebuilt as
        /// soon as it has arrived, while the next one is on its way. On failure `entries` may
        /// hold some of these runs' entries.
        public func rebuild(from bytes: [UInt8], appendingTo entries: inout [Entry]) throws(EntryList.Malformed) {
            for run in runs {
                try EntryRuns.rebuild(run, from: bytes) { _, entry in entries.append(entry) }
            }
        }
    }

    /// Reads where the runs of one list lie, adding them to `found`, which may then hold at
    /// most `maxCount` entries in all; returns the list's count. Counts are checked against
    /// `maxCount` and the bytes left before anything is reserved, and every run's seqs stay in
    /// range; nothing is rebuilt.
    @discardableResult
    public static func find(_ r: inout ByteReader, maxCount: Int, into found: inout Found)
        throws(EntryList.Malformed) -> Int
    {
        let count: Int
        let runCount: Int
        do {
            count = Int(try r.u32())
            runCount = Int(try r.u32())
        } catch { throw .truncated }
        // `found.count` is at most `maxCount`, so the room left cannot trap.
        guard count <= maxCount - found.count, count <= r.remaining / itemFixedLength else {
            throw .tooMany(found.count + count)
        }
        guard runCount <= count, runCount <= r.remaining / runHeaderLength else { throw .truncated }
        // Reserved for a first list only: reserving again for each of many lists would copy
        // the layouts found so far each time.
        if found.runs.isEmpty { found.runs.reserveCapacity(runCount) }
        var total = 0
        for _ in 0..<runCount {
            let run = try layout(&r)
            total += run.items.count
            guard total <= count else { throw .tooMany(found.count + total) }
            found.runs.append(run)
        }
        guard total == count else { throw .truncated }
        found.count += count
        return count
    }

    /// Where one run's header and items lie in the input.
    struct RunLayout: Sendable {
        var header: Int
        var items: [Range<Int>]
    }

    private static func layout(_ r: inout ByteReader) throws(EntryList.Malformed) -> RunLayout {
        let header = r.offset
        let n: Int
        do {
            try r.skip(32 + 32)
            let first = try r.u64()
            try r.skip(32)
            n = Int(try r.u16())
            // Seqs run from the first through first + n - 1, within what an entry may carry.
            guard first >= 1, n >= 1, n <= maxRun, first <= UInt64(Int64.max) - UInt64(n - 1) else {
                throw ByteReader.Truncated()
            }
        } catch { throw .truncated }
        var items: [Range<Int>] = []
        items.reserveCapacity(n)
        do {
            for _ in 0..<n {
                let start = r.offset
                try r.skip(1 + 8)
                let publicLength = Int(try r.u32())
                guard publicLength <= Entry.maxPartLength else { throw ByteReader.Truncated() }
                try r.skip(publicLength)
                let sealedLength = Int(try r.u32())
                guard sealedLength <= Entry.maxPartLength else { throw ByteReader.Truncated() }
                try r.skip(sealedLength + Signature.length)
                items.append(start..<r.offset)
            }
        } catch { throw .truncated }
        return RunLayout(header: header, items: items)
    }

    /// The entries of one run, each rebuilt with its implied fields, decoded and handed to `put`
    /// with its offset in the run. The input is read in place: each entry's bytes are written
    /// once, in an array of their exact size.
    private static func rebuild(_ run: RunLayout, from bytes: [UInt8], put: (Int, consuming Entry) -> Void)
        throws(EntryList.Malformed)
    {
        let h = run.header
        var seq = bytes[h + 64..<h + 72].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var prev = InlineBytes32(bytes[h + 72..<h + 104])
        for (offset, item) in run.items.enumerated() {
            let encoded = bytes.withUnsafeBytes { input in
                [UInt8](unsafeUninitializedCapacity: itemOffset + item.count) { out, count in
                    let raw = UnsafeMutableRawBufferPointer(out)
                    var cursor = RawCursor(raw)
                    cursor.put(Entry.currentVersion)
                    cursor.put(UnsafeRawBufferPointer(rebasing: input[h..<h + 64]))  // identity, author
                    cursor.put(seq)
                    prev.withUnsafeBytes { cursor.put($0) }
                    cursor.put(UnsafeRawBufferPointer(rebasing: input[item]))
                    count = cursor.offset
                }
            }
            let entry: Entry
            do { entry = try Entry(decoding: encoded) } catch { throw .badEntry }
            prev = entry.hash.storage
            seq &+= 1
            put(offset, entry)
        }
    }
}
