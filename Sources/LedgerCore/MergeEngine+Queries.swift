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
    /// For a credit or debit that was corrected: what counts now. For a correction: how it
    /// stands and what it corrects.
    public var note: CorrectionNote? = nil

    /// What this entry adds to the totals: a credit's or debit's amount as corrected (0 when
    /// void), nil for a correction (its effect is on the entry it corrects) or when unreadable.
    public var countedAmount: Int64? {
        switch note {
        case .corrected(let effect): effect.amount
        case .correction: nil
        case nil: kind.isRecord ? amount : nil
        }
    }

    /// The short id `history` shows (the first 16 hex digits of the hash).
    public var id: String { String(hash.hex.prefix(16)) }
    public var ref: EntryRef { EntryRef(author: author, seq: seq, hash: hash) }
}

/// What a correction changed, on the history row it concerns.
public enum CorrectionNote: Sendable, Equatable {
    /// On a credit or debit: the amount and memo it counts with now (0: void).
    case corrected(Corrections.Effect)
    /// On a correction: how it stands, what it names, and the credit or debit it comes down to.
    case correction(state: Corrections.State, target: EntryRef, original: EntryHash?)

    /// The note for the entry `hash` of `kind`, if corrections concern it.
    static func of(_ hash: EntryHash, kind: EntryKind, in corrections: Corrections) -> CorrectionNote? {
        if kind == .correction, let item = corrections.items[hash] {
            return .correction(
                state: corrections.states[hash] ?? .waiting, target: item.target, original: corrections.roots[hash])
        }
        return corrections.effects[hash].map(CorrectionNote.corrected)
    }
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
    /// A recovery key (docs/PROTOCOL.md, "Recovery keys"), not a device.
    public var isRecovery = false
    /// The settlement of its fork that applies, if any.
    public var settlement: Settlement?

    /// "active", "revoked" or "forked".
    public var state: String { forkSeq != nil ? "forked" : boundary != nil ? "revoked" : "active" }
}

