import Foundation
import GRDB
import LedgerCrypto

/// One entry of a device's log as this device keeps it: the entry's stored form and what the
/// merge learnt about it.
struct StoredRow: Sendable {
    /// The entry's encoding after its version, identity id and author (`Entry.storedForm`).
    var stored: ArraySlice<UInt8>
    /// False while the entry is sealed with a data key this device does not hold.
    var opened: Bool
    /// The amount of a credit or debit, once opened.
    var amount: Int64?
    /// The memo of a record, or the device name of a genesis or link, once opened.
    var label: String?
    /// Running totals of the author's log through this entry; nil past an unreadable entry.
    var cumCredit: Int64?
    var cumDebit: Int64?

    var seq: Seq { Self.word(stored, at: 0) }
    var kind: EntryKind { EntryKind(rawValue: stored[stored.startIndex + 40]) ?? .credit }
    var time: Int64 { Int64(bitPattern: Self.word(stored, at: 41)) }

    private static func word(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }

    /// The entry itself, rebuilt from its stored form.
    func entry(identity: IdentityID, author: DevicePublicKey) throws(LedgerError) -> Entry {
        try Entry(stored: stored, identity: identity, author: author)
    }

    /// The hash of the entry before this one in its log, which this entry names.
    var prev: EntryHash {
        stored.withUnsafeBytes {
            EntryHash(storage: InlineBytes32(copying: UnsafeRawBufferPointer(rebasing: $0[8..<40])))
        }
    }

    /// The entries of `rows` (one log's, in seq order), each hash taken from the `prev` of the
    /// entry after it when that one is its successor (a stored log's links were checked when it
    /// was merged), so only the last of each stretch is hashed: reading a log to send it
    /// hashed every entry again (about 85 ms of a push of 100,000 on the device).
    static func entries(_ rows: [StoredRow], identity: IdentityID, author: DevicePublicKey) throws(LedgerError)
        -> [Entry]
    {
        var out: [Entry] = []
        out.reserveCapacity(rows.count)
        for (index, row) in rows.enumerated() {
            let next = index + 1 < rows.count ? rows[index + 1] : nil
            // A damaged file may hold any seq: the successor's is compared without a sum that traps.
            let known = next.flatMap { row.seq < Seq.max && $0.seq == row.seq + 1 ? $0.prev : nil }
            out.append(try Entry(stored: row.stored, identity: identity, author: author, hash: known))
        }
        return out
    }
}

