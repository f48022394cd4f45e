import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote

/// Why a store sync failed.
package enum StoreClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The store answered with an error status.
    case refused(status: Int, code: String, message: String, retryAfter: String?)
    /// The store could not be reached, or answered with something that is not the protocol.
    case transport(String)
    /// The store did not answer in time.
    case timeout(String)
    /// The store's answers break the protocol in a way only a faulty or lying store would.
    case protocolViolation(String)
    /// The store's signed answers prove it misbehaved in a way that stops the sync (a key
    /// that is not the one pinned for its address).
    case misbehaved(StoreProblem)

    package var description: String {
        switch self {
        case .refused(let status, _, let message, _): "the store refused (\(status)): \(message)"
        case .transport(let why), .timeout(let why): why
        case .protocolViolation(let why): "the store broke the protocol: \(why)"
        case .misbehaved(let problem): problem.message
        }
    }

    /// The Retry-After the store sent, if any.
    package var retryAfter: String? {
        if case .refused(_, _, _, let value) = self { return value }
        return nil
    }
}

/// One HTTP exchange, so tests can count or break requests.
package protocol StoreTransport: Sendable {
    /// Posts `body` of `contentType`; the answer's header names are lowercased.
    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    )

    /// The same, with the answer's body handed to `reader` piece by piece as it arrives (a
    /// sync's streamed page is decoded part by part while the rest is on its way); returns the
    /// reader once the body has ended.
    func post<Reader: AnswerReader>(
        _ url: URL, body: Data, bearer: String?, contentType: String, reading reader: Reader
    ) async throws -> Reader
}

/// What reads an answer as it arrives: its status and headers first, then its body's bytes in
/// order. An error it throws ends the exchange as it is.
package protocol AnswerReader: Sendable {
    /// The answer's status and headers (names lowercased), before any of its body.
    mutating func start(status: Int, headers: [String: String]) throws
    /// The next bytes of the body.
    mutating func read(_ bytes: some Collection<UInt8>) throws
}

extension StoreTransport {
    /// The body gathered, then handed over at once (a transport that cannot stream).
    package func post<Reader: AnswerReader>(
        _ url: URL, body: Data, bearer: String?, contentType: String, reading reader: Reader
    ) async throws -> Reader {
        let (status, headers, bytes) = try await post(url, body: body, bearer: bearer, contentType: contentType)
        var reader = reader
        try reader.start(status: status, headers: headers)
        try reader.read(bytes)
        return reader
    }

    /// Posts a JSON body.
    package func post(_ url: URL, body: Data, bearer: String?) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        try await post(url, body: body, bearer: bearer, contentType: "application/json")
    }
}

/// What one store sync moved.
package struct StoreSyncReport: Sendable, Equatable {
    package var sent = 0
    package var received = 0
    package var requests = 0
    /// True when only the digests were compared (nothing had changed).
    package var unchanged = false
    /// True when the device and the store ended with the same digest.
    package var converged = false
    /// Devices the store listed as forked and whose proof this device now holds (hex).
    package var forks: [String] = []
    /// Devices the store listed as forked without sending proof that verifies (hex): a claim
    /// only, not believed.
    package var unprovenForkClaims: [String] = []
    /// Entries the store sent that this device refused, and why (forged, broken chains).
    package var refused: [MergeReport.Outcome] = []
    /// What the store's signed answers proved it did (went back, contradicted itself, dropped
    /// entries), each recorded with its proof in the device's database.
    package var storeProblems: [StoreProblem] = []
    /// Entries of this device the store was asked to prove it holds, and how many it proved
    /// (nil when it was not asked this time).
    package var possession: Possession?

    package struct Possession: Sendable, Equatable {
        package var asked: Int
        package var proven: Int
        package init(asked: Int, proven: Int) {
            self.asked = asked
            self.proven = proven
        }
    }

    package init() {}
}

