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
    /// The needle's bytes, lowercased, when it is all ASCII: memos are then searched byte by
    /// byte without building a lowercased copy of each (a million memos in well under a second).
    private let asciiNeedle: [UInt8]?
    /// Whether the needle could be part of an amount as shown (digits and a point only).
    private let mayBeAmount: Bool
    /// Whether the needle could be part of a date as shown (`2026-11-24 09:59`).
    private let mayBeDate: Bool

    public init(_ text: String) {
        self.text = text
        needle = text.lowercased()
        asciiNeedle = needle.utf8.allSatisfy { $0 < 0x80 } ? Array(needle.utf8) : nil
        let digits = text.contains(where: \.isASCIIDigit)
        mayBeAmount = digits && text.allSatisfy { $0.isASCIIDigit || $0 == "." }
        mayBeDate = digits && text.allSatisfy { $0.isASCIIDigit || $0 == "-" || $0 == ":" || $0 == " " }
    }

    func matches(memo: String?, amount: Int64?, time: Int64, deviceMatches: Bool, decimals: UInt8) -> Bool {
        if deviceMatches { return true }
        if let memo, contains(memo) { return true }
        if mayBeAmount, let amount, AmountFormat.format(Int128(amount), decimals: decimals).contains(needle) {
            return true
        }
        return mayBeDate && HistoryDate.format(time).contains(needle)
    }

    /// Whether the needle is in a device's name or fingerprint (then all its entries match).
    func matchesDevice(name: String?, fingerprint: String) -> Bool {
        name.map(contains) == true || fingerprint.contains(needle)
    }

    /// Whether `text` holds the needle, ignoring case.
    func contains(_ text: String) -> Bool {
        guard let asciiNeedle else { return text.lowercased().contains(needle) }
        guard let first = asciiNeedle.first else { return true }
        var utf8 = text
        return utf8.withUTF8 { bytes in
            guard bytes.count >= asciiNeedle.count else { return false }
            let lower = { (b: UInt8) in b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            for start in 0...(bytes.count - asciiNeedle.count) where lower(bytes[start]) == first {
                var k = 1
                while k < asciiNeedle.count, lower(bytes[start + k]) == asciiNeedle[k] { k += 1 }
                if k == asciiNeedle.count { return true }
            }
            return false
        }
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
    /// Oldest first, so entries appended to the logs (mostly the newest) go on the end
    /// without moving the rest; position 0 of the history is the last key.
    private(set) var keys: [Key] = []
    /// Totals of the entries in the index by local month (`HistoryDate.month`).
    public private(set) var months: [Int: PeriodTotals] = [:]
    /// Totals of the entries in the index.
    public private(set) var totals = PeriodTotals()

    /// Entries in the index.
    public var count: Int { keys.count }

    /// The entry at `index` of the history (0 is the newest).
    public func position(at index: Int) -> Position? {
        guard keys.indices.contains(index) else { return nil }
        let key = keys[keys.count - 1 - index]
        return Position(author: authors[key.authorIndex], seq: key.seq)
    }

    init(logs: HistoryLogs, filter: HistoryFilter?) {
        self.logs = logs
        self.filter = filter
    }

    /// Whether `a` is older than `b` in the history (author time, then device key, then seq).
    private func isOlder(_ a: Key, _ b: Key) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.authorIndex != b.authorIndex { return authors[a.authorIndex] < authors[b.authorIndex] }
        return a.seq < b.seq
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

    /// Counts one entry into the totals of its month (as it is read, so nothing else is kept).
    static func count(
        time: Int64, kind: EntryKind, amount: Int64?, into months: inout [Int: PeriodTotals],
        _ totals: inout PeriodTotals
    ) {
        let month = HistoryDate.month(time)
        var period = months[month] ?? PeriodTotals()
        period.entries += 1
        totals.entries += 1
        if let amount {
            if kind == .credit {
                period.credits += Int128(amount)
                totals.credits += Int128(amount)
            } else {
                period.debits += Int128(amount)
                totals.debits += Int128(amount)
            }
        }
        months[month] = period
    }

    /// Adds entries read from the logs (in any order) with their totals, keeping the keys in
    /// order in place: a first build sorts once; an update merges the few new keys in from the
    /// end, so a million keys are neither copied nor moved when new entries are the newest.
    mutating func add(_ added: inout [Key], months addedMonths: [Int: PeriodTotals], totals addedTotals: PeriodTotals) {
        for (month, period) in addedMonths {
            var current = months[month] ?? PeriodTotals()
            current.credits += period.credits
            current.debits += period.debits
            current.entries += period.entries
            months[month] = current
        }
        totals.credits += addedTotals.credits
        totals.debits += addedTotals.debits
        totals.entries += addedTotals.entries
        added.sort(by: isOlder)
        guard !keys.isEmpty else {
            swap(&keys, &added)
            return
        }
        var i = keys.count - 1
        var j = added.count - 1
        keys.append(contentsOf: added)
        var w = keys.count - 1
        while j >= 0 {
            if i >= 0, isOlder(added[j], keys[i]) {
                keys[w] = keys[i]
                i -= 1
            } else {
                keys[w] = added[j]
                j -= 1
            }
            w -= 1
        }
    }

    mutating func setLogs(_ logs: HistoryLogs) { self.logs = logs }
}
