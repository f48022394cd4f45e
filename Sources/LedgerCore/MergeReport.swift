/// What one merge did with each entry it was given.
public struct MergeReport: Sendable, Equatable {
    /// An entry that was not (yet) counted, and why.
    public struct Outcome: Sendable, Equatable {
        public let hash: EntryHash
        public let author: DevicePublicKey
        public let seq: Seq
        public let reason: LedgerError
    }

    /// Entries newly added to a log and counted (empty when the report keeps counts only:
    /// `acceptedCount` has how many).
    public internal(set) var accepted: [EntryHash] = []
    /// How many entries were newly added to a log and counted.
    public internal(set) var acceptedCount = 0
    /// Entries stored by earlier merges that count from this merge on (their author's
    /// certificate arrived in it).
    public internal(set) var released = 0
    /// Entries already held; merging them again changes nothing.
    public internal(set) var duplicates = 0
    /// Entries stored but not counted yet: a gap before them, their author's certificate has
    /// not arrived, or their author was revoked before them (quarantined).
    public internal(set) var held: [Outcome] = []
    /// How many entries were stored but not counted (`held` lists them unless the report keeps
    /// counts only).
    public internal(set) var heldCount = 0
    /// Entries refused and not stored.
    public internal(set) var rejected: [Outcome] = []
    /// Forks proven by this merge: (author, seq).
    public internal(set) var forks: [ClockEntry] = []
    /// Entries of this device's own key that arrived from elsewhere and were added to its log:
    /// this device's folder was older than its log (restored from a backup), and it caught up.
    public internal(set) var caughtUp = 0

    /// Whether `accepted` and `held` list their entries. A merge of a whole file in one
    /// transaction keeps counts only, so its memory does not grow with the file.
    public let listsEntries: Bool

    public init(listsEntries: Bool = true) { self.listsEntries = listsEntries }

    /// Entries that count from this merge on: accepted ones and released ones.
    public var newlyCounted: Int { acceptedCount + released }

    mutating func reject(_ entry: Entry, _ reason: LedgerError) {
        rejected.append(Outcome(hash: entry.hash, author: entry.author, seq: entry.seq, reason: reason))
    }

    mutating func hold(_ entry: Entry, _ reason: LedgerError) {
        heldCount += 1
        if listsEntries { held.append(Outcome(hash: entry.hash, author: entry.author, seq: entry.seq, reason: reason)) }
    }
}

/// Events the merge engine publishes for the UI.
public enum LedgerEvent: Sendable, Equatable {
    /// Entries were added; totals may have changed.
    case merged(accepted: Int)
    /// Who may write changed (a device was linked or revoked).
    case rosterChanged
    /// A device signed two different entries at one seq.
    case forkDetected(author: DevicePublicKey, seq: Seq)
    /// Entries this device wrote earlier arrived from elsewhere and were added to its log: its
    /// folder was older than its log (restored from a backup).
    case caughtUp(entries: Int)
}

/// Credits, debits and balance in minor units, over every counted entry.
public struct Totals: Sendable, Equatable {
    public var credits: Int128 = 0
    public var debits: Int128 = 0
    /// Counted entries whose sealed body this device cannot open yet (not in the totals).
    public var unreadable = 0
    public var balance: Int128 { credits - debits }
}
