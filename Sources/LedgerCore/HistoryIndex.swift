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
    /// The corrections as resolved when the logs were taken.
    public let corrections: Corrections
}

/// What the history filter matches: every criterion given, together. Free text is found
/// (case-insensitively) in the memo, the amount as shown, the device's name or fingerprint, or
/// the date as shown; amounts may be bounded, times limited to a range (local dates), and the
/// kind and the devices chosen.
public struct HistoryFilter: Sendable, Equatable {
    /// The text as typed (the TUI's `/`), or a description of the options.
    public let text: String
    private let needle: String
    /// The needle's bytes, lowercased, when it is all ASCII: memos are then searched byte by
    /// byte without building a lowercased copy of each (a million memos in well under a second).
    private let asciiNeedle: [UInt8]?
    /// Whether the needle could be part of an amount as shown (digits and a point only).
    private let mayBeAmount: Bool
    /// Whether the needle could be part of a date as shown (`2026-11-24 09:59`).
    private let mayBeDate: Bool
    /// Amount bounds in minor units, both inclusive.
    public private(set) var minAmount: Int64?
    public private(set) var maxAmount: Int64?
    /// Author time from `since` (inclusive) to `until` (exclusive), in milliseconds.
    public private(set) var since: Int64?
    public private(set) var until: Int64?
    public private(set) var kind: EntryKind?
    /// Only these devices' entries (nil: every device's).
    public private(set) var devices: Set<DevicePublicKey>?

