import ArgumentParser
import LedgerCore

struct Balance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balance", abstract: "Show the balance, earned and spent totals.")
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let totals = try await context.engine.totals()
            let d = await context.decimals
            if json {
                printJSON(
                    .object([
                        ("balance", .string(totals.balance.formatted(d))), ("balance_minor", .integer(totals.balance)),
                        ("earned", .string(totals.credits.formatted(d))), ("earned_minor", .integer(totals.credits)),
                        ("spent", .string(totals.debits.formatted(d))), ("spent_minor", .integer(totals.debits)),
                        ("decimals", .integer(Int128(d))), ("unreadable_entries", .integer(Int128(totals.unreadable))),
                    ]))
            } else {
                print("Balance: \(totals.balance.formatted(d))")
                print("Earned:  \(totals.credits.formatted(d))")
                print("Spent:   \(totals.debits.formatted(d))")
                if totals.unreadable > 0 {
                    print("(\(totals.unreadable) entries cannot be read on this device yet and are not included)")
                }
            }
        }
    }
}
