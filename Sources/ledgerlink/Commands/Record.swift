import ArgumentParser
import LedgerCore
import LedgerIdentity

/// `earn` and `spend` differ only in the kind of entry they write.
struct RecordOptions: ParsableArguments {
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions

    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp("Amount like 12, 12.5 or 12.50.", valueName: "amount"))
    var amount: [String] = []

    @Option(name: .long, help: "A note kept with the entry (at most 280 bytes, no control characters).")
    var memo: String = ""

    @Flag(
        name: .long,
        help: "Write at once, without first checking the store and static peers for newer entries of this device.")
    var offline = false

    func validate() throws {
        guard amount.count == 1 else {
            throw ValidationError(amount.isEmpty ? "give an amount, like 12.50" : "give exactly one amount")
        }
        if let problem = TextSafety.problem(with: memo, what: "memo", maxBytes: PrivateBody.maxMemoBytes) {
            throw ValidationError(problem)
        }
    }

    func run(_ kind: EntryKind) async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
            let decimals = await context.decimals
            let minor = try AmountFormat.parse(amount[0], decimals: decimals)
            if !offline {
                for line in await CatchUp.beforeWriting(context) { print(line) }
            }
            try await context.engine.appendRecord(kind, amount: minor, memo: memo)
            let totals = try await context.engine.totals()
            let verb = kind == .credit ? "Earned" : "Spent"
            print("\(verb) \(Int128(minor).formatted(decimals)). Balance: \(totals.balance.formatted(decimals))")
        }
    }
}

struct Earn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record money in (a credit).")
    @OptionGroup var options: RecordOptions
    func run() async throws { try await options.run(.credit) }
}

struct Spend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record money out (a debit).")
    @OptionGroup var options: RecordOptions
    func run() async throws { try await options.run(.debit) }
}
