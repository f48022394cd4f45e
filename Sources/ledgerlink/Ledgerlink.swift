import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

@main
enum Main {
    static func main() async {
        // Everything ledgerlink writes (keys, ledger, logs) is for this user only.
        umask(0o077)
        // With no arguments on a terminal, open the TUI; elsewhere show the commands.
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.isEmpty, isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 {
            await Ledgerlink.main(["tui"])
        } else {
            await Ledgerlink.main(homeFirst(arguments))
        }
    }

    /// `ledgerlink --home DIR balance` as `ledgerlink balance --home DIR`: every command takes
    /// --home, and people write it first as often as last.
    static func homeFirst(_ arguments: [String]) -> [String] {
        guard let first = arguments.first else { return arguments }
        if first == "--home", arguments.count >= 3 {
            return Array(arguments[2...]) + ["--home", arguments[1]]
        }
        if first.hasPrefix("--home="), arguments.count >= 2 {
            return Array(arguments[1...]) + [first]
        }
        return arguments
    }
}

struct Ledgerlink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledgerlink",
        abstract: "One ledger of credits and debits, identical on every device you link.",
        discussion: """
            Each device keeps its own key and its own signed log; logs merge into one ledger. \
            The data folder is --home, else $LEDGERLINK_HOME, else $XDG_DATA_HOME/ledgerlink, \
            else ~/.local/share/ledgerlink.
            """,
        version: "0.1.0",
        subcommands: [
            Init.self, Earn.self, Spend.self, Correct.self, VoidEntry.self, Balance.self, History.self, Report.self,
            Devices.self, ForkCommand.self, Status.self,
            Export.self, Import.self, Verify.self, Pair.self, Join.self, Revoke.self, RecoveryCommand.self,
            Recover.self, Sync.self, Listen.self,
            Peers.self, Stores.self, Serve.self,
            TUI.self,
        ]
    )
}
