import Foundation
import GRDB
import LedgerCrypto

/// One credit or debit, as the history shows it.
public struct HistoryItem: Sendable, Equatable {
    public let author: DevicePublicKey
    public let seq: Seq
    public let hash: EntryHash
    public let kind: EntryKind
    public let time: Int64
    /// Minor units; nil when the entry cannot be read yet.
    public let amount: Int64?
    /// The memo (untrusted text: sanitise before showing); nil when unreadable.
    public let memo: String?
}

/// A device of the identity as the device list shows it.
public struct DeviceInfo: Sendable, Equatable {
    public let key: DevicePublicKey
    public let name: String?
    public let isThisDevice: Bool
    public let linkedBy: DevicePublicKey?
    public let linkedAt: Int64
    /// Set when revoked: the last seq it may write, and by whom.
    public let boundary: Seq?
    public let revokedBy: DevicePublicKey?
    /// Set when the device signed two different entries at one seq.
    public let forkSeq: Seq?
    /// Counted entries of this device.
    public let entries: Seq
    /// Author time of its newest counted entry.
    public let lastSeen: Int64?
    /// Entries of this device that are stored but past its revocation (quarantined).
    public let quarantined: Seq

    /// "active", "revoked" or "forked".
    public var state: String { forkSeq != nil ? "forked" : boundary != nil ? "revoked" : "active" }
}

/// Where a stored entry sits.
public enum StoredEntryPlace: String, Sendable {
    /// In its author's log.
    case log
    /// One of two entries that prove a fork.
    case fork
    /// Waiting for an earlier entry.
    case held
}

/// Counts for `status`.
public struct LedgerStatus: Sendable, Equatable {
    public let entries: Int
    public let held: Int
    public let uncounted: Int
    public let forks: Int
    public let devices: Int
}

/// The parts of a delta (see `MergeEngine.deltaPlan(for:)`).
public struct DeltaPlan: Sendable, Equatable {
    /// A stretch of one device's log, in the order to send.
    public struct Run: Sendable, Equatable {
        public let author: DevicePublicKey
        public let from: Seq
        public let through: Seq
    }

    public var runs: [Run] = []
    /// Single entries: a head the peer holds a different version of, proofs of forks.
    public var extra: [Entry] = []

    /// Entries in the runs.
    public var runEntries: Int { runs.reduce(0) { $0 + Int($1.through - $1.from + 1) } }
}

extension MergeEngine {
    /// The highest seq of `author` that counts: its log, cut at its revocation boundary.
    func effectiveSeq(_ author: DevicePublicKey) -> Seq {
        guard let limit = roster.limit(of: author), let state = authors[author] else { return 0 }
        return min(state.seq, limit)
    }

    /// The current roster.
    public func currentRoster() throws(LedgerError) -> Roster {
        try refresh()
        return roster
    }

    /// Credits, debits and balance over every counted entry.
    public func totals() throws(LedgerError) -> Totals {
        try refresh()
        if let cachedTotals { return cachedTotals }
        var totals = Totals()
        for (author, state) in authors {
            let seq = effectiveSeq(author)
            guard seq > 0 else { continue }
            if seq == state.seq, let c = state.cumCredit, let d = state.cumDebit {
                totals.credits += Int128(c)
                totals.debits += Int128(d)
                continue
            }
            try store.read { db in
                let authorData = try authorRowID(db, author)
                if let row = try Row.fetchOne(
                    db, sql: "SELECT cum_credit, cum_debit FROM entries WHERE author = ? AND seq = ?",
                    arguments: [authorData, Int64(seq)]),
                    let c = row["cum_credit"] as Int64?, let d = row["cum_debit"] as Int64?
                {
                    totals.credits += Int128(c)
                    totals.debits += Int128(d)
                    return
                }
                // Some entry could not be read: add up what can be, and count the rest.
                let rows = try Row.fetchCursor(
                    db, sql: "SELECT kind, amount, opened FROM entries WHERE author = ? AND seq <= ? AND kind >= 4",
                    arguments: [authorData, Int64(seq)])
                while let row = try rows.next() {
                    guard let amount = row["amount"] as Int64? else {
                        totals.unreadable += 1
                        continue
                    }
                    if row["kind"] as Int64 == Int64(EntryKind.credit.rawValue) {
                        totals.credits += Int128(amount)
                    } else {
                        totals.debits += Int128(amount)
                    }
                }
            }
        }
        cachedTotals = totals
        return totals
    }

