import ArgumentParser
import Foundation
import LedgerCore
import LedgerIdentity
import LedgerSync
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
                    try await TUIApp.runOnboarding(
                        usesColor: colour,
                        create: { name in
                            try await DeviceSetup.createIdentity(home: home, name: name, decimals: 2, passphrase: nil)
                                .engine
                        },
                        join: { text, name, showSAS in
                            try await Self.join(text, name: name, home: home, showSAS: showSAS)
                        })
                    return
                }
                // The key is unlocked before the screen is taken over, so a passphrase prompt works.
                let context = try await DeviceContext.open(home, keys: keys)
                // The peer channel runs beside the screen for as long as it is open.
                let sync = await PeerSyncMonitor.start(context)
                let log = FileLog(home.logFile)
                let pairing = context.keyPair.map { TUIPairing(engine: context.engine, keyPair: $0, log: log.line) }
                do {
                    try await TUIApp(engine: context.engine, canWrite: true, sync: sync, pairing: pairing)
                        .run(usesColor: colour)
                } catch {
                    await pairing?.stop()
                    await sync.stop()
                    throw error
                }
                await pairing?.stop()
                await sync.stop()
            } catch let error as TUIError {
                throw CLIError(error.description)
            }
        }
    }

    /// Joins from the onboarding screen, as `ledgerlink join` does.
    static func join(_ text: String, name: String, home: DataHome, showSAS: @escaping @Sendable (String) -> Void)
        async throws -> MergeEngine
    {
        if let problem = TextSafety.problem(with: name, what: "device name", maxBytes: PrivateBody.maxNameBytes) {
            throw CLIError(problem)
        }
        let code = try PairingCode(parsing: text)
        return try await PairingGuest.join(
            code: code, name: name, home: home, passphrase: nil, showSAS: { showSAS($0.description) }
        ).engine
    }
}
