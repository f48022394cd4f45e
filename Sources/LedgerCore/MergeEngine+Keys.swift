import Foundation
import GRDB
import LedgerCrypto

/// Data keys: opening keyrings sealed to this device, reading entries sealed with keys that
/// arrive late, and choosing the key new entries are sealed with.
extension MergeEngine {
    // MARK: - Data keys

    /// Opens keyrings sealed to this device by control entries that took effect, then reads any
    /// stored entry that was sealed with a key this device did not have before.
    func refreshKeys(_ db: Database) throws {
        guard let keyPair else { return }
        var granted: Set<DataKeyID> = []
        var added = false
        for record in cache.roster.effective {
            for key in openKeyrings(in: record.body, author: record.author, keyPair: keyPair) {
                granted.insert(key.id)
                if try remember(db, key) { added = true }
            }
        }
        cache.grantedKeys = granted
        if added || cache.keysLearnedEarly {
            cache.keysLearnedEarly = false
            try openUnreadEntries(db)
            // Device names are sealed too: the roster read them before the key was known.
            cache.roster = Roster.compute(root: root, controls: try loadControls(db))
        }
    }

    /// Before a batch is validated, learns the data keys its control entries seal to this
    /// device, so the batch's own records can be read as they are stored. A key only opens what
    /// its entry's author sealed; which key new entries are sealed with is decided by the
    /// roster alone (`refreshKeys`).
    func learnKeys(_ db: Database, from entries: [Entry]) throws {
        guard let keyPair else { return }
        // By index: nearly every entry is a record, looked at in place, not copied.
        for index in entries.indices where entries[index].kind.isControl {
            let entry = entries[index]
            guard let body = try? PublicBody(decoding: entry.publicBody, kind: entry.kind) else { continue }
            for key in openKeyrings(in: body, author: entry.author, keyPair: keyPair) where try remember(db, key) {
                cache.keysLearnedEarly = true
            }
        }
    }

    func openKeyrings(in body: PublicBody, author: DevicePublicKey, keyPair: SigningKeyPair) -> [DataKey] {
        let boxes: [[UInt8]]
        switch body {
        case .genesis(_, let keyring) where author == device: boxes = [keyring]
        case .link(let linked, _, _, let keyring) where linked == device: boxes = [keyring]
        case .revoke(_, _, let grants): boxes = grants.filter { $0.recipient == device }.map(\.box)
        default: boxes = []
        }
        return boxes.flatMap { (try? Keyring.open($0, with: keyPair)) ?? [] }
    }

    /// Stores a key not seen before; true when it is new.
    func remember(_ db: Database, _ key: DataKey) throws -> Bool {
        guard cache.keys[key.id] == nil else { return false }
        cache.keys[key.id] = key
        try LedgerStore.Keys.insert(db, key)
        return true
    }

    /// Fills in amounts and names of entries sealed with keys that just arrived, and recomputes
    /// the running totals of the authors concerned.
    func openUnreadEntries(_ db: Database) throws {
        for (authorID, from) in try LedgerStore.Unopened.lowestSeqs(db) {
            guard let author = cache.authorKeys[authorID] else { continue }
            try recomputeLog(db, author: author, authorID: authorID, from: from)
        }
        if let decimals = cache.decimals { try LedgerStore.Local.keepDecimals(db, decimals) }
    }

    /// Opens what can now be opened in `author`'s log from `from` on and recomputes the running
    /// totals from there.
    func recomputeLog(_ db: Database, author: DevicePublicKey, authorID: Int64, from: Seq) throws {
        var totals = RunningTotals.zero
        if from > 1, let before = try LogSegments.row(db, author: authorID, seq: from - 1) {
            totals = RunningTotals(credit: before.cumCredit, debit: before.cumDebit)
        }
        var opened: [Seq] = []
        try LogSegments.modify(db, author: authorID, from: from) { row in
            if !row.opened {
                let entry = try row.entry(identity: identity, author: author)
                if let keyID = BodySeal.keyID(of: entry), let key = cache.keys[keyID],
                    let body = try? BodySeal.open(entry, key: key)
                {
                    (row.amount, row.label) = Self.columns(of: body)
                    if case .genesis(let d, _) = body { cache.decimals = d }
                    if case .correction = body {
                        try LedgerStore.Corrections.insert(
                            db, authorID: authorID, seq: row.seq, hash: entry.hash, time: entry.time, body: body)
                    }
                    row.opened = true
                    opened.append(row.seq)
                }
            }
            totals.add(row.kind, amount: row.amount)
            (row.cumCredit, row.cumDebit) = (totals.credit, totals.debit)
        }
        for seq in opened {
            try LedgerStore.Unopened.delete(db, authorID: authorID, seq: seq)
        }
        if var state = cache.authors[author] {
            state.totals = totals
            cache.authors[author] = state
        }
    }

    /// True when this device holds a data key it may seal new entries with.
    public func canSeal() -> Bool { (try? sealingKey()) != nil }

    /// The newest data key granted to this device, used to seal new entries.
    func sealingKey() throws(LedgerError) -> DataKey {
        let candidates = cache.grantedKeys.compactMap { cache.keys[$0] }
        guard let key = candidates.max(by: { ($0.generation, $0.id.description) < ($1.generation, $1.id.description) })
        else { throw .invalidState("this device has no data key yet: it has not been linked to the identity") }
        return key
    }
}

/// The result of opening one entry's sealed part.
enum OpenedBody: Sendable {
    case opened(PrivateBody)
    /// Sealed with a key this device does not have (yet).
    case noKey
    case failed(LedgerError)
}

extension MergeEngine {
    /// Opens one entry's sealed part with whichever of `keys` sealed it.
    static func openSealedPart(_ entry: Entry, keys: [DataKeyID: DataKey]) -> OpenedBody {
        guard entry.sealedCount > 0 else { return .noKey }
        guard let keyID = BodySeal.keyID(of: entry) else { return .failed(.malformed("sealed part too short")) }
        guard let key = keys[keyID] else { return .noKey }
        do {
            return .opened(try BodySeal.open(entry, key: key))
        } catch {
            return .failed(error)
        }
    }
}
