import ArgumentParser
import Foundation
import LedgerCore
import LedgerIdentity

#if canImport(Glibc)
    import Glibc
#endif

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

    @Flag(name: .long, help: "Spend even if the balance goes below the floor (0, or min_balance in config.json).")
    var allowNegative = false

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
            if kind == .debit, !allowNegative {
                try await checkFloor(context, spending: minor, decimals: decimals)
            }
            try await context.engine.appendRecord(kind, amount: minor, memo: memo)
            let totals = try await context.engine.totals()
            let verb = kind == .credit ? "Earned" : "Spent"
            print("\(verb) \(Int128(minor).formatted(decimals)). Balance: \(totals.balance.formatted(decimals))")
        }
    }
}

extension RecordOptions {
    /// Refuses (in a script) or asks (on a terminal) before a spend takes the balance below the
    /// floor: 0, or `min_balance` in config.json. The check is this device's: another device
    /// spending offline at the same moment is not seen until they sync.
    func checkFloor(_ context: DeviceContext, spending minor: Int64, decimals: UInt8) async throws {
        let config = try DeviceConfig.load(context.home)
        let floor: Int128
        do {
            floor = try AmountFormat.parseSigned(config.minBalance ?? "0", decimals: decimals)
        } catch {
            throw CLIError("min_balance in \(context.home.configFile.path) is not an amount: \(error)")
        }
        let balance = try await context.engine.totals().balance
        let after = balance - Int128(minor)
        guard after < floor else { return }
        let what =
            "this takes the balance from \(balance.formatted(decimals)) to \(after.formatted(decimals)), below "
            + "\(floor.formatted(decimals))"
        guard isatty(STDIN_FILENO) == 1 else {
            throw CLIError(
                "\(what); nothing was written (add --allow-negative to spend anyway, or set min_balance in config.json)"
            )
        }
        print("\(what.prefix(1).uppercased() + what.dropFirst()). Spend anyway? [y/N] ", terminator: "")
        fflush(nil)
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
            throw CLIError("not spent: \(what)")
        }
    }
}

struct Earn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "earn", abstract: "Record money in (a credit).")
    @OptionGroup var options: RecordOptions
    func run() async throws { try await options.run(.credit) }
}

struct Spend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spend", abstract: "Record money out (a debit).")
    @OptionGroup var options: RecordOptions
    func run() async throws { try await options.run(.debit) }
}
