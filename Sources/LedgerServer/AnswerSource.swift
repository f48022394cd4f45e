import LedgerCore
import LedgerRemote

/// The entries of an answer: filled already (nothing to send), or to read from where they are
/// kept (`AnswerSource`), once the identity is let go.
enum AnswerEntries: Sendable {
    case filled(DeltaBatcher.Batch)
    case read(any AnswerSource)

    /// The page, read now if it is still to read, with `response`'s counts written (`more`,
    /// the sizes). `afterEachRead` is given the batch after each read: it sets the runs
    /// written so far aside, or sends them (a streamed answer).
    func fill(
        _ response: inout SyncResponse, afterEachRead: (inout DeltaBatcher.Batch) async throws -> Void
    ) async throws -> DeltaBatcher.Batch {
        switch self {
        case .filled(let batch):
            return batch
        case .read(let source):
            var batch = DeltaBatcher.Batch(writingRuns: source.shape.runs)
            try await source.fill(&batch, afterEachRead: afterEachRead)
            // What the page came to: whether more is left of what the device lacks, and the
            // bytes of it, estimated from the page.
            response.more = batch.count < source.total
            response.remaining = source.total
            response.remainingBytes = batch.count == 0 ? 0 : batch.bytes * source.total / batch.count
            return batch
        }
    }

    /// The page, its runs set aside after each read (held in parts, not one buffer).
    func heldInParts(_ response: inout SyncResponse) async throws -> DeltaBatcher.Batch {
        try await fill(&response) { $0.setAsideRuns() }
    }
}

/// Where an answer's page is read from, planned under the identity's lock and read after it:
/// what was planned stays as it is (rows and a replica's entries are never changed once
/// stored), so a device reading its answer slowly holds up no other sync of its identity.
protocol AnswerSource: Sendable {
    var shape: AnswerShape { get }
    /// Entries the device lacks, of which a page sends what fits.
    var total: Int { get }
    /// Reads the page into `batch` (as many entries as the answer may carry), handing the
    /// batch to `afterEachRead` after each read.
    func fill(_ batch: inout DeltaBatcher.Batch, afterEachRead: (inout DeltaBatcher.Batch) async throws -> Void)
        async throws
}

/// An answer read from an identity's replica (a forked identity), a read of
/// `IdentityLedger.answerChunk` entries at a time. The replica stays open while it is read,
/// even if the identity's ledger drops it meanwhile.
struct ReplicaPage: AnswerSource {
    let engine: MergeEngine
    let plan: DeltaPlan
    let shape: AnswerShape

    var total: Int { plan.runEntries + plan.extra.count }

    func fill(_ batch: inout DeltaBatcher.Batch, afterEachRead: (inout DeltaBatcher.Batch) async throws -> Void)
        async throws
    {
        let answer = shape.batcher
        shape.reserveRead(of: min(total, IdentityLedger.answerChunk), in: &batch)
        pages: for try await entries in plan.pages(from: engine, size: IdentityLedger.answerChunk) {
            for entry in entries {
                guard batch.add(entry, answer) else { break pages }
            }
            try await afterEachRead(&batch)
        }
    }
}

/// What an answer sends from the rows, planned by the identity's ledger from its heads and
/// read afterwards, a few rows at a time, with the identity let go: rows are never changed
/// once stored, so what is read is what was planned, whatever is pushed meanwhile, and a
/// device reading its answer slowly holds up no other sync of its identity.
struct RowPage: AnswerSource {
    let identity: IdentityID
    let backend: any StoreBackend
    /// The stretches of logs to send, in the order their first rows were stored.
    let runs: [IdentityLedger.Run]
    /// The heads the device holds another version of, sent after the runs.
    let extra: [Entry]
    /// Entries in `runs`: at most the rows stored (`version`).
    let wanted: Int64
    /// The rows the plan was made at.
    let version: Int64
    let rowsPerRead: Int
    let shape: AnswerShape

