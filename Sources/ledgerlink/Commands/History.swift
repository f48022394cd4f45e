import ArgumentParser
import LedgerCore

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "List credits and debits, newest first.")
    @OptionGroup var homeOptions: HomeOptions
    @Option(name: .long, help: "Show at most this many entries.") var limit: Int = 20
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Flag(
        name: .long,
        help: "List the quarantined entries instead: written by revoked devices after their revocation, never counted."
    )
    var quarantined = false
    @Option(name: .long, help: "Only entries whose memo or device name holds this text (any case).")
    var search: String?
    @Option(name: .long, help: "Only amounts of at least this much.") var min: String?
    @Option(name: .long, help: "Only amounts of at most this much.") var max: String?
    @Option(name: .long, help: "Only entries from this local date on (2026-11-24, or 2026-11 for a month).")
    var since: String?
    @Option(name: .long, help: "Only entries up to the end of this local date (2026-11-30, or 2026-11).")
    var until: String?
    @Option(name: .long, help: "Only this device's entries (name, fingerprint or key); repeat for several.")
    var device: [String] = []
    @Option(name: .long, help: "Only credits or only debits.") var kind: RecordKind?

    enum RecordKind: String, ExpressibleByArgument, CaseIterable {
        case credit, debit
    }

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be a positive number") }
        for (name, value) in [("--since", since), ("--until", until)] {
            if let value, HistoryDate.range(value) == nil {
                throw ValidationError("\(name) must be a date like 2026-11-24, or a month like 2026-11, not \(value)")
            }
        }
        if quarantined, isFiltered { throw ValidationError("--quarantined lists every quarantined entry; no filters") }
    }

    var isFiltered: Bool {
        search != nil || min != nil || max != nil || since != nil || until != nil || !device.isEmpty || kind != nil
    }

    /// The filter the options ask for, with amounts in the ledger's unit.
    func filter(_ context: DeviceContext, decimals: UInt8) async throws -> HistoryFilter {
        func amount(_ text: String?, _ name: String) throws -> Int64? {
            guard let text else { return nil }
            do {
                return try AmountFormat.parse(text, decimals: decimals)
            } catch {
                throw CLIError("\(name): \(error)")
            }
        }
        let devices = try await context.engine.devices()
        let chosen = try device.map { try Revoke.find($0, in: devices).key }
        return HistoryFilter(
            search: search, minAmount: try amount(min, "--min"), maxAmount: try amount(max, "--max"),
            since: since.flatMap(HistoryDate.range)?.0, until: until.flatMap(HistoryDate.range)?.1,
            kind: kind.map { $0 == .credit ? .credit : .debit }, devices: chosen.isEmpty ? nil : Set(chosen))
    }

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            var summary: String?
            let items: [HistoryItem]
            if quarantined {
                items = Array(try await context.engine.quarantined().prefix(limit))
            } else if isFiltered {
                let d = await context.decimals
                let engine = context.engine
                let logs = try await engine.historyLogs()
                let filter = try await filter(context, decimals: d)
                guard let index = try engine.historyIndex(logs, filter: filter) else { return }
                items = try engine.historyItems(index, in: 0..<Swift.min(limit, index.count))
                let shown = items.count < index.count ? "the newest \(items.count) of " : ""
                let totals = index.corrected.totals
                summary =
                    "\(shown)\(index.count) match\(index.count == 1 ? "" : "es") · in +\(totals.credits.formatted(d))"
                    + " · out -\(totals.debits.formatted(d))"
            } else {
                items = try await context.engine.history(limit: limit)
            }
            let names = try await context.deviceNames()
            let d = await context.decimals
            if json {
                printJSON(
                    .array(
                        items.map { item in
                            .object(
                                [
                                    ("time", .string(TimeText.iso(item.time))),
                                    ("time_ms", .integer(Int128(item.time))),
                                    ("kind", .string(item.kind.name)),
                                    ("amount", .optional(item.amount.map { Int128($0).formatted(d) })),
                                    ("amount_minor", .optional(item.amount)),
                                    ("memo", .optional(item.memo)),
                                    ("device", .string(item.author.hex)),
                                    ("device_name", .optional(names[item.author])),
                                    ("seq", .integer(Int128(item.seq))), ("hash", .string(item.hash.hex)),
                                    ("id", .string(item.id)),
                                ] + Self.correctionFields(item, decimals: d))
                        }))
                return
            }
            guard !items.isEmpty else {
                return print(
                    quarantined
                        ? "No quarantined entries."
                        : isFiltered ? "No entries match." : "No entries yet. Record one with `ledgerlink earn 10`.")
            }
            if quarantined { print("Quarantined (written after their device was revoked; not counted):") }
            for item in items {
                let (amount, memo) = Self.shown(item, decimals: d)
                let device = names[item.author] ?? item.author.fingerprint
                let line =
                    "\(TimeText.short(item.time))  \(item.id)  \(pad(amount, 14))  \(pad(device, 16))  \(memo)"
                    + (quarantined ? "  [\(item.kind.name) seq \(item.seq)]" : "")
                print(line.trimmingTrailingSpaces)
            }
            if let summary { print(summary) }
        }
    }
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? s + fill : fill + s
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}

