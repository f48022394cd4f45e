import ArgumentParser
import Foundation
import LedgerCore
import LedgerIdentity
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
            let environment = ProcessInfo.processInfo.environment
            let colour = !noColor && (environment["NO_COLOR"] ?? "").isEmpty
            let home = homeOptions.dataHome
            do {
                guard home.hasDevice || FileManager.default.fileExists(atPath: home.database.path) else {
                    // No device here yet: the TUI offers to create the identity.
                    try await TUIApp.runOnboarding(usesColor: colour) { name in
                        try await DeviceSetup.createIdentity(home: home, name: name, decimals: 2, passphrase: nil)
                            .engine
                    }
                    return
                }
                // The key is unlocked before the screen is taken over, so a passphrase prompt works.
                let context = try await DeviceContext.open(home, keys: keys)
                // The peer channel runs beside the screen for as long as it is open.
                let sync = await PeerSyncMonitor.start(context)
                do {
                    try await TUIApp(engine: context.engine, canWrite: true, sync: sync).run(usesColor: colour)
                } catch {
                    await sync.stop()
                    throw error
                }
                await sync.stop()
            } catch let error as TUIError {
                throw CLIError(error.description)
            }
        }
    }
}
