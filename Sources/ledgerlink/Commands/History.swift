import ArgumentParser
import LedgerCore

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List credits and debits, newest first.")
    @OptionGroup var homeOptions: HomeOptions
    @Option(name: .long, help: "Show at most this many entries.") var limit: Int = 20
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Flag(
        name: .long,
        help: "List the quarantined entries instead: written by revoked devices after their revocation, never counted."
    )
    var quarantined = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be a positive number") }
    }

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let items =
                quarantined
                ? Array(try await context.engine.quarantined().prefix(limit))
                : try await context.engine.history(limit: limit)
            let names = try await context.deviceNames()
            let d = await context.decimals
            if json {
                printJSON(
                    .array(
                        items.map { item in
                            .object([
                                ("time", .string(TimeText.iso(item.time))), ("time_ms", .integer(Int128(item.time))),
                                ("kind", .string(item.kind.name)),
                                ("amount", .optional(item.amount.map { Int128($0).formatted(d) })),
                                ("amount_minor", .optional(item.amount)),
                                ("memo", .optional(item.memo)),
                                ("device", .string(item.author.hex)),
                                ("device_name", .optional(names[item.author])),
                                ("seq", .integer(Int128(item.seq))), ("hash", .string(item.hash.hex)),
                            ])
                        }))
                return
            }
            guard !items.isEmpty else {
                return print(
                    quarantined ? "No quarantined entries." : "No entries yet. Record one with `ledgerlink earn 10`.")
            }
            if quarantined { print("Quarantined (written after their device was revoked; not counted):") }
            for item in items {
                let sign = item.kind == .credit ? "+" : "-"
                let amount = item.amount.map { sign + Int128($0).formatted(d) } ?? "(unreadable)"
                let memo =
                    TextSafety.sanitised(item.memo ?? "") + (quarantined ? "  [\(item.kind.name) seq \(item.seq)]" : "")
                let device = names[item.author] ?? item.author.fingerprint
                print(
                    "\(TimeText.short(item.time))  \(pad(amount, 14))  \(pad(device, 16))  \(memo)"
                        .trimmingTrailingSpaces)
            }
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
