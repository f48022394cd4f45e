import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerSync

struct Stores: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stores",
        abstract: "Show what this device holds of the stores it syncs with, or clear a store's problems.",
        discussion: """
            For each store: the key pinned for its address, the newest head it signed, what it \
            proved it holds, and every problem its signed answers proved (README, "A store that \
            lies is caught").
            """,
        subcommands: [List.self, Clear.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show each store's pinned key, newest signed head, proof of possession and problems.")
        @OptionGroup var homeOptions: HomeOptions
        @Flag(name: .long, help: "Print JSON, with each problem's proof.") var json = false

        func run() async throws {
            try await userFacing {
                let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
                let store = context.engine.store
                let summaries = try StoreSummary.all(store)
                if json {
                    printJSON(.array(summaries.map(\.json)))
                } else if summaries.isEmpty {
                    print("No store yet: this device has not synced with one (`ledgerlink sync --store URL`).")
                }
                if !json {
                    for summary in summaries { summary.printLines() }
                }
                if summaries.contains(where: { !$0.problems.isEmpty }) {
                    throw ExitCode(ExitStatus.storeMisbehaved)
                }
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clear",
            abstract: "Forget a store's recorded problems and take its next answer as the new starting point.",
            discussion: """
                Do this only once you know what happened (the store's operator restored a backup on \
                purpose, say) and have synced everything this device holds back to the store. The \
                store's key stays pinned; `stores --json` shows the proof before you clear it.
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var keys: KeyOptions
        @Argument(help: "The store's address as `stores` shows it.") var url: String?
        @Flag(name: .long, help: "Clear the problems of every store.") var all = false

        func validate() throws {
            guard (url != nil) != all else {
                throw ValidationError("name one store's address, or pass --all")
            }
        }

        func run() async throws {
            try await userFacing {
                let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
                let store = context.engine.store
                let known = try StoreSummary.all(store).map(\.origin)
                let origins = all ? known : [url ?? ""]
                if let url, !known.contains(url) {
                    throw CLIError(
                        "this device knows no store at \(TextSafety.sanitised(url))"
                            + (known.isEmpty
                                ? "" : "; it knows \(known.map(TextSafety.sanitised).joined(separator: ", "))"))
                }
                var cleared = 0
                for origin in origins { cleared += try store.clearStoreProblems(origin: origin) }
                let which =
                    all ? "\(origins.count) store\(origins.count == 1 ? "" : "s")" : TextSafety.sanitised(url ?? "")
                print(
                    "Cleared \(cleared) problem\(cleared == 1 ? "" : "s") of \(which); the next answer is the new "
                        + "starting point.")
            }
        }
    }
}

/// What a device holds of one store, for `stores`.
struct StoreSummary {
    var origin: String
    var key: [UInt8]
    var head: StoreHead?
    var possession: (sampled: Int, through: UInt64, time: Int64)?
    var problems: [StoreProblemRecord]

    static func all(_ store: LedgerStore) throws -> [StoreSummary] {
        let heads = try store.storeHeads()
        let proofs = try store.possessionProofs()
        let problems = try store.storeProblems()
        var origins = try store.storePins()
        for problem in problems where !origins.contains(where: { $0.origin == problem.origin }) {
            origins.append((problem.origin, problem.storeKey))
        }
        return origins.map { origin, key in
            StoreSummary(
                origin: origin, key: key,
                head: heads.first { $0.key == key }.flatMap {
                    try? JSONDecoder().decode(StoreHead.self, from: Data($0.head))
                },
                possession: proofs.first { $0.origin == origin }.map { ($0.sampled, $0.through, $0.time) },
                problems: problems.filter { $0.origin == origin })
        }
    }

    func printLines() {
        print("Store \(TextSafety.sanitised(origin)): key \(Hex.encode(key))")
        if let head {
            print("  newest signed head: version \(head.version), \(TimeText.short(head.time))")
        }
        if let possession {
            print(
                "  proved it holds this device's entries (\(possession.sampled) picked at random up to "
                    + "#\(possession.through)) at \(TimeText.short(possession.time))")
        }
        if problems.isEmpty { print("  no problems found") }
        for problem in problems {
            print("  problem (\(TimeText.short(problem.time))): \(TextSafety.sanitised(problem.message))")
        }
        if !problems.isEmpty {
            print("  once you know what happened: `ledgerlink stores clear \(TextSafety.sanitised(origin))`")
        }
    }

    var json: JSONValue {
        .object([
            ("store", .string(TextSafety.sanitised(origin))), ("key", .string(Hex.encode(key))),
            (
                "head",
                head.map {
                    .object([("version", .integer(Int128($0.version))), ("time", .string(TimeText.iso($0.time)))])
                }
                    ?? .null
            ),
            (
                "possession",
                possession.map {
                    .object([
                        ("sampled", .integer(Int128($0.sampled))), ("through", .integer(Int128($0.through))),
                        ("time", .string(TimeText.iso($0.time))),
                    ])
                } ?? .null
            ),
            ("problems", .array(problems.map(storeProblemJSON))),
        ])
    }

}