    /// The vector clock with heads and its digest, over counted entries.
    public func clock() throws(LedgerError) -> VectorClock {
        try refresh()
        var list: [ClockEntry] = []
        for author in Set(authors.keys).union(forkSeqs.keys) where roster.limit(of: author) != nil {
            let seq = effectiveSeq(author)
            let fork = forkSeqs[author] ?? 0
            guard seq > 0 || fork > 0 else { continue }
            let head: EntryHash
            if seq == 0 {
                head = .zero
            } else if let state = authors[author], state.seq == seq {
                head = state.head
            } else {
                head = try store.read { db in try storedEntry(db, author: author, seq: seq)?.hash } ?? .zero
            }
            list.append(ClockEntry(author: author, seq: seq, head: head, forkSeq: fork))
        }
        return VectorClock(list)
    }

    /// The entries a replica with clock `peer` lacks: every counted entry above its clock
    /// (starting at its head when the heads differ, so a fork comes to light), and the proof of
    /// any fork it does not know.
    public func delta(for peer: VectorClock) throws(LedgerError) -> [Entry] {
        let plan = try deltaPlan(for: peer)
        var out: [Entry] = []
        for run in plan.runs { out += try entries(of: run.author, from: run.from, through: run.through) }
        return out + plan.extra
    }

