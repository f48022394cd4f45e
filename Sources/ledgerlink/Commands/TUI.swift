import ArgumentParser
import Foundation
import LedgerCore
import LedgerIdentity
import LedgerSync
import LedgerTUI
import Logging

struct TUI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tui",
        abstract: "Open the terminal UI (also what `ledgerlink` with no arguments does on a terminal).")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Flag(name: .long, help: "No colours (also when NO_COLOR is set).") var noColor = false

    @Flag(name: .long, help: "No mouse: clicks and the wheel are left to the terminal (to select text).")
    var noMouse = false

    func run() async throws {
        try await userFacing {
            let environment = ProcessInfo.processInfo.environment
            let colour = !noColor && (environment["NO_COLOR"] ?? "").isEmpty
            let home = homeOptions.dataHome
            do {
                guard home.hasDevice || FileManager.default.fileExists(atPath: home.database.path) else {
                    // No device here yet: the TUI offers to create the identity or join one, then
                    // runs with everything a later launch would start (sync, pairing).
                    try await TUIApp.runOnboarding(
                        usesColor: colour, mouse: !noMouse,
                        create: { name in
                            let created = try await DeviceSetup.createIdentity(
                                home: home, name: name, decimals: 2, passphrase: nil)
                            return try await Self.services(Self.unlockedContext(home, created.engine))
                        },
                        join: { text, name, showSAS in
                            let engine = try await Self.join(text, name: name, home: home, showSAS: showSAS)
                            return try await Self.services(Self.unlockedContext(home, engine))
                        })
                    return
                }
                // The key is unlocked before the screen is taken over, so a passphrase prompt works.
                let context = try await DeviceContext.open(home, keys: keys)
                let services = await Self.services(context)
                do {
                    // The benchmark (docs/BENCHMARKS.md) asks for measurements this way.
                    try await TUIApp(services, probe: environment["LEDGERLINK_TUI_PROBE"])
                        .run(usesColor: colour, mouse: !noMouse)
                } catch {
                    await services.stop()
                    throw error
                }
                await services.stop()
            } catch let error as TUIError {
                throw CLIError(error.description)
            }
        }
    }

    /// The device just created or joined on the onboarding screen, with its key (made
    /// without a passphrase there) unlocked, as a later launch would open it.
    static func unlockedContext(_ home: DataHome, _ engine: MergeEngine) throws -> DeviceContext {
        let keyPair = try DeviceKeyFile.read(home.keyFile) { () throws(IdentityError) -> [UInt8] in
            throw IdentityError("the device key made on this screen has a passphrase")
        }
        return DeviceContext(home: home, engine: engine, keyPair: keyPair)
    }

    /// The peer channel, the store poller and pairing beside the screen, and how to stop them.
    static func services(_ context: DeviceContext) async -> TUIServices {
        let sync = await PeerSyncMonitor.start(context)
        let logger = Logger.lines("ledgerlink.pairing", .file(context.home.logFile))
        let pairing = context.keyPair.map {
            TUIPairing(engine: context.engine, home: context.home, keyPair: $0, logger: logger)
        }
        var services = TUIServices(
            engine: context.engine, canWrite: context.keyPair != nil, sync: sync, pairing: pairing,
            stop: {
                await pairing?.stop()
                await sync.stop()
            })
        // A floor that does not parse is said by `spend`; the screen keeps 0.
        if let text = (try? DeviceConfig.load(context.home))?.minBalance,
            let floor = try? AmountFormat.parseSigned(text, decimals: await context.decimals)
        {
            services.minBalance = floor
        }
        return services
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
