import LedgerCrypto

/// How a store checks a push against an identity's heads alone, without a replica: when every
/// pushed entry is a credit, debit or correction that continues the log of a device the roster
/// authorises, from the head the store holds, the outcome of a full merge is known without one
/// (each such entry counts; nothing else changes but those heads). Anything else (a control
/// entry, an entry at or below its log's head, a gap, a device not linked, a bad signature)
/// is left to the merge engine, which decides it and names the reason; a store removes the
/// repeats it can match byte for byte with its rows first. Only an identity without forks has such a
/// plain clock (see `MergeEngine.plainClock()`).
public enum PlainPush {
    /// The entries `pushed` adds to the logs of `clock` (each author's in seq order, authors in
    /// the order they first appear), and the clock after them; nil when the push needs the
    /// merge engine. `authorised` are the devices linked and not revoked.
    public static func extend(
        _ clock: VectorClock, with pushed: [Entry], identity: IdentityID, authorised: Set<DevicePublicKey>
    ) -> (fresh: [Entry], clock: VectorClock)? {
        guard !pushed.isEmpty else { return ([], clock) }
        var order: [DevicePublicKey] = []
        var byAuthor: [DevicePublicKey: [Entry]] = [:]
        // Authority and the author's list are looked up once per stretch of one author's entries.
        for stretch in Entry.authorStretches(pushed) {
            for index in stretch where pushed[index].identity != identity || pushed[index].kind.isControl {
                return nil
            }
            guard authorised.contains(pushed[stretch.lowerBound].author) else { return nil }
            Self.add(pushed[stretch], to: &byAuthor, &order)
        }
        var heads = Dictionary(uniqueKeysWithValues: clock.entries.map { ($0.author, $0) })
        var fresh: [Entry] = []
        for author in order {
            guard var entries = byAuthor[author] else { continue }
            // A push's seqs are nearly always in order already: checked in place, sorted if not.
            if !entries.indices.dropFirst().allSatisfy({ entries[$0 - 1].seq <= entries[$0].seq }) {
                entries.sort { $0.seq < $1.seq }
            }
            guard let last = entries.last else { continue }
            let head = heads[author]
            guard head?.forkSeq ?? 0 == 0 else { return nil }
            var seq = head?.seq ?? 0
            var prev = head?.head ?? .zero
            for entry in entries {
                // `seq + 1` cannot trap: a clock's seqs are at most Int64.max, and so are entries'.
                guard entry.seq == seq + 1, entry.prev == prev else { return nil }
                do {
                    try EntryRules.check(entry, identity: identity, root: nil)
                } catch {
                    return nil
                }
                seq = entry.seq
                prev = entry.hash
            }
            // The newest entry's signature covers every hash link before it, as in a merge.
            guard last.hasValidSignature else { return nil }
            heads[author] = ClockEntry(author: author, seq: last.seq, head: last.hash)
            if fresh.isEmpty { fresh = entries } else { fresh += entries }  // one log: taken as it is
        }
        return (fresh, VectorClock(Array(heads.values)))
    }
}

extension PlainPush {
    /// Adds one author's stretch of a push to that author's entries, noting the author's first
    /// appearance.
    fileprivate static func add(
        _ stretch: ArraySlice<Entry>, to byAuthor: inout [DevicePublicKey: [Entry]], _ order: inout [DevicePublicKey]
    ) {
        guard let author = stretch.first?.author else { return }
        if byAuthor[author] == nil { order.append(author) }
        byAuthor[author, default: []].append(contentsOf: stretch)
    }
}

extension Entry {
    /// The author and seq an encoding names, read in place (a store indexes its rows by them);
    /// nil for bytes too short to hold them or a seq out of range.
    public static func position(in encoded: [UInt8]) -> (author: ArraySlice<UInt8>, seq: Int64)? {
        guard encoded.count >= headerLength else { return nil }
        var seq: UInt64 = 0
        for byte in encoded[65..<73] { seq = seq << 8 | UInt64(byte) }
        guard seq >= 1, seq <= UInt64(Int64.max) else { return nil }
        return (encoded[33..<65], Int64(seq))
    }
}

extension MergeEngine {
    /// The clock, when no device's log is forked (every head is plain): a store then checks
    /// pushes with `PlainPush` and answers pulls from its rows by author and seq.
    public func plainClock() throws(LedgerError) -> VectorClock? {
        let clock = try clock()
        return clock.entries.allSatisfy({ $0.forkSeq == 0 }) && cache.forkSeqs.isEmpty ? clock : nil
    }
}
