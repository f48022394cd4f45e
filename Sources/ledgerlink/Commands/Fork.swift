import ArgumentParser
import Foundation
import LedgerCore

#if canImport(Glibc)
    import Glibc
#endif

struct ForkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fork",
        abstract: "See and settle a device whose log forked (a restored backup, or a copied key).",
        subcommands: [Settle.self], defaultSubcommand: Settle.self)

    struct Settle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "settle",
            abstract: "Show both branches of a forked device's log and choose the one that counts.",
            discussion: """
                A device whose key wrote two different entries at one seq (its folder restored from \
                a backup and written to, or its key copied) is forked: from that seq on, none of \
                its entries count on any device. This lists each branch (seqs, amounts, memos, \
                when) and, with --choose (or on a terminal, when you answer), writes a signed \
                settlement: the chosen branch counts again, through --through (its last seq held \
                here, unless given), on every device once they sync. The forked key stays frozen \
                either way: that device joins again with a new key (`ledgerlink join`).
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var keys: KeyOptions
        @Argument(help: "The forked device: its name, fingerprint or key.") var device: String
        @Option(name: .long, help: "The branch that counts: its number as listed, or its first entry's id.")
        var choose: String?
        @Option(name: .long, help: "The last seq of the chosen branch that counts (default: the last held here).")
        var through: UInt64?

        func run() async throws {
            try await userFacing {
                let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
                let engine = context.engine
                let target = try Revoke.find(device, in: try await engine.devices())
                let label = Revoke.label(target)
                guard let (fork, branches) = try await engine.branches(of: target.key), !branches.isEmpty else {
                    throw CLIError("\(label) is not forked; nothing to settle")
                }
                let decimals = await context.decimals
                if let settled = try await engine.settlementOf(target.key), settled.forkSeq == fork {
                    let names = try await context.deviceNames()
                    print(
                        "Settled by \(TextSafety.sanitised(names[settled.author] ?? settled.author.fingerprint)) "
                            + "\(TimeText.short(settled.time)): the branch starting \(settled.chosen.hex.prefix(16)) "
                            + "counts through seq \(settled.through).")
                }
                print("\(label) forked at seq \(fork). Its branches, as this device holds them:")
                for (index, branch) in branches.enumerated() {
                    print(Self.describe(branch, number: index + 1, decimals: decimals))
                }
                guard let choice = try choice(branches) else { return }
                let branch = branches[choice]
                guard let first = branch.first else { throw CLIError("that branch holds no entry") }
                let last = through ?? (branch.entries.last?.seq ?? fork)
                guard last >= fork else { throw CLIError("--through must be at least the fork seq, \(fork)") }
                try await engine.appendSettle(device: target.key, chosen: first, through: last)
                let totals = try await engine.totals()
                print(
                    "Settled \(label): branch \(choice + 1) counts through seq \(last). "
                        + "Balance: \(totals.balance.formatted(decimals)). Sync so every device applies it; "
                        + "the forked device joins again with a new key.")
            }
        }

        /// The branch chosen by --choose, or asked on a terminal; nil to only list them.
        func choice(_ branches: [ForkBranch]) throws -> Int? {
            if let choose {
                if let number = Int(choose), (1...branches.count).contains(number) { return number - 1 }
                let id = choose.lowercased()
                let matches = branches.indices.filter { branches[$0].first?.hex.hasPrefix(id) == true && id.count >= 8 }
                guard matches.count == 1 else {
                    throw CLIError(
                        "--choose takes a branch number (1 to \(branches.count)) or its first entry's id (8+ hex digits)"
                    )
                }
                return matches[0]
            }
            guard isatty(STDIN_FILENO) == 1 else {
                print("Nothing was written: choose a branch with --choose N.")
                throw ExitCode(1)
            }
            print("Which branch counts? [1-\(branches.count), Enter for none] ", terminator: "")
            fflush(nil)
            guard let answer = readLine(), let number = Int(answer), (1...branches.count).contains(number) else {
                print("Nothing was written.")
                return nil
            }
            return number - 1
        }

        /// `  1) seqs 2-4, 3 entries: in +20.00, out -5.00, 2026-11-30 10:01 to 10:07 [counts now]`,
        /// then each entry.
        static func describe(_ branch: ForkBranch, number: Int, decimals: UInt8) -> String {
            let records = branch.entries.filter(\.kind.isRecord)
            let credits = records.filter { $0.kind == .credit }.compactMap(\.amount).reduce(Int128(0)) {
                $0 + Int128($1)
            }
            let debits = records.filter { $0.kind == .debit }.compactMap(\.amount).reduce(Int128(0)) { $0 + Int128($1) }
            let seqs = "\(branch.entries.first?.seq ?? 0)-\(branch.entries.last?.seq ?? 0)"
            var lines = [
                "  \(number)) starts \(branch.first?.hex.prefix(16) ?? "?"), seqs \(seqs), \(branch.entries.count) "
                    + "entr\(branch.entries.count == 1 ? "y" : "ies"): in \(credits > 0 ? "+" : "")"
                    + "\(credits.formatted(decimals)), out \(debits > 0 ? "-" : "")\(debits.formatted(decimals))"
                    + (branch.isChosen ? "  [counts now]" : "")
            ]
            for item in branch.entries.prefix(20) {
                let sign = item.kind == .credit ? "+" : item.kind == .debit ? "-" : ""
                let amount = item.amount.map { sign + Int128($0).formatted(decimals) } ?? item.kind.name
                lines.append(
                    "       seq \(item.seq)  \(TimeText.short(item.time))  \(pad(amount, 12))  "
                        + TextSafety.sanitised(item.memo ?? ""))
            }
            if branch.entries.count > 20 { lines.append("       … \(branch.entries.count - 20) more") }
            return lines.joined(separator: "\n")
        }
    }
}