/// One change to who may write (`MergeEngine.deviceLog()`).
public struct DeviceEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case created, linked, revoked, forked, quarantined
    }
    /// Author time of the entry that made the change (ms); for a fork, the later of the two
    /// entries; `Int64.max` for quarantined entries (a state, listed last).
    public var time: Int64
    public var kind: Kind
    /// Who made the change (for a fork or quarantined entries: the device itself).
    public var by: DevicePublicKey
    /// The device (or recovery key) changed.
    public var device: DevicePublicKey
    /// A revoke's boundary, a fork's seq, or the first quarantined seq.
    public var seq: Seq?
    /// How many keys a revoke sealed the new data key to.
    public var rotatedTo: Int?
    /// How many entries are quarantined.
    public var count: Int?
    public var isRecovery = false

    init(time: Int64, kind: Kind, by: DevicePublicKey, device: DevicePublicKey) {
        (self.time, self.kind, self.by, self.device) = (time, kind, by, device)
    }
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
        guard let limit = cache.roster.limit(of: author), let state = cache.authors[author] else { return 0 }
        return min(state.seq, limit)
    }

    /// The current roster.
    public func currentRoster() throws(LedgerError) -> Roster {
        try refresh()
        return cache.roster
    }

    /// Credits, debits and balance over every counted entry.
    public func totals() throws(LedgerError) -> Totals {
        try refresh()
        if let cachedTotals { return cachedTotals }
        var totals = Totals()
        for (author, state) in cache.authors {
            let seq = effectiveSeq(author)
            guard seq > 0 else { continue }
            if seq == state.seq, let c = state.cumCredit, let d = state.cumDebit {
                totals.credits += Int128(c)
                totals.debits += Int128(d)
                continue
            }
            try store.read { db in
                let authorID = try authorRowID(db, author)
                if let row = try LogSegments.row(db, author: authorID, seq: seq), let c = row.cumCredit,
                    let d = row.cumDebit
                {
                    totals.credits += Int128(c)
                    totals.debits += Int128(d)
                    return
                }
                // Some entry could not be read: add up what can be, and count the rest.
                try LogSegments.forEach(db, author: authorID, from: 1, through: seq) { row in
                    guard row.kind == .credit || row.kind == .debit else { return true }
                    guard let amount = row.amount else {
                        totals.unreadable += 1
                        return true
                    }
                    if row.kind == .credit {
                        totals.credits += Int128(amount)
                    } else {
                        totals.debits += Int128(amount)
                    }
                    return true
                }
            }
        }
        let adjustment = try corrections().adjustment
        totals.credits += adjustment.credits
        totals.debits += adjustment.debits
        totals.unreadable += adjustment.unreadable
        cachedTotals = totals
        return totals
    }

    /// The counted corrections, resolved (`Corrections`): which amount each corrected credit or
    /// debit counts with, and how each correction stands.
    public func corrections() throws(LedgerError) -> Corrections {
        try refresh()
        if let cachedCorrections { return cachedCorrections }
        let resolved = try store.read { db in
            let items = try LedgerStore.Corrections.all(db) { try authorKey($0) }
                .filter { $0.item.ref.seq <= effectiveSeq($0.item.ref.author) }.map(\.item)
            guard !items.isEmpty else { return Corrections.none }
            return try Corrections(items) { target in
                guard target.seq <= effectiveSeq(target.author), let authorID = cache.authorIDs[target.author],
                    let row = try LogSegments.row(db, author: authorID, seq: target.seq)
                else { return .absent }
                guard row.kind.isRecord, try row.entry(identity: identity, author: target.author).hash == target.hash
                else { return .unusable }
                return .original(
                    Corrections.Original(
                        ref: target, kind: row.kind, time: row.time, amount: row.amount, memo: row.label))
            }
        }
        cachedCorrections = resolved
        return resolved
    }

    /// The vector clock with heads and its digest, over counted entries.
    public func clock() throws(LedgerError) -> VectorClock {
        try refresh()
        var list: [ClockEntry] = []
        for author in Set(cache.authors.keys).union(cache.forkSeqs.keys) where cache.roster.limit(of: author) != nil {
            let seq = effectiveSeq(author)
            let fork = cache.forkSeqs[author] ?? 0
            guard seq > 0 || fork > 0 else { continue }
            let head: EntryHash
            if seq == 0 {
                head = .zero
            } else if let state = cache.authors[author], state.seq == seq {
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
        let roster = cache.roster
        let ordered = mine.entries.sorted { roster.precedes($0.author, $1.author) }
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
                    plan.extra += try LedgerStore.Forks.proofs(db, author: entry.author)
                }
            }
            return plan
        }
    }

    /// Which of `entries` this replica already holds, in its logs, waiting, or kept as a fork's
    /// proof or branch: per device, a read of its log over each stretch of seqs named, one of its
    /// waiting entries, and a look-up per entry only for a device with proofs or branches kept.
    /// (A store asks this instead of keeping every hash it stored.)
    public func holds(_ entries: [Entry]) throws(LedgerError) -> Set<EntryHash> {
        try refresh()
        return try store.read { db in
            var held = Set<EntryHash>()
            // A push is a log at a time: each author's entries are gathered a stretch at a time,
            // and seqs already in increasing order are taken as they are.
            var byAuthor: [DevicePublicKey: [Entry]] = [:]
            let stretches = Entry.authorStretches(entries)
            for stretch in stretches {
                let author = entries[stretch.lowerBound].author
                if stretches.count == 1 {
                    byAuthor[author] = entries
                } else {
                    byAuthor[author, default: []] += entries[stretch]
                }
            }
            for (author, list) in byAuthor {
                let seqs = list.seqsIncrease ? list.map(\.seq) : Set(list.map(\.seq)).sorted()
                guard let low = seqs.first, let high = seqs.last else { continue }
                var logged: [Seq: ArraySlice<UInt8>] = [:]
                if let authorID = cache.authorIDs[author] {
                    // Each stretch of consecutive seqs named is read on its own: seqs far apart
                    // never make this read the log between them.
                    var start = 0
                    for index in seqs.indices where index + 1 == seqs.count || seqs[index + 1] != seqs[index] + 1 {
                        try LogSegments.forEach(db, author: authorID, from: seqs[start], through: seqs[index]) { row in
                            logged[row.seq] = row.stored
                            return true
                        }
                        start = index + 1
                    }
                }
                let waiting = try LedgerStore.Held.hashes(db, author: author, seqs: low...high)
                let kept = try LedgerStore.Forks.any(db, author: author) || LedgerStore.Branches.any(db, author: author)
                // Nothing stored at these seqs, waiting or kept: none of them is held (a push
                // of new entries, nearly always), and none is looked up.
                if logged.isEmpty, waiting.isEmpty, !kept { continue }
                for entry in list {
                    if let stored = logged[entry.seq], stored.elementsEqual(entry.storedForm) {
                        held.insert(entry.hash)
                    } else if waiting.contains(entry.hash) {
                        held.insert(entry.hash)
                    } else if kept, try LedgerStore.Forks.isProof(db, entry) || LedgerStore.Branches.contains(db, entry)
                    {
                        held.insert(entry.hash)
                    }
                }
            }
            return held
        }
    }

    /// Stored entries `from...through` of `author`'s log, in seq order.
    public func entries(of author: DevicePublicKey, from: Seq, through: Seq) throws(LedgerError) -> [Entry] {
        try store.read { db in try entries(db, author: author, from: from, through: through) }
    }

    private func entries(_ db: Database, author: DevicePublicKey, from: Seq, through: Seq) throws -> [Entry] {
        var rows: [StoredRow] = []
        try LogSegments.forEach(db, author: try authorRowID(db, author), from: max(1, from), through: through) { row in
            rows.append(row)
            return true
        }
        return try StoredRow.entries(rows, identity: identity, author: author)
    }

    /// Counted credits and debits, newest first: the devices' logs are merged by author time,
    /// newest first, ties broken by device key then seq. Each log is read backwards along its
    /// primary key, so the first page costs the same with ten entries or ten million.
    public func history(limit: Int, offset: Int = 0) throws(LedgerError) -> [HistoryItem] {
        try refresh()
        let logs = cache.authors.keys.map { ($0, effectiveSeq($0)) }.filter { $0.1 > 0 }
        let corrections = try corrections()
        return try store.read { db in
            // Each log read backwards, a segment at a time; the head of each is its newest
            // credit or debit not yet taken.
            var cursors: [(author: DevicePublicKey, reader: LogSegments.BackwardReader, head: StoredRow?)] = []
            func nextRecord(_ reader: inout LogSegments.BackwardReader) throws -> StoredRow? {
                while let row = try reader.next(db) {
                    if row.kind.isRecord || row.kind == .correction { return row }
                }
                return nil
            }
            for (author, seq) in logs {
                var reader = LogSegments.BackwardReader(author: try authorRowID(db, author), through: seq)
                let head = try nextRecord(&reader)
                cursors.append((author, reader, head))
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
                    let (t, bt) = (row.time, current.time)
                    if t > bt || (t == bt && cursors[i].author > cursors[b].author) { best = i }
                }
                guard let b = best, let row = cursors[b].head else { break }
                cursors[b].head = try nextRecord(&cursors[b].reader)
                guard skipped >= offset else {
                    skipped += 1
                    continue
                }
                out.append(try historyItem(row, author: cursors[b].author, corrections))
            }
            return out
        }
    }

    private func historyItem(_ row: StoredRow, author: DevicePublicKey, _ corrections: Corrections) throws
        -> HistoryItem
    {
        let hash = try row.entry(identity: identity, author: author).hash
        return HistoryItem(
            author: author, seq: row.seq, hash: hash, kind: row.kind, time: row.time, amount: row.amount,
            memo: row.label, note: CorrectionNote.of(hash, kind: row.kind, in: corrections))
    }

    /// Entries stored past their author's revocation: written after (or concurrently with) the
    /// revoke, kept as evidence and never counted. Oldest first per device.
    public func quarantined() throws(LedgerError) -> [HistoryItem] {
        try refresh()
        let cut = cache.authors.compactMap { author, state -> (DevicePublicKey, Seq, Seq)? in
            guard let limit = cache.roster.limit(of: author), state.seq > limit else { return nil }
            return (author, limit, state.seq)
        }.sorted { $0.0 < $1.0 }
        return try store.read { db in
            var out: [HistoryItem] = []
            for (author, limit, last) in cut {
                try LogSegments.forEach(db, author: try authorRowID(db, author), from: limit + 1, through: last) {
                    row in
                    out.append(try historyItem(row, author: author, .none))
                    return true
                }
            }
            return out
        }
    }

    /// Every device that is or was linked, genesis first.
    public func devices() throws(LedgerError) -> [DeviceInfo] {
        try refresh()
        let list = cache.roster.devices.values.sorted { $0.rank.lexicographicallyPrecedes($1.rank) }
        return try store.read { db in
            try list.map { d in
                let seq = effectiveSeq(d.key)
                let lastSeen =
                    seq == 0
                    ? nil
                    : try LogSegments.row(db, author: try authorRowID(db, d.key), seq: seq)?.time
                return DeviceInfo(
                    key: d.key, name: d.name, isThisDevice: d.key == device, linkedBy: d.linkedBy, linkedAt: d.linkedAt,
                    boundary: d.boundary, revokedBy: d.revokedBy, forkSeq: cache.forkSeqs[d.key], entries: seq,
                    lastSeen: lastSeen, quarantined: (cache.authors[d.key]?.seq ?? 0) - seq, isRecovery: d.isRecovery,
                    settlement: settlement(of: d.key))
            }
        }
    }

    /// Every change to who may write, in the order written (author time, then author and seq):
    /// the identity made, devices and recovery keys linked, revocations with their boundary and
    /// how many keys the new data key was sealed to, forks proven (when the later of the two
    /// entries was written), and entries quarantined after a revocation.
    public func deviceLog() throws(LedgerError) -> [DeviceEvent] {
        try refresh()
        let roster = cache.roster
        var events: [DeviceEvent] = []
        for record in roster.effective {
            switch record.body {
            case .genesis:
                events.append(DeviceEvent(time: record.time, kind: .created, by: record.author, device: record.author))
            case .link(let device, _, _, _):
                var event = DeviceEvent(time: record.time, kind: .linked, by: record.author, device: device)
                event.isRecovery = roster.devices[device]?.isRecovery ?? false
                events.append(event)
            case .revoke(let device, let boundary, let keyrings):
                var event = DeviceEvent(time: record.time, kind: .revoked, by: record.author, device: device)
                event.seq = boundary
                event.rotatedTo = keyrings.count
                event.isRecovery = roster.devices[device]?.isRecovery ?? false
                events.append(event)
            case .record, .settle:
                break
            }
        }
        try store.read { db in
            for (author, seq) in cache.forkSeqs {
                let proof = try LedgerStore.Forks.proofs(db, author: author).filter { $0.seq == seq }
                var event = DeviceEvent(
                    time: proof.map(\.time).max() ?? 0, kind: .forked, by: author, device: author)
                event.seq = seq
                events.append(event)
            }
        }
        for device in roster.devices.values {
            guard let boundary = device.boundary, let held = cache.authors[device.key]?.seq, held > boundary else {
                continue
            }
            var event = DeviceEvent(time: Int64.max, kind: .quarantined, by: device.key, device: device.key)
            event.seq = boundary + 1
            event.count = Int(clamping: held - boundary)
            events.append(event)
        }
        return events.sorted { ($0.time, $0.by, $0.seq ?? 0) < ($1.time, $1.by, $1.seq ?? 0) }
    }

    /// Devices this replica holds proof of a fork for (two signed entries at one seq), with
    /// the lowest forked seq.
    public func provenForks() throws(LedgerError) -> [DevicePublicKey: Seq] {
        try refresh()
        return cache.forkSeqs
    }

    /// Counts for `status`.
    public func status() throws(LedgerError) -> LedgerStatus {
        try refresh()
        let stored = cache.authors.values.reduce(0) { $0 + Int($1.seq) }
        let counted = cache.authors.keys.reduce(0) { $0 + Int(effectiveSeq($1)) }
        let forkRows = try store.read { db in try LedgerStore.Forks.count(db) }
        return LedgerStatus(
            entries: counted, held: cache.heldCount, uncounted: stored - counted, forks: forkRows,
            devices: cache.roster.devices.values.filter { $0.boundary == nil }.count)
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
            // A segment's entries take their hashes from their successors' links (checked when
            // they were merged): an export of 100,000 hashed each one again.
            let segments = try LogSegments.cursor(db)
            while let segment = try segments.next() {
                let author = try authorKey(segment["author"])
                let rows = try LogSegments.decode((segment["data"] as Data).bytes)
                for entry in try StoredRow.entries(rows, identity: identity, author: author) { body(.log, entry) }
            }
            for (place, cursor) in [
                (StoredEntryPlace.fork, try LedgerStore.Forks.cursor(db)), (.held, try LedgerStore.Held.cursor(db)),
            ] {
                while let row = try cursor.next() { body(place, try Entry(decoding: (row["raw"] as Data).bytes)) }
            }
        }
    }

    /// Calls `body` with every entry of every log, by author (in the order devices were first
    /// stored) and seq, a segment at a time.
    private func forEachLogEntry(_ db: Database, _ body: (DevicePublicKey, StoredRow) throws -> Void) throws {
        let segments = try LogSegments.cursor(db)
        while let segment = try segments.next() {
            let author = try authorKey(segment["author"])
            for row in try LogSegments.decode((segment["data"] as Data).bytes) { try body(author, row) }
        }
    }

    /// Writes the export (docs/PROTOCOL.md, "Export") to `handle` entry by entry, in constant
    /// memory however large the ledger.
    /// `storeHeads` are the store heads this device kept (JSON objects), carried so a device
    /// that imports the file compares them with its own (docs/PROTOCOL.md, "Store heads").
    public func writeExport(json: Bool, storeHeads: [JSONValue] = [], to handle: FileHandle) throws(LedgerError) {
        var buffer = ""
        func write(_ text: String) {
            buffer += text
            if buffer.utf8.count > 1 << 16 {
                handle.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        if json {
            let frame = ExportDocument.jsonFrame(identity: identity, device: device, storeHeads: storeHeads)
            write(frame.head)
            var first = true
            try forEachStoredEntry { place, entry in
                write((first ? "" : ",\n") + ExportDocument.jsonItem(entry, place: place))
                first = false
            }
            write((first ? "" : "\n") + frame.tail + "\n")
        } else {
            write(ExportDocument.textHeader + "\n")
            for head in storeHeads { write(ExportDocument.storeHeadPrefix + head.text + "\n") }
            try forEachStoredEntry { _, entry in write(Hex.encode(entry.encoded) + "\n") }
        }
        handle.write(Data(buffer.utf8))
    }

    /// How many entries are stored (logs, fork proofs and held entries).
    public func storedEntryCount() throws(LedgerError) -> Int {
        try store.read { db in
            try LogSegments.count(db) + LedgerStore.Forks.count(db) + LedgerStore.Held.size(db).count
        }
    }

    /// Re-checks every stored entry from scratch: structure, every signature, every hash link,
    /// the rules of each kind, and the stored totals. Returns one line per problem.
    public func verifyAll() throws(LedgerError) -> [String] {
        try refresh()
        var problems = try store.quickCheck().map { "database: \($0)" }
        try store.read { db in
            var previous: (author: DevicePublicKey, seq: Seq, hash: EntryHash)?
            var totals = RunningTotals.zero
            try forEachLogEntry(db) { author, row in
                let entry: Entry
                do {
                    entry = try row.entry(identity: identity, author: author)
                } catch {
                    problems.append("an entry does not parse: \(error)")
                    return
                }
                let at = "\(entry.author.fingerprint) seq \(entry.seq)"
                if previous?.author != entry.author { totals = .zero }
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
                    try EntryRules.check(entry, identity: identity, root: root)
                    // An entry whose author sealed what the key does not open is counted and
                    // shown as unreadable on every replica: not a fault of this file.
                    if row.opened, let keyID = BodySeal.keyID(of: entry), let key = cache.keys[keyID] {
                        let amount = Self.columns(of: try BodySeal.open(entry, key: key)).amount
                        if amount != row.amount { problems.append("\(at): stored amount differs from the entry") }
                    }
                } catch {
                    problems.append("\(at): \(error)")
                }
                totals.add(entry.kind, amount: row.amount)
                if row.cumCredit != totals.credit || row.cumDebit != totals.debit {
                    problems.append("\(at): stored running totals are wrong")
                }
                previous = (entry.author, entry.seq, entry.hash)
            }
            // Entries waiting for an earlier one are checked too: nothing counts them yet, but
            // they are stored, and what is stored must be what its author signed.
            let held = try LedgerStore.Held.cursor(db)
            while let row = try held.next() {
                guard let entry = try? Entry(decoding: (row["raw"] as Data).bytes) else {
                    problems.append("an entry waiting for an earlier one does not parse")
                    continue
                }
                let at = "\(entry.author.fingerprint) seq \(entry.seq) (waiting for seq \(entry.seq - 1))"
                if entry.identity != identity { problems.append("\(at): belongs to another identity") }
                if !entry.hasValidSignature { problems.append("\(at): signature does not verify") }
            }
            let forks = try LedgerStore.Forks.cursor(db)
            while let row = try forks.next() {
                guard let entry = try? Entry(decoding: (row["raw"] as Data).bytes), entry.hasValidSignature else {
                    problems.append("a fork proof entry does not verify")
                    continue
                }
            }
        }
        return problems
    }
}
