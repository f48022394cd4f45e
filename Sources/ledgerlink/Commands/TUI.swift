import ArgumentParser
import Foundation
import LedgerCore
import LedgerTUI

struct TUI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract: "Open the terminal UI (also what `ledgerlink` with no arguments does on a terminal).")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Flag(name: .long, help: "No colours (also when NO_COLOR is set).") var noColor = false

    func run() async throws {
        try await userFacing {
            // The key is unlocked before the screen is taken over, so a passphrase prompt works.
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
            let environment = ProcessInfo.processInfo.environment
            let colour = !noColor && (environment["NO_COLOR"] ?? "").isEmpty
            do {
                try await TUIApp(engine: context.engine, canWrite: true).run(usesColor: colour)
            } catch let error as TUIError {
                throw CLIError(error.description)
            }
        }
    }
}
