import LedgerCrypto

/// What a replica holds of one device's log: the highest contiguous seq, the hash of that
/// entry, and the seq of a proven fork (0 when none).
public struct ClockEntry: Sendable, Hashable {
    public let author: DevicePublicKey
    public let seq: Seq
    public let head: EntryHash
    public let forkSeq: Seq

    public init(author: DevicePublicKey, seq: Seq, head: EntryHash, forkSeq: Seq = 0) {
        self.author = author
        self.seq = seq
        self.head = head
        self.forkSeq = forkSeq
    }
}

/// The vector clock (device -> highest contiguous seq, never timestamps) with each log's head,
/// and a 32-byte digest of both so that "nothing changed" is a single comparison.
public struct VectorClock: Sendable, Equatable {
    /// Entries sorted by author key bytes.
    public let entries: [ClockEntry]
    /// BLAKE2b-256 of the canonical encoding (docs/PROTOCOL.md, "Clock digest").
    public let digest: Digest32

    public init(_ entries: [ClockEntry]) {
        self.entries = entries.sorted { $0.author < $1.author }
        self.digest = Blake2b.hash(Self.encode(self.entries))
    }

    /// The clock with nothing in it.
    public static let empty = VectorClock([])

    /// The highest contiguous seq held for `author` (0 when none).
    public subscript(author: DevicePublicKey) -> Seq {
        entries.first { $0.author == author }?.seq ?? 0
    }

    /// The clock as a plain map device -> seq.
    public var seqs: [DevicePublicKey: Seq] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.author, $0.seq) })
    }

    /// Canonical bytes: label, count, then author || seq || head || forkSeq per entry.
    public static func encode(_ sorted: [ClockEntry]) -> [UInt8] {
        var w = ByteWriter(capacity: 24 + sorted.count * 80)
        w.raw(Array(Labels.clock.utf8))
        w.u32(UInt32(sorted.count))
        for e in sorted {
            w.raw(e.author.bytes)
            w.u64(e.seq)
            w.raw(e.head.bytes)
            w.u64(e.forkSeq)
        }
        return w.bytes
    }

    /// Largest seq a clock may name: the largest an entry may carry (docs/PROTOCOL.md, "Entry").
    public static let maxSeq = Seq(Int64.max)

    /// Parses the canonical encoding (as sent by a peer or a store), refusing what this build
    /// would not write: authors out of order or repeated, seqs beyond `maxSeq`.
    public init(decoding bytes: [UInt8], maxEntries: Int = 4096) throws(LedgerError) {
        var r = ByteReader(bytes)
        do {
            guard try r.raw(Labels.clock.utf8.count) == Array(Labels.clock.utf8) else {
                throw LedgerError.malformed("not a clock")
            }
            let count = Int(try r.u32())
            guard count <= maxEntries else { throw LedgerError.malformed("clock has too many devices") }
            // Each entry is 80 bytes: a count that claims more than the bytes hold is refused
            // before anything is reserved for it.
            guard count <= r.remaining / 80 else { throw LedgerError.malformed("clock is truncated") }
            var list: [ClockEntry] = []
            list.reserveCapacity(count)
            for _ in 0..<count {
                let author = try DevicePublicKey(bytes: try r.raw(32))
                let seq = try r.u64()
                let head = try EntryHash(bytes: try r.raw(32))
                let forkSeq = try r.u64()
                guard seq <= Self.maxSeq, forkSeq <= Self.maxSeq else {
                    throw LedgerError.malformed("clock names a seq above \(Self.maxSeq)")
                }
                if let last = list.last, !(last.author < author) {
                    throw LedgerError.malformed(
                        last.author == author ? "duplicate device in clock" : "clock devices are not in order")
                }
                list.append(ClockEntry(author: author, seq: seq, head: head, forkSeq: forkSeq))
            }
            guard r.isAtEnd else { throw LedgerError.malformed("trailing bytes after the clock") }
            self.init(sorted: list)
        } catch let e as LedgerError {
            throw e
        } catch {
            throw .malformed("clock is truncated")
        }
    }

    /// A clock from entries already sorted by author, without sorting again.
    private init(sorted: [ClockEntry]) {
        entries = sorted
        digest = Blake2b.hash(Self.encode(sorted))
    }
}

extension VectorClock {
    /// This clock moved over `entries` that continue its logs (a replica that held this clock
    /// and then received them holds the result); entries that do not continue a log are ignored.
    public func advanced(by entries: [Entry]) -> VectorClock {
        var known = Dictionary(uniqueKeysWithValues: self.entries.map { ($0.author, $0) })
        // A batch lists each log's entries in seq order, one log after another (a push, a page
        // of a delta): taken as it is, a log at a time. Any other order is sorted first.
        var ordered = entries
        var runs = Self.runs(of: entries)
        var lastSeq: [DevicePublicKey: Seq] = [:]
        for run in runs {
            guard lastSeq[run.author].map({ $0 < run.first }) ?? true else {
                ordered = entries.sorted(by: { $0.seq < $1.seq })
                runs = Self.runs(of: ordered)
                break
            }
            lastSeq[run.author] = run.last
        }
        for run in runs {
            let current = known[run.author]
            // Read by index, in place (a page of a pull is tens of thousands of entries): the
            // last entry that continues the log is found first, and the clock entry made once.
            var seq = current?.seq ?? 0
            var last: Int?
            for index in run.range where ordered[index].seq - 1 == seq {
                // `seq - 1` cannot trap (an entry's seq is at least 1); `seq + 1` could, on a
                // clock that came from outside.
                seq = ordered[index].seq
                last = index
            }
            if let last {
                known[run.author] = ClockEntry(
                    author: run.author, seq: seq, head: ordered[last].hash, forkSeq: current?.forkSeq ?? 0)
            }
        }
        return VectorClock(Array(known.values))
    }

    /// Stretches of one author's entries with rising seqs, in order.
    private static func runs(of entries: [Entry]) -> [(
        author: DevicePublicKey, range: Range<Int>, first: Seq, last: Seq
    )] {
        var runs: [(author: DevicePublicKey, range: Range<Int>, first: Seq, last: Seq)] = []
        var start = 0
        for index in entries.indices.dropFirst()
        where entries[index].seq <= entries[index - 1].seq || !entries[index].hasSameAuthor(as: entries[index - 1]) {
            runs.append((entries[start].author, start..<index, entries[start].seq, entries[index - 1].seq))
            start = index
        }
        if let last = entries.last {
            runs.append((last.author, start..<entries.count, entries[start].seq, last.seq))
        }
        return runs
    }
}
