import Foundation
import GRDB
import LedgerCrypto

/// A settlement that counts: which branch of a forked device's log counts, up to where
/// (docs/PROTOCOL.md, "Settling a fork").
public struct Settlement: Sendable, Equatable {
    /// The forked device.
    public let device: DevicePublicKey
    public let forkSeq: Seq
    /// The hash of the chosen branch's entry at `forkSeq`.
    public let chosen: EntryHash
    /// The last seq of the chosen branch that counts.
    public let through: Seq
    /// Who settled it, and where in their log.
    public let author: DevicePublicKey
    public let seq: Seq
    public let time: Int64
}

/// One branch of a forked log, from the fork seq on, as the settle view lists it.
public struct ForkBranch: Sendable, Equatable {
    /// The branch's entries in seq order (the first at the fork seq).
    public let entries: [HistoryItem]
    /// Whether the settlement that counts chose it.
    public let isChosen: Bool
    /// The hash of its entry at the fork seq: what a settlement names.
    public var first: EntryHash? { entries.first?.hash }
}

extension MergeEngine {
    /// The settlement that counts for each device: of the settle entries whose authors the
    /// roster authorises at their seq, the one whose author ranks first (the roster's rank),
    /// then the lowest seq, then the lowest author key, as revokes are ordered.
    static func settlements(_ controls: [ControlRecord], roster: Roster) -> [DevicePublicKey: Settlement] {
        var best: [DevicePublicKey: (rank: [Seq], settlement: Settlement)] = [:]
        for record in controls {
            guard case .settle(let device, let forkSeq, let chosen, let through) = record.body,
                roster.authorises(record.author, seq: record.seq), let rank = roster.devices[record.author]?.rank
            else { continue }
            let settlement = Settlement(
                device: device, forkSeq: forkSeq, chosen: chosen, through: through, author: record.author,
                seq: record.seq, time: record.time)
            if let current = best[device] {
                let earlier =
                    rank != current.rank
                    ? rank.lexicographicallyPrecedes(current.rank)
                    : (record.seq, record.author) < (current.settlement.seq, current.settlement.author)
                guard earlier else { continue }
            }
            best[device] = (rank, settlement)
        }
        return best.mapValues(\.settlement)
    }

    /// The settlement that applies to `author`'s log now: one that counts and names its fork.
    func settlement(of author: DevicePublicKey) -> Settlement? {
        guard let fork = cache.forkSeqs[author], let settlement = cache.settlements[author],
            settlement.forkSeq == fork
        else { return nil }
        return settlement
    }

    /// The first seq `author`'s log takes nothing at: its fork seq, or past a settlement the
    /// seq after its end (or a later fork in the chosen branch); nil when it is not forked.
    func frozenFrom(_ author: DevicePublicKey) -> Seq? {
        guard let fork = cache.forkSeqs[author] else { return nil }
        guard let settlement = settlement(of: author) else { return fork }
        return min(settlement.through &+ 1, cache.forkCuts[author] ?? .max)
    }

    /// The entry a settlement requires at `author`'s fork seq.
    func chosenEntry(_ author: DevicePublicKey) -> (seq: Seq, hash: EntryHash)? {
        settlement(of: author).map { ($0.forkSeq, $0.chosen) }
    }

    /// Keeps an entry of a forked device that its log does not take (the other branch, or past
    /// the end a settlement set): true when it was not known before (it is then reported as
    /// not counted), false for a repeat.
    func keepBranch(_ db: Database, _ entry: Entry, heldHashes: Set<EntryHash>, report: inout MergeReport) throws
        -> Bool
    {
        if try LedgerStore.Forks.isProof(db, entry) || LedgerStore.Branches.contains(db, entry) {
            if !heldHashes.contains(entry.hash) { report.duplicates += 1 }
            return false
        }
        // Only what the device signed is kept: its own signature is checked here.
        if entry.hasValidSignature { try LedgerStore.Branches.insert(db, [entry]) }
        return true
    }

    /// Moves `author`'s log entries from `seq` on into the kept branches and cuts the log there.
    func cutLog(_ db: Database, author: DevicePublicKey, from seq: Seq) throws {
        let authorID = try authorRowID(db, author)
        var moved: [Entry] = []
        try LogSegments.forEach(db, author: authorID, from: seq) { row in
            moved.append(try row.entry(identity: identity, author: author))
            return true
        }
        try LedgerStore.Branches.insert(db, moved)
        if try LedgerStore.Controls.exists(db, authorID: authorID, from: seq) { controlsChanged = true }
        try LogSegments.truncate(db, author: authorID, from: seq)
        try LedgerStore.Corrections.delete(db, authorID: authorID, from: seq)
        if let row = try LogSegments.last(db, author: authorID) {
            cache.authors[author] = AuthorState(
                seq: row.seq, head: try row.entry(identity: identity, author: author).hash, cumCredit: row.cumCredit,
                cumDebit: row.cumDebit)
        } else {
            cache.authors[author] = nil
        }
    }

