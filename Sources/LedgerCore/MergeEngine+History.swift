import GRDB

/// The whole history, page by page: an index of every counted credit and debit, built and
/// read off the engine's actor (a million entries take a second or so to index, and merges
/// must not wait for that).
extension MergeEngine {
    /// The counted logs as of now, with device names and the unit's decimals.
    public func historyLogs() throws(LedgerError) -> HistoryLogs {
        try refresh()
        var logs: [HistoryLogs.Log] = []
        for author in cache.authors.keys {
            let through = effectiveSeq(author)
            guard through > 0, let rowID = cache.authorIDs[author] else { continue }
            logs.append(HistoryLogs.Log(author: author, rowID: rowID, through: through))
        }
        var names: [DevicePublicKey: String] = [:]
        for (key, device) in cache.roster.devices { names[key] = device.name }
        return HistoryLogs(
            logs: logs.sorted { $0.author < $1.author }, names: names, decimals: cache.decimals ?? 2,
            corrections: try corrections())
    }

    /// Indexes the history of `logs` (every entry, or those `filter` matches). Given the index
    /// of an earlier call with the same filter, reads only what was appended since, unless a
    /// log shrank (a revoke cut it) or names changed under a filter: then it starts over.
    /// Returns nil when `isCancelled` says to stop.
    public nonisolated func historyIndex(
        _ logs: HistoryLogs, filter: HistoryFilter?, updating earlier: HistoryIndex? = nil,
        isCancelled: () -> Bool = { false }
    ) throws(LedgerError) -> HistoryIndex? {
        var index = HistoryIndex(logs: logs, filter: filter)
        var from: [DevicePublicKey: Seq] = [:]
        if let earlier, earlier.filter == filter, filter == nil || earlier.logs.names == logs.names {
            let now = Dictionary(uniqueKeysWithValues: logs.logs.map { ($0.author, $0.through) })
            if earlier.logs.logs.allSatisfy({ (now[$0.author] ?? 0) >= $0.through }) {
                index = earlier
                index.setLogs(logs)
                for log in earlier.logs.logs { from[log.author] = log.through + 1 }
            }
        }
        var keys: [HistoryIndex.Key] = []
        if filter == nil {
            // Room for every entry up front: growing by doubling would hold two copies at once.
            keys.reserveCapacity(
                logs.logs.reduce(0) { $0 + Int(clamping: $1.through - min($1.through, (from[$1.author] ?? 1) - 1)) })
        }
        var months: [Int: HistoryIndex.PeriodTotals] = [:]
        var totals = HistoryIndex.PeriodTotals()
        let decimals = logs.decimals
        var stopped = false
        try store.read { db in
            // A scan of the whole ledger would fill this connection's page cache (32 MB) with
            // pages read once; a small cache keeps the screen's memory flat.
            let cacheSize = LedgerStore.useSmallPageCache(db)
            defer { LedgerStore.restorePageCache(db, to: cacheSize) }
            for log in logs.logs where filter?.admits(log.author) ?? true {
                let start = from[log.author] ?? 1
                guard start <= log.through, !stopped else { continue }
                guard log.through <= HistoryIndex.maxSeq else {
                    throw LedgerError.invalidState("a device's log is longer than the history can index")
                }
                let authorIndex = UInt64(try index.index(of: log.author))
                let deviceMatches =
                    filter?.matchesDevice(name: logs.names[log.author], fingerprint: log.author.fingerprint) ?? false
                var seen = 0
                try LogSegments.forEach(db, author: log.rowID, from: start, through: log.through) { row in
                    seen += 1
                    if seen & 4095 == 0, isCancelled() {
                        stopped = true
                        return false
                    }
                    guard row.kind.isRecord || row.kind == .correction else { return true }
                    if let filter,
                        !filter.matches(
                            memo: row.label, amount: row.amount, time: row.time, kind: row.kind,
                            deviceMatches: deviceMatches, decimals: decimals)
                    {
                        return true
                    }
                    keys.append(HistoryIndex.Key(time: row.time, ref: authorIndex << 44 | row.seq))
                    if row.kind.isRecord {
                        HistoryIndex.count(time: row.time, kind: row.kind, amount: row.amount, into: &months, &totals)
                    }
                    return true
                }
            }
        }
        guard !stopped, !isCancelled() else { return nil }
        index.add(&keys, months: months, totals: totals)
        return index
    }

    /// Entries `range` of `index` (0 is the newest), read from their logs.
    public nonisolated func historyItems(_ index: HistoryIndex, in range: Range<Int>) throws(LedgerError)
        -> [HistoryItem]
    {
        let rowIDs = Dictionary(uniqueKeysWithValues: index.logs.logs.map { ($0.author, $0.rowID) })
        return try store.read { db in
            var segments: [Int64: LogSegments.Segment] = [:]
            var out: [HistoryItem] = []
            for i in range.clamped(to: 0..<index.count) {
                guard let position = index.position(at: i), let rowID = rowIDs[position.author] else { continue }
                if segments[rowID]?.row(position.seq) == nil {
                    segments[rowID] = try LogSegments.segment(db, author: rowID, containing: position.seq)
                }
                guard let row = segments[rowID]?.row(position.seq) else { continue }
                let hash = try row.entry(identity: identity, author: position.author).hash
                out.append(
                    HistoryItem(
                        author: position.author, seq: row.seq, hash: hash, kind: row.kind, time: row.time,
                        amount: row.amount, memo: row.label,
                        note: CorrectionNote.of(hash, kind: row.kind, in: index.logs.corrections)))
            }
            return out
        }
    }
}