    var total: Int { Int(wanted) + extra.count }

    func fill(_ batch: inout DeltaBatcher.Batch, afterEachRead: (inout DeltaBatcher.Batch) async throws -> Void)
        async throws
    {
        let answer = shape.batcher
        shape.reserveRead(of: min(total, rowsPerRead), in: &batch)
        // When what is sent makes up at least half the rows from the first one to send (a new
        // device, a device that was away), the rows are read in the order they were stored,
        // along the primary key; otherwise log by log along the author index.
        if let start = runs.first?.first, start <= version, (version - start) / 2 < wanted {
            try await scan(from: start, into: &batch, answer, afterEachRead)
        } else {
            try await readLogs(into: &batch, answer, afterEachRead)
        }
        if batch.count == total - extra.count {
            for entry in extra {
                guard batch.add(entry, answer) else { break }
            }
        }
    }

    /// Fills `batch` with the entries of `runs`, reading rows `start...version` in stored order
    /// and keeping those in a run. Each log's entries must come in seq order without a gap.
    private func scan(
        from start: Int64, into batch: inout DeltaBatcher.Batch, _ answer: DeltaBatcher,
        _ afterEachRead: (inout DeltaBatcher.Batch) async throws -> Void
    ) async throws {
        var next = Dictionary(uniqueKeysWithValues: runs.map { ($0.author, (seq: $0.from, through: $0.through)) })
        var wanted = wanted
        var cursor = start - 1
        while wanted > 0 {
            let rows = try await backend.rows(of: identity.bytes, after: cursor, limit: rowsPerRead)
            // Every read moves on, or the rows end before the heads say they do.
            guard let last = rows.last, last.n > cursor, cursor < version else {
                throw IdentityLedger.missingRows(
                    runs.first { next[$0.author].map { $0.seq <= $0.through } ?? false }?.author)
            }
            cursor = last.n
            let entries = try IdentityLedger.checkedAll(rows)
            for entry in entries {
                guard let place = next[entry.author], Int64(entry.seq) >= place.seq, place.seq <= place.through else {
                    continue
                }
                guard Int64(entry.seq) == place.seq else { throw IdentityLedger.missingRows(entry.author) }
                guard try batch.add(entry, cost: AnswerShape.cost(entry.encoded), answer) else { return }
                next[entry.author] = (place.seq + 1, place.through)
                wanted -= 1
            }
            try await afterEachRead(&batch)
        }
    }

    /// Fills `batch` with the entries of `runs`, a log at a time along the author index.
    private func readLogs(
        into batch: inout DeltaBatcher.Batch, _ answer: DeltaBatcher,
        _ afterEachRead: (inout DeltaBatcher.Batch) async throws -> Void
    ) async throws {
        for run in runs {
            var from = run.from
            while from <= run.through {
                let limit = min(rowsPerRead, answer.maxEntries - batch.count + 1)
                let rows = try await backend.rows(
                    of: identity.bytes, author: run.author.bytes, seqs: from...run.through, limit: limit)
                let entries = try IdentityLedger.checkedAll(rows)
                // Each read continues the log where the last one ended, or the rows lack what
                // the heads name (read progress is checked, so this loop always ends).
                guard let last = entries.last else { throw IdentityLedger.missingRows(run.author) }
                for (offset, entry) in entries.enumerated() {
                    // Both at least 1 and at most Int64.max: the difference cannot trap.
                    guard entry.author == run.author, Int64(entry.seq) >= from,
                        Int64(entry.seq) - from == Int64(offset)
                    else {
                        throw IdentityLedger.missingRows(run.author)
                    }
                    guard try batch.add(entry, cost: AnswerShape.cost(entry.encoded), answer) else { return }
                }
                try await afterEachRead(&batch)
                guard Int64(last.seq) < run.through else { break }
                from = Int64(last.seq) + 1
            }
        }
    }
}
