import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerSync

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every stored entry, for another device's `import` or for independent checks.")
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON with every field decoded (docs/PROTOCOL.md).") var json = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            // The store heads this device kept travel with the entries, so the device that imports
            // the file compares them with its own (a store that showed them different histories
            // is caught even when they never meet).
            let heads = StoreGossip(ledger: context.engine.store, identity: context.engine.identity).heads()
            // Entries stream straight to standard output: memory stays flat however large the ledger.
            try await context.engine.writeExport(
                json: json, storeHeads: heads.map(\.json), to: FileHandle.standardOutput)
        }
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge an export from another device of this identity (FILE, or - for standard input).")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Argument(help: "The export file.") var file: String
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await userFacing {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw CLIError("cannot read \(file)")
                }
                data = contents
            }
            let contents = try ExportDocument.contents(data)
            let entries = contents.entries
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
            if let foreign = entries.first(where: { $0.identity != context.engine.identity }) {
                throw CLIError(
                    "\(file) is an export of another identity (\(foreign.identity.hex.prefix(16))…); nothing was imported"
                )
            }
            let forksBefore = try await context.engine.provenForks()
            let report = try await context.engine.merge(entries)
            let newForks = try await context.engine.provenForks().filter { forksBefore[$0.key] == nil }
            // Store heads that do not decode or verify prove nothing and are passed over.
            let heads = contents.storeHeads.compactMap { try? JSONDecoder().decode(StoreHead.self, from: Data($0)) }
            let storeProblems = try StoreGossip(ledger: context.engine.store, identity: context.engine.identity)
                .compare(
                    heads,
                    from: "the device that exported "
                        + (file == "-"
                            ? "the file read" : TextSafety.sanitised(URL(fileURLWithPath: file).lastPathComponent)))
            let totals = try await context.engine.totals()
            let d = await context.decimals
            if json {
                printJSON(
                    .object([
                        ("accepted", .integer(Int128(report.accepted.count))),
                        ("duplicates", .integer(Int128(report.duplicates))),
                        ("held", .integer(Int128(report.held.count))),
                        ("rejected", .integer(Int128(report.rejected.count))),
                        ("forks", .integer(Int128(report.forks.count))),
                        ("caught_up", .integer(Int128(report.caughtUp))),
                        ("balance", .string(totals.balance.formatted(d))),
                        ("balance_minor", .integer(totals.balance)),
                        ("store_problems", .array(storeProblems.map { .string(TextSafety.sanitised($0.message)) })),
                    ]))
            } else {
                print(
                    "Imported \(report.accepted.count) new entries (\(report.duplicates) already here, "
                        + "\(report.held.count) waiting, \(report.rejected.count) refused).")
                if report.caughtUp > 0 { print(CatchUp.caughtUpLine(report.caughtUp)) }
                for line in try await context.refusalLines(report.rejected) { print(line) }
                for line in try await context.forkLines(newForks) { print(line) }
                for problem in storeProblems { print("Store problem: \(TextSafety.sanitised(problem.message))") }
                print("Balance: \(totals.balance.formatted(d))")
            }
            if !storeProblems.isEmpty { throw ExitCode(ExitStatus.storeMisbehaved) }
            if !newForks.isEmpty { throw ExitCode(ExitStatus.fork) }
            if !report.rejected.isEmpty { throw ExitCode(ExitStatus.refused) }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-check every stored entry: signatures, hash links, kinds and totals.")
    @OptionGroup var homeOptions: HomeOptions

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let problems = try await context.engine.verifyAll()
            let count = try await context.engine.storedEntryCount()
            let forks = try await context.engine.provenForks()
            for p in problems { print(TextSafety.sanitised(p)) }
            for line in try await context.forkLines(forks) { print(line) }
            guard problems.isEmpty else {
                throw failure(
                    "verification found \(problems.count) problem(s) in \(count) stored entries", ExitStatus.damaged)
            }
            print("All \(count) stored entries verify.")
            if !forks.isEmpty {
                throw failure(
                    "the ledger holds proof that \(forks.count == 1 ? "a device" : "\(forks.count) devices") forked",
                    ExitStatus.fork)
            }
        }
    }
}
