import Foundation
import GRDB
import GRDBSQLite
import LedgerCrypto

/// The one merge engine: every entry, local or received, enters the ledger through it.
///
/// The ledger is a grow-only set of signed entries; everything shown (logs, clock, roster,
/// totals) is a deterministic function of that set, so merging is idempotent, commutative and
/// associative. Each merge validates its batch and persists it in one SQLite transaction.
public actor MergeEngine {
    /// Default for `maxHeld`.
    public static let defaultMaxHeld = 100_000
    /// Default for `maxHeldBytes`: 64 MiB.
    public static let defaultMaxHeldBytes = 64 << 20
    /// Most entries kept while waiting for a gap to fill or a certificate to arrive: beyond it,
    /// such entries are refused, so nobody can fill the disk with entries that never count.
    public nonisolated let maxHeld: Int
    /// Most bytes of such entries (their encoded size), for the same reason.
    public nonisolated let maxHeldBytes: Int
    /// False for a replica that can never read sealed parts (a store, which holds no data
    /// key): it keeps no list of entries waiting to be opened, a row per credit and debit.
    public nonisolated let readsBodies: Bool

    public nonisolated let identity: IdentityID
    /// The genesis device of the identity.
    public nonisolated let root: DevicePublicKey
    /// This device.
    public nonisolated let device: DevicePublicKey
    /// The store behind this engine.
    public nonisolated let store: LedgerStore

    let keyPair: SigningKeyPair?
    /// Everything kept in memory about the database (`Cache`).
    var cache: Cache
    /// The newest background checkpoint, chained after any earlier one.
    private var maintenance: Task<Void, Never>?
    /// Checkpoint once the write-ahead log holds this much.
    static let checkpointThreshold = 8 << 20
    var cachedTotals: Totals?
    /// The corrections resolved over the counted entries, until the next change.
    var cachedCorrections: Corrections?
    /// Decimals of the ledger's unit, from the genesis entry once it can be read.
    public var decimals: UInt8? { cache.decimals }

    /// Listeners of `subscribe()`, by id.
    var subscribers: [UInt64: AsyncStream<LedgerEvent>.Continuation] = [:]
    var nextSubscriber: UInt64 = 0

    /// Opens the engine over `store`. `keyPair` is this device's key: needed to append entries
    /// and to open data keys sealed to this device.
    public init(
        store: LedgerStore, keyPair: SigningKeyPair?, maxHeld: Int = defaultMaxHeld,
        maxHeldBytes: Int = defaultMaxHeldBytes, readsBodies: Bool = true
    ) async throws(LedgerError) {
        self.store = store
        self.readsBodies = readsBodies
        self.maxHeld = maxHeld
        self.maxHeldBytes = maxHeldBytes
        self.keyPair = keyPair
        let local = try store.read { db in try LedgerStore.Local.all(db) }
        guard let identityBytes = local["identity"], let rootBytes = local["root"], let deviceBytes = local["device"]
        else { throw .database("the ledger database is missing its identity; it was not changed") }
        do {
            identity = try IdentityID(bytes: identityBytes)
            root = try DevicePublicKey(bytes: rootBytes)
            device = try DevicePublicKey(bytes: deviceBytes)
        } catch {
            throw .database("the ledger database has a malformed identity record")
        }
        if let keyPair, keyPair.publicKey != device {
            throw .invalidState("the device key does not belong to this ledger database")
        }
        cache = Cache(roster: Roster(root: root), decimals: local["decimals"]?.first)
        if store.isReadOnly {
            try store.readOnWriter { db in try reload(db) }
        } else {
            try store.write { db in
                try reload(db)
                try refreshKeys(db)
            }
            scheduleCheckpointIfNeeded()  // a log left large by a process that was killed
        }
    }

    deinit {
        for continuation in subscribers.values { continuation.finish() }
    }

    // MARK: - Maintenance

    /// Starts a checkpoint in the background when the write-ahead log has grown, so a large
    /// merge returns as soon as it is durable rather than after copying it a second time.
    private func scheduleCheckpointIfNeeded() {
        guard store.writeAheadLogSize > Self.checkpointThreshold else { return }
        let previous = maintenance
        let store = self.store
        maintenance = Task.detached(priority: .utility) {
            await previous?.value
            store.checkpoint()
        }
    }

    /// Waits for background maintenance to finish (before a process exits, or in benchmarks).
    public func settle() async {
        await maintenance?.value
        maintenance = nil
    }

    /// Everything this engine keeps in memory about the database, as one value: a transaction
    /// that fails restores it in one assignment, so nothing learnt inside it (a key, a roster,
    /// a count) outlives the rollback.
    struct Cache {
        /// Candidate log of every author: the longest authenticated, hash-linked, valid prefix.
        var authors: [DevicePublicKey: AuthorState] = [:]
        /// Proven forks by author: the lowest forked seq.
        var forkSeqs: [DevicePublicKey: Seq] = [:]
        /// The settlement that counts, by forked device (from the control entries).
        var settlements: [DevicePublicKey: Settlement] = [:]
        /// A later fork inside a settled branch, by device: the log ends before it.
        var forkCuts: [DevicePublicKey: Seq] = [:]
        var roster: Roster
        var keys: [DataKeyID: DataKey] = [:]
        /// Keys granted to this device by control entries that took effect; new entries are
        /// sealed with the newest of these.
        var grantedKeys: Set<DataKeyID> = []
        var heldCount = 0
        var heldBytes = 0
        var dataVersion: Int64?
        /// Row ids of device keys in the `authors` table: log rows name their author by id.
        var authorIDs: [DevicePublicKey: Int64] = [:]
        var authorKeys: [Int64: DevicePublicKey] = [:]
        /// Decimals of the ledger's unit, from the genesis entry once it can be read.
        var decimals: UInt8?
        /// Set when `learnKeys` remembered a key before its batch was validated: entries stored
        /// by earlier merges may be sealed with it and still wait to be opened.
        var keysLearnedEarly = false
    }

    // MARK: - Loading

    /// Reloads everything kept in memory when another process (or connection) has written to
    /// the database since this engine last looked; SQLite's data_version tells.
    /// Brings in-memory state up to date with what other processes committed; every query
    /// calls it first.
    func refresh() throws(LedgerError) {
        try store.readOnWriter { db in try reloadIfChanged(db) }
    }

    private func reloadIfChanged(_ db: Database) throws {
        let version = try LedgerStore.Local.dataVersion(db)
        guard version != cache.dataVersion else { return }
        try reload(db)
    }

    private func reload(_ db: Database) throws {
        cache.authorIDs = [:]
        cache.authorKeys = [:]
        for (id, key) in try LedgerStore.Authors.all(db) {
            cache.authorIDs[key] = id
            cache.authorKeys[id] = key
        }
        cache.authors = [:]
        cache.forkSeqs = [:]
        cache.keys = [:]
        cachedTotals = nil
        cachedCorrections = nil
        try loadState(db)
        let controls = try loadControls(db)
        cache.roster = Roster.compute(root: root, controls: controls)
        cache.settlements = Self.settlements(controls, roster: cache.roster)
        try loadCuts(db)
        if let decimals = try LedgerStore.Local.decimals(db) { cache.decimals = decimals }
        cache.dataVersion = try LedgerStore.Local.dataVersion(db)
    }

    private func loadState(_ db: Database) throws {
        // Each device's head: one step along the primary key per device, whatever the size.
        for (key, id) in cache.authorIDs {
            guard let row = try LogSegments.last(db, author: id) else { continue }
            cache.authors[key] = AuthorState(
                seq: row.seq, head: try row.entry(identity: identity, author: key).hash, cumCredit: row.cumCredit,
                cumDebit: row.cumDebit)
        }
        cache.forkSeqs = try LedgerStore.Forks.lowestSeqs(db)
        for key in try LedgerStore.Keys.all(db) { cache.keys[key.id] = key }
        (cache.heldCount, cache.heldBytes) = try LedgerStore.Held.size(db)
    }

    func loadControls(_ db: Database) throws -> [ControlRecord] {
        // The small table of control entries' positions, then each entry from its log.
        let records = try LedgerStore.Controls.positions(db).map { position in
            let author = try authorKey(position.authorID)
            guard let row = try LogSegments.row(db, author: position.authorID, seq: position.seq) else {
                throw LedgerError.database("the ledger database lists a control entry it does not hold")
            }
            let entry = try row.entry(identity: identity, author: author)
            return ControlRecord(
                author: entry.author, seq: entry.seq, time: entry.time,
                body: try PublicBody(decoding: entry.publicBody, kind: entry.kind), name: row.label)
        }
        return records.sorted { ($0.author, $0.seq) < ($1.author, $1.seq) }
    }

    // MARK: - Merging

    /// Validates and persists `incoming` in one transaction.
    ///
    /// Entries that are valid but cannot be counted yet are held; invalid ones are rejected.
    /// Order of arrival never changes the result.
    @discardableResult
    public func merge(_ incoming: [Entry]) throws(LedgerError) -> MergeReport {
        sayCaughtUp(
            try transaction { db, report in
                // A page of thousands (a pull's) writes megabytes nothing reads again soon: it
                // goes through a small page cache, not into the one kept for reading.
                let cacheSize = incoming.count >= Self.largeMerge ? LedgerStore.useSmallPageCache(db) : nil
                defer { if let cacheSize { LedgerStore.restorePageCache(db, to: cacheSize) } }
                try mergeBatch(db, incoming, &report)
            })
    }

    /// Entries from which a merge writes through a small page cache.
    static let largeMerge = 4_096

    /// Merges pages as `next` gives them, in one transaction: memory holds one page at a time
    /// (the report counts entries without listing them, and SQLite's page cache is kept small,
    /// its changes spilling to the write-ahead log), and when `next` throws (a file found
    /// corrupt half-way) nothing of any page is kept.
    public func merge(pages next: @Sendable () throws(LedgerError) -> [Entry]?) throws(LedgerError) -> MergeReport {
        let report = try transaction(listsEntries: false) { db, report in
            let cacheSize = LedgerStore.useSmallPageCache(db)
            defer { LedgerStore.restorePageCache(db, to: cacheSize) }
            while let page = try next() { try mergeBatch(db, page, &report) }
        }
        return sayCaughtUp(report)
    }

    /// This device's own entries only arrive from elsewhere when its folder is older than its
    /// log: they are its own signed entries, so they are adopted (`transaction` counts them in
    /// `caughtUp`), and that is said.
    private func sayCaughtUp(_ report: MergeReport) -> MergeReport {
        if report.caughtUp > 0 { publish(.caughtUp(entries: report.caughtUp)) }
        return report
    }

    /// Runs `body` in one write transaction, with in-memory state brought up to date first and
    /// the roster, keys and totals brought up to date after; on failure nothing changes.
    func transaction(listsEntries: Bool = true, _ body: (Database, inout MergeReport) throws -> Void)
        throws(LedgerError) -> MergeReport
    {
        var report = MergeReport(listsEntries: listsEntries)
        let before = cache
        let countedBefore = cache.authors.keys.reduce(into: [DevicePublicKey: Seq]()) { $0[$1] = effectiveSeq($1) }
        do {
            try store.write { db in
                try reloadIfChanged(db)
                controlsChanged = false
                forksRecorded = []
                try body(db, &report)
                // A settlement that starts or stops counting, or a fork it names coming to light,
                // changes what a log holds, which can change the controls again: repeated until
                // nothing changes (each round settles at least one device for good).
                var changedAny = controlsChanged
                for _ in 0...(cache.settlements.count + cache.forkSeqs.count + 1) {
                    guard controlsChanged || !forksRecorded.isEmpty else { break }
                    var settle = forksRecorded
                    if controlsChanged {
                        let controls = try loadControls(db)
                        cache.roster = Roster.compute(root: root, controls: controls)
                        let settlements = Self.settlements(controls, roster: cache.roster)
                        for device in Set(settlements.keys).union(cache.settlements.keys)
                        where settlements[device] != cache.settlements[device] {
                            settle.insert(device)
                        }
                        cache.settlements = settlements
                    }
                    controlsChanged = false
                    forksRecorded = []
                    try applySettlements(db, settle.filter { cache.forkSeqs[$0] != nil }, &report)
                    changedAny = changedAny || controlsChanged
                }
                controlsChanged = changedAny
                if controlsChanged { try refreshKeys(db) }
            }
        } catch {
            // The transaction rolled back: forget in-memory changes too.
            cache = before
            cachedTotals = nil
            cachedCorrections = nil
            pendingRuns = []
            throw error
        }
        // Own entries a merge adds to this device's log are caught up with (`sayCaughtUp`); an
        // append's own entry is not.
        report.caughtUp = classify(&report)
        if controlsChanged {
            // A certificate that arrived may make entries stored earlier count now.
            var newlyCounted = 0
            for author in cache.authors.keys {
                let before = countedBefore[author] ?? 0
                newlyCounted += max(0, Int(effectiveSeq(author)) - Int(before))
            }
            report.released = max(0, newlyCounted - report.acceptedCount)
        }
        cachedTotals = nil
        cachedCorrections = nil
        scheduleCheckpointIfNeeded()
        if report.acceptedCount > 0 || report.heldCount > 0 { publish(.merged(accepted: report.acceptedCount)) }
        if controlsChanged { publish(.rosterChanged) }
        for fork in report.forks { publish(.forkDetected(author: fork.author, seq: fork.seq)) }
        return report
    }

    func mergeBatch(_ db: Database, _ incoming: [Entry], _ report: inout MergeReport) throws {
        let byAuthor = byAuthor(incoming, &report)
        try learnKeys(db, from: incoming)
        // Sealed bodies are opened on other threads from the start, every device's at once,
        // while this thread walks and stores each device's log in turn. (The keys cannot change
        // until the batch is stored; entries that turn out not to extend a log are opened for
        // nothing, which costs little and decides nothing.)
        let keys = self.cache.keys
        var work:
            [(author: DevicePublicKey, held: Set<EntryHash>, sorted: [Entry], opened: BackgroundMap<OpenedBody>)] =
                []
        for author in byAuthor.keys.sorted() {
            var held = try heldEntries(db, author: author)
            // A settled log takes the entries of its chosen branch that arrived out of order
            // from those kept with the branches (they wait there, not in `held`).
            if settlement(of: author) != nil {
                held += try LedgerStore.Branches.entries(
                    db, author: author, from: (cache.authors[author]?.seq ?? 0) + 1)
            }
            let incoming = byAuthor[author] ?? []
            let sorted = Self.sortedBySeq(held.isEmpty ? incoming : held + incoming)
            // Entries at or below the log's head are repeats or rivals: `mergeAuthor` adds none
            // of them to the log, so none is opened (an import read twice opened every entry).
            let head = cache.authors[author]?.seq ?? 0
            work.append(
                (
                    author, Set(held.map(\.hash)), sorted,
                    BackgroundMap(sorted, minimumChunk: 1024) {
                        $0.seq <= head ? .noKey : Self.openSealedPart($0, keys: keys)
                    }
                ))
        }
        for job in work {
            try mergeAuthor(
                db, author: job.author, sorted: job.sorted, heldHashes: job.held, opened: job.opened, report: &report)
        }
    }

    /// The entries of this identity by author (others rejected, in the order they came). A
    /// batch is nearly always one device's log, or a few logs one after another: each stretch of
    /// one author's entries is added at once, and a batch that is one stretch is taken as it is,
    /// not copied entry by entry.
    private func byAuthor(_ incoming: [Entry], _ report: inout MergeReport) -> [DevicePublicKey: [Entry]] {
        var byAuthor: [DevicePublicKey: [Entry]] = [:]
        for stretch in Entry.authorStretches(incoming) {
            let author = incoming[stretch.lowerBound].author
            if stretch.allSatisfy({ incoming[$0].identity == identity }) {
                if stretch.count == incoming.count {
                    byAuthor[author] = incoming
                } else {
                    byAuthor[author, default: []] += incoming[stretch]
                }
                continue
            }
            for index in stretch {
                if incoming[index].identity == identity {
                    byAuthor[author, default: []].append(incoming[index])
                } else {
                    report.reject(incoming[index], .foreignIdentity)
                }
            }
        }
        return byAuthor
    }

    /// One author's entries in seq order. A batch nearly always brings a dense run of seqs:
    /// in order (a pull's page, a push), taken as it is; in any order, placed by seq in one
    /// pass. Anything else (gaps, repeats) is sorted.
    static func sortedBySeq(_ entries: [Entry]) -> [Entry] {
        if entries.seqsIncrease { return entries }
        guard entries.count > 1, let low = entries.lazy.map(\.seq).min(), let high = entries.lazy.map(\.seq).max(),
            high - low == Seq(entries.count - 1)
        else { return entries.sorted { $0.seq < $1.seq } }
        var slots = [Entry?](repeating: nil, count: entries.count)
        for entry in entries {
            let slot = Int(entry.seq - low)
            guard slots[slot] == nil else { return entries.sorted { $0.seq < $1.seq } }
            slots[slot] = entry
        }
        return slots.compactMap { $0 }  // every slot was filled: the seqs are distinct and dense
    }

    /// Entries added to a candidate log whose author is not authorised at that seq are held
    /// (waiting for a certificate, or quarantined after a revoke), not counted. Returns how many
    /// of the counted ones are this device's own.
    private func classify(_ report: inout MergeReport) -> Int {
        var own = 0
        if report.listsEntries { report.accepted.reserveCapacity(pendingRuns.reduce(0) { $0 + $1.count }) }
        // Entries were added in runs of consecutive seqs of one author: its authority is looked
        // up once per run, and the run splits at most once, where that authority ends.
        for run in pendingRuns {
            let limit = cache.roster.limit(of: run.author)
            // The run counts up to its author's limit (seq arithmetic that cannot overflow).
            let counted =
                limit.map { limit in
                    limit < run.first ? 0 : limit - run.first < Seq(run.count) ? Int(limit - run.first) + 1 : run.count
                } ?? 0
            report.acceptedCount += counted
            if run.author == device { own += counted }
            guard report.listsEntries else {
                report.heldCount += run.count - counted
                continue
            }
            report.accepted += run.hashes[..<counted]
            report.heldCount += run.count - counted
            for index in counted..<run.count {
                report.held.append(
                    .init(
                        hash: run.hashes[index], author: run.author, seq: run.first + Seq(index),
                        reason: limit.map { .revokedAuthor(boundary: $0) } ?? .unknownAuthor))
            }
        }
        pendingRuns = []
        return own
    }

    /// Entries added to a log in the current transaction: `count` consecutive seqs of `author`
    /// from `first`, classified (and counted in the report) once the roster is known. Their
    /// hashes are kept only when the report lists entries (a transaction that imports a large
    /// file keeps a few bytes here per page, not per entry).
    private struct PendingRun {
        let author: DevicePublicKey
        let first: Seq
        let count: Int
        let hashes: [EntryHash]
    }
    private var pendingRuns: [PendingRun] = []
    /// Set during a transaction when a control entry was added or removed.
    var controlsChanged = false
    /// Devices whose fork was first proven during the current transaction.
    var forksRecorded: Set<DevicePublicKey> = []

    /// Merges one author's entries: `sorted` holds the held and incoming ones in seq order,
    /// `opened` their sealed bodies, opened (or being opened) in the same order.
    private func mergeAuthor(
        _ db: Database, author: DevicePublicKey, sorted: [Entry], heldHashes: Set<EntryHash>,
        opened openedAll: BackgroundMap<OpenedBody>, report: inout MergeReport
    ) throws {
        var state = cache.authors[author] ?? .empty
        var older: [Entry] = []
        // The run extending the log, as positions in `sorted` (not copies of the entries).
        var runPositions: [Int] = []
        var leftovers: [Entry] = []
        var prev = state.head
        var next = state.seq + 1
        // One pass over the entries in seq order: drop repeats, set aside what a fork froze,
        // extend the log with the run of linked entries, keep what lies beyond a gap.
        var index = 0
        // These change only when a fork is recorded, below the loop. A forked log takes nothing
        // from its fork on, unless a settlement chose a branch: then it takes that branch (the
        // chosen entry at the fork seq, and what links to it) up to where the settlement says.
        let forkSeq = cache.forkSeqs[author]
        let frozen = frozenFrom(author)
        let chosen = chosenEntry(author)
        runPositions.reserveCapacity(sorted.count)
        while index < sorted.count {
            let seq = sorted[index].seq
            // The common case first: one entry at this seq, and it extends the run.
            if seq == next, sorted[index].prev == prev, frozen.map({ seq < $0 }) ?? true,
                chosen.map({ seq != $0.seq || sorted[index].hash == $0.hash }) ?? true,
                index + 1 == sorted.count || sorted[index + 1].seq != seq
            {
                runPositions.append(index)
                prev = sorted[index].hash
                next += 1
                index += 1
                continue
            }
            let start = index
            while index < sorted.count, sorted[index].seq == seq { index += 1 }
            var group = sorted[start..<index]
            if group.count > 1 {  // rare: repeats or rivals at one seq
                var distinct: [Entry] = []
                for entry in group {
                    if distinct.contains(where: { $0.hash == entry.hash }) {
                        report.duplicates += 1
                    } else {
                        distinct.append(entry)
                    }
                }
                group = distinct[...]
            }
            if let fork = forkSeq, let frozen, seq >= frozen {
                for entry in group {
                    if try keepBranch(db, entry, heldHashes: heldHashes, report: &report) {
                        report.reject(entry, .forkedAuthor(seq: fork))
                    }
                    if heldHashes.contains(entry.hash) { try deleteHeld(db, entry.hash) }
                }
            } else if seq <= state.seq {
                older += group
            } else if seq == next,
                let link = group.first(where: { entry in
                    entry.prev == prev && (chosen.map { seq != $0.seq || entry.hash == $0.hash } ?? true)
                })
            {
                runPositions.append(sorted[start..<index].firstIndex { $0.hash == link.hash } ?? start)
                prev = link.hash
                next += 1
                older += group.filter { $0.hash != link.hash }  // rivals (distinct by hash): checked as forks below
            } else if seq == next {
                for entry in group {
                    // Past a fork, an entry that does not extend the chosen branch is the other
                    // branch's: kept, never counted.
                    if let fork = forkSeq, seq >= fork {
                        if try keepBranch(db, entry, heldHashes: heldHashes, report: &report) {
                            report.reject(entry, .forkedAuthor(seq: fork))
                        }
                    } else {
                        // It links to another entry at the seq before: a fork not proven here yet.
                        // Kept, signed, for the branch a settlement may choose once it is.
                        if entry.hasValidSignature { try LedgerStore.Branches.insert(db, [entry]) }
                        report.reject(entry, .brokenChain(seq: seq))
                    }
                    if heldHashes.contains(entry.hash) { try deleteHeld(db, entry.hash) }
                }
            } else {
                leftovers += group
            }
        }

        // 2. Authenticate the run: its newest entry's signature covers every hash link before it.
        let run = runPositions.lazy.map { sorted[$0] }
        var rejectedFrom: (index: Int, reason: LedgerError)?
        if let last = run.last, !last.hasValidSignature {
            let bad = run.firstIndex { !$0.hasValidSignature } ?? run.count - 1
            rejectedFrom = (bad, .invalidSignature)
        }
        // 3. Kind-specific rules, in order; the first failure ends the run. The sealed parts
        // were opened on other threads meanwhile.
        let opened = openedAll.values()
        var prepared: [PreparedEntry] = []
        prepared.reserveCapacity(run.count)
        for (index, entry) in run.enumerated() {
            if let cut = rejectedFrom, index >= cut.index { break }
            do {
                prepared.append(try prepare(entry, opened: opened[runPositions[index]], state: &state))
            } catch {
                rejectedFrom = (index, error)
            }
        }
        if let cut = rejectedFrom {
            for (index, entry) in run.enumerated() where index >= cut.index {
                report.reject(entry, index == cut.index ? cut.reason : .brokenChain(seq: run[cut.index].seq))
                if heldHashes.contains(entry.hash) { try deleteHeld(db, entry.hash) }
            }
        }
        if !prepared.isEmpty {
            // Logs of devices not (yet) linked are kept for when the certificate arrives, within
            // the same limit as held entries.
            if cache.roster.limit(of: author) == nil,
                try pendingCount(excluding: author) + Int(state.seq) > maxHeld
                    || pendingBytes(db) + prepared.reduce(0, { $0 + $1.entry.encoded.count }) > maxHeldBytes
            {
                for p in prepared { report.reject(p.entry, .holdLimitReached) }
                return
            }
            try insert(db, prepared)
            // What counts of these is decided at the end of the transaction (`classify`).
            for p in prepared {
                if heldHashes.contains(p.entry.hash) { try deleteHeld(db, p.entry.hash) }
                if p.entry.kind.isControl { controlsChanged = true }
            }
            pendingRuns.append(
                PendingRun(
                    author: author, first: prepared[0].entry.seq, count: prepared.count,
                    hashes: report.listsEntries ? prepared.map(\.entry.hash) : []))
            cache.authors[author] = state
        }

        // 4. Entries beyond a gap wait in `held`; a forked device's wait with its branches.
        for entry in leftovers where !heldHashes.contains(entry.hash) {
            if let fork = cache.forkSeqs[author], entry.seq >= fork {
                if try keepBranch(db, entry, heldHashes: heldHashes, report: &report) {
                    report.reject(entry, .forkedAuthor(seq: fork))
                }
                continue
            }
            guard cache.heldCount < maxHeld, cache.heldBytes + entry.encoded.count <= maxHeldBytes else {
                report.reject(entry, .holdLimitReached)
                continue
            }
            // Nothing links a held entry to a signed head yet: its own signature is checked
            // before it is stored, so only what its author signed can wait here.
            guard entry.hasValidSignature else {
                report.reject(entry, .invalidSignature)
                continue
            }
            try LedgerStore.Held.insert(db, entry, receivedAt: Self.now())
            cache.heldCount += 1
            cache.heldBytes += entry.encoded.count
            report.hold(entry, .brokenChain(seq: entry.seq - 1))
        }

        // 5. Entries at seqs already in the log: duplicates, or proof of a fork. They come in seq
        // order (a whole file imported again is all repeats), so each segment is read once.
        var segment: LogSegments.Segment?
        let authorID = try authorRowID(db, author)
        for entry in older {
            if heldHashes.contains(entry.hash) { try deleteHeld(db, entry.hash) }
            if segment?.row(entry.seq) == nil {
                segment = try LogSegments.segment(db, author: authorID, containing: entry.seq)
            }
            guard let stored = try segment?.row(entry.seq)?.entry(identity: identity, author: author) else {
                continue
            }
            // What follows may cut the log: the segment read is then read again.
            defer { if cache.forkSeqs[author] != nil { segment = nil } }
            if stored.hash == entry.hash {
                report.duplicates += 1
                continue
            }
            guard entry.hasValidSignature, stored.hasValidSignature else {
                report.reject(entry, .invalidSignature)
                continue
            }
            if let fork = cache.forkSeqs[author], entry.seq >= fork {
                // A settled log past its fork: the other branch's entry (the rival at the fork
                // seq, or one linking elsewhere) is kept; two entries on one parent in the chosen
                // branch are a new fork, and the log ends before it.
                if entry.seq == fork || entry.prev != stored.prev {
                    if try keepBranch(db, entry, heldHashes: heldHashes, report: &report) {
                        report.reject(entry, .forkedAuthor(seq: fork))
                    }
                } else {
                    try recordCut(db, author: author, seq: entry.seq, proof: [stored, entry])
                    report.forks.append(ClockEntry(author: author, seq: entry.seq, head: entry.hash, forkSeq: fork))
                }
                continue
            }
            try recordFork(db, author: author, seq: entry.seq, proof: [stored, entry])
            report.forks.append(ClockEntry(author: author, seq: entry.seq, head: entry.hash, forkSeq: entry.seq))
        }
    }

    /// Applies the rules of the entry's kind and computes its stored columns.
    private func prepare(_ entry: Entry, opened privateBody: OpenedBody, state: inout AuthorState) throws(LedgerError)
        -> PreparedEntry
    {
        try EntryRules.check(entry, identity: identity, root: root)
        var amount: Int64?
        var label: String?
        var opened = entry.sealedCount == 0
        switch privateBody {
        case .failed, .noKey:
            // Unreadable here (a key this device lacks, or a sealed part its author garbled):
            // counted like everywhere else, shown as unreadable, left out of the amounts.
            break
        case .opened(let body):
            (amount, label) = Self.columns(of: body)
            if case .genesis(let d, _) = body { cache.decimals = d }
            opened = true
        }
        var next = state
        next.seq = entry.seq
        next.head = entry.hash
        next.totals.add(entry.kind, amount: amount)
        state = next
        var correction: PrivateBody?
        if case .opened(let body) = privateBody, case .correction = body { correction = body }
        return PreparedEntry(
            entry: entry, opened: opened, amount: amount, label: label, cumCredit: next.totals.credit,
            cumDebit: next.totals.debit, correction: correction)
    }

    static func columns(of body: PrivateBody) -> (amount: Int64?, label: String?) {
        switch body {
        case .genesis(_, let name), .link(let name): (nil, name)
        case .revoke, .settle: (nil, nil)
        case .record(let amount, let memo): (amount, memo)
        case .correction(_, let amount, let memo): (amount, memo)
        }
    }

    /// Appends one author's new entries to its log. This is the hot path of a large merge:
    /// records are packed straight into segments, a few hundred database rows per hundred
    /// thousand entries.
    private func insert(_ db: Database, _ prepared: [PreparedEntry]) throws {
        guard let first = prepared.first?.entry else { return }
        let authorID = try authorRowID(db, first.author, create: true)
        try prepared.withUnsafeBufferPointer { prepared in
            try LogSegments.append(db, author: authorID, firstSeq: first.seq, count: prepared.count) { i, blob in
                // Read in place: a copy of each prepared entry retained and released its parts.
                LogSegments.append(
                    to: &blob, stored: prepared[i].entry.storedForm, opened: prepared[i].opened,
                    amount: prepared[i].amount, label: prepared[i].label, cumCredit: prepared[i].cumCredit,
                    cumDebit: prepared[i].cumDebit)
            }
        }
        for p in prepared where p.entry.kind.isControl || (!p.opened && readsBodies) || p.correction != nil {
            if let body = p.correction {
                try LedgerStore.Corrections.insert(
                    db, authorID: authorID, seq: p.entry.seq, hash: p.entry.hash, time: p.entry.time, body: body)
            }
            if p.entry.kind.isControl {
                try LedgerStore.Controls.insert(db, authorID: authorID, seq: p.entry.seq)
            }
            if !p.opened, readsBodies {
                try LedgerStore.Unopened.insert(db, authorID: authorID, seq: p.entry.seq)
            }
        }
        if let decimals = cache.decimals { try LedgerStore.Local.keepDecimals(db, decimals) }
    }

    /// The row id naming `author` in log rows; with `create`, a new device gets one. An unknown
    /// device without `create` gets -1, which no row has.
    func authorRowID(_ db: Database, _ author: DevicePublicKey, create: Bool = false) throws -> Int64 {
        if let id = cache.authorIDs[author] { return id }
        guard create else { return -1 }
        let id = try LedgerStore.Authors.insert(db, author)
        cache.authorIDs[author] = id
        cache.authorKeys[id] = author
        return id
    }

    /// The device key of an `author` row id.
    func authorKey(_ id: Int64) throws -> DevicePublicKey {
        guard let key = cache.authorKeys[id] else {
            throw LedgerError.database("the ledger database names a device it does not list; run ledgerlink verify")
        }
        return key
    }

    func storedEntry(_ db: Database, author: DevicePublicKey, seq: Seq) throws -> Entry? {
        try LogSegments.row(db, author: try authorRowID(db, author), seq: seq)?.entry(
            identity: identity, author: author)
    }

}

/// The head of one author's candidate log and its running totals.
struct AuthorState: Sendable {
    var seq: Seq
    var head: EntryHash
    /// Running totals through `seq`.
    var totals: RunningTotals

    init(seq: Seq, head: EntryHash, cumCredit: Int64?, cumDebit: Int64?) {
        self.seq = seq
        self.head = head
        totals = RunningTotals(credit: cumCredit, debit: cumDebit)
    }

    var cumCredit: Int64? { totals.credit }
    var cumDebit: Int64? { totals.debit }

    static let empty = AuthorState(seq: 0, head: .zero, cumCredit: 0, cumDebit: 0)
}

struct PreparedEntry {
    let entry: Entry
    let opened: Bool
    let amount: Int64?
    let label: String?
    let cumCredit: Int64?
    let cumDebit: Int64?
    /// The opened body of a correction (kept in the `corrections` table too).
    var correction: PrivateBody? = nil
}
