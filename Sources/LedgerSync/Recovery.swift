import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerRemote

/// Recovering an identity on a new machine with its recovery words (docs/PROTOCOL.md,
/// "Recovery keys"): the ledger is opened as the recovery key, which links a fresh device key
/// for this machine; the words never reach a disk.
package enum Recovery {
    /// The identities a store holds with `key` as a recovery key, each with its genesis entry
    /// (checked: it derives the identity and its signature verifies).
    package static func lookUp(
        store url: URL, key: PublicSigningKey, transport: any StoreTransport = HTTPStoreTransport()
    ) async throws -> [(identity: IdentityID, genesis: Entry)] {
        let endpoint = url.appendingPathComponent("v1/recovery/lookup")
        let (status, headers, data) = try await transport.post(
            endpoint, body: try JSONEncoder().encode(RecoveryLookupRequest(key: key.hex)), bearer: nil)
        if status == 404 {
            throw RecoveryError(
                "the store at \(url.absoluteString) holds no identity with this recovery key: check the words, or "
                    + "whether the ledger was ever synced to this store")
        }
        let answer: RecoveryLookupResponse = try StoreClient.answer(
            status, headers, data, from: url, action: "recovery lookup")
        guard answer.identities.count <= RecoveryLookupResponse.maxIdentities else {
            throw StoreClientError.protocolViolation("its recovery lookup answer names too many identities")
        }
        return answer.identities.compactMap { item in
            guard let idBytes = Hex.decode(item.identity), let identity = try? IdentityID(bytes: idBytes),
                let raw = base64Bytes(item.genesis), let genesis = try? Entry(decoding: raw),
                isGenesis(genesis, of: identity)
            else { return nil }
            return (identity, genesis)
        }
    }

    /// True when `entry` is a signed genesis entry that derives `identity`.
    package static func isGenesis(_ entry: Entry, of identity: IdentityID) -> Bool {
        guard entry.identity == identity, entry.kind == .genesis, entry.seq == 1, entry.hasValidSignature,
            case .genesis(let nonce, _) = try? PublicBody(decoding: entry.publicBody, kind: .genesis)
        else { return false }
        return IdentityID.derive(rootDevice: entry.author, nonce: nonce) == identity
    }

    /// A replica of the identity held by the recovery key, in memory, starting from `genesis`.
    package static func replica(genesis: Entry, recovery: SigningKeyPair) async throws -> MergeEngine {
        let engine = try await MergeEngine(
            store: try LedgerStore.inMemory(
                identity: genesis.identity, root: genesis.author, device: recovery.publicKey),
            keyPair: recovery)
        try await engine.merge([genesis])
        return engine
    }

    /// Checks that the replica's roster holds `recovery` as a recovery key that may still write,
    /// and that it can open the ledger's data keys.
    package static func check(_ engine: MergeEngine, recovery: PublicSigningKey) async throws {
        let roster = try await engine.currentRoster()
        guard let entry = roster.devices[recovery] else {
            throw RecoveryError(
                "these words are not a recovery key of this identity (or the entry that links them has not "
                    + "reached this copy of the ledger)")
        }
        guard entry.isRecovery else { throw RecoveryError("that key is a device of this identity, not a recovery key") }
        if entry.boundary != nil {
            let by = entry.revokedBy.flatMap { roster.devices[$0]?.name }.map { " by \(TextSafety.sanitised($0))" }
            throw RecoveryError(
                "these words belong to a recovery key that was revoked\(by ?? ""); use another recovery key, or "
                    + "link this machine from a device that is still linked")
        }
        guard await engine.canSeal() else {
            throw RecoveryError("the ledger does not give this recovery key its data key; nothing can be opened")
        }
    }

    /// Links `device` with an entry signed by the recovery key (the replica's key); returns it.
    package static func link(
        _ device: SigningKeyPair, name: String, in engine: MergeEngine
    ) async throws -> Entry {
        let challenge = SecureRandom.bytes(PublicBody.challengeLength)
        let proof = device.sign(
            PublicBody.linkProofMessage(
                identity: engine.identity, device: device.publicKey, approver: engine.device, challenge: challenge))
        return try await engine.appendLink(device: device.publicKey, challenge: challenge, proof: proof, name: name)
    }

    /// Makes `home` a device of the replica's identity with `device`'s key: the ledger from the
    /// replica, then the key file (written last, so an interruption leaves no device behind).
    package static func makeDevice(
        home: DataHome, device: SigningKeyPair, from engine: MergeEngine, link: Entry, passphrase: [UInt8]?
    ) async throws -> MergeEngine {
        let stored = try await engine.storedEntries()
        guard let genesis = stored.first(where: { $0.entry.kind == .genesis && $0.entry.seq == 1 })?.entry else {
            throw RecoveryError("the recovered ledger has no genesis entry")
        }
        let mine = try await DeviceSetup.beginJoin(
            home: home, keyPair: device, identity: engine.identity, inviter: engine.device, genesis: genesis,
            link: link)
        do {
            try await mine.merge(stored.map(\.entry))
            try await DeviceSetup.finishJoin(
                home: home, engine: mine, keyPair: device, inviter: engine.device, passphrase: passphrase)
        } catch {
            DeviceSetup.abandonJoin(home: home)
            throw error
        }
        return mine
    }
}
