import ArgumentParser
import Foundation
import LedgerCore
import LedgerIdentity

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke another device of this identity: it can write nothing more, and the data key rotates.",
        discussion: """
            DEVICE is the device's name, its fingerprint (as `devices` shows it) or its key in hex. \\
            The revoked device keeps what it already wrote; entries it writes later are never counted.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Argument(help: "The device to revoke.") var device: String
    @Flag(name: .long, help: "Do not ask for confirmation (for scripts).") var yes = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
            let engine = context.engine
            let devices = try await engine.devices()
            let target = try Self.find(device, in: devices)
            guard !target.isThisDevice else {
                throw CLIError("this is the device you are on; revoke it from another device of the identity")
            }
            guard target.boundary == nil else {
                throw CLIError("\(Self.label(target)) is already revoked (after its seq \(target.boundary ?? 0))")
            }
            if !yes {
                guard isatty(STDIN_FILENO) == 1 else {
                    throw CLIError("revoking needs confirmation: run it on a terminal, or add --yes")
                }
                print("Revoke \(Self.label(target))? It has written \(target.entries) entries; it will not be able to")
                print("write more, and new entries will be sealed with a key it does not get. [y/N] ", terminator: "")
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    throw CLIError("not revoked")
                }
            }
            let entry = try await engine.appendRevoke(device: target.key)
            let remaining = try await engine.devices().filter { $0.boundary == nil }.count
            print(
                "Revoked \(Self.label(target)) after its seq \(target.entries) (entry \(entry.seq) of this device); "
                    + "the data key was rotated to \(remaining) remaining device(s).")
        }
    }

    static func label(_ d: DeviceInfo) -> String {
        "\(TextSafety.sanitised(d.name ?? "(unnamed)")) (\(d.key.fingerprint))"
    }

    /// Finds a device by key hex, fingerprint (dashes optional) or name (case-insensitive).
    static func find(_ text: String, in devices: [DeviceInfo]) throws -> DeviceInfo {
        let needle = text.lowercased().replacingOccurrences(of: "-", with: "")
        let byKey = devices.filter {
            $0.key.hex == needle || $0.key.fingerprint.replacingOccurrences(of: "-", with: "") == needle
        }
        if let match = byKey.first { return match }
        let byName = devices.filter { ($0.name ?? "").lowercased() == text.lowercased() }
        if byName.count == 1 { return byName[0] }
        if byName.count > 1 {
            throw CLIError("several devices are named \"\(TextSafety.sanitised(text))\"; give the fingerprint instead")
        }
        throw CLIError(
            "no device \"\(TextSafety.sanitised(text))\" in this identity; `ledgerlink devices` lists names and fingerprints"
        )
    }
}
