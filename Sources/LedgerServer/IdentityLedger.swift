import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import Synchronization

/// One identity as the store sees it: the entries in the database, and what it takes to check
/// and answer a sync. Nearly always that is the identity's row alone: its version, authorised
/// keys and heads (the clock, kept by every append while no log is forked): a push of records
/// continuing authorised logs is checked against those heads (`PlainPush`) and appended, and a
/// pull is answered from the rows by author and seq, a few thousand at a time, so a server's
/// memory does not grow with the identities it serves nor with the size of a pull. Anything
/// else (control entries, repeats, forks, gaps, an identity with a fork) goes through a merge
/// engine over the rows, kept in a temporary file (`LedgerStore.scratch`: memory holds its page
/// cache, whatever the identity's size), with no device key: it checks signatures, chains and
/// authority, and cannot read amounts or memos. That engine is a cache: rebuilt from the
/// database whenever another server wrote, or a refused request left it in doubt.
actor IdentityLedger {
    let identity: IdentityID
    let backend: any StoreBackend
    /// What this ledger's memory counts for in the server's cache budget.
    nonisolated let footprint: Footprint
    private var engine: MergeEngine? {
        didSet { footprint.set(engine == nil ? 0 : Self.engineBytes) }
    }
    /// What an engine costs in memory, whatever the identity's size: its entries are in a
    /// temporary file (`LedgerStore.scratch`), and memory holds that file's page cache (at
    /// most 512 KiB), SQLite's statements and schema for it, and the engine's state (its
    /// roster, keys and each device's head): counted as 2.25 MiB, as when the cache was 2 MiB,
    /// so the budget errs on the side of fewer replicas.
    static let engineBytes = (256 << 10) + (2 << 20)
    /// Rows of the database the engine holds.
    private var version: Int64 = 0
    /// What polls need (the keys it authorises, and the clock digest) of the database's state
    /// at `version`: from the summary an append stored beside the version, or from the engine
    /// for an identity last written before summaries were kept. Needs no engine.
    private var cached: Slim?

    struct Slim {
        let version: Int64
        let authorised: Set<DevicePublicKey>
        let digest: String
        /// Whether the row keeps the heads (no log is forked): no replica is needed then.
        var plain = false
    }
    /// When the database was last asked whether other servers wrote.
    private var checked: ContinuousClock.Instant?
    /// Reads (polls, token checks) accept an answer this fresh from the database; writes
    /// always look. Only writes by *other* servers can be this late to show.
    static let readFreshness: Duration = .milliseconds(50)

    /// Rows read from the database at a time: a large identity is merged page by page, never
    /// held whole in memory beside its replica, and an answer is read in reads of this many.
    let rowsPerRead: Int
    /// Rows read at a time for an answer (written as runs as they are read, then let go).
    var answerRowsPerRead: Int { min(rowsPerRead, Self.answerChunk) }
    /// 1,024, not more: a read this size is decoded on the request's own thread (Entry.decodeAll
    /// spreads 2,048 or more over other threads). A server's parallelism is its requests, and
    /// reads of 2,048 decoded on two threads left a pull's garbage in two threads' heaps: a
    /// pull of 100,000 entries took a new server 7.4-8.8 MB of anonymous memory above idle,
    /// 6.5-6.8 MB with these reads (docs/BENCHMARKS.md), for the same server CPU.
    static let answerChunk = 1_024
    /// A replica is rebuilt a read at a time, each read decoded and merged before the next: a
    /// forked identity of 100,000 entries, rebuilt 4,096 rows a read for its first pull after a
    /// restart, took the store 4.5 pages of anonymous memory; 1,024 a read, 1.8-2.4, in the
    /// same time (docs/BENCHMARKS.md).
    package static let defaultRowsPerRead = 1_024

    init(
        identity: IdentityID, backend: any StoreBackend, footprint: Footprint = Footprint(),
        rowsPerRead: Int = defaultRowsPerRead
    ) {
        self.identity = identity
        self.backend = backend
        self.footprint = footprint
        self.rowsPerRead = max(1, rowsPerRead)
    }

    /// Forgets the engine (the cache is over its budget), keeping what polls need: the keys,
    /// digest and version of the state it held, and the last head signed.
    func dropEngine() async {
        try? await exclusively {
            engine = nil
        }
    }

    /// Whether the store holds the identity (one read of its summary row).
    func exists() async throws -> Bool {
        try await exclusively { try await slim() != nil }
    }

    func authorises(_ device: DevicePublicKey) async throws -> Bool {
        try await current()?.authorised.contains(device) ?? false
    }

    /// The identity's clock digest and the version it is the digest of, read fresh from the
    /// database: a head signed from a stale cache could look like a rollback next to a head
    /// another server signed a moment before.
    func head() async throws -> (digest: Digest32, version: Int64) {
        try await exclusively {
            guard let state = try await slim(), let bytes = Hex.decode(state.digest) else { throw Self.unknown }
            return (try Digest32(bytes: bytes), state.version)
        }
    }

    /// The stored entries at these (device, seq) positions; nil for each one not held.
    func entries(_ positions: [(DevicePublicKey, UInt64)]) async throws -> [Entry?] {
        try await exclusively {
            if try await backend.head(of: identity.bytes)?.summary?.heads != nil {
                // No log is forked: one row at each place, read by its index.
                var out: [Entry?] = []
                for (device, seq) in positions {
                    guard seq >= 1, seq <= UInt64(Int64.max) else {
                        out.append(nil)
                        continue
                    }
                    let rows = try await backend.rows(
                        of: identity.bytes, author: device.bytes, seqs: Int64(seq)...Int64(seq), limit: 1)
                    out.append(try rows.first.map { try Self.decode($0) })
                }
                return out
            }
            try await refresh()
            guard let engine else { throw Self.unknown }
            var out: [Entry?] = []
            for (device, seq) in positions {
                guard seq >= 1, seq <= UInt64(Int64.max) else {
                    out.append(nil)
                    continue
                }
                out.append(try await engine.entries(of: device, from: Seq(seq), through: Seq(seq)).first)
            }
            return out
        }
    }

    /// Whether a request holds the ledger, and who waits for it.
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` with no other request of this identity in between, across its awaits: a
    /// sync merges into the engine before the database takes the rows, and a head read in
    /// between would sign the new digest with the old version (an honest store contradicting
    /// itself).
    private func exclusively<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        while held { await withCheckedContinuation { waiting.append($0) } }
        held = true
        defer {
            held = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        return try await body()
    }

    /// The last head signed for this identity: a poll of a state already signed reuses it
    /// (its time is when that state was first signed here), so a poll costs no signature.
    private var lastHead: StoreHead?

    /// The signed head of `digest` at `version`, signed now unless it was already.
    func signedHead(_ key: SigningKeyPair, version: Int64, digest: Digest32, time: Int64) -> StoreHead {
        let version = UInt64(max(0, version))
        if let lastHead, lastHead.version == version, lastHead.digest == digest, lastHead.store == key.publicKey {
            return lastHead
        }
        let head = StoreHead(signing: key, identity: identity, version: version, digest: digest, time: time)
        lastHead = head
        return head
    }

    /// Keys and digest for reads, from memory while nothing changed.
    private func current() async throws -> Slim? {
        if let checked, checked.duration(to: .now) < Self.readFreshness, let cached { return cached }
        return try await exclusively { try await slim() }
    }

    /// Keys and digest of what the database holds now, in one indexed read: from memory when
    /// nothing was written since, else from the summary the last append stored, else (an
    /// identity last written by an older server) from the engine brought up to date. Call it
    /// exclusively.
    private func slim() async throws -> Slim? {
        checked = .now
        guard let head = try await backend.head(of: identity.bytes) else {
            engine = nil
            version = 0
            cached = nil
            return nil
        }
        if let cached, cached.version == head.version { return cached }
        if let summary = head.summary {
            let slim = Self.slim(summary, version: head.version)
            cached = slim
            return slim
        }
        try await refresh(known: head.version)
        guard let engine else { return nil }
        let slim = Self.slim(try await Self.summary(of: engine), version: version)
        cached = slim
        return slim
    }

    static func slim(_ summary: IdentitySummary, version: Int64) -> Slim {
        var keys = Set<DevicePublicKey>()
        for start in stride(from: 0, to: summary.devices.count, by: 32) {
            if let key = try? DevicePublicKey(bytes: Array(summary.devices[start..<start + 32])) { keys.insert(key) }
        }
        return Slim(
            version: version, authorised: keys, digest: Hex.encode(summary.digest), plain: summary.heads != nil)
    }

    /// The summary of what `engine` holds: its clock digest and the keys its roster authorises
    /// (linked and not revoked: devices and recovery keys).
    static func summary(of engine: MergeEngine) async throws -> IdentitySummary {
        let roster = try await engine.currentRoster()
        let keys = roster.devices.values.filter { $0.boundary == nil }.map(\.key).sorted()
        return IdentitySummary(
            digest: try await engine.clock().digest.bytes, devices: keys.flatMap(\.bytes),
            heads: try await engine.plainClock().map { VectorClock.encode($0.entries) })
    }

    /// Stores the identity's genesis entry, written and presented by its genesis device.
    func introduce(genesis raw: [UInt8], by device: DevicePublicKey) async throws {
        guard let entry = try? Entry(decoding: raw), entry.identity == identity, entry.seq == 1,
            entry.kind == .genesis, entry.author == device
        else { throw StoreError(.invalidGenesis, "that is not this identity's genesis entry by this device") }
        let check = try await MergeEngine(
            store: try LedgerStore.inMemory(identity: identity, root: device, device: device), keyPair: nil)
        guard try await check.merge([entry]).accepted.count == 1 else {
            throw StoreError(.invalidGenesis, "the genesis entry does not verify")
        }
        // False when another request introduced it first: the same entry, or a rival that the
        // roster of the stored one decides about.
        _ = try await backend.append(
            [raw], to: identity.bytes, expected: nil, recoveryKeys: [], summary: try await Self.summary(of: check))
        // What polls read is in the identity's row now; nothing else is kept in memory.
        try await exclusively { _ = try await slim() }
    }

    /// Merges what the device pushed (all of it, or nothing) and answers with what it lacks.
    func sync(pushed: [Entry], clock: VectorClock, page: AnswerShape) async throws -> (
        SyncResponse, page: AnswerEntries, version: Int64
    ) {
        try await exclusively { try await syncAlone(pushed: pushed, clock: clock, page: page) }
    }

    private func syncAlone(pushed: [Entry], clock: VectorClock, page: AnswerShape) async throws -> (
        SyncResponse, page: AnswerEntries, version: Int64
    ) {
        if let answer = try await plainSync(pushed: pushed, clock: clock, page: page) { return answer }
        var accepted: Int?
        var forks: [String] = []
        for attempt in 0..<Self.appendAttempts {
            try await refresh()
            guard let engine else { throw Self.unknown }
            // New to the store, once each (asked of the engine, which holds every stored entry).
            let known = try await engine.holds(pushed)
            var repeated = Set<EntryHash>()
            // A push names each place once, nearly always: then nothing is held twice in it.
            let fresh =
                known.isEmpty && Entry.distinctPositions(pushed)
                ? pushed : pushed.filter { !known.contains($0.hash) && repeated.insert($0.hash).inserted }
            if let foreign = fresh.first(where: { $0.identity != identity }) {
                throw StoreError(
                    .foreignEntry, "entry \(foreign.hash.hex.prefix(16)) belongs to another identity")
            }
            // Set when records after the push's control entries were checked against the heads
            // the merge left, and are stored with them without being merged (`mergeAll`).
            var plainHeads: VectorClock?
            if !fresh.isEmpty {
                var summary: IdentitySummary
                do {
                    let merged = try await mergeAll(fresh, into: engine)
                    if accepted == nil { (accepted, forks) = (merged.accepted, merged.forks) }
                    (summary, plainHeads) = (merged.summary, merged.plainHeads)
                } catch {
                    self.engine = nil  // rebuilt from the database, which never saw these
                    throw error
                }
                let recoveryKeys = fresh.compactMap { entry -> [UInt8]? in
                    guard entry.kind == .link, let body = try? PublicBody(decoding: entry.publicBody, kind: .link),
                        body.isRecoveryLink(identity: identity), case .link(let key, _, _, _) = body
                    else { return nil }
                    return key.bytes
                }
                // Stored logs in the roster's rank order: a plain answer sends logs in the order
                // their first entry to send was stored, which then meets every certificate
                // before the entries it admits, whatever order the device pushed them in.
                let stored = Self.inRankOrder(fresh, roster: try await engine.currentRoster())
                guard
                    try await backend.append(
                        stored.map(\.encoded), to: identity.bytes, expected: version, recoveryKeys: recoveryKeys,
                        summary: summary)
                else {
                    // Another server appended first. The engine keeps the entries it merged
                    // (merging the other server's rows on top is a CRDT merge); one that holds
                    // fewer than the rows is rebuilt. Try again after it.
                    if plainHeads != nil { self.engine = nil }
                    try await Self.backOff(attempt)
                    continue
                }
                version += Int64(fresh.count)
                cached = Self.slim(summary, version: version)
            }
            var (response, entries): (SyncResponse, AnswerEntries)
            if let plainHeads {
                // The engine lacks the records stored beside what it merged: the answer comes
                // from the rows, and the engine goes.
                self.engine = nil
                (response, entries) = try await planFromRows(
                    plainHeads, version: version, to: clock.advanced(by: pushed), page: page)
            } else {
                (response, entries) = try await planFromReplica(engine, clock: clock.advanced(by: pushed), page: page)
            }
            response.accepted = accepted ?? 0
            if !forks.isEmpty { response.forks = forks }
            // An identity with no fork is served from its row and rows from now on: the replica
            // is not kept (a server's memory stays what its identities' rows take).
            if cached?.plain == true { self.engine = nil }
            return (response, entries, version)
        }
        engine = nil
        throw StoreError(.busy, "other servers are writing this identity; try again", retryAfter: 1)
    }

    /// Merges `fresh` into `engine`, or (when it ends with records after its last control
    /// entry) what comes up to that entry: the records after it are then checked against the
    /// heads the merge leaves, as a plain push, and merged only when that check cannot decide.
    /// A new device's first push is a few links and then thousands of records: the replica
    /// merges the links only (the first batch of 16,000 took 68 ms merged whole).
    ///
    /// - Returns: what counted and the forks found, the summary to store, and the heads after
    ///   the records when they were not merged (the engine then lacks them).
    /// - Throws: the refusal of an entry the merge refused; the caller drops the engine.
    private func mergeAll(_ fresh: [Entry], into engine: MergeEngine) async throws -> (
        accepted: Int, forks: [String], summary: IdentitySummary, plainHeads: VectorClock?
    ) {
        let cut = fresh.lastIndex(where: { $0.kind.isControl }).map { $0 + 1 } ?? fresh.count
        let report = try await engine.merge(Array(fresh[..<cut]))
        if let refusal = Self.refusal(report) { throw refusal }
        var (accepted, forks) = (report.newlyCounted, report.forks.map(\.author.hex))
        let summary = try await Self.summary(of: engine)
        guard cut < fresh.count else { return (accepted, forks, summary, nil) }
        let tail = Array(fresh[cut...])
        if let heads = try await engine.plainClock(),
            let (more, after) = PlainPush.extend(
                heads, with: tail, identity: identity, authorised: Self.slim(summary, version: 0).authorised),
            more.count == tail.count
        {
            let next = IdentitySummary(
                digest: after.digest.bytes, devices: summary.devices, heads: VectorClock.encode(after.entries))
            return (accepted + more.count, forks, next, after)
        }
        let rest = try await engine.merge(tail)
        if let refusal = Self.refusal(rest) { throw refusal }
        accepted += rest.newlyCounted
        forks += rest.forks.map(\.author.hex)
        return (accepted, forks, try await Self.summary(of: engine), nil)
    }

    static let appendAttempts = 40

    /// A random wait before append attempt `attempt + 1`, growing to 80 ms, so servers racing
    /// for one identity do not collide again in step.
    static func backOff(_ attempt: Int) async throws {
        try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 << min(attempt, 4)))))
    }

    /// `entries` by their author's place in the roster's rank order, each author's in seq order
    /// (taken as they are when they already are: a push is a log at a time, in seq order).
    static func inRankOrder(_ entries: [Entry], roster: Roster) -> [Entry] {
        let stretches = Entry.authorStretches(entries)
        let ordered =
            zip(stretches, stretches.dropFirst()).allSatisfy {
                roster.precedes(entries[$0.lowerBound].author, entries[$1.lowerBound].author)
            } && stretches.allSatisfy { entries[$0].seqsIncrease }
        if ordered { return entries }
        return entries.sorted { a, b in a.author == b.author ? a.seq < b.seq : roster.precedes(a.author, b.author) }
    }

    /// A stretch `from...through` of one author's log to send, and where its first row is stored.
    typealias Run = (author: DevicePublicKey, from: Int64, through: Int64, first: Int64)

    /// A sync checked and answered from the identity's row and its rows by author and seq, with
    /// no replica: nil when the identity has a fork (no heads kept) or the push needs the merge
    /// engine (`PlainPush`), which then decides it. The heads are read fresh for every sync and
    /// the append only happens at the version they were read at: another server's append in
    /// between means reading again.
    private func plainSync(pushed: [Entry], clock: VectorClock, page: AnswerShape) async throws -> (
        SyncResponse, page: AnswerEntries, version: Int64
    )? {
        for attempt in 0..<Self.appendAttempts {
            checked = .now
            guard let head = try await backend.head(of: identity.bytes) else { throw Self.unknown }
            guard let summary = head.summary, let bytes = summary.heads,
                let heads = try? VectorClock(decoding: bytes, maxEntries: IdentitySummary.maxDevices),
                heads.digest.bytes == summary.digest
            else { return nil }
            let state = Self.slim(summary, version: head.version)
            cached = state
            guard let newer = try await withoutRepeats(pushed, heads: heads) else { return nil }
            // A push that extends the heads has no gap: the gap is looked for only in one that
            // does not (a pass over every entry that nearly every push needs not).
            guard
                let (fresh, after) = PlainPush.extend(
                    heads, with: newer, identity: identity, authorised: state.authorised)
            else {
                if let gap = Self.gap(in: newer, heads: heads, identity: identity, authorised: state.authorised) {
                    throw gap
                }
                return nil
            }
            var version = head.version
            if !fresh.isEmpty {
                let next = IdentitySummary(
                    digest: after.digest.bytes, devices: summary.devices, heads: VectorClock.encode(after.entries))
                guard
                    try await backend.append(
                        fresh.map(\.encoded), to: identity.bytes, expected: head.version, recoveryKeys: [],
                        summary: next)
                else {
                    try await Self.backOff(attempt)  // another server appended since the row was read
                    continue
                }
                version += Int64(fresh.count)
                cached = Self.slim(next, version: version)
            }
            var (response, entries) = try await planFromRows(
                after, version: version, to: clock.advanced(by: pushed), page: page)
            response.accepted = fresh.count
            return (response, entries, version)
        }
        throw StoreError(.busy, "other servers are writing this identity; try again", retryAfter: 1)
    }

    /// The refusal of a push that continues an authorised device's log past a seq neither the
    /// store nor the push holds, in the merge engine's words, found from the heads alone: a
    /// replica built to find it would cost a read of the identity's whole history, for
    /// nothing stored. (A device sending its next batch before the last one is stored is told
    /// so and sends it again.)
    static func gap(
        in pushed: [Entry], heads: VectorClock, identity: IdentityID, authorised: Set<DevicePublicKey>
    ) -> StoreError? {
        var seqs: [DevicePublicKey: [Seq]] = [:]
        // Authority and the author's list are looked up once per stretch of one author's
        // entries, whose seqs are read in place.
        for stretch in Entry.authorStretches(pushed) {
            let author = pushed[stretch.lowerBound].author
            guard authorised.contains(author) else { continue }
            var list = seqs[author] ?? []
            for index in stretch where pushed[index].identity == identity { list.append(pushed[index].seq) }
            seqs[author] = list
        }
        for (author, list) in seqs.sorted(by: { $0.key < $1.key }) {
            // A head's seq is at most Int64.max: the next one cannot trap.
            var next = heads[author] + 1
            for seq in zip(list, list.dropFirst()).allSatisfy({ $0 <= $1 }) ? list : list.sorted() {
                if seq > next {
                    return StoreError(
                        .missingEntries,
                        "the store lacks entries before \(author.fingerprint) #\(seq); sync from the store's clock")
                }
                if seq == next { next += 1 }
            }
        }
        return nil
    }

    /// `pushed` without the entries the store already holds (a push retried after its answer
    /// was lost): an entry at or below its log's head is compared with the stored row at its
    /// seq, read a range per log. Nil when one differs (a rival: the merge engine proves the
    /// fork) or the seqs are too scattered to read as ranges.
    private func withoutRepeats(_ pushed: [Entry], heads: VectorClock) async throws -> [Entry]? {
        let held = heads.seqs
        // A head is looked up once per stretch of one author's entries (a push is a log at a
        // time); nearly always nothing is at or below its head, and the push is taken as it is.
        var stretch: (author: DevicePublicKey, seq: Seq?)?
        func isRepeat(_ entry: Entry) -> Bool {
            if stretch?.author != entry.author { stretch = (entry.author, held[entry.author]) }
            return stretch?.seq.map { entry.seq <= $0 } == true && entry.identity == identity
        }
        guard let firstRepeat = pushed.firstIndex(where: isRepeat) else { return pushed }
        var older: [DevicePublicKey: [Entry]] = [:]
        var newer = Array(pushed[..<firstRepeat])
        for entry in pushed[firstRepeat...] {
            if isRepeat(entry) {
                older[entry.author, default: []].append(entry)
            } else {
                newer.append(entry)
            }
        }
        for (author, entries) in older {
            // Seqs of held entries: at least 1, at most the head's, so the span cannot trap.
            guard let low = entries.map(\.seq).min(), let high = entries.map(\.seq).max(),
                high - low < UInt64(4 * entries.count + 64)
            else { return nil }
            let rows = try await backend.rows(
                of: identity.bytes, author: author.bytes, seqs: Int64(low)...Int64(high), limit: Int(high - low) + 1)
            var stored: [Seq: EntryHash] = [:]
            for row in rows {
                let entry = try Self.decode(row)
                stored[entry.seq] = entry.hash
            }
            guard entries.allSatisfy({ stored[$0.seq] == $0.hash }) else { return nil }
        }
        return newer
    }

    /// What a device with `theirs` lacks, planned from the heads: the entries the merge
    /// engine's delta holds (`MergeEngine.deltaPlan`), in the order they were stored or a log at
    /// a time with the logs in the order their first entry to send was stored (either way a
    /// certificate comes before the entries of the device it links: appends store logs in rank
    /// order), then each head the device holds another version of. The rows are read later, by
    /// the caller (`RowPage`), with the identity let go.
    private func planFromRows(_ mine: VectorClock, version: Int64, to theirs: VectorClock, page: AnswerShape)
        async throws -> (SyncResponse, AnswerEntries)
    {
        let response = Self.answer(mine)
        guard theirs.digest != mine.digest else {
            return (response, .filled(DeltaBatcher.Batch(writingRuns: page.runs)))
        }
        let known = Dictionary(uniqueKeysWithValues: theirs.entries.map { ($0.author, $0) })
        var runs: [Run] = []
        var extra: [Entry] = []
        for entry in mine.entries {
            let their = known[entry.author]
            // Seqs in a decoded clock are at most Int64.max: none of this can trap.
            let theirSeq = Int64(their?.seq ?? 0)
            let seq = Int64(entry.seq)
            if seq > theirSeq {
                // From the device's own head when the two differ, so a fork comes to light.
                let start = max(1, theirSeq)
                let rows = try await backend.rows(
                    of: identity.bytes, author: entry.author.bytes, seqs: start...min(seq, start + 1), limit: 2)
                var from = theirSeq + 1
                // The row at the device's own seq comes first when it has one; then the first to send.
                var first = theirSeq == 0 ? rows.first?.n : (rows.count == 2 ? rows[1].n : nil)
                if let their, theirSeq > 0, let row = rows.first, try Self.decode(row).hash != their.head {
                    from = theirSeq
                    first = row.n
                }
                guard let first else { throw Self.missingRows(entry.author) }
                runs.append((entry.author, from, seq, first))
            } else if seq == theirSeq, seq > 0, entry.head != their?.head {
                let rows = try await backend.rows(
                    of: identity.bytes, author: entry.author.bytes, seqs: seq...seq, limit: 1)
                guard let row = rows.first else { throw Self.missingRows(entry.author) }
                extra.append(try Self.decode(row))
            }
        }
        runs.sort { $0.first < $1.first }
        // At most the rows stored (each seq sent has its row, or the reads below say the rows
        // lack it): heads claiming more, however large, are a corrupt store, never a trap.
        var wanted: Int64 = 0
        for run in runs {
            let (sum, overflow) = wanted.addingReportingOverflow(run.through - run.from + 1)
            guard !overflow, sum <= version else { throw Self.missingRows(run.author) }
            wanted = sum
        }
        let rows = RowPage(
            identity: identity, backend: backend, runs: runs, extra: extra, wanted: wanted, version: version,
            rowsPerRead: answerRowsPerRead, shape: page)
        return (response, .read(rows))
    }

    /// An answer with the store's clock `mine` and nothing for the device (yet): the fields a
    /// caller fills when it sends entries.
    static func answer(_ mine: VectorClock) -> SyncResponse {
        var response = SyncResponse(digest: mine.digest.hex)
        response.clock = Data.base64(VectorClock.encode(mine.entries))
        response.more = false
        response.remaining = 0
        response.remainingBytes = 0
        return response
    }

    /// Stored rows for an answer, each checked as an entry's encoding and with its hash (taken
    /// from its successor's link where the rows hold one: the device hashes what it receives),
    /// written into runs as they are, never parsed into entries; a row that does not parse is
    /// a corrupt store.
    static func checkedAll(_ rows: [StoredRow]) throws -> [CheckedEncoding] {
        do {
            return try Entry.checkedAll(rows.map(\.raw))
        } catch {
            throw StoreError(.corruptStore, "a stored entry does not parse: \(error.reason)")
        }
    }

    static func decode(_ row: StoredRow) throws -> Entry {
        do {
            return try Entry(decoding: row.raw)
        } catch {
            throw StoreError(.corruptStore, "stored entry \(row.n) does not parse: \(error.reason)")
        }
    }

    static func missingRows(_ author: DevicePublicKey?) -> StoreError {
        StoreError(
            .corruptStore,
            "the store's heads name entries of \(author?.fingerprint ?? "a device") its rows do not hold")
    }

    /// What a device with `clock` lacks, planned by the replica (`MergeEngine.deltaPlan`): the
    /// answer's fields, and the entries to read from the replica later (`ReplicaPage`), with the
    /// identity let go.
    private func planFromReplica(_ engine: MergeEngine, clock: VectorClock, page: AnswerShape) async throws -> (
        SyncResponse, AnswerEntries
    ) {
        let mine = try await engine.clock()
        let response = Self.answer(mine)
        guard clock.digest != mine.digest else {
            return (response, .filled(DeltaBatcher.Batch(writingRuns: page.runs)))
        }
        let plan = try await engine.deltaPlan(for: clock)
        return (response, .read(ReplicaPage(engine: engine, plan: plan, shape: page)))
    }

    /// Why a merge's outcome refuses the whole request, if it does.
    static func refusal(_ report: MergeReport) -> StoreError? {
        // Entries of a device after its own fork are refused by every replica; relaying them is
        // not an attack.
        if let bad = report.rejected.first(where: {
            if case .forkedAuthor = $0.reason { return false }
            return true
        }) {
            return StoreError(
                .invalidEntry, "entry \(bad.author.fingerprint) #\(bad.seq) was refused: \(bad.reason)")
        }
        guard let held = report.held.first else { return nil }
        switch held.reason {
        case .unknownAuthor:
            return StoreError(.unlinkedDevice, "entry \(held.author.fingerprint) #\(held.seq): \(held.reason)")
        case .revokedAuthor:
            return StoreError(.revokedDevice, "entry \(held.author.fingerprint) #\(held.seq): \(held.reason)")
        default:
            return StoreError(
                .missingEntries,
                "the store lacks entries before \(held.author.fingerprint) #\(held.seq); sync from the store's clock")
        }
    }

    static let unknown = StoreError(.unknownIdentity, "this store does not hold the identity")

    /// Brings the engine up to what the database holds (other servers may have written).
    private func refresh() async throws {
        checked = .now
        guard let stored = try await backend.version(of: identity.bytes) else {
            engine = nil
            version = 0
            return
        }
        try await refresh(known: stored)
    }

    /// The same, with the database's version already read.
    private func refresh(known stored: Int64) async throws {
        if engine == nil || stored < version {
            try await rebuild(through: stored)
        } else if stored > version {
            try await applyAll(through: stored)
        }
    }

    /// A new replica from the database's rows up to version `stored`: the first page names the
    /// genesis device the replica is made for, and is merged first.
    private func rebuild(through stored: Int64) async throws {
        let firstPage = try await backend.rows(of: identity.bytes, after: 0, limit: rowsPerRead)
        guard let first = firstPage.first, let genesis = try? Entry(decoding: first.raw) else {
            throw StoreError(.corruptStore, "the stored identity has no readable genesis entry")
        }
        let store = try LedgerStore.scratch(identity: identity, root: genesis.author, device: genesis.author)
        engine = try await MergeEngine(store: store, keyPair: nil, maxHeld: .max, readsBodies: false)
        version = 0
        try await apply(firstPage)
        try await applyAll(through: stored)
    }

    /// Merges the stored rows after `version` up to `stored`, a page at a time.
    private func applyAll(through stored: Int64) async throws {
        while version < stored {
            let rows = try await backend.rows(of: identity.bytes, after: version, limit: rowsPerRead)
            guard !rows.isEmpty else { return }
            try await apply(rows)
        }
    }

    private func apply(_ rows: [StoredRow]) async throws {
        guard let engine, let last = rows.last else { return }
        let entries = try rows.map { try Entry(decoding: $0.raw) }
        try await engine.merge(entries)
        version = last.n
    }
}

/// What an answer may carry: at most `entries` entries and the protocol's bytes of them, kept
/// as entries (for the JSON form) or written as runs as they are read (the binary form: a page
/// read a few thousand rows at a time then holds its bytes, not its entries).
struct AnswerShape: Sendable {
    let entries: Int
    let runs: Bool

    var batcher: DeltaBatcher {
        DeltaBatcher(maxEntries: entries, maxBytes: StoreAPI.maxResponseBytes, cost: { Self.cost($0.encoded) })
    }

    /// What an entry costs in an answer: its encoding's bytes (a page is at most
    /// `StoreAPI.maxResponseBytes` of them).
    static func cost(_ encoded: [UInt8]) -> Int { encoded.count }

    /// Makes room in `batch` for one read of `count` entries at a credit's size in a run (150
    /// bytes; larger entries grow it): the runs are set aside after each read, so the page is
    /// never one buffer.
    func reserveRead(of count: Int, in batch: inout DeltaBatcher.Batch) {
        batch.reserveRuns(min(StoreAPI.maxResponseBytes, min(count, entries) * 160 + EntryRuns.listHeaderLength))
    }
}

/// The bytes one identity's cached state counts for, readable without awaiting its actor,
/// and kept in the running total of the cache it belongs to.
final class Footprint: Sendable {
    private let bytes = Mutex(0)
    let total: Tally

    init(total: Tally = Tally()) { self.total = total }

    func set(_ value: Int) {
        let change = bytes.withLock { bytes in
            defer { bytes = value }
            return value - bytes
        }
        total.add(change)
    }

    var value: Int { bytes.withLock { $0 } }
}

/// A running sum shared by every footprint of one cache.
final class Tally: Sendable {
    private let sum = Mutex(0)
    func add(_ change: Int) { sum.withLock { $0 += change } }
    var value: Int { sum.withLock { $0 } }
}