extension History {
    /// The amount and memo columns of a history row: a corrected entry shows what counts now
    /// and what it was; a correction shows what it names and how it stands.
    static func shown(_ item: HistoryItem, decimals d: UInt8) -> (amount: String, memo: String) {
        let memo = TextSafety.sanitised(item.memo ?? "")
        let sign = item.kind == .credit ? "+" : "-"
        switch item.note {
        case .corrected(let effect):
            let was = item.amount.map { sign + Int128($0).formatted(d) } ?? "(unreadable)"
            let shownMemo = TextSafety.sanitised(effect.memo ?? "")
            guard let now = effect.amount else { return ("(unreadable)", shownMemo) }
            return effect.isVoid
                ? ("void", "\(shownMemo)  [void; was \(was)]")
                : (sign + Int128(now).formatted(d), "\(shownMemo)  [corrected; was \(was)]")
        case .correction(let state, let target, _):
            let amount = item.amount.map { $0 == 0 ? "void" : "→" + Int128($0).formatted(d) } ?? "(unreadable)"
            let newMemo = item.memo.map { ": memo \"\(TextSafety.sanitised($0))\"" } ?? ""
            return (amount, "corrects \(target.id)\(newMemo)  [\(stateWords(state))]")
        case nil:
            guard item.kind == .correction else {
                return (item.amount.map { sign + Int128($0).formatted(d) } ?? "(unreadable)", memo)
            }
            return ("(unreadable)", "a correction this device cannot read")
        }
    }

    static func stateWords(_ state: Corrections.State) -> String {
        switch state {
        case .counts: "counts"
        case .replaced(let by): "replaced by \(by.id)"
        case .overruled(let by): "overruled by \(by.id), made at the same time elsewhere"
        case .waiting: "waiting for the entry it corrects"
        case .unusable: "names no credit or debit; counts nothing"
        }
    }

    static func stateName(_ state: Corrections.State) -> String {
        switch state {
        case .counts: "counts"
        case .replaced: "replaced"
        case .overruled: "overruled"
        case .waiting: "waiting"
        case .unusable: "unusable"
        }
    }

    /// JSON fields about corrections: on a corrected entry its counted amount and status, on a
    /// correction what it names and how it stands.
    static func correctionFields(_ item: HistoryItem, decimals d: UInt8) -> [(String, JSONValue)] {
        switch item.note {
        case .corrected(let effect):
            return [
                ("status", .string(effect.isVoid ? "void" : "corrected")),
                ("counted_amount", .optional(effect.amount.map { Int128($0).formatted(d) })),
                ("counted_amount_minor", .optional(effect.amount)), ("counted_memo", .optional(effect.memo)),
                ("decided_by", .string(effect.decidedBy.id)),
            ]
        case .correction(let state, let target, let original):
            var fields: [(String, JSONValue)] = [
                ("corrects", .string(target.id)), ("original", .optional(original.map { String($0.hex.prefix(16)) })),
                ("state", .string(stateName(state))),
            ]
            switch state {
            case .replaced(let by), .overruled(let by): fields.append(("by", .string(by.id)))
            default: break
            }
            return fields
        case nil:
            return item.kind.isRecord ? [("status", .string("counted"))] : []
        }
    }
}