/// Device logs stored in segments: one database row holds a run of up to `maxEntries`
/// consecutive entries of one device, packed into one blob.
///
/// A merge of a hundred thousand entries then writes a few hundred rows instead of a hundred
/// thousand: SQLite's cost is per row (statement, cursor and B-tree work), not per byte. Reads
/// decode one segment (at most `maxEntries` records, a few tens of kilobytes) per position
/// looked up. Control entries and entries not yet opened are also listed in small tables of
/// their own, so they are found without reading the logs.
///
/// Record layout inside a segment (local storage only, never on the wire), integers big-endian:
/// `u32 length || stored form || u8 flags || [i64 amount] || [i64 cum_credit || i64 cum_debit]
/// || [u16 length || label]`, where flags bit 0 = opened, 1 = amount present, 2 = running totals
/// present, 3 = label present.
package enum LogSegments {
    /// Most entries in one segment.
    static let maxEntries = 256
    /// A segment smaller than this takes further entries (so a device that appends one entry at
    /// a time still ends up with segments of about sixteen); a larger one is left as it is.
    /// Small enough that a one-entry append rewrites a single database page: at 16 KiB the
    /// rewrite spilled onto overflow pages and the live sync's p99 latency went from 2 to 10 ms.
    static let growBelowBytes = 4 * 1024

    static let schema = """
        CREATE TABLE segments (
            author INTEGER NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, data BLOB NOT NULL,
            PRIMARY KEY (author, first_seq));
        CREATE TABLE controls (author INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (author, seq)) WITHOUT ROWID;
        CREATE TABLE unopened (author INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (author, seq)) WITHOUT ROWID;
        """

    // MARK: - Encoding

    /// Appends one record to a segment blob (the merge's hot path: one resize, then stores).
    static func append(
        to blob: inout [UInt8], stored: ArraySlice<UInt8>, opened: Bool, amount: Int64?, label: String?,
        cumCredit: Int64?, cumDebit: Int64?
    ) {
        var label = label
        let labelLength = min(label?.utf8.count ?? 0, Int(UInt16.max))
        var totals: (Int64, Int64)?
        if let cumCredit, let cumDebit { totals = (cumCredit, cumDebit) }
        var flags: UInt8 = opened ? 1 : 0
        if amount != nil { flags |= 2 }
        if totals != nil { flags |= 4 }
        if label != nil { flags |= 8 }
        let size =
            4 + stored.count + 1 + (amount != nil ? 8 : 0) + (totals != nil ? 16 : 0)
            + (label != nil ? 2 + labelLength : 0)
        let start = blob.count
        blob.append(contentsOf: repeatElement(0, count: size))
        blob.withUnsafeMutableBytes { out in
            var cursor = RawCursor(out, at: start)
            cursor.put(UInt32(stored.count))
            stored.withUnsafeBytes { cursor.put($0) }
            cursor.put(flags)
            if let amount { cursor.put(amount) }
            if let totals {
                cursor.put(totals.0)
                cursor.put(totals.1)
            }
            if label != nil {
                cursor.put(UInt16(labelLength))
                label?.withUTF8 {
                    cursor.put(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[0..<labelLength]))
                }
            }
        }
    }

    static func append(to blob: inout [UInt8], _ row: StoredRow) {
        append(
            to: &blob, stored: row.stored, opened: row.opened, amount: row.amount, label: row.label,
            cumCredit: row.cumCredit, cumDebit: row.cumDebit)
    }

    /// The records of a segment blob, in seq order.
    static func decode(_ blob: [UInt8]) throws(LedgerError) -> [StoredRow] {
        var rows: [StoredRow] = []
        var offset = 0
        let corrupt = LedgerError.database("a log segment in the ledger database is damaged")
        func integer<T: FixedWidthInteger>(_: T.Type) throws(LedgerError) -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= blob.count else { throw corrupt }
            defer { offset += size }
            return blob.withUnsafeBytes { T(bigEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        while offset < blob.count {
            let length = Int(try integer(UInt32.self))
            guard length >= Entry.fixedLength - Entry.storedFormOffset, offset + length < blob.count else {
                throw corrupt
            }
            let stored = blob[offset..<offset + length]
            offset += length
            let flags = try integer(UInt8.self)
            let amount = flags & 2 != 0 ? try integer(Int64.self) : nil
            var totals: (Int64?, Int64?) = (nil, nil)
            if flags & 4 != 0 { totals = (try integer(Int64.self), try integer(Int64.self)) }
            var label: String?
            if flags & 8 != 0 {
                let count = Int(try integer(UInt16.self))
                guard offset + count <= blob.count else { throw corrupt }
                label = String(decoding: blob[offset..<offset + count], as: UTF8.self)
                offset += count
            }
            rows.append(
                StoredRow(
                    stored: stored, opened: flags & 1 != 0, amount: amount, label: label, cumCredit: totals.0,
                    cumDebit: totals.1))
        }
        return rows
    }

    // MARK: - Reading

    /// A segment as read from the database.
    struct Segment {
        let firstSeq: Seq
        let rows: [StoredRow]
        var lastSeq: Seq { firstSeq + Seq(rows.count) - 1 }
        /// The row at `seq`, if this segment holds it.
        func row(_ seq: Seq) -> StoredRow? {
            guard seq >= firstSeq, seq <= lastSeq else { return nil }
            return rows[Int(seq - firstSeq)]
        }
    }

    private static func segment(_ row: Row) throws -> Segment {
        let segment = Segment(firstSeq: Seq(row["first_seq"] as Int64), rows: try decode((row["data"] as Data).bytes))
        guard !segment.rows.isEmpty, segment.lastSeq == Seq(row["last_seq"] as Int64),
            segment.rows.first?.seq == segment.firstSeq
        else {
            throw LedgerError.database("a log segment in the ledger database is damaged")
        }
        return segment
    }

    /// The segment of `author`'s log holding `seq`, if any.
    static func segment(_ db: Database, author: Int64, containing seq: Seq) throws -> Segment? {
        guard seq >= 1, seq <= UInt64(Int64.max) else { return nil }
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT first_seq, last_seq, data FROM segments
                        WHERE author = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1
                        """), arguments: [author, Int64(seq)])
        else { return nil }
        let found = try segment(row)
        return found.lastSeq >= seq ? found : nil
    }

    /// The entry at `seq` of `author`'s log.
    static func row(_ db: Database, author: Int64, seq: Seq) throws -> StoredRow? {
        try segment(db, author: author, containing: seq)?.row(seq)
    }

    /// The newest entry of `author`'s log.
    static func last(_ db: Database, author: Int64) throws -> StoredRow? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: "SELECT first_seq, last_seq, data FROM segments WHERE author = ? ORDER BY first_seq DESC LIMIT 1",
                arguments: [author])
        else { return nil }
        return try segment(row).rows.last
    }

    /// Entries `from...through` of `author`'s log, oldest first, a segment at a time; `body`
    /// returns false to stop.
    static func forEach(
        _ db: Database, author: Int64, from: Seq, through: Seq = Seq(Int64.max), _ body: (StoredRow) throws -> Bool
    ) throws {
        guard from <= through else { return }
        var next = from
        // Starting at the segment that holds `from`, then each following one.
        if let first = try segment(db, author: author, containing: from) {
            for row in first.rows[Int(from - first.firstSeq)...] where row.seq <= through {
                guard try body(row) else { return }
            }
            next = first.lastSeq + 1
        }
        guard next <= through else { return }
        let cursor = try Row.fetchCursor(
            db,
            sql: """
                SELECT first_seq, last_seq, data FROM segments
                WHERE author = ? AND first_seq >= ? AND first_seq <= ? ORDER BY first_seq
                """, arguments: [author, Int64(next), Int64(through)])
        while let raw = try cursor.next() {
            for row in try segment(raw).rows where row.seq <= through {
                guard try body(row) else { return }
            }
        }
    }

    /// Reads one device's log backwards from a seq, one segment at a time (for the history,
    /// which merges the newest entries of every device).
    struct BackwardReader {
        let author: Int64
        private var rows: [StoredRow] = []
        private var index = -1
        /// The first seq of the segment read last: the next one ends just before it.
        private var nextThrough: Seq

        init(author: Int64, through: Seq) {
            self.author = author
            nextThrough = through
        }

        /// The next older entry, or nil at the start of the log.
        mutating func next(_ db: Database) throws -> StoredRow? {
            while index < 0 {
                guard nextThrough >= 1,
                    let segment = try LogSegments.segment(db, author: author, containing: nextThrough)
                else { return nil }
                rows = Array(segment.rows[...Int(nextThrough - segment.firstSeq)])
                index = rows.count - 1
                nextThrough = segment.firstSeq - 1
            }
            defer { index -= 1 }
            return rows[index]
        }
    }

    // MARK: - Writing

    /// Appends `count` entries that extend `author`'s log, the first at `firstSeq` (the entry
    /// after its head); `write(i, &blob)` appends the i-th record. A small last segment is
    /// filled first, then new segments of at most `maxEntries` are written.
    static func append(
        _ db: Database, author: Int64, firstSeq: Seq, count: Int, write: (Int, inout [UInt8]) -> Void
    ) throws {
        guard count > 0 else { return }
        // The segment being filled: the newest one while it is small, else a new one.
        var first = firstSeq
        var held = 0
        var blob: [UInt8] = []
        if firstSeq > 1,
            let last = try Row.fetchOne(
                db,
                sql: """
                    SELECT first_seq, last_seq, data FROM segments
                    WHERE author = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1
                    """, arguments: [author, Int64(firstSeq - 1)]),
            Seq(last["last_seq"] as Int64) == firstSeq - 1
        {
            let data = last["data"] as Data
            let lastFirst = Seq(last["first_seq"] as Int64)
            if Int(firstSeq - lastFirst) < maxEntries, data.count < growBelowBytes {
                (first, held, blob) = (lastFirst, Int(firstSeq - lastFirst), data.bytes)
            }
        }
        let insert = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO segments (author, first_seq, last_seq, data) VALUES (?, ?, ?, ?)")
        blob.reserveCapacity(blob.count + min(count, maxEntries - held) * 256)
        for i in 0..<count {
            write(i, &blob)
            held += 1
            if held == maxEntries || i == count - 1 {
                try insert.execute(arguments: [author, Int64(first), Int64(first + Seq(held) - 1), Data(blob)])
                first += Seq(held)
                held = 0
                blob = []
                blob.reserveCapacity(min(count - i - 1, maxEntries) * 256)
            }
        }
    }

    /// Rewrites `author`'s log from `from` on through `transform`, which may change what the
    /// merge learnt about each entry (never its stored form).
    static func modify(_ db: Database, author: Int64, from: Seq, _ transform: (inout StoredRow) throws -> Void) throws {
        var segments: [Segment] = []
        if let first = try segment(db, author: author, containing: from) { segments.append(first) }
        let cursor = try Row.fetchCursor(
            db,
            sql: "SELECT first_seq, last_seq, data FROM segments WHERE author = ? AND first_seq > ? ORDER BY first_seq",
            arguments: [author, Int64(from)])
        while let raw = try cursor.next() { segments.append(try segment(raw)) }
        let update = try db.cachedStatement(sql: "UPDATE segments SET data = ? WHERE author = ? AND first_seq = ?")
        for segment in segments {
            var blob: [UInt8] = []
            for var row in segment.rows {
                if row.seq >= from { try transform(&row) }
                append(to: &blob, row)
            }
            try update.execute(arguments: [Data(blob), author, Int64(segment.firstSeq)])
        }
    }

    /// Removes `author`'s entries from `seq` on (a fork cut the log there).
    static func truncate(_ db: Database, author: Int64, from seq: Seq) throws {
        if let cut = try segment(db, author: author, containing: seq), cut.firstSeq < seq {
            var blob: [UInt8] = []
            for row in cut.rows where row.seq < seq { append(to: &blob, row) }
            try db.execute(
                sql: "UPDATE segments SET data = ?, last_seq = ? WHERE author = ? AND first_seq = ?",
                arguments: [Data(blob), Int64(seq - 1), author, Int64(cut.firstSeq)])
        }
        for table in [
            "segments WHERE author = ? AND first_seq", "controls WHERE author = ? AND seq",
            "unopened WHERE author = ? AND seq",
        ] {
            try db.execute(sql: "DELETE FROM \(table) >= ?", arguments: [author, Int64(seq)])
        }
    }

    /// Entries stored in every log.
    static func count(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM segments") ?? 0
    }

    /// Bytes of one log's segments.
    static func bytes(_ db: Database, author: Int64) throws -> Int {
        try Int.fetchOne(
            db, sql: "SELECT COALESCE(SUM(length(data)), 0) FROM segments WHERE author = ?", arguments: [author]) ?? 0
    }

    /// Every segment of every log, by author row id and first seq.
    static func cursor(_ db: Database) throws -> RowCursor {
        try Row.fetchCursor(
            db, sql: "SELECT author, first_seq, last_seq, data FROM segments ORDER BY author, first_seq")
    }

    // MARK: - Schema 1

    /// Moves a schema-1 database (one row per entry) into segments, in the caller's transaction.
    static func migrateFromRows(_ db: Database) throws {
        try db.execute(sql: schema)
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT author, seq, kind, body, opened, amount, label, cum_credit, cum_debit
                FROM entries ORDER BY author, seq
                """)
        var pending: (author: Int64, first: Seq, rows: [StoredRow])?
        func flush() throws {
            if let pending {
                try append(db, author: pending.author, firstSeq: pending.first, count: pending.rows.count) { i, blob in
                    append(to: &blob, pending.rows[i])
                }
            }
            pending = nil
        }
        while let row = try rows.next() {
            let author: Int64 = row["author"]
            let seq = Seq(row["seq"] as Int64)
            if let current = pending, current.author != author || current.rows.count >= 4096 { try flush() }
            if pending == nil { pending = (author, seq, []) }
            pending?.rows.append(
                StoredRow(
                    stored: (row["body"] as Data).bytes[...], opened: row["opened"], amount: row["amount"],
                    label: row["label"], cumCredit: row["cum_credit"], cumDebit: row["cum_debit"]))
            let kind: Int64 = row["kind"]
            if kind <= 3 {
                try db.execute(
                    sql: "INSERT INTO controls (author, seq) VALUES (?, ?)", arguments: [author, Int64(seq)])
            }
            if !(row["opened"] as Bool) {
                try db.execute(
                    sql: "INSERT INTO unopened (author, seq) VALUES (?, ?)", arguments: [author, Int64(seq)])
            }
        }
        try flush()
        try db.execute(sql: "DROP TABLE entries")
    }
}

extension LogSegments {
    /// The entries a stored segment blob holds, as `MergeEngine` reads them back (the fuzz
    /// target for this decoder).
    package static func entries(in blob: [UInt8], identity: IdentityID, author: DevicePublicKey) throws -> [Entry] {
        try decode(blob).map { try $0.entry(identity: identity, author: author) }
    }
}
