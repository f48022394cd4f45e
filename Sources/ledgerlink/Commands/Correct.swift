import ArgumentParser
import Foundation
import LedgerCore

/// `correct` and `void`: an entry that refers to an earlier credit or debit, the accountant's
/// way. Nothing is erased: `history` shows the original marked, with the correction beside it.
struct CorrectionOptions: ParsableArguments {
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions

    @Argument(help: ArgumentHelp("The entry's id, as `history` shows it (at least 8 hex digits).", valueName: "entry"))
    var entry: String

    @Flag(
        name: .long,
        help: "Write at once, without first checking the store and static peers for newer entries of this device.")
    var offline = false

    /// Writes a correction of the entry named: `amount` in the ledger's unit, nil to void it.
    func run(amount: String?, memo: String?) async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
            let decimals = await context.decimals
            let minor = try amount.map { try AmountFormat.parse($0, decimals: decimals) } ?? 0
            if !offline {
                for line in await CatchUp.beforeWriting(context) { print(line) }
            }
            let engine = context.engine
            guard let target = try await engine.entry(id: entry) else {
                throw CLIError("no counted entry has the id \(entry) (see `ledgerlink history`)")
            }
            let before = try await engine.totals().balance
            let written = try await engine.appendCorrection(of: target, amount: minor, memo: memo)
            let balance = try await engine.totals().balance
            let what = amount == nil ? "Voided" : "Corrected"
            let change = balance - before
            print(
                "\(what) \(target.id) (correction \(written.hash.hex.prefix(16))). Balance: \(balance.formatted(decimals))"
                    + (change == 0 ? "" : " (\(change > 0 ? "+" : "")\(change.formatted(decimals)))"))
        }
    }
}

struct Correct: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "correct",
        abstract: "Correct the amount (and memo) of an earlier credit or debit.",
        discussion: """
            Appends a signed correction that names the entry; the original stays in the history, \
            marked corrected. Any linked device may correct any entry; correcting again replaces \
            the last correction. Two devices correcting one entry without seeing each other: the \
            later one (by its device's clock) counts and both stay visible.
            """)
    @OptionGroup var options: CorrectionOptions
    @Option(name: .long, help: "The amount it should have had, like 12.50.") var amount: String
    @Option(name: .long, help: "A new memo (at most 280 bytes); without it the memo stays.") var memo: String?

    func validate() throws {
        if let memo, let problem = TextSafety.problem(with: memo, what: "memo", maxBytes: PrivateBody.maxMemoBytes) {
            throw ValidationError(problem)
        }
    }

    func run() async throws { try await options.run(amount: amount, memo: memo) }
}

struct VoidEntry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "void",
        abstract: "Void an earlier credit or debit: it stays in the history, marked void, and counts nothing.")
    @OptionGroup var options: CorrectionOptions

    func run() async throws { try await options.run(amount: nil, memo: nil) }
}
