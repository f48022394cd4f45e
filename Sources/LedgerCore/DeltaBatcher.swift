/// Cuts a delta into messages under a count and a byte budget: the one rule for every path
/// that ships entries (the peer session both ways, the store client's push). Each path says
/// what an entry costs in its message (its encoding plus the path's own framing); a batch
/// never holds more than `maxEntries` entries nor costs more than `maxBytes`, except that an
/// entry alone always makes a batch (every budget exceeds `Entry.maxEncodedLength`).
public struct DeltaBatcher: Sendable {
    public let maxEntries: Int
    public let maxBytes: Int
    /// Bytes one entry takes in the path's message.
    public let cost: @Sendable (Entry) -> Int

    public init(maxEntries: Int, maxBytes: Int, cost: @escaping @Sendable (Entry) -> Int) {
        self.maxEntries = max(1, maxEntries)
        self.maxBytes = max(0, maxBytes)
        self.cost = cost
    }

    /// A batch being filled.
    public struct Batch: Sendable {
        /// The entries added (none kept when the batch writes runs).
        public private(set) var entries: [Entry] = []
        public private(set) var bytes = 0
        /// How many entries were added.
        public private(set) var count = 0
        /// The entries added, as runs, when the batch was made to write them: a page read a few
        /// rows at a time then holds its bytes, not its entries.
        public private(set) var runs: EntryRuns.Writer?

        public init() {}

        public init(writingRuns: Bool) {
            if writingRuns { runs = EntryRuns.Writer() }
        }

        /// Adds `entry` when it fits `batcher`'s budget (an empty batch takes any entry); false
        /// when the batch is full, and the entry is not added.
        public mutating func add(_ entry: Entry, _ batcher: DeltaBatcher) -> Bool {
            let cost = batcher.cost(entry)
            guard fits(cost, batcher) else { return false }
            if runs != nil {
                runs?.append(entry)
            } else {
                entries.append(entry)
            }
            bytes += cost
            count += 1
            return true
        }

        /// Adds an entry by its checked encoding (a store's row), at `cost`: what `batcher`'s
        /// cost gives for that entry. A batch that writes runs copies the bytes and builds no
        /// entry; one that keeps entries builds it.
        public mutating func add(_ entry: CheckedEncoding, cost: Int, _ batcher: DeltaBatcher) throws(LedgerError)
            -> Bool
        {
            guard fits(cost, batcher) else { return false }
            if runs != nil {
                runs?.append(entry)
            } else {
                entries.append(try Entry(checked: entry))
            }
            bytes += cost
            count += 1
            return true
        }

        /// Whether an entry costing `cost` fits (an empty batch takes any entry).
        private func fits(_ cost: Int, _ batcher: DeltaBatcher) -> Bool {
            count < batcher.maxEntries && (count == 0 || bytes + cost <= batcher.maxBytes)
        }

        /// Makes room for about `bytes` of runs, when the batch writes them.
        public mutating func reserveRuns(_ bytes: Int) { runs?.reserve(bytes) }

        /// Runs set aside as the batch was written (`setAsideRuns`), in order.
        private var setAside: [[UInt8]] = []

        /// Moves the runs finished so far out of the writer: a page written a few thousand
        /// entries at a time is then held in parts, each let go as it is sent.
        public mutating func setAsideRuns() {
            guard let part = runs?.takeFinishedRuns(), !part.isEmpty else { return }
            setAside.append(part)
        }

        /// What was added since the last call, as a whole list of runs (counts written): a part
        /// of a streamed answer, sent as each read is written. Nil when nothing was added, or
        /// when the batch keeps entries.
        public mutating func takeRunList() -> [UInt8]? {
            guard let list = runs?.takeList(), !list.isEmpty else { return nil }
            return list
        }

        /// The runs' bytes in parts, counts written, that together are the list: its header, the
        /// parts set aside, the rest (nil when the batch keeps entries instead).
        public mutating func finishedRunParts() -> [[UInt8]]? {
            runs?.finish()
            guard let all = runs?.bytes else { return nil }
            let header = EntryRuns.listHeaderLength
            return [Array(all[..<header])] + setAside + [Array(all[header...])]
        }

    }

    /// `entries` in batches, in order.
    public func batches(_ entries: [Entry]) -> [[Entry]] {
        var out: [[Entry]] = []
        var batch = Batch()
        for entry in entries where !batch.add(entry, self) {
            out.append(batch.entries)
            batch = Batch()
            _ = batch.add(entry, self)
        }
        if !batch.entries.isEmpty { out.append(batch.entries) }
        return out
    }
}
