import ArgumentParser
import Foundation
import LedgerCore

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Totals in, out and net per month (or week, or year), with the balance at each period's end.",
        discussion: """
            Periods are in local time; weeks are ISO weeks (Monday first). --by tag splits each \\
            period by the #words in memos (an entry with two tags counts in both; one with none \\
            under "(untagged)"), --by device by who wrote it. --from and --to take dates like \\
            2026-11-24 or months like 2026-11; the balance still counts everything before --from.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @Flag(help: "The length of a period.") var period: Period = .monthly
    @Option(name: .long, help: "From this local date or month on.") var from: String?
    @Option(name: .long, help: "Up to the end of this local date or month.") var to: String?
    @Option(name: .long, help: "Split each period by tag or by device.") var by: Split?
    @Flag(name: .long, help: "Print JSON.") var json = false

    enum Period: String, EnumerableFlag {
        case weekly, monthly, yearly
    }

    enum Split: String, ExpressibleByArgument, CaseIterable {
        case tag, device
    }

    func validate() throws {
        for (name, value) in [("--from", from), ("--to", to)] {
            if let value, HistoryDate.range(value) == nil {
                throw ValidationError("\(name) must be a date like 2026-11-24, or a month like 2026-11, not \(value)")
            }
        }
    }

    struct Row {
        var period: String
        var group: String?
        var credits: Int128 = 0
        var debits: Int128 = 0
        var entries = 0
        /// The whole ledger's balance at the period's end (rows without a group only).
        var balance: Int128 = 0
    }

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let names = try await context.deviceNames()
            let decimals = await context.decimals
            let start = from.flatMap(HistoryDate.range)?.0 ?? .min
            let end = to.flatMap(HistoryDate.range)?.1 ?? .max
            var rows: [String: Row] = [:]
            var order: [String] = []
            var balance: Int128 = 0
            var unreadable = 0
            try await LedgerFormats.forEachRecord(context.engine) { item in
                guard let amount = item.countedAmount else {
                    unreadable += 1
                    return
                }
                let signed = item.kind == .credit ? Int128(amount) : -Int128(amount)
                balance += signed
                guard item.time >= start, item.time < end else { return }
                let key = Self.periodKey(item.time, period)
                let groups: [String]
                switch by {
                case nil: groups = []
                case .tag:
                    let tags = LedgerFormats.tags(LedgerFormats.countedMemo(item) ?? "")
                    groups = tags.isEmpty ? ["(untagged)"] : tags.map { "#" + TextSafety.sanitised($0) }
                case .device: groups = [names[item.author] ?? item.author.fingerprint]
                }
                for group in [nil] + groups.map(Optional.some) {
                    let id = key + "\u{0}" + (group ?? "")
                    if rows[id] == nil {
                        rows[id] = Row(period: key, group: group)
                        order.append(id)
                    }
                    if item.kind == .credit {
                        rows[id]?.credits += Int128(amount)
                    } else {
                        rows[id]?.debits += Int128(amount)
                    }
                    rows[id]?.entries += 1
                    if group == nil { rows[id]?.balance = balance }
                }
            }
            let list = order.compactMap { rows[$0] }
            if json {
                printJSON(
                    .array(
                        list.map { row in
                            var fields: [(String, JSONValue)] = [
                                ("period", .string(row.period)), ("in", .string(row.credits.formatted(decimals))),
                                ("out", .string(row.debits.formatted(decimals))),
                                ("net", .string((row.credits - row.debits).formatted(decimals))),
                                ("entries", .integer(Int128(row.entries))),
                            ]
                            if let group = row.group {
                                fields.append(("group", .string(group)))
                            } else {
                                fields.append(("balance", .string(row.balance.formatted(decimals))))
                            }
                            return .object(fields)
                        }))
                return
            }
            guard !list.isEmpty else { return print("No entries in that time.") }
            print("\(pad("period", 9, right: true))  \(pad("in", 14))  \(pad("out", 14))  \(pad("net", 14))  balance")
            for row in list {
                let net = row.credits - row.debits
                let cells = [
                    pad(row.group.map { "  " + $0 } ?? row.period, 9, right: true),
                    pad("+" + row.credits.formatted(decimals), 14), pad("-" + row.debits.formatted(decimals), 14),
                    pad((net >= 0 ? "+" : "") + net.formatted(decimals), 14),
                    row.group == nil ? row.balance.formatted(decimals) : "",
                ]
                print(cells.joined(separator: "  ").trimmingTrailingSpaces)
            }
            if unreadable > 0 {
                print(
                    "(\(unreadable) entr\(unreadable == 1 ? "y" : "ies") this device cannot read yet are not in these totals)"
                )
            }
        }
    }

    /// ISO weeks in local time, made once (a report may ask for a million entries' weeks).
    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = .current
        return calendar
    }()

    /// `2026-11`, `2026-W48` or `2026` for a time, in local time.
    static func periodKey(_ milliseconds: Int64, _ period: Period) -> String {
        let day = HistoryDate.format(milliseconds)
        switch period {
        case .monthly: return String(day.prefix(7))
        case .yearly: return String(day.prefix(4))
        case .weekly:
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let week = calendar.component(.weekOfYear, from: date)
            let year = calendar.component(.yearForWeekOfYear, from: date)
            return "\(year)-W\(week < 10 ? "0" : "")\(week)"
        }
    }
}