    /// What `delta(for:)` would return, as runs of logs to read page by page (so a large delta
    /// streams instead of sitting in memory) and the few single entries to add.
    public func deltaPlan(for peer: VectorClock) throws(LedgerError) -> DeltaPlan {
        let mine = try clock()
        let theirs = Dictionary(uniqueKeysWithValues: peer.entries.map { ($0.author, $0) })
        // Approvers' logs first (the roster's rank order), so a replica that starts empty meets
        // each device's certificate before that device's entries and never has to hold them.
        let devices = roster.devices
        let ordered = mine.entries.sorted { a, b in
            switch (devices[a.author]?.rank, devices[b.author]?.rank) {
            case (let x?, let y?): x != y ? x.lexicographicallyPrecedes(y) : a.author < b.author
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): a.author < b.author
            }
        }
        return try store.read { db in
            var plan = DeltaPlan()
            for entry in ordered {
                let their = theirs[entry.author]
                let theirSeq = their?.seq ?? 0
                if entry.seq > theirSeq {
                    var from = theirSeq + 1
                    if let their, theirSeq > 0,
                        try storedEntry(db, author: entry.author, seq: theirSeq)?.hash != their.head
                    {
                        from = theirSeq
                    }
                    plan.runs.append(DeltaPlan.Run(author: entry.author, from: from, through: entry.seq))
                } else if entry.seq == theirSeq, entry.seq > 0, entry.head != their?.head,
                    let head = try storedEntry(db, author: entry.author, seq: entry.seq)
                {
                    plan.extra.append(head)
                }
                if entry.forkSeq > 0, their?.forkSeq != entry.forkSeq {
                    plan.extra += try Data.fetchAll(
                        db, sql: "SELECT raw FROM forks WHERE author = ? ORDER BY seq, hash",
                        arguments: [Data(entry.author.bytes)]
                    ).map { try Entry(decoding: $0.bytes) }
                }
            }
            return plan
        }
    }

    /// Stored entries `from...through` of `author`'s log, in seq order.
    public func entries(of author: DevicePublicKey, from: Seq, through: Seq) throws(LedgerError) -> [Entry] {
        try store.read { db in try entries(db, author: author, from: from, through: through) }
    }

    private func entries(_ db: Database, author: DevicePublicKey, from: Seq, through: Seq) throws -> [Entry] {
        try Data.fetchAll(
            db, sql: "SELECT body FROM entries WHERE author = ? AND seq BETWEEN ? AND ? ORDER BY seq",
            arguments: [try authorRowID(db, author), Int64(from), Int64(through)]
        ).map { try Entry(stored: $0.bytes, identity: identity, author: author) }
    }

    /// Counted credits and debits, newest first: the devices' logs are merged by author time,
    /// newest first, ties broken by device key then seq. Each log is read backwards along its
    /// primary key, so the first page costs the same with ten entries or ten million.
    public func history(limit: Int, offset: Int = 0) throws(LedgerError) -> [HistoryItem] {
        try refresh()
        let logs = authors.keys.map { ($0, effectiveSeq($0)) }.filter { $0.1 > 0 }
        return try store.read { db in
            var cursors: [(author: DevicePublicKey, rows: RowCursor, head: Row?)] = []
            for (author, seq) in logs {
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT seq, kind, time, amount, label, body FROM entries
                        WHERE author = ? AND seq <= ? AND kind >= 4 ORDER BY seq DESC
                        """,
                    arguments: [try authorRowID(db, author), Int64(seq)])
                cursors.append((author, rows, try rows.next().map { $0.copy() }))
            }
            var out: [HistoryItem] = []
            var skipped = 0
            while out.count < limit {
                var best: Int?
                for i in cursors.indices {
                    guard let row = cursors[i].head else { continue }
                    guard let b = best, let current = cursors[b].head else {
                        best = i
                        continue
                    }
                    let (t, bt) = (row["time"] as Int64, current["time"] as Int64)
                    if t > bt || (t == bt && cursors[i].author > cursors[b].author) { best = i }
                }
                guard let b = best, let row = cursors[b].head else { break }
                cursors[b].head = try cursors[b].rows.next().map { $0.copy() }
                guard skipped >= offset else {
                    skipped += 1
                    continue
                }
                out.append(
                    HistoryItem(
                        author: cursors[b].author, seq: Seq(row["seq"] as Int64),
                        hash: try stored(row, author: cursors[b].author).hash,
                        kind: EntryKind(rawValue: UInt8(row["kind"] as Int64)) ?? .credit, time: row["time"],
                        amount: row["amount"], memo: row["label"]))
            }
            return out
        }
    }

    /// Entries stored past their author's revocation: written after (or concurrently with) the
    /// revoke, kept as evidence and never counted. Oldest first per device.
    public func quarantined() throws(LedgerError) -> [HistoryItem] {
        try refresh()
        let cut = authors.compactMap { author, state -> (DevicePublicKey, Seq, Seq)? in
            guard let limit = roster.limit(of: author), state.seq > limit else { return nil }
            return (author, limit, state.seq)
        }.sorted { $0.0 < $1.0 }
        return try store.read { db in
            try cut.flatMap { author, limit, last in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT seq, kind, time, amount, label, body FROM entries
                        WHERE author = ? AND seq > ? AND seq <= ? ORDER BY seq
                        """,
                    arguments: [try authorRowID(db, author), Int64(limit), Int64(last)]
                ).map { row in
                    HistoryItem(
                        author: author, seq: Seq(row["seq"] as Int64), hash: try stored(row, author: author).hash,
                        kind: EntryKind(rawValue: UInt8(row["kind"] as Int64)) ?? .credit, time: row["time"],
                        amount: row["amount"], memo: row["label"])
                }
            }
        }
    }

    /// Every device that is or was linked, genesis first.
    public func devices() throws(LedgerError) -> [DeviceInfo] {
        try refresh()
        let list = roster.devices.values.sorted { $0.rank.lexicographicallyPrecedes($1.rank) }
        return try store.read { db in
            try list.map { d in
                let seq = effectiveSeq(d.key)
                let lastSeen =
                    seq == 0
                    ? nil
                    : try Int64.fetchOne(
                        db, sql: "SELECT time FROM entries WHERE author = ? AND seq = ?",
                        arguments: [try authorRowID(db, d.key), Int64(seq)])
                return DeviceInfo(
                    key: d.key, name: d.name, isThisDevice: d.key == device, linkedBy: d.linkedBy, linkedAt: d.linkedAt,
                    boundary: d.boundary, revokedBy: d.revokedBy, forkSeq: forkSeqs[d.key], entries: seq,
                    lastSeen: lastSeen, quarantined: (authors[d.key]?.seq ?? 0) - seq)
            }
        }
    }

    /// Counts for `status`.
    public func status() throws(LedgerError) -> LedgerStatus {
        try refresh()
        let stored = authors.values.reduce(0) { $0 + Int($1.seq) }
        let counted = authors.keys.reduce(0) { $0 + Int(effectiveSeq($1)) }
        let forkRows = try store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM forks") ?? 0 }
        return LedgerStatus(
            entries: counted, held: heldCount, uncounted: stored - counted, forks: forkRows,
            devices: roster.devices.values.filter { $0.boundary == nil }.count)
    }

    /// Every stored entry, logs first (by author and seq), then fork proofs, then held entries.
    public func storedEntries() throws(LedgerError) -> [(place: StoredEntryPlace, entry: Entry)] {
        var out: [(StoredEntryPlace, Entry)] = []
        try forEachStoredEntry { out.append(($0, $1)) }
        return out
    }

    /// Calls `body` with every stored entry in `storedEntries()` order, one at a time, so a
    /// ledger of millions of entries can be written out in constant memory.
    public func forEachStoredEntry(_ body: (StoredEntryPlace, Entry) -> Void) throws(LedgerError) {
        try refresh()
        try store.read { db in
            for (place, sql) in [
                (StoredEntryPlace.log, "SELECT author, body AS raw FROM entries ORDER BY author, seq"),
                (.fork, "SELECT author, raw FROM forks ORDER BY author, seq, hash"),
                (.held, "SELECT author, raw FROM held ORDER BY author, seq"),
            ] {
                let cursor = try Row.fetchCursor(db, sql: sql)
                while let row = try cursor.next() {
                    let raw = (row["raw"] as Data).bytes
                    let entry =
                        place == .log
                        ? try Entry(stored: raw, identity: identity, author: try authorKey(row))
                        : try Entry(decoding: raw)
                    body(place, entry)
                }
            }
        }
    }

    /// Writes the export (docs/PROTOCOL.md, "Export") to `handle` entry by entry, in constant
    /// memory however large the ledger.
    public func writeExport(json: Bool, to handle: FileHandle) throws(LedgerError) {
        var buffer = ""
        func write(_ text: String) {
            buffer += text
            if buffer.utf8.count > 1 << 16 {
                handle.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        if json {
            let frame = ExportDocument.jsonFrame(identity: identity, device: device)
            write(frame.head)
            var first = true
            try forEachStoredEntry { place, entry in
                write((first ? "" : ",\n") + ExportDocument.jsonItem(entry, place: place))
                first = false
            }
            write((first ? "" : "\n") + frame.tail + "\n")
        } else {
            write(ExportDocument.textHeader + "\n")
            try forEachStoredEntry { _, entry in write(Hex.encode(entry.encoded) + "\n") }
        }
        handle.write(Data(buffer.utf8))
    }

    /// How many entries are stored (logs, fork proofs and held entries).
    public func storedEntryCount() throws(LedgerError) -> Int {
        try store.read { db in
            try Int.fetchOne(
                db,
                sql:
                    "SELECT (SELECT COUNT(*) FROM entries) + (SELECT COUNT(*) FROM forks) + (SELECT COUNT(*) FROM held)"
            ) ?? 0
        }
    }

    /// Re-checks every stored entry from scratch: structure, every signature, every hash link,
    /// the rules of each kind, and the stored totals. Returns one line per problem.
    public func verifyAll() throws(LedgerError) -> [String] {
        try refresh()
        var problems = try store.quickCheck().map { "database: \($0)" }
        try store.read { db in
            var previous: (author: DevicePublicKey, seq: Seq, hash: EntryHash)?
            var credit: Int64? = 0
            var debit: Int64? = 0
            let rows = try Row.fetchCursor(
                db, sql: "SELECT author, body, amount, cum_credit, cum_debit FROM entries ORDER BY author, seq")
            while let row = try rows.next() {
                let entry: Entry
                do {
                    entry = try stored(row, author: try authorKey(row))
                } catch {
                    problems.append("an entry does not parse: \(error)")
                    continue
                }
                let at = "\(entry.author.fingerprint) seq \(entry.seq)"
                if previous?.author != entry.author { (credit, debit) = (0, 0) }
                let expectedPrev = previous?.author == entry.author ? previous?.hash : nil
                if entry.identity != identity { problems.append("\(at): belongs to another identity") }
                if !entry.hasValidSignature { problems.append("\(at): signature does not verify") }
                if previous?.author == entry.author, entry.seq != (previous?.seq ?? 0) + 1 {
                    problems.append("\(at): gap after seq \(previous?.seq ?? 0)")
                } else if previous?.author != entry.author, entry.seq != 1 {
                    problems.append("\(at): log does not start at seq 1")
                }
                if entry.prev != (expectedPrev ?? .zero) { problems.append("\(at): prev hash does not match") }
                do {
                    let body = try PublicBody(decoding: entry.publicBody, kind: entry.kind)
                    if case .link(let d, let challenge, let proof, _) = body {
                        let message = PublicBody.linkProofMessage(
                            identity: identity, device: d, approver: entry.author, challenge: challenge)
                        if !d.isValidSignature(proof, for: message) {
                            problems.append("\(at): link proof does not verify")
                        }
                    }
                    if let keyID = BodySeal.keyID(of: entry), let key = keys[keyID] {
                        let amount = Self.columns(of: try BodySeal.open(entry, key: key)).amount
                        if amount != row["amount"] { problems.append("\(at): stored amount differs from the entry") }
                    }
                } catch {
                    problems.append("\(at): \(error)")
                }
                if entry.kind == .credit || entry.kind == .debit {
                    if let amount = row["amount"] as Int64?, let c = credit, let d = debit {
                        let (nc, o1) = c.addingReportingOverflow(entry.kind == .credit ? amount : 0)
                        let (nd, o2) = d.addingReportingOverflow(entry.kind == .debit ? amount : 0)
                        (credit, debit) = o1 || o2 ? (nil, nil) : (nc, nd)
                    } else {
                        (credit, debit) = (nil, nil)
                    }
                }
                if row["cum_credit"] as Int64? != credit || row["cum_debit"] as Int64? != debit {
                    problems.append("\(at): stored running totals are wrong")
                }
                previous = (entry.author, entry.seq, entry.hash)
            }
            let forks = try Data.fetchAll(db, sql: "SELECT raw FROM forks")
            for raw in forks {
                guard let entry = try? Entry(decoding: raw.bytes), entry.hasValidSignature else {
                    problems.append("a fork proof entry does not verify")
                    continue
                }
            }
        }
        return problems
    }
}
