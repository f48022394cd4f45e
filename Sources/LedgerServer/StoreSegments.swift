import Foundation
import LedgerCore

/// How a store keeps an identity's entries: each row of its entries table holds a segment,
/// a run of consecutive entries of one author, with consecutive seqs and consecutive places in
/// arrival order, their encodings one after another. The row's `n` is the first entry's
/// place, `seq` its seq and `span` how many entries the row holds.
///
/// A database's cost is per row far more than per byte: a push of 100,000 entries writes
/// about 400 rows and as many index entries instead of 100,000 of each. Rows written before
/// segments hold one entry each (`span` 1) and read the same way, so an older store needs no
/// rewriting. Everything above the backends still sees one `StoredRow` per entry.
package enum StoreSegments {
    /// Most entries in one row.
    package static let maxEntries = 256
    /// A row takes no further entry once it holds this many bytes (an entry larger on its own
    /// has a row to itself).
    package static let maxBytes = 128 * 1024

    /// One row to write: the entries `range` of an append, whose first is `author`'s `seq`
    /// (an empty author and seq 0 for bytes too short to name them, alone in their row).
    package struct Planned: Sendable {
        package let range: Range<Int>
        package let author: [UInt8]
        package let seq: Int64
        package var span: Int64 { Int64(range.count) }
    }

    /// The rows that keep `raws`, in their order: each run of one author's consecutive seqs
    /// (appends store logs in rank order, a log's entries in seq order) cut at `maxEntries`
    /// entries or `maxBytes` bytes.
    package static func plan(_ raws: [[UInt8]]) -> [Planned] {
        var rows: [Planned] = []
        var start = 0
        var first: (author: ArraySlice<UInt8>, seq: Int64)?
        var bytes = 0
        for (index, raw) in raws.enumerated() {
            let position = Entry.position(in: raw)
            if let open = first, let position, index - start < maxEntries, bytes + raw.count <= maxBytes,
                position.seq - open.seq == Int64(index - start), Self.same(position.author, open.author)
            {
                bytes += raw.count
                continue
            }
            if index > start {
                rows.append(Planned(range: start..<index, author: Array(first?.author ?? []), seq: first?.seq ?? 0))
            }
            (start, first, bytes) = (index, position, raw.count)
        }
        if raws.count > start {
            rows.append(Planned(range: start..<raws.count, author: Array(first?.author ?? []), seq: first?.seq ?? 0))
        }
        return rows
    }

    /// Whether two keys' bytes are equal (compared as memory: a slice's `==` goes element by
    /// element, and a push compares one per entry).
    static func same(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard let p = x.baseAddress, let q = y.baseAddress else { return x.count == 0 }
                return memcmp(p, q, x.count) == 0
            }
        }
    }

    /// The bytes of a row: its entries' encodings one after another.
    package static func joined(_ raws: ArraySlice<[UInt8]>) -> [UInt8] {
        if raws.count == 1, let only = raws.first { return only }
        var out: [UInt8] = []
        out.reserveCapacity(raws.reduce(0) { $0 + $1.count })
        for raw in raws { out.append(contentsOf: raw) }
        return out
    }

    /// Appends to `out` the entries of a stored row (place `n`, `span` entries from `seq`)
    /// placed after `after` and, when `seqs` is given, with their seq in it.
    ///
    /// - Throws: `corrupt_store` when the row's numbers are out of range or its bytes are not
    ///   exactly `span` entries (the lengths inside each encoding say where it ends).
    package static func split(
        _ bytes: UnsafeRawBufferPointer, n: Int64, span: Int64, seq: Int64, after: Int64,
        seqs: ClosedRange<Int64>?, into out: inout [StoredRow]
    ) throws {
        guard span >= 1, span <= Int64(maxEntries), n >= 1, n <= Int64.max - span, seq <= Int64.max - span else {
            throw StoreError(.corruptStore, "stored row \(n) claims \(span) entries, outside what a row can hold")
        }
        if span == 1 {
            // One entry (every row an older server wrote): the bytes are the entry, whatever
            // they hold; decoding them says whether they are one.
            if n > after, seqs?.contains(seq) ?? true { out.append(StoredRow(n: n, raw: Array(bytes))) }
            return
        }
        guard let ranges = Entry.ranges(in: bytes, count: Int(span)) else {
            throw StoreError(.corruptStore, "stored row \(n) does not hold exactly the \(span) entries it claims")
        }
        for (index, range) in ranges.enumerated() where n + Int64(index) > after {
            if seqs?.contains(seq + Int64(index)) ?? true {
                out.append(StoredRow(n: n + Int64(index), raw: Array(bytes[range])))
            }
        }
    }

    /// The places of the rows that may hold entries `after + 1 ... after + limit`: a row
    /// starts at most `maxEntries - 1` places before the first it holds. Saturating, never a trap.
    package static func places(after: Int64, limit: Int) -> ClosedRange<Int64> {
        let low = after.subtractingReportingOverflow(Int64(maxEntries - 1))
        let high = after.addingReportingOverflow(Int64(max(limit, 1)))
        return (low.overflow ? Int64.min : low.partialValue)...(high.overflow ? Int64.max : high.partialValue)
    }

    /// For a read of at most `limit` entries with seqs in `seqs`: the seqs wanted (no more
    /// than `limit` of them, as a log holds one entry per seq unless it is forked) and the
    /// first seqs of the rows that may hold them.
    package static func seqs(_ seqs: ClosedRange<Int64>, limit: Int) -> (
        bounds: ClosedRange<Int64>, wanted: ClosedRange<Int64>
    ) {
        let last = seqs.lowerBound.addingReportingOverflow(Int64(max(limit, 1)) - 1)
        let wanted = seqs.lowerBound...(last.overflow ? seqs.upperBound : min(seqs.upperBound, last.partialValue))
        let low = seqs.lowerBound.subtractingReportingOverflow(Int64(maxEntries - 1))
        return ((low.overflow ? Int64.min : low.partialValue)...wanted.upperBound, wanted)
    }

    /// `rows` cut to `limit`, in (seq, place) order when `bySeq` (rows read in order of their
    /// first seq are in that order already unless two overlap: a forked log's rivals).
    package static func ordered(_ rows: [StoredRow], bySeq: Bool, limit: Int) -> [StoredRow] {
        var rows = rows
        if bySeq {
            let keys = rows.map { (Entry.position(in: $0.raw)?.seq ?? 0, $0.n) }
            if !zip(keys, keys.dropFirst()).allSatisfy({ $0 <= $1 }) {
                rows = zip(keys, rows).sorted { $0.0 < $1.0 }.map(\.1)
            }
        }
        return rows.count > limit ? Array(rows.prefix(max(limit, 0))) : rows
    }
}
