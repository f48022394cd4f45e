import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerSync
import Synchronization

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
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
        commandName: "import",
        abstract: "Merge an export from another device of this identity (FILE, or - for standard input).",
        discussion: """
            --format csv records a bank's CSV statement as entries of this device instead: --map \
            names the columns (date=1,amount=3,memo=2; a negative amount is money out), \
            --date-order how its dates are written, --decimal-comma when amounts are written 12,50. \
            A statement with rows already recorded (the same day, amount and memo) is refused, \
            unless --allow-duplicates.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Argument(help: "The export file.") var file: String
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "ledgerlink (an export; the default) or csv (a bank statement).")
    var format: ImportFormat = .ledgerlink
    @Option(name: .long, help: "With --format csv: the columns, like date=1,amount=3,memo=2.") var map: String?
    @Option(name: .long, help: "With --format csv: ymd (2026-11-24, the default), dmy (24.11.2026) or mdy.")
    var dateOrder: String = "ymd"
    @Flag(name: .long, help: "With --format csv: amounts are written 1.234,50.") var decimalComma = false
    @Flag(name: .long, help: "With --format csv: record rows already recorded again.") var allowDuplicates = false

    enum ImportFormat: String, ExpressibleByArgument, CaseIterable {
        case ledgerlink, csv
    }

    func validate() throws {
        if format == .csv, map == nil {
            throw ValidationError("--format csv needs --map, like --map date=1,amount=3,memo=2")
        }
        if format != .csv, map != nil || decimalComma || allowDuplicates || dateOrder != "ymd" {
            throw ValidationError("--map, --date-order, --decimal-comma and --allow-duplicates go with --format csv")
        }
        guard CSVStatement.DateOrder(rawValue: dateOrder) != nil else {
            throw ValidationError("--date-order is ymd, dmy or mdy, not \(dateOrder)")
        }
    }

    func run() async throws {
        try await userFacing {
            let handle: FileHandle
            if file == "-" {
                handle = FileHandle.standardInput
            } else {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), !isFolder.boolValue,
                    let opened = FileHandle(forReadingAtPath: file)
                else { throw CLIError("cannot read \(file)") }
                handle = opened
            }
            defer { try? handle.close() }
            // 256 KiB at a time: with 1 MiB reads the chunk, its copy and the line buffer it
            // grew held 4 MB of a 100,000-entry import's peak; this way 2.5 MB less, and faster.
            let read = { @Sendable () throws -> [UInt8]? in try handle.read(upToCount: 256 << 10).map { Array($0) } }
            let first: [UInt8]
            do { first = try read() ?? [] } catch {
                throw CLIError("cannot read \(file): \(error.localizedDescription)")
            }
            if format == .csv {
                return try await importStatement(Data(first) + (try handle.readToEnd() ?? Data()))
            }
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
            let identity = context.engine.identity
            let forksBefore = try await context.engine.provenForks()
            let report: MergeReport
            let storeHeads: [[UInt8]]
            var foreign: Entry?
            do {
                if let stream = try ExportDocument.TextStream(first: first, read: read) {
                    // The text form streams: a page of entries at a time, all in one transaction,
                    // so a file found corrupt half-way leaves nothing imported.
                    let pages = ExportPages(stream, identity: identity)
                    defer { foreign = pages.foreign }
                    report = try await context.engine.merge(pages: { () throws(LedgerError) in try pages.next() })
                    storeHeads = pages.storeHeads
                } else {
                    // The JSON form is for independent verifiers; it is read whole.
                    let contents = try ExportDocument.contents(Data(first) + (try handle.readToEnd() ?? Data()))
                    foreign = contents.entries.first { $0.identity != identity }
                    if foreign != nil { throw ExportPages.refusedForeign }
                    report = try await context.engine.merge(contents.entries)
                    storeHeads = contents.storeHeads
                }
            } catch let error as LedgerError where error == ExportPages.refusedForeign {
                throw CLIError(
                    "\(file) is an export of another identity (\((foreign?.identity.hex ?? "").prefix(16))…); "
                        + "nothing was imported")
            } catch LedgerError.malformed(let why) {
                throw CLIError("\(file): \(why); nothing was imported")
            }
            let newForks = try await context.engine.provenForks().filter { forksBefore[$0.key] == nil }
            // Store heads that do not decode or verify prove nothing and are passed over.
            let heads = storeHeads.compactMap { try? JSONDecoder().decode(StoreHead.self, from: Data($0)) }
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
                        ("accepted", .integer(Int128(report.acceptedCount))),
                        ("duplicates", .integer(Int128(report.duplicates))),
                        ("held", .integer(Int128(report.heldCount))),
                        ("rejected", .integer(Int128(report.rejected.count))),
                        ("forks", .integer(Int128(report.forks.count))),
                        ("caught_up", .integer(Int128(report.caughtUp))),
                        ("balance", .string(totals.balance.formatted(d))),
                        ("balance_minor", .integer(totals.balance)),
                        ("store_problems", .array(storeProblems.map { .string(TextSafety.sanitised($0.message)) })),
                    ]))
            } else {
                print(
                    "Imported \(report.acceptedCount) new entries (\(report.duplicates) already here, "
                        + "\(report.heldCount) waiting, \(report.rejected.count) refused).")
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
        commandName: "verify",
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

extension Import {
    /// `import --format csv`: a bank statement's rows as credits and debits of this device, all
    /// or none (a row that does not read, or rows already recorded, refuse the file).
    func importStatement(_ data: Data) async throws {
        guard data.count <= CSVStatement.maxBytes, let text = String(data: data, encoding: .utf8) else {
            throw CLIError("\(file) is not UTF-8 text of at most 16 MiB")
        }
        var statement: CSVStatement
        do {
            statement = try CSVStatement(map: map ?? "")
        } catch {
            throw CLIError(error.description)
        }
        statement.dateOrder = CSVStatement.DateOrder(rawValue: dateOrder) ?? .ymd
        statement.decimalComma = decimalComma
        let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
        let decimals = await context.decimals
        let rows: [CSVStatement.Row]
        do {
            rows = try statement.rows(text, decimals: decimals)
        } catch {
            throw CLIError(error.description)
        }
        guard !rows.isEmpty else { throw CLIError("\(file) holds no rows to record") }
        for line in await CatchUp.beforeWriting(context) { print(line) }
        // What this device recorded already, by day, kind, amount and memo.
        var recorded: [String: Int] = [:]
        let device = context.engine.device
        func key(_ day: Substring, _ kind: EntryKind, _ amount: Int64, _ memo: String) -> String {
            "\(day)\u{0}\(kind == .credit ? "+" : "-")\(amount)\u{0}\(memo)"
        }
        try await LedgerFormats.forEachRecord(context.engine) { item in
            guard item.author == device, let amount = item.amount else { return }
            recorded[key(HistoryDate.format(item.time).prefix(10), item.kind, amount, item.memo ?? ""), default: 0] += 1
        }
        let repeated = rows.filter { recorded[key($0.day[...], $0.kind, $0.amount, $0.memo)] != nil }
        if !repeated.isEmpty, !allowDuplicates {
            let lines = repeated.prefix(5).map { "line \($0.line)" }.joined(separator: ", ")
            throw CLIError(
                "\(repeated.count) of the \(rows.count) rows were recorded already (the same day, amount and memo: "
                    + "\(lines)\(repeated.count > 5 ? ", …" : "")); nothing was recorded. Add --allow-duplicates to "
                    + "record them again")
        }
        for row in rows {
            try await context.engine.appendRecord(row.kind, amount: row.amount, memo: row.memo, time: row.time)
        }
        let totals = try await context.engine.totals()
        let credits = rows.filter { $0.kind == .credit }.reduce(Int128(0)) { $0 + Int128($1.amount) }
        let debits = rows.filter { $0.kind == .debit }.reduce(Int128(0)) { $0 + Int128($1.amount) }
        if json {
            printJSON(
                .object([
                    ("recorded", .integer(Int128(rows.count))), ("in", .string(credits.formatted(decimals))),
                    ("out", .string(debits.formatted(decimals))),
                    ("balance", .string(totals.balance.formatted(decimals))),
                ]))
        } else {
            print(
                "Recorded \(rows.count) rows of \(file) as this device's entries: in +\(credits.formatted(decimals)), "
                    + "out -\(debits.formatted(decimals)). Balance: \(totals.balance.formatted(decimals))")
        }
    }
}

/// An export's pages for the engine's one transaction (read a page ahead on another thread):
/// each page checked to be of this identity before it is merged.
final class ExportPages: Sendable {
    static let refusedForeign = LedgerError.invalidState("an export of another identity")
    private let pages: ExportDocument.PrefetchedPages
    private let found = Mutex<Entry?>(nil)
    private let identity: IdentityID

    init(_ stream: ExportDocument.TextStream, identity: IdentityID) {
        pages = ExportDocument.PrefetchedPages(stream)
        self.identity = identity
    }

    deinit { pages.stop() }

    /// The first entry of another identity, once one was found.
    var foreign: Entry? { found.withLock { $0 } }
    var storeHeads: [[UInt8]] { pages.storeHeads }

    func next() throws(LedgerError) -> [Entry]? {
        let page: [Entry]?
        do throws(ExportDocument.ReadError) { page = try pages.next() } catch {
            throw .malformed(error.description)
        }
        if let other = page?.first(where: { $0.identity != identity }) {
            found.withLock { $0 = other }
            pages.stop()
            throw Self.refusedForeign
        }
        return page
    }
}
