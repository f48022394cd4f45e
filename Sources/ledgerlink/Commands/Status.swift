import ArgumentParser
import LedgerCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show this device, the ledger's state and its vector clock.")
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let engine = context.engine
            let status = try await engine.status()
            let clock = try await engine.clock()
            let names = try await context.deviceNames()
            let name = names[engine.device] ?? "(unnamed)"
            if json {
                printJSON(
                    .object([
                        ("identity", .string(engine.identity.hex)), ("device", .string(engine.device.hex)),
                        ("device_name", .string(name)), ("home", .string(context.home.url.path)),
                        ("entries", .integer(Int128(status.entries))), ("held", .integer(Int128(status.held))),
                        ("uncounted", .integer(Int128(status.uncounted))), ("forks", .integer(Int128(status.forks))),
                        ("devices", .integer(Int128(status.devices))), ("clock_digest", .string(clock.digest.hex)),
                        (
                            "clock",
                            .array(
                                clock.entries.map {
                                    .object([
                                        ("device", .string($0.author.hex)), ("seq", .integer(Int128($0.seq))),
                                        ("head", .string($0.head.hex)), ("fork_seq", .integer(Int128($0.forkSeq))),
                                    ])
                                })
                        ),
                    ]))
                return
            }
            print("Identity:  \(engine.identity.hex)")
            print("Device:    \(name) (\(engine.device.fingerprint))")
            print("Data:      \(context.home.url.path)")
            print("Entries:   \(status.entries) counted, \(status.held) waiting, \(status.uncounted) not counted")
            print("Devices:   \(status.devices) active")
            if status.forks > 0 { print("Forks:     \(status.forks) entries prove a device forked its log") }
            print("Clock:     \(clock.digest.hex)")
            for entry in clock.entries {
                print("  \(names[entry.author] ?? entry.author.fingerprint): seq \(entry.seq)")
            }
        }
    }
}