    /// A second fork inside a settled branch (two entries on one parent at `seq`): both kept
    /// as proof, and the log ends before it.
    func recordCut(_ db: Database, author: DevicePublicKey, seq: Seq, proof: [Entry]) throws {
        for entry in proof { try LedgerStore.Forks.insert(db, entry, seq: seq) }
        cache.forkCuts[author] = min(cache.forkCuts[author] ?? .max, seq)
        try cutLog(db, author: author, from: seq)
    }

    /// Later forks inside each settled branch, from the proofs kept.
    func loadCuts(_ db: Database) throws {
        cache.forkCuts = [:]
        for (author, fork) in cache.forkSeqs where settlement(of: author) != nil {
            if let cut = try LedgerStore.Forks.seqs(db, author: author).first(where: { $0 > fork }) {
                cache.forkCuts[author] = cut
            }
        }
    }

    /// Brings the logs of `authors` in line with their settlements: each log is cut back to its
    /// fork, and a settled one takes its chosen branch again from what is kept.
    func applySettlements(_ db: Database, _ authors: Set<DevicePublicKey>, _ report: inout MergeReport) throws {
        for author in authors.sorted() {
            guard let fork = cache.forkSeqs[author] else { continue }
            try cutLog(db, author: author, from: fork)
            try loadCuts(db)
            guard settlement(of: author) != nil else { continue }
            var scratch = MergeReport(listsEntries: report.listsEntries)
            let kept =
                try LedgerStore.Branches.entries(db, author: author, from: fork)
                + LedgerStore.Forks.proofs(db, author: author).filter { $0.seq >= fork }
            // What the branch adds to the log is counted with the rest at the transaction's end.
            try mergeBatch(db, kept, &scratch)
            report.forks += scratch.forks
        }
    }

    /// The settlement that counts for `device`, if any (whether or not it applies yet).
    public func settlementOf(_ device: DevicePublicKey) throws(LedgerError) -> Settlement? {
        try refresh()
        return cache.settlements[device]
    }

    /// The branches of `device`'s forked log this replica holds, from the fork seq on: one per
    /// entry at that seq, each followed through the entries that link to it.
    public func branches(of device: DevicePublicKey) throws(LedgerError) -> (forkSeq: Seq, branches: [ForkBranch])? {
        try refresh()
        guard let fork = cache.forkSeqs[device] else { return nil }
        let chosen = settlement(of: device)?.chosen
        let keys = cache.keys
        return try store.read { db in
            var all: [Entry] = try LedgerStore.Branches.entries(db, author: device, from: fork)
            all += try LedgerStore.Forks.proofs(db, author: device).filter { $0.seq >= fork }
            if let authorID = cache.authorIDs[device] {
                try LogSegments.forEach(db, author: authorID, from: fork) { row in
                    all.append(try row.entry(identity: identity, author: device))
                    return true
                }
            }
            var byPrev: [EntryHash: [Entry]] = [:]
            var seen = Set<EntryHash>()
            for entry in all where seen.insert(entry.hash).inserted { byPrev[entry.prev, default: []].append(entry) }
            let starts = all.filter { $0.seq == fork }.reduce(into: [Entry]()) { list, entry in
                if !list.contains(where: { $0.hash == entry.hash }) { list.append(entry) }
            }
            return (
                fork,
                starts.sorted { $0.hash < $1.hash }.map { start in
                    var chain = [start]
                    // Follow the branch while exactly one entry links on (bounded by what is kept).
                    while chain.count <= all.count, let last = chain.last, let next = byPrev[last.hash], next.count == 1
                    {
                        chain.append(next[0])
                    }
                    let items = chain.map { entry -> HistoryItem in
                        var amount: Int64?
                        var memo: String?
                        if case .opened(let body) = Self.openSealedPart(entry, keys: keys) {
                            (amount, memo) = Self.columns(of: body)
                        }
                        return HistoryItem(
                            author: device, seq: entry.seq, hash: entry.hash, kind: entry.kind, time: entry.time,
                            amount: amount, memo: memo)
                    }
                    return ForkBranch(entries: items, isChosen: start.hash == chosen)
                }
            )
        }
    }

    /// Appends a settlement of `device`'s fork: the branch whose entry at the fork seq is
    /// `chosen` counts through `through`.
    @discardableResult
    public func appendSettle(device target: DevicePublicKey, chosen: EntryHash, through: Seq, time: Int64 = now())
        throws(LedgerError) -> Entry
    {
        try refresh()
        guard let fork = cache.forkSeqs[target] else { throw .invalidState("that device's log is not forked") }
        guard target != device else {
            throw .invalidState("a device cannot settle its own fork; settle it from another")
        }
        guard through >= fork else { throw .invalidState("a settlement counts through the fork seq \(fork) or later") }
        return try appendLocal(
            kind: .settle, publicBody: .settle(device: target, forkSeq: fork, chosen: chosen, through: through),
            privateBody: .settle, time: time)
    }
}
