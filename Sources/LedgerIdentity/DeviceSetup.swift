import Foundation
import LedgerCore
import LedgerCrypto

/// Creating a device: the steps `ledgerlink init` and the TUI's onboarding share.
public enum DeviceSetup {
    /// What a new identity's creation produced.
    public struct Created: Sendable {
        public let engine: MergeEngine
        public let identity: IdentityID
        public let device: DevicePublicKey
        /// Set when an interrupted earlier `init` left a ledger that was moved here.
        public let setAside: URL?
    }

    /// Creates a new identity in `home` with this device as its first device. The ledger is
    /// written first, committed with its genesis entry; the key file last, so a folder with a
    /// key file always holds a complete device.
    public static func createIdentity(home: DataHome, name: String, decimals: UInt8, passphrase: [UInt8]?)
        async throws -> Created
    {
        guard !home.hasDevice else {
            throw IdentityError("\(home.url.path) already holds a device; nothing was changed (use --home for another)")
        }
        if let problem = TextSafety.problem(with: name, what: "device name", maxBytes: PrivateBody.maxNameBytes) {
            throw IdentityError(problem)
        }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw IdentityError("device name cannot be empty")
        }
        try home.create()
        let aside = try home.setAsideOrphanedDatabase()
        let keyPair = SigningKeyPair.generate()
        let (identity, genesis) = try MergeEngine.makeGenesis(keyPair: keyPair, deviceName: name, decimals: decimals)
        let store = try LedgerStore.create(
            at: home.database.path, identity: identity, root: keyPair.publicKey, device: keyPair.publicKey)
        let engine = try await MergeEngine(store: store, keyPair: keyPair)
        let report = try await engine.merge([genesis])
        guard report.accepted == [genesis.hash] else {
            throw IdentityError(
                "could not write the genesis entry: \(report.rejected.first?.reason.description ?? "unknown")")
        }
        try DeviceKeyFile.write(keyPair, to: home.keyFile, passphrase: passphrase)
        return Created(engine: engine, identity: identity, device: keyPair.publicKey, setAside: aside)
    }
}
