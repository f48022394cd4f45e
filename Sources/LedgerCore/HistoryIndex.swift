import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The counted logs a history index covers: each device's log and how far it counts, taken on
/// the engine (`MergeEngine.historyLogs()`) and read off it.
public struct HistoryLogs: Sendable, Equatable {
    struct Log: Sendable, Equatable {
        let author: DevicePublicKey
        /// The log's row id in the `authors` table.
        let rowID: Int64
        /// The highest seq that counts.
        let through: Seq
    }

    let logs: [Log]
    /// Device names (sanitising is the caller's job), for the filter.
    public let names: [DevicePublicKey: String]
    /// Decimals of the ledger's unit, for matching typed amounts.
    public let decimals: UInt8
}

/// What the history filter matches: a piece of text found (case-insensitively) in the memo,
/// the amount as shown, the device's name or fingerprint, or the date as shown.
public struct HistoryFilter: Sendable, Equatable {
    /// The text as typed.
    public let text: String
    private let needle: String
    /// Whether the needle could be part of an amount or a date (it holds a digit).
    private let mayBeNumber: Bool

    public init(_ text: String) {
        self.text = text
        needle = text.lowercased()
        mayBeNumber = text.contains(where: \.isASCIIDigit)
    }

    func matches(memo: String?, amount: Int64?, time: Int64, deviceMatches: Bool, decimals: UInt8) -> Bool {
        if deviceMatches { return true }
        if let memo, memo.lowercased().contains(needle) { return true }
        guard mayBeNumber else { return false }
        if let amount, AmountFormat.format(Int128(amount), decimals: decimals).contains(needle) { return true }
        return HistoryDate.format(time).contains(needle)
    }
}

/// Author times as the history shows them: `yyyy-MM-dd HH:mm` in local time.
public enum HistoryDate {
    /// Formats milliseconds since 1970 (cheap enough to run over a million entries).
    public static func format(_ milliseconds: Int64) -> String {
        guard let t = components(milliseconds) else { return "????-??-?? ??:??" }
        return "\(pad(t.year, 4))-\(pad(t.month, 2))-\(pad(t.day, 2)) \(pad(t.hour, 2)):\(pad(t.minute, 2))"
    }

    /// The local month of a time, as `year * 12 + month - 1` (so months compare and step as integers).
    public static func month(_ milliseconds: Int64) -> Int {
        guard let t = components(milliseconds) else { return 0 }
        return t.year * 12 + t.month - 1
    }

    /// `November 2026` for a month number from `month(_:)`.
    public static func monthName(_ month: Int) -> String {
        let names = [
            "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December",
        ]
        let (year, index) = month.quotientAndRemainder(dividingBy: 12)
        return "\(names[max(0, index)]) \(year)"
    }

    private static func components(_ milliseconds: Int64) -> (
        year: Int, month: Int, day: Int, hour: Int, minute: Int
    )? {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return nil }
        return (
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
            Int(parts.tm_min)
        )
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// Where every counted credit and debit sits in the history (newest first by author time, ties
/// by device key then seq), optionally only those a filter matches, with the totals of each
/// month: built by one pass over the logs, then kept up to date by reading only what was
/// appended. Sixteen bytes an entry, so a million entries take 16 MB.
public struct HistoryIndex: Sendable {
    /// One entry of the history.
    public struct Position: Sendable, Hashable {
        public let author: DevicePublicKey
        public let seq: Seq
    }

    /// Credits and debits of one period.
    public struct PeriodTotals: Sendable, Equatable {
        public var credits: Int128 = 0
        public var debits: Int128 = 0
        public var entries = 0
        public init() {}
    }

    /// An entry's place: its author time, and its author's index (high 20 bits) and seq (low 44).
    struct Key: Sendable {
        let time: Int64
        let ref: UInt64
        var authorIndex: Int { Int(ref >> 44) }
        var seq: Seq { ref & (1 << 44 - 1) }
    }

    static let maxAuthors = 1 << 20
    static let maxSeq: Seq = 1 << 44 - 1

    /// The filter, or nil for every entry.
    public let filter: HistoryFilter?
    /// The logs as of the last build or update.
    public private(set) var logs: HistoryLogs
    /// Authors in the order first seen (a key's author index points here).
    private(set) var authors: [DevicePublicKey] = []
    private var authorIndex: [DevicePublicKey: Int] = [:]
    /// Newest first.
    private(set) var keys: [Key] = []
    /// Totals of the entries in the index by local month (`HistoryDate.month`).
    public private(set) var months: [Int: PeriodTotals] = [:]
    /// Totals of the entries in the index.
    public private(set) var totals = PeriodTotals()

    /// Entries in the index.
    public var count: Int { keys.count }

    /// The entry at `index` (0 is the newest).
    public func position(at index: Int) -> Position? {
        guard keys.indices.contains(index) else { return nil }
        return Position(author: authors[keys[index].authorIndex], seq: keys[index].seq)
    }

    init(logs: HistoryLogs, filter: HistoryFilter?) {
        self.logs = logs
        self.filter = filter
    }

    /// Whether `a` comes before `b` in the history.
    private func precedes(_ a: Key, _ b: Key) -> Bool {
        if a.time != b.time { return a.time > b.time }
        if a.authorIndex != b.authorIndex { return authors[a.authorIndex] > authors[b.authorIndex] }
        return a.seq > b.seq
    }

    mutating func index(of author: DevicePublicKey) throws(LedgerError) -> Int {
        if let known = authorIndex[author] { return known }
        guard authors.count < Self.maxAuthors else {
            throw .invalidState("the ledger has more devices than the history can index")
        }
        authors.append(author)
        authorIndex[author] = authors.count - 1
        return authors.count - 1
    }

    /// Adds entries read from the logs (in any order) and keeps the keys in history order.
    mutating func add(_ added: [Key], totalsOf records: [(time: Int64, kind: EntryKind, amount: Int64?)]) {
        for record in records {
            let month = HistoryDate.month(record.time)
            var period = months[month] ?? PeriodTotals()
            period.entries += 1
            totals.entries += 1
            if let amount = record.amount {
                if record.kind == .credit {
                    period.credits += Int128(amount)
                    totals.credits += Int128(amount)
                } else {
                    period.debits += Int128(amount)
                    totals.debits += Int128(amount)
                }
            }
            months[month] = period
        }
        let sorted = added.sorted(by: precedes)
        guard !keys.isEmpty else {
            keys = sorted
            return
        }
        // New entries are mostly the newest: merge the two ordered lists in one pass.
        var merged: [Key] = []
        merged.reserveCapacity(keys.count + sorted.count)
        var (i, j) = (0, 0)
        while i < keys.count, j < sorted.count {
            if precedes(sorted[j], keys[i]) {
                merged.append(sorted[j])
                j += 1
            } else {
                merged.append(keys[i])
                i += 1
            }
        }
        merged += keys[i...]
        merged += sorted[j...]
        keys = merged
    }

    mutating func setLogs(_ logs: HistoryLogs) { self.logs = logs }
}
