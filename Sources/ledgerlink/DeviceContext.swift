import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity

/// An opened device: its data folder, ledger and (when needed) its unlocked key.
struct DeviceContext: Sendable {
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
            keyPair = try unlock(home, keys)
        }
        // Reading commands never write: they work on a read-only folder or a full disk too.
        let store = try LedgerStore.open(at: home.database.path, readOnly: keys == nil)
        return DeviceContext(
            home: home, engine: try await MergeEngine(store: store, keyPair: keyPair), keyPair: keyPair)
    }

    /// Most passphrases typed at the prompt before giving up: a typo is not the end.
    static let passphraseTries = 3

    /// Unlocks the device key: with the passphrase file when one is named, else asking on the
    /// terminal up to `passphraseTries` times.
    private static func unlock(_ home: DataHome, _ keys: KeyOptions) throws -> SigningKeyPair {
        if let file = keys.passphraseFile ?? ProcessInfo.processInfo.environment["LEDGERLINK_PASSPHRASE_FILE"] {
            return try DeviceKeyFile.read(home.keyFile) { () throws(IdentityError) -> [UInt8] in
                try Passphrase.fromFile(file)
            }
        }
        var triesLeft = passphraseTries
        while true {
            do {
                return try DeviceKeyFile.read(home.keyFile) { () throws(IdentityError) -> [UInt8] in
                    try Passphrase.prompt("Passphrase for the device key: ")
                }
            } catch {
                guard error == .wrongPassphrase else { throw error }
                triesLeft -= 1
                guard triesLeft > 0 else {
                    throw IdentityError("wrong passphrase for the device key, \(passphraseTries) times")
                }
                FileHandle.standardError.write(
                    Data("Wrong passphrase: \(triesLeft) tr\(triesLeft == 1 ? "y" : "ies") left.\n".utf8))
            }
        }
    }

    /// Decimals of the ledger's unit (2 until the genesis entry can be read).
    var decimals: UInt8 { get async { await engine.decimals ?? 2 } }

    /// Names of devices by key, for display (sanitised).
    func deviceNames() async throws -> [DevicePublicKey: String] {
        try await engine.currentRoster().devices.mapValues { TextSafety.sanitised($0.name ?? "(unnamed)") }
    }
}