/// Progress of a long sync: entries and bytes received of what the store said it had.
package struct StoreSyncProgress: Sendable, Equatable {
    package var received: Int
    package var total: Int
    package var receivedBytes: Int
    package var totalBytes: Int
    package var sent: Int
}

/// Syncs one device with a store: authenticates with the device key, pushes what the store
/// lacks and pulls what the device lacks (docs/PROTOCOL.md, "Store").
package actor StoreClient {
    package nonisolated let url: URL
    let engine: MergeEngine
    let keyPair: SigningKeyPair
    let transport: any StoreTransport
    let now: @Sendable () -> Int64
    let witness: StoreWitness
    private var token: (value: String, expires: Int64)?
    /// The store's clock as last seen: what it holds at least.
    private var storeClock: VectorClock?
    /// Digest of both after the last sync that ended level.
    private var levelDigest: Digest32?
    /// The limits of a push batch in the binary form (tests push in small batches).
    let pushBatcher: DeltaBatcher
    /// Set when this device's genesis entry introduced the identity to the store.
    private var introduced = false

    package init(
        url: URL, engine: MergeEngine, keyPair: SigningKeyPair, transport: any StoreTransport = HTTPStoreTransport(),
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
        acceptedStoreKey: PublicSigningKey? = nil, pushBatcher: DeltaBatcher = StoreClient.batcher
    ) {
        self.pushBatcher = pushBatcher
        self.url = url
        self.engine = engine
        self.keyPair = keyPair
        self.transport = transport
        self.now = now
        self.witness = StoreWitness(
            ledger: engine.store, identity: engine.identity, origin: StoreAPI.origin(of: url) ?? url.absoluteString,
            acceptedKey: acceptedStoreKey)
    }

    /// Lets a merged page go on another thread: freeing its tens of thousands of entries here
    /// took a pull one to two milliseconds a page, while the next page waited to be merged.
    /// The page is moved into the work item, which alone holds it.
    private static func letGo(_ page: consuming [Entry]) {
        guard page.count >= 1024 else { return }
        DispatchQueue.global(qos: .utility).async { [page = MergedPage(page)] in _ = page }
    }

    /// One sync. When nothing changed on either side since the last one, that is a single
    /// request of a digest.
    package func sync(progress: @Sendable (StoreSyncProgress) -> Void = { _ in }) async throws -> StoreSyncReport {
        var report = StoreSyncReport()
        let mine = try await engine.clock()
        if let levelDigest, levelDigest == mine.digest, storeClock != nil {
            let answer: SyncResponse = try await authorised(SyncRequest(digest: mine.digest.hex), &report)
            report.storeProblems += try witness.witness(answer, clock: nil)
            if answer.digest == mine.digest.hex, report.storeProblems.isEmpty {
                report.unchanged = true
                report.converged = true
                return report
            }
        }
        var total = 0
        var totalBytes = 0
        var receivedBytes = 0
        var attempts = 0
        // Batches sent ahead and refused for arriving first: past a few, this sync sends one
        // request at a time (a store refusing every one would otherwise keep the loop from
        // ever checking that its pushes make progress).
        var overtaken = 0
        var lastLeft = Int.max
        // The next page of a pull, asked for while this one merges.
        var prefetched: Task<(SyncResponse, [Entry]), any Error>?
        // The next batch of a push, read while this one travels and is stored.
        var nextPush: PreparedPush?
        // Push requests sent and not yet answered, in the order sent: the next batch goes
        // before the last one is answered, so the store reads one while it stores the other.
        var inFlight: [InFlight] = []
        defer {
            prefetched?.cancel()
            nextPush?.batch.cancel()
            for sent in inFlight { sent.answer.cancel() }
        }
        // Without the store's clock, the first request only asks for it: the first batch is
        // read meanwhile for the clock the store most likely has (used only if it has it).
        if storeClock == nil, let likely = await likelyStoreClock() { nextPush = prepare(for: likely) }
        while true {
            let clock = try await engine.clock()
            let request = SyncRequest(clock: Data.base64(VectorClock.encode(clock.entries)))
            var push: [Entry] = []
            var sentAhead = false
            let answer: SyncResponse
            let received: [Entry]
            do {
                if let next = prefetched {
                    prefetched = nil
                    (answer, received) = try await next.value
                } else {
                    // What the store lacks as far as this device knows, a batch at a time.
                    // Without the store's clock (the first sync, or after it lost something)
                    // the first request only asks for it.
                    if inFlight.isEmpty, let storeClock {
                        let batch = try await pushBatch(for: storeClock, &nextPush)
                        report.requests += 1
                        inFlight.append(send(request, batch, after: storeClock, ahead: false))
                    }
                    // In the binary form, the next batch sets out while the last is stored (a
                    // store of an earlier version is spoken to a request at a time).
                    if !firstFormOnly, overtaken < Self.maxOvertaken, inFlight.count == 1, let last = inFlight.first,
                        last.continuesLogs
                    {
                        let batch = try await pushBatch(for: last.after, &nextPush)
                        if !batch.entries.isEmpty {
                            report.requests += 1
                            inFlight.append(send(request, batch, after: last.after, ahead: true))
                        }
                    }
                    if !inFlight.isEmpty {
                        let first = inFlight.removeFirst()
                        (push, sentAhead) = (first.push, first.ahead)
                        (answer, received) = try await first.answer.value
                    } else {
                        (answer, received) = try await exchange(request, push: [], &report)
                    }
                }
            } catch StoreClientError.refused(409, "missing_entries", _, _) where sentAhead {
                // It reached the store before the batch ahead of it was stored: sent again,
                // from what the store answered it holds.
                Self.cancel(&inFlight)
                overtaken += 1
                continue
            } catch StoreClientError.refused(400, "bad_request", let message, _)
                where !firstFormOnly && message == StoreAPI.notJSONMessage
            {
                // A store of an earlier version reads JSON bodies only: this device speaks the
                // first form to it from now on (the batch is cut again to that form's limits).
                Self.cancel(&inFlight)
                firstFormOnly = true
                continue
            } catch StoreClientError.refused(409, _, _, _) where attempts < 2 {
                Self.cancel(&inFlight)
                attempts += 1
                storeClock = nil  // the store lacks something it was thought to hold: ask its clock
                continue
            }
            // A count from the store is believed only as far as it can be true.
            report.sent += min(max(answer.accepted ?? 0, 0), push.count)
            if introduced {
                report.sent += 1  // the genesis entry, sent with the token request
                introduced = false
            }
            if let forks = answer.forks { report.forks += forks.prefix(4096).map { String($0.prefix(64)) } }
            if total == 0 {
                total = answer.remaining ?? received.count
                totalBytes = answer.remainingBytes ?? 0
            }
            // A pull of many pages: the next is asked for now, with the clock this page makes, so
            // the store reads it while this one merges (as the peer channel streams).
            if answer.more == true, push.isEmpty, !received.isEmpty {
                let expected = Data.base64(VectorClock.encode(clock.advanced(by: received).entries))
                report.requests += 1
                prefetched = Task { try await self.exchange(SyncRequest(clock: expected), push: []) }
            }
            var merged = MergeReport()
            let receivedCount = received.count
            if !received.isEmpty {
                merged = try await engine.merge(received)
                report.received += merged.newlyCounted
                report.refused += merged.rejected
                receivedBytes += received.reduce(0) { $0 + $1.encoded.count }
            }
            Self.letGo(consume received)
            var answered: VectorClock?
            if let clockText = answer.clock {
                do {
                    guard let bytes = base64Bytes(clockText) else { throw LedgerError.malformed("not base64") }
                    answered = try VectorClock(decoding: bytes)
                } catch {
                    throw StoreClientError.protocolViolation(
                        "its clock is not valid (\((error as? LedgerError)?.reason ?? "\(error)"))")
                }
            }
            report.storeProblems += try witness.witness(answer, clock: answered)
            if let answered {
                // What was pushed must be in the store's signed answer: a store that says it took
                // entries and answers without them lost them.
                if !push.isEmpty {
                    report.storeProblems += try witness.dropped(push, by: answer, clock: answered)
                }
                storeClock = answered
            }
            progress(
                StoreSyncProgress(
                    received: min(report.received, total), total: total, receivedBytes: min(receivedBytes, totalBytes),
                    totalBytes: totalBytes, sent: report.sent))
            if answer.more == true {
                // "More" must mean more: a page that adds nothing to this replica would be asked
                // for again forever.
                guard !merged.accepted.isEmpty || !merged.held.isEmpty else {
                    throw StoreClientError.protocolViolation(
                        "it said it had more for this device but sent \(receivedCount) entries, none of them new")
                }
                continue
            }
            // The answers to batches already sent come first.
            if !inFlight.isEmpty { continue }
            // Push again while the store lacks something and the last push made progress.
            if let storeClock {
                let plan = try await engine.deltaPlan(for: storeClock)
                let left = plan.runEntries + plan.extra.count
                if left > 0, left < lastLeft {
                    lastLeft = left
                    continue
                }
            }
            // A fork is believed only when this device holds the two signed entries that prove it.
            let proven = Set(try await engine.provenForks().keys.map(\.hex))
            let claimed = Set(report.forks)
            report.forks = claimed.filter(proven.contains).sorted()
            report.unprovenForkClaims = claimed.subtracting(proven).sorted()
            report.storeProblems = report.storeProblems.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
            let now = try await engine.clock()
            report.converged = answer.digest == now.digest.hex
            if report.converged, report.sent > 0 || possessionDue(answer) {
                try await challenge(answer, &report)
            }
            if report.converged { levelDigest = now.digest }
            return report
        }
    }

    /// When this device last had the store prove it holds its entries (this process).
    private var lastPossessionCheck: Int64?

    /// A store not asked for a day is asked again: by this process, or by any other whose proof
    /// this device's database kept (each `ledgerlink sync` is a process of its own, and asked
    /// every time: a round trip, a durable write, and the store's reads, on every sync). A
    /// proof dated in the future (a clock set back) does not put the next one off.
    private func possessionDue(_ answer: SyncResponse) -> Bool {
        let now = now()
        if let last = lastPossessionCheck { return now - last > 24 * 3600 }
        guard let key = answer.head?.head(identity: engine.identity, digest: answer.digest)?.store,
            let millis = try? engine.store.possessionTime(key: key.bytes)
        else { return true }
        let last = millis / 1000
        return last > now || now - last > 24 * 3600
    }

    /// Asks the store to prove it holds a random sample of this device's entries that its
    /// signed clock includes (docs/PROTOCOL.md, "Proof of possession"), and records the result.
    private func challenge(_ answer: SyncResponse, _ report: inout StoreSyncReport) async throws {
        let device = engine.device
        guard let storeClock, let head = answer.head?.head(identity: engine.identity, digest: answer.digest) else {
            return
        }
        let held = min(storeClock[device], try await engine.clock()[device])
        guard held > 0 else { return }
        var seqs: Set<UInt64> = [held]
        while seqs.count < min(8, Int(clamping: held)) { seqs.insert(UInt64.random(in: 1...held)) }
        let asked = seqs.sorted()
        var entries: [UInt64: Entry] = [:]
        for seq in asked {
            if let entry = try await engine.entries(of: device, from: seq, through: seq).first { entries[seq] = entry }
        }
        let nonce = SecureRandom.bytes(32)
        let proof: ProveResponse = try await authorised(
            "prove",
            ProveRequest(nonce: Data.base64(nonce), entries: asked.map { ProveItem(device: device.hex, seq: $0) }))
        lastPossessionCheck = now()
        var missing: [UInt64] = []
        for (index, seq) in asked.enumerated() {
            guard let entry = entries[seq] else { continue }
            let expected = StoreAPI.possessionProof(nonce: nonce, entry: entry.encoded).hex
            if index >= proof.proofs.count || proof.proofs[index] != expected { missing.append(seq) }
        }
        report.possession = StoreSyncReport.Possession(asked: asked.count, proven: asked.count - missing.count)
        if missing.isEmpty {
            try engine.store.recordPossession(
                key: head.store.bytes, origin: witness.origin, sampled: asked.count, through: held,
                time: now() * 1000)
        } else {
            report.storeProblems += try witness.unproven(missing, of: asked.count, head: head)
        }
    }

    /// Batches sent ahead that may be refused for arriving first, in one sync, before it sends
    /// one request at a time.
    package static let maxOvertaken = 4

    /// A push request sent and not yet answered.
    private struct InFlight {
        let push: [Entry]
        /// The store's clock once it stores `push` (the clock the next batch is read for).
        let after: VectorClock
        /// Sent before the batch ahead of it was answered.
        let ahead: Bool
        let answer: Task<(SyncResponse, [Entry]), any Error>
        /// Every entry of `push` continues a log of the store's: only then is the batch after
        /// it known before the store answers (an entry the store holds another version of,
        /// say, leaves the next batch the same one).
        let continuesLogs: Bool
    }

    /// Sends `batch`, read for a store whose clock is `storeClock`, as a sync of `request`.
    private func send(
        _ request: SyncRequest, _ batch: (entries: [Entry], runs: [UInt8]?), after storeClock: VectorClock, ahead: Bool
    ) -> InFlight {
        let after = storeClock.advanced(by: batch.entries)
        let (before, moved) = (storeClock.seqs, after.seqs)
        return InFlight(
            push: batch.entries, after: after, ahead: ahead,
            answer: Task { try await self.exchange(request, push: batch.entries, runs: batch.runs) },
            continuesLogs: !batch.entries.isEmpty
                && batch.entries.allSatisfy {
                    $0.seq > before[$0.author] ?? 0 && $0.seq <= moved[$0.author] ?? 0
                })
    }

    private static func cancel(_ inFlight: inout [InFlight]) {
        for sent in inFlight { sent.answer.cancel() }
        inFlight = []
    }

    /// The batch a store whose clock is `storeClock` lacks: the one read ahead when it was read
    /// for that clock, else read now. The batch after it starts being read at once, for the
    /// clock that storing this one makes.
    private func pushBatch(for storeClock: VectorClock, _ nextPush: inout PreparedPush?) async throws -> (
        entries: [Entry], runs: [UInt8]?
    ) {
        let batcher = firstFormOnly ? Self.firstFormBatcher : pushBatcher
        var batch: (entries: [Entry], runs: [UInt8]?) = ([], nil)
        if let ready = nextPush, ready.storeDigest == storeClock.digest, ready.binary == !firstFormOnly {
            batch = try await ready.batch.value
        } else {
            nextPush?.batch.cancel()
            batch.entries = try await Self.batch(of: try await engine.deltaPlan(for: storeClock), from: engine, batcher)
        }
        nextPush = batch.entries.isEmpty ? nil : prepare(for: storeClock.advanced(by: batch.entries))
        return batch
    }

    /// Starts reading (and, in the binary form, encoding) the batch a store whose clock is
    /// `storeClock` lacks, off this actor.
    private func prepare(for storeClock: VectorClock) -> PreparedPush {
        let batcher = firstFormOnly ? Self.firstFormBatcher : pushBatcher
        let (engine, binary) = (self.engine, !firstFormOnly)
        return PreparedPush(
            storeDigest: storeClock.digest, binary: binary,
            batch: Task.detached {
                let entries = try await Self.batch(
                    of: try await engine.deltaPlan(for: storeClock), from: engine, batcher)
                return (entries, binary ? SyncBody.runs(entries) : nil)
            })
    }

    /// The clock the store most likely has before this device's first request of a sync: the
    /// one it last answered (kept by the witness), or, for a store this device never synced
    /// with, the identity's genesis entry alone (what a store holds once a genesis device's
    /// login introduced the identity).
    /// A guess: nil when it cannot be read (the sync then reads its first batch after the answer).
    private func likelyStoreClock() async -> VectorClock? {
        if let kept = try? witness.lastClock() { return kept }
        guard let genesis = try? await engine.entries(of: engine.root, from: 1, through: 1).first else { return nil }
        return VectorClock([ClockEntry(author: genesis.author, seq: 1, head: genesis.hash)])
    }

    /// A push batch read ahead: what a store whose clock has `storeDigest` lacks, and its
    /// runs when it is for the binary form.
    private struct PreparedPush {
        let storeDigest: Digest32
        let binary: Bool
        let batch: Task<([Entry], [UInt8]?), any Error>
    }

    /// The first batch of a delta plan, up to `batcher`'s limits.
    private static func batch(of plan: DeltaPlan, from engine: MergeEngine, _ batcher: DeltaBatcher) async throws
        -> [Entry]
    {
        var batch = DeltaBatcher.Batch()
        for try await page in plan.pages(from: engine) {
            for entry in page {
                guard batch.add(entry, batcher) else { return batch.entries }
            }
        }
        return batch.entries
    }

    /// A push: at most the store's entries per request, as runs under half its largest request
    /// body (the control object takes the rest).
    static let batcher = DeltaBatcher(
        maxEntries: StoreAPI.maxRequestEntries, maxBytes: StoreAPI.maxRequestBody / 2, cost: EntryRuns.cost(of:))

    /// A push to a store that reads JSON bodies only: at most the 5,000 entries such a store
    /// takes, as base64 in JSON (with quotes and a comma) under half its largest request body.
    static let firstFormBatcher = DeltaBatcher(
        maxEntries: 5_000, maxBytes: StoreAPI.maxRequestBody / 2 - 1, cost: { $0.encoded.count * 4 / 3 + 8 })

    /// Set once the store turned out to read JSON bodies only.
    private var firstFormOnly = false

    /// Sends a poll (a digest alone, in JSON) with a token.
    private func authorised(_ request: SyncRequest, _ report: inout StoreSyncReport) async throws -> SyncResponse {
        report.requests += 1
        return try await authorised("sync", request)
    }

    /// Sends a sync in the binary form (docs/PROTOCOL.md, "Binary sync bodies") with `push`,
    /// and returns the answer's fields and the entries it carries. A store answering in JSON
    /// (the first form) is read too.
    private func exchange(
        _ request: SyncRequest, push: [Entry], runs: [UInt8]? = nil, _ report: inout StoreSyncReport
    ) async throws -> (SyncResponse, [Entry]) {
        report.requests += 1
        return try await exchange(request, push: push, runs: runs)
    }

    /// `runs`, when given, are `push` already encoded as runs.
    private func exchange(_ request: SyncRequest, push: [Entry], runs: [UInt8]? = nil) async throws -> (
        SyncResponse, [Entry]
    ) {
        let body: Data
        let contentType: String
        if firstFormOnly {
            var json = request
            json.entries = push.map { Data.base64($0.encoded) }
            body = try JSONEncoder().encode(json)
            contentType = "application/json"
        } else {
            body = Data(
                try runs.map { try SyncBody.encode(request, runs: $0) } ?? SyncBody.encode(request, entries: push))
            contentType = SyncBody.contentType
        }
        let endpoint = url.appendingPathComponent("v1/identities/\(engine.identity.hex)/sync")
        return try await withToken { bearer in
            try await transport.post(
                endpoint, body: body, bearer: bearer, contentType: contentType, reading: SyncAnswerReader(url: url)
            ).answer()
        }
    }

    /// A sync's answer read as it arrives: a streamed one part by part (each part's entries
    /// rebuilt while the next travels), any other gathered and read once whole.
    struct SyncAnswerReader: AnswerReader {
        let url: URL
        /// A streamed answer, read part by part.
        private var stream: SyncBody.StreamReader<SyncResponse>?
        /// Any other answer, gathered whole; and the status and headers of either.
        private var gathered = GatheredAnswer()

        init(url: URL) { self.url = url }

        mutating func start(status: Int, headers: [String: String]) throws {
            try gathered.start(status: status, headers: headers)
            if status == 200, headers["content-type"] == SyncBody.streamType {
                stream = SyncBody.StreamReader(maxEntries: StoreAPI.maxResponseEntries)
            }
        }

        mutating func read(_ bytes: some Collection<UInt8>) throws {
            guard stream != nil else { return try gathered.read(bytes) }
            do { try stream?.read(bytes) } catch { throw StoreClient.notTheProtocol(error) }
        }

        /// The answer's fields and entries, once its body has ended.
        func answer() throws -> (SyncResponse, [Entry]) {
            guard var stream else {
                return try StoreClient.wholeAnswer(gathered.status, gathered.headers, gathered.bytes, from: url)
            }
            return try StoreClient.binaryAnswer { try stream.finish() }
        }
    }

    /// An answer in one of the binary forms, as `read` gives it: refused as not the protocol
    /// when it does not read or carries entries inside its control object.
    static func binaryAnswer(_ read: () throws -> (SyncResponse, [Entry])) throws -> (SyncResponse, [Entry]) {
        let (answer, entries): (SyncResponse, [Entry])
        do { (answer, entries) = try read() } catch { throw notTheProtocol(error) }
        guard answer.entries == nil else {
            throw notTheProtocol(SyncBody.Malformed(description: "entries inside its control object"))
        }
        return (answer, entries)
    }

    static func notTheProtocol(_ error: any Error) -> StoreClientError {
        .transport("the store's answer is not the protocol (sync: \(error))")
    }

    /// A sync answer read whole (binary, from a store of an earlier version, or JSON): its
    /// fields and its entries.
    static func wholeAnswer(_ status: Int, _ headers: [String: String], _ bytes: [UInt8], from url: URL) throws
        -> (SyncResponse, [Entry])
    {
        if status == 200, headers["content-type"] == SyncBody.contentType {
            return try binaryAnswer {
                try SyncBody.decode(bytes, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
            }
        }
        let answer: SyncResponse = try Self.answer(status, headers, Data(bytes), from: url, action: "sync")
        let entries = try (answer.entries ?? []).map { text -> Entry in
            guard let bytes = base64Bytes(text), let entry = try? Entry(decoding: bytes) else {
                throw StoreClientError.transport("the store sent an entry that does not parse")
            }
            return entry
        }
        guard entries.count <= StoreAPI.maxResponseEntries else {
            throw StoreClientError.protocolViolation("it sent \(entries.count) entries in one answer")
        }
        return (answer, entries)
    }

    /// Sends `request` to `action` with a token, getting (or renewing) the token as needed.
    private func authorised<Request: Encodable, Answer: Decodable>(_ action: String, _ request: Request)
        async throws -> Answer
    {
        try await withToken { bearer in try await post(action, request, bearer: bearer) }
    }

    /// Runs `exchange` with a token, getting (or renewing) it once when the store refuses it.
    private func withToken<T>(_ exchange: (String) async throws -> T) async throws -> T {
        for attempt in 0..<2 {
            let bearer = try await currentToken()
            do {
                return try await exchange(bearer)
            } catch StoreClientError.refused(401, _, _, _) where attempt == 0 {
                token = nil  // expired or forgotten by the store: authenticate again
            }
        }
        throw StoreClientError.transport("the store keeps refusing fresh tokens")
    }

    /// A valid token for this device (for the pairing mailbox's inviter side).
    package func bearerToken() async throws -> String { try await currentToken() }

    /// Opens the pairing mailbox `mailbox` (hex) for `seconds`.
    package func openMailbox(_ mailbox: String, seconds: Int) async throws {
        let _: MailboxOpenResponse = try await authorised(
            "pairing/open", MailboxOpenRequest(mailbox: mailbox, expiresIn: seconds))
    }

    /// Closes the pairing mailbox `mailbox`.
    package func closeMailbox(_ mailbox: String) async throws {
        let _: EmptyResponse = try await authorised("pairing/close", MailboxCloseRequest(mailbox: mailbox))
    }

    private func currentToken() async throws -> String {
        if let token, token.expires > now() + 30 { return token.value }
        let answer: TokenResponse
        do {
            answer = try await post("token", try await signedChallenge(genesis: nil), bearer: nil)
        } catch StoreClientError.refused(404, "unknown_identity", _, _) where keyPair.publicKey == engine.root {
            // The store has not met this identity: its genesis device introduces it.
            guard let genesis = try await engine.entries(of: engine.root, from: 1, through: 1).first else {
                throw StoreClientError.transport("this device does not hold the genesis entry")
            }
            answer = try await post("token", try await signedChallenge(genesis: genesis), bearer: nil)
            introduced = true
        }
        token = (answer.token, answer.expires)
        return answer.token
    }

    /// A fresh challenge from the store, signed with the device key (the challenge is single
    /// use, so every token request needs its own).
    private func signedChallenge(genesis: Entry?) async throws -> TokenRequest {
        let device = keyPair.publicKey
        let challenge: ChallengeResponse = try await post(
            "challenge", ChallengeRequest(device: device.hex), bearer: nil)
        guard let challengeBytes = base64Bytes(challenge.challenge), let origin = StoreAPI.origin(of: url) else {
            throw StoreClientError.transport("the store sent a malformed challenge")
        }
        let transcript = StoreAPI.authTranscript(
            origin: origin, identity: engine.identity, device: device, challenge: challengeBytes,
            expires: challenge.expires)
        return TokenRequest(
            device: device.hex, challenge: challenge.challenge, signature: Data.base64(keyPair.sign(transcript).bytes),
            genesis: genesis.map { Data.base64($0.encoded) })
    }

    private func post<Request: Encodable, Answer: Decodable>(_ action: String, _ body: Request, bearer: String?)
        async throws -> Answer
    {
        let endpoint = url.appendingPathComponent("v1/identities/\(engine.identity.hex)/\(action)")
        let (status, headers, data) = try await transport.post(
            endpoint, body: try JSONEncoder().encode(body), bearer: bearer)
        return try Self.answer(status, headers, data, from: url, action: action)
    }

    /// A store's answer as `Answer`, or the error it means: a redirect (never followed), a
    /// refusal with the store's code and message, or something that is not the protocol.
    package static func answer<Answer: Decodable>(
        _ status: Int, _ headers: [String: String], _ data: Data, from url: URL, action: String
    ) throws -> Answer {
        if (300..<400).contains(status) {
            let target = headers["location"].map { " to \(TextSafety.sanitised(String($0.prefix(200))))" } ?? ""
            throw StoreClientError.transport(
                "the store at \(url.absoluteString) redirected\(target); ledgerlink does not follow redirects "
                    + "(one could carry this device's token elsewhere): if that address is your store, use it")
        }
        guard status == 200 else {
            let error = try? JSONDecoder().decode(StoreErrorBody.self, from: data)
            throw StoreClientError.refused(
                status: status, code: error?.error ?? "http_\(status)",
                message: TextSafety.sanitised(error?.message ?? "HTTP \(status)"), retryAfter: headers["retry-after"])
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw StoreClientError.transport("the store's answer is not the protocol (\(action))")
        }
    }
}

/// A page of entries on its way to be freed (see `StoreClient.letGo`).
private final class MergedPage: Sendable {
    let entries: [Entry]
    init(_ entries: consuming [Entry]) { self.entries = entries }
}
