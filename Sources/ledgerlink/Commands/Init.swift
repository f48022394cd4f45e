import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new identity with this device as its first device.")

    @OptionGroup var homeOptions: HomeOptions

    @OptionGroup var device: NewDeviceOptions

    @Option(name: .long, help: "Decimal places of the ledger's unit, 0 to 8.")
    var decimals: UInt8 = 2

    func validate() throws {
        if decimals > PrivateBody.maxDecimals { throw ValidationError("--decimals must be between 0 and 8") }
    }

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            try home.requireNoDevice()
            let created = try await DeviceSetup.createIdentity(
                home: home, name: device.name, decimals: decimals, passphrase: try device.newPassphrase())
            if let aside = created.setAside {
                FileHandle.standardError.write(
                    Data("note: an earlier init was interrupted; its ledger was moved to \(aside.path)\n".utf8))
            }
            print("Created identity \(created.identity.hex)")
            print("This device: \(TextSafety.sanitised(device.name)) (\(created.device.fingerprint))")
            print("Data folder: \(home.url.path)")
        }
    }
}