    /// A filter as typed in the TUI: `>100`, `>=100`, `<50` and `<=50` bound the amount,
    /// `2026-11` or `2026-11-24` picks a month or a day (local time); the other words are text.
    public init(_ text: String, decimals: UInt8 = 2) {
        var words: [Substring] = []
        var minAmount: Int64?
        var maxAmount: Int64?
        var range: (Int64, Int64)?
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            if let bound = Self.amountBound(word, decimals: decimals) {
                switch bound {
                case .atLeast(let n): minAmount = max(minAmount ?? n, n)
                case .atMost(let n): maxAmount = min(maxAmount ?? n, n)
                }
            } else if let dates = HistoryDate.range(String(word)) {
                range = range.map { (max($0.0, dates.0), min($0.1, dates.1)) } ?? dates
            } else {
                words.append(word)
            }
        }
        self.init(text: text, needle: words.joined(separator: " "))
        self.minAmount = minAmount
        self.maxAmount = maxAmount
        (since, until) = (range?.0, range?.1)
    }

    /// A filter from separate criteria (`history --search --min --max --since --until --kind --device`).
    public init(
        search: String? = nil, minAmount: Int64? = nil, maxAmount: Int64? = nil, since: Int64? = nil,
        until: Int64? = nil, kind: EntryKind? = nil, devices: Set<DevicePublicKey>? = nil
    ) {
        self.init(text: search ?? "", needle: search ?? "")
        (self.minAmount, self.maxAmount, self.since, self.until) = (minAmount, maxAmount, since, until)
        (self.kind, self.devices) = (kind, devices)
    }

    private init(text: String, needle: String) {
        self.text = text
        self.needle = needle.lowercased()
        asciiNeedle = self.needle.utf8.allSatisfy { $0 < 0x80 } ? Array(self.needle.utf8) : nil
        let digits = needle.contains(where: \.isASCIIDigit)
        mayBeAmount = digits && needle.allSatisfy { $0.isASCIIDigit || $0 == "." }
        mayBeDate = digits && needle.allSatisfy { $0.isASCIIDigit || $0 == "-" || $0 == ":" || $0 == " " }
    }

    enum Bound {
        case atLeast(Int64)
        case atMost(Int64)
    }

    /// `>N`, `>=N`, `<N` or `<=N` as an amount bound; nil for any other word.
    static func amountBound(_ word: Substring, decimals: UInt8) -> Bound? {
        for (prefix, make) in [
            (">=", { (n: Int64) in Bound.atLeast(n) }), ("<=", { Bound.atMost($0) }),
            (">", { Bound.atLeast($0 == .max ? $0 : $0 + 1) }), ("<", { Bound.atMost($0 - 1) }),
        ] where word.hasPrefix(prefix) {
            guard let value = try? AmountFormat.parse(String(word.dropFirst(prefix.count)), decimals: decimals) else {
                return nil
            }
            return make(value)
        }
        return nil
    }

    /// Whether a device's entries can match at all (when devices are chosen).
    func admits(_ author: DevicePublicKey) -> Bool { devices?.contains(author) ?? true }

    func matches(
        memo: String?, amount: Int64?, time: Int64, kind: EntryKind, deviceMatches: Bool, decimals: UInt8
    ) -> Bool {
        if let wanted = self.kind, wanted != kind { return false }
        if minAmount != nil || maxAmount != nil {
            guard let amount, amount >= minAmount ?? .min, amount <= maxAmount ?? .max else { return false }
        }
        if let since, time < since { return false }
        if let until, time >= until { return false }
        guard !needle.isEmpty else { return true }
        if deviceMatches { return true }
        if let memo, contains(memo) { return true }
        if mayBeAmount, let amount, AmountFormat.format(Int128(amount), decimals: decimals).contains(needle) {
            return true
        }
        return mayBeDate && HistoryDate.format(time).contains(needle)
    }

    /// Whether the needle is in a device's name or fingerprint (then all its entries match it).
    func matchesDevice(name: String?, fingerprint: String) -> Bool {
        !needle.isEmpty && (name.map(contains) == true || fingerprint.contains(needle))
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

    /// The local-time span of `2026-11` (a month) or `2026-11-24` (a day) in milliseconds:
    /// its start (inclusive) and the next one's (exclusive); nil for anything else.
    public static func range(_ text: String) -> (Int64, Int64)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts[0].count == 4, parts.dropFirst().allSatisfy({ $0.count == 2 }),
            parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }), let year = Int(parts[0]), let month = Int(parts[1]),
            (1...12).contains(month), (1970...9999).contains(year)
        else { return nil }
        let day = parts.count == 3 ? Int(parts[2]) ?? 0 : 1
        guard (1...31).contains(day) else { return nil }
        guard let start = localTime(year: year, month: month, day: day) else { return nil }
        // The day after (mktime normalises the 32nd), or the month after.
        let end =
            parts.count == 3
            ? localTime(year: year, month: month, day: day + 1) : localTime(year: year, month: month + 1, day: 1)
        guard let end, end > start else { return nil }
        // A day that does not exist (February 30) normalises to another: refuse it.
        if parts.count == 3, format(start).prefix(10) != text { return nil }
        return (start, end)
    }

    /// Midnight local time of a date (fields out of range roll over, as mktime does).
    private static func localTime(year: Int, month: Int, day: Int) -> Int64? {
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_isdst = -1
        let seconds = mktime(&parts)
        guard seconds != -1 else { return nil }
        return Int64(seconds) * 1000
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

    /// `months` and `totals` with corrections applied: a corrected credit or debit counts its
    /// corrected amount in its own month (a void one, nothing), when the index includes it.
    public var corrected: (months: [Int: PeriodTotals], totals: PeriodTotals) {
        var months = self.months
        var totals = self.totals
        for effect in logs.corrections.effects.values {
            let original = effect.original
            if let filter {
                let name = logs.names[original.ref.author]
                guard filter.admits(original.ref.author),
                    filter.matches(
                        memo: original.memo, amount: original.amount, time: original.time, kind: original.kind,
                        deviceMatches: filter.matchesDevice(name: name, fingerprint: original.ref.author.fingerprint),
                        decimals: logs.decimals)
                else { continue }
            }
            guard let before = original.amount, let after = effect.amount else { continue }
            let change = Int128(after) - Int128(before)
            let month = HistoryDate.month(original.time)
            var period = months[month] ?? PeriodTotals()
            if original.kind == .credit {
                period.credits += change
                totals.credits += change
            } else {
                period.debits += change
                totals.debits += change
            }
            months[month] = period
        }
        return (months, totals)
    }

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
