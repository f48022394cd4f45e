import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new identity with this device as its first device.")

    @OptionGroup var homeOptions: HomeOptions

    @Option(name: .long, help: "A name for this device, shown on your other devices (at most 64 bytes).")
    var name: String

    @Option(name: .long, help: "Decimal places of the ledger's unit, 0 to 8.")
    var decimals: UInt8 = 2

    @Flag(name: .long, help: "Protect the device key with a passphrase asked on the terminal.")
    var passphrase = false

    @Option(name: .long, help: "Protect the device key with the passphrase on the first line of this file.")
    var passphraseFile: String?

    func validate() throws {
        if let problem = TextSafety.problem(with: name, what: "device name", maxBytes: PrivateBody.maxNameBytes) {
            throw ValidationError(problem)
        }
        if name.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("device name cannot be empty") }
        if decimals > PrivateBody.maxDecimals { throw ValidationError("--decimals must be between 0 and 8") }
        if passphrase, passphraseFile != nil {
            throw ValidationError("use either --passphrase or --passphrase-file, not both")
        }
    }

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            if home.hasDevice {
                throw CLIError("\(home.url.path) already holds a device; nothing was changed (use --home for another)")
            }
            let secret: [UInt8]? =
                if let passphraseFile { try Passphrase.fromFile(passphraseFile) } else if passphrase {
                    try Passphrase.prompt("New passphrase for the device key: ", confirm: true)
                } else { nil }
            let created = try await DeviceSetup.createIdentity(
                home: home, name: name, decimals: decimals, passphrase: secret)
            if let aside = created.setAside {
                FileHandle.standardError.write(
                    Data("note: an earlier init was interrupted; its ledger was moved to \(aside.path)\n".utf8))
            }
            print("Created identity \(created.identity.hex)")
            print("This device: \(TextSafety.sanitised(name)) (\(created.device.fingerprint))")
            print("Data folder: \(home.url.path)")
        }
    }
}
