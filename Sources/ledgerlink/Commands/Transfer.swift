import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerSync

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every stored entry, for another device's `import` or for independent checks.",
        discussion: """
            --format csv writes the counted credits and debits for a spreadsheet (date, device, kind, \
            amount, memo, tags, entry), and --format hledger a journal that `hledger -f FILE balance` \
            reads with the same totals; neither can be imported back.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON with every field decoded (docs/PROTOCOL.md).") var json = false
    @Option(name: .long, help: "ledgerlink (the default: for `import`), json, csv or hledger.")
    var format: ExportFormat = .ledgerlink

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
        case ledgerlink, json, csv, hledger
    }

    func validate() throws {
        if json, format != .ledgerlink, format != .json {
            throw ValidationError("--json is --format json; choose one format")
        }
    }

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            if format == .csv || format == .hledger { return try await writeRecords(context) }
            let json = json || format == .json
            // The store heads this device kept travel with the entries, so the device that imports
            // the file compares them with its own (a store that showed them different histories
            // is caught even when they never meet).
            let heads = StoreGossip(ledger: context.engine.store, identity: context.engine.identity).heads()
            // Entries stream straight to standard output: memory stays flat however large the ledger.
            try await context.engine.writeExport(
                json: json, storeHeads: heads.map(\.json), to: FileHandle.standardOutput)
        }
    }

    /// CSV or an hledger journal, written in pages.
    private func writeRecords(_ context: DeviceContext) async throws {
        let names = try await context.deviceNames()
        let decimals = await context.decimals
        var buffer = format == .csv ? LedgerFormats.csvHeader + "\n" : "; ledgerlink \(context.engine.identity.hex)\n\n"
        func flush(_ force: Bool) {
            guard force || buffer.utf8.count > 1 << 16 else { return }
            FileHandle.standardOutput.write(Data(buffer.utf8))
            buffer = ""
        }
        try await LedgerFormats.forEachRecord(context.engine) { item in
            let device = names[item.author] ?? item.author.fingerprint
            if format == .csv {
                buffer += LedgerFormats.csvRow(item, device: device, decimals: decimals) + "\n"
            } else if let entry = LedgerFormats.journalEntry(item, device: device, decimals: decimals) {
                buffer += entry
            } else {
                buffer += "; entry \(item.hash.hex.prefix(16)) of \(device) cannot be read on this device yet\n\n"
            }
            flush(false)
        }
        flush(true)
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
