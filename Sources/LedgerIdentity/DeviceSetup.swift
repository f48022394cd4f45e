import Foundation
import LedgerCore
import LedgerCrypto

/// Creating a device: the steps `ledgerlink init` and the TUI's onboarding share.
package enum DeviceSetup {
    /// What a new identity's creation produced.
    package struct Created: Sendable {
        package let engine: MergeEngine
        package let identity: IdentityID
        package let device: DevicePublicKey
        /// Set when an interrupted earlier `init` left a ledger that was moved here.
        package let setAside: URL?
    }

    /// Creates a new identity in `home` with this device as its first device. The ledger is
    /// written first, committed with its genesis entry; the key file last, so a folder with a
    /// key file always holds a complete device.
    package static func createIdentity(home: DataHome, name: String, decimals: UInt8, passphrase: [UInt8]?)
        async throws -> Created
    {
        try home.requireNoDevice()
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

    /// Starts making `home` a device of the identity a pairing device offered: checks that
    /// `genesis` derives `identity` and creates the ledger (no key file yet, so an interrupted
    /// join leaves no device behind). Fill the ledger, then call `finishJoin`.
    package static func beginJoin(
        home: DataHome, keyPair: SigningKeyPair, identity: IdentityID, inviter: DevicePublicKey, genesis: Entry,
        link: Entry
    ) async throws -> MergeEngine {
        try home.requireNoDevice()
        guard genesis.identity == identity, genesis.kind == .genesis, genesis.seq == 1,
            case .genesis(let nonce, _) = try? PublicBody(decoding: genesis.publicBody, kind: .genesis),
            IdentityID.derive(rootDevice: genesis.author, nonce: nonce) == identity
        else { throw PairingError.foreignIdentity }
        guard link.identity == identity, link.kind == .link, link.author == inviter,
            case .link(let device, _, _, _) = try? PublicBody(decoding: link.publicBody, kind: .link),
            device == keyPair.publicKey, link.hasValidSignature
        else { throw PairingError.tampered("the certificate does not admit this device") }
        try home.create()
        _ = try home.setAsideOrphanedDatabase()
        let store = try LedgerStore.create(
            at: home.database.path, identity: identity, root: genesis.author, device: keyPair.publicKey)
        let engine = try await MergeEngine(store: store, keyPair: keyPair)
        let report = try await engine.merge([genesis])
        guard report.rejected.isEmpty else { throw PairingError.foreignIdentity }
        return engine
    }

    /// Finishes a join: the ledger must hold a link entry by `inviter` that admits this device, the roster must authorise it, and its keyring must open. Then the key
    /// file is written, and the folder is a device.
    package static func finishJoin(
        home: DataHome, engine: MergeEngine, keyPair: SigningKeyPair, inviter: DevicePublicKey, passphrase: [UInt8]?
    ) async throws {
        let roster = try await engine.currentRoster()
        guard let admitted = roster.devices[keyPair.publicKey], admitted.linkedBy == inviter,
            roster.authorises(keyPair.publicKey, seq: 1),
            roster.effective.contains(where: { record in
                guard record.author == inviter, case .link(let device, _, _, _) = record.body else { return false }
                return device == keyPair.publicKey
            })
        else { throw PairingError.tampered("the ledger received holds no certificate for this device") }
        guard await engine.canSeal() else {
            throw PairingError.tampered("the certificate does not carry the data key for this device")
        }
        try DeviceKeyFile.write(keyPair, to: home.keyFile, passphrase: passphrase)
    }

    /// Removes what an unfinished join wrote (the ledger), leaving the folder as it was.
    package static func abandonJoin(home: DataHome) {
        guard !home.hasDevice else { return }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: home.database.path + suffix)
        }
    }
}
