import Foundation
import GRDB
import LedgerCrypto

/// Held entries and forks: entries waiting for an earlier one, the bounds on what may wait,
/// and proofs of a device that signed two entries at one seq.
extension MergeEngine {
    func heldEntries(_ db: Database, author: DevicePublicKey) throws -> [Entry] {
        try LedgerStore.Held.entries(db, author: author)
    }

    /// Entries held by authors other than `author` that are not counted, for the hold limit.
    func pendingCount(excluding author: DevicePublicKey) -> Int {
        var count = cache.heldCount
        for (key, state) in cache.authors where key != author {
            guard let limit = cache.roster.limit(of: key) else {
                count += Int(state.seq)
                continue
            }
            if state.seq > limit { count += Int(state.seq - limit) }
        }
        return count
    }

    /// Bytes of entries stored but not counted because their author has no certificate: the
    /// held table and the logs of unlinked devices (read only when such a log grows).
    func pendingBytes(_ db: Database) throws -> Int {
        var bytes = cache.heldBytes
        for (key, _) in cache.authors where cache.roster.limit(of: key) == nil {
            bytes += try LogSegments.bytes(db, author: try authorRowID(db, key))
        }
        return bytes
    }

    func deleteHeld(_ db: Database, _ hash: EntryHash) throws {
        guard let length = try LedgerStore.Held.delete(db, hash) else { return }
        cache.heldCount = max(0, cache.heldCount - 1)
        cache.heldBytes = max(0, cache.heldBytes - length)
    }

    /// Keeps both entries as proof and cuts the author's log before the fork; what the log held
    /// from there on is kept with the branches, for a settlement to choose from.
    func recordFork(_ db: Database, author: DevicePublicKey, seq: Seq, proof: [Entry]) throws {
        for entry in proof { try LedgerStore.Forks.insert(db, entry, seq: seq) }
        let fork = min(cache.forkSeqs[author] ?? .max, seq)
        cache.forkSeqs[author] = fork
        forksRecorded.insert(author)
        try cutLog(db, author: author, from: fork)
        // Entries waiting beyond the fork join the branches: only a settlement can take them now.
        try LedgerStore.Branches.insert(db, try LedgerStore.Held.entries(db, author: author).filter { $0.seq >= fork })
        _ = try LedgerStore.Held.delete(db, author: author, from: fork)
        (cache.heldCount, cache.heldBytes) = try LedgerStore.Held.size(db)
    }
}
