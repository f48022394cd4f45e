import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity

/// An opened device: its data folder, ledger and (when needed) its unlocked key.
struct DeviceContext {
    let home: DataHome
    let engine: MergeEngine
    /// The unlocked device key, when the command asked for it.
    let keyPair: SigningKeyPair?

    /// Opens the device in `home`. With `keys`, the device key is unlocked (asking for the
    /// passphrase when the key file has one) so the engine can write.
    static func open(_ home: DataHome, keys: KeyOptions?) async throws -> DeviceContext {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: home.url.path, isDirectory: &isFolder), !isFolder.boolValue {
            throw CLIError(
                "\(home.url.path) is a file, not a data folder: --home (or $LEDGERLINK_HOME) names the folder "
                    + "that holds device.key and ledger.sqlite")
        }
        guard FileManager.default.fileExists(atPath: home.database.path) else {
            throw CLIError(
                "no identity in \(home.url.path) yet: run `ledgerlink init --name NAME` to create one"
                    + " (or pass --home to pick another data folder)")
        }
        var keyPair: SigningKeyPair?
        if keys != nil, !home.hasDevice {
            throw CLIError(
                "\(home.keyFile.path) is missing: this ledger can be read but not written. "
                    + "Restore the key file from a backup, or run `ledgerlink init` in another folder")
        }
        if let keys {
            keyPair = try DeviceKeyFile.read(home.keyFile) { () throws(IdentityError) -> [UInt8] in
                if let file = keys.passphraseFile ?? ProcessInfo.processInfo.environment["LEDGERLINK_PASSPHRASE_FILE"] {
                    return try Passphrase.fromFile(file)
                }
                return try Passphrase.prompt("Passphrase for the device key: ")
            }
        }
        // Reading commands never write: they work on a read-only folder or a full disk too.
        let store = try LedgerStore.open(at: home.database.path, readOnly: keys == nil)
        return DeviceContext(
            home: home, engine: try await MergeEngine(store: store, keyPair: keyPair), keyPair: keyPair)
    }

    /// Decimals of the ledger's unit (2 until the genesis entry can be read).
    var decimals: UInt8 { get async { await engine.decimals ?? 2 } }

    /// Names of devices by key, for display (sanitised).
    func deviceNames() async throws -> [DevicePublicKey: String] {
        try await engine.currentRoster().devices.mapValues { TextSafety.sanitised($0.name ?? "(unnamed)") }
    }
}
