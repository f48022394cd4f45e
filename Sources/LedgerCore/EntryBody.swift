import LedgerCrypto

/// The public, kind-specific fields of an entry (docs/PROTOCOL.md, "Public bodies").
public enum PublicBody: Sendable, Equatable {
    /// Genesis: the nonce that, with the author's key, derives the identity id; and the
    /// keyring sealed to the genesis device.
    case genesis(nonce: [UInt8], keyring: [UInt8])
    /// Link: the admitted device, the approver's challenge, the device's proof of possession
    /// over that challenge, and the keyring sealed to the new device.
    case link(device: DevicePublicKey, challenge: [UInt8], proof: Signature, keyring: [UInt8])
    /// Revoke: the device whose authority ends after `boundary`, and the new data key sealed to
    /// each device that remains.
    case revoke(device: DevicePublicKey, boundary: Seq, keyrings: [KeyringGrant])
    /// Credit and debit carry everything in the sealed part.
    case record

    /// Length of the genesis nonce.
    public static let nonceLength = 16
    /// Length of a link challenge.
    public static let challengeLength = 32
    /// Most devices one revoke may re-key.
    public static let maxGrants = 1024

    /// A keyring sealed to one device.
    public struct KeyringGrant: Sendable, Equatable {
        public let recipient: DevicePublicKey
        public let box: [UInt8]
        public init(recipient: DevicePublicKey, box: [UInt8]) {
            self.recipient = recipient
            self.box = box
        }
    }

    /// Canonical bytes.
    public var encoded: [UInt8] {
        var w = ByteWriter()
        switch self {
        case .genesis(let nonce, let keyring):
            w.raw(nonce)
            w.lengthPrefixed32(keyring)
        case .link(let device, let challenge, let proof, let keyring):
            w.raw(device.bytes)
            w.raw(challenge)
            w.raw(proof.bytes)
            w.lengthPrefixed32(keyring)
        case .revoke(let device, let boundary, let keyrings):
            w.raw(device.bytes)
            w.u64(boundary)
            w.u32(UInt32(keyrings.count))
            for grant in keyrings {
                w.raw(grant.recipient.bytes)
                w.lengthPrefixed32(grant.box)
            }
        case .record:
            break
        }
        return w.bytes
    }

    /// Parses the public body of an entry of `kind`.
    public init(decoding bytes: [UInt8], kind: EntryKind) throws(LedgerError) {
        var r = ByteReader(bytes)
        do {
            switch kind {
            case .genesis:
                self = .genesis(nonce: try r.raw(Self.nonceLength), keyring: try r.lengthPrefixed32(limit: bytes.count))
            case .link:
                let device = try DevicePublicKey(bytes: try r.raw(32))
                let challenge = try r.raw(Self.challengeLength)
                let proof = try Signature(bytes: try r.raw(Signature.length))
                self = .link(
                    device: device, challenge: challenge, proof: proof,
                    keyring: try r.lengthPrefixed32(limit: bytes.count))
            case .revoke:
                let device = try DevicePublicKey(bytes: try r.raw(32))
                let boundary = try r.u64()
                let count = Int(try r.u32())
                guard count <= Self.maxGrants else { throw LedgerError.malformed("too many keyrings in a revoke") }
                var grants: [KeyringGrant] = []
                for _ in 0..<count {
                    let recipient = try DevicePublicKey(bytes: try r.raw(32))
                    grants.append(KeyringGrant(recipient: recipient, box: try r.lengthPrefixed32(limit: bytes.count)))
                }
                self = .revoke(device: device, boundary: boundary, keyrings: grants)
            case .credit, .debit:
                self = .record
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw .malformed("the \(kind) body is truncated")
        }
        guard r.isAtEnd else { throw .malformed("trailing bytes in the \(kind) body") }
    }

    /// The transcript a new device signs to prove it holds its key (docs/PROTOCOL.md, "Link proof").
    public static func linkProofMessage(
        identity: IdentityID, device: DevicePublicKey, approver: DevicePublicKey, challenge: [UInt8]
    ) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array(Labels.linkProof.utf8))
        w.raw(identity.bytes)
        w.raw(device.bytes)
        w.raw(approver.bytes)
        w.raw(challenge)
        return w.bytes
    }
}

/// The private, sealed fields of an entry.
public enum PrivateBody: Sendable, Equatable {
    /// Genesis: decimals of the ledger's unit and the first device's name.
    case genesis(decimals: UInt8, deviceName: String)
    /// Link: the new device's name (as the new device gave it; unverified).
    case link(deviceName: String)
    /// Revoke: nothing private.
    case revoke
    /// Credit or debit: a positive amount in minor units and a memo.
    case record(amount: Int64, memo: String)

    /// Longest device name in UTF-8 bytes.
    public static let maxNameBytes = 64
    /// Longest memo in UTF-8 bytes.
    public static let maxMemoBytes = 280
    /// Most decimals a ledger may use.
    public static let maxDecimals: UInt8 = 8

    /// Canonical bytes (before sealing).
    public var encoded: [UInt8] {
        var w = ByteWriter()
        switch self {
        case .genesis(let decimals, let name):
            w.u8(decimals)
            w.lengthPrefixed8(Array(name.utf8))
        case .link(let name):
            w.lengthPrefixed8(Array(name.utf8))
        case .revoke:
            break
        case .record(let amount, let memo):
            w.u64(UInt64(amount))
            w.lengthPrefixed16(Array(memo.utf8))
        }
        return w.bytes
    }

    /// Parses opened bytes of an entry of `kind`, enforcing every documented limit.
    public init(decoding bytes: [UInt8], kind: EntryKind) throws(LedgerError) {
        var r = ByteReader(bytes)
        do {
            switch kind {
            case .genesis:
                let decimals = try r.u8()
                guard decimals <= Self.maxDecimals else { throw LedgerError.malformed("too many decimals") }
                self = .genesis(
                    decimals: decimals, deviceName: try Self.text(try r.lengthPrefixed8(), limit: Self.maxNameBytes))
            case .link:
                self = .link(deviceName: try Self.text(try r.lengthPrefixed8(), limit: Self.maxNameBytes))
            case .revoke:
                self = .revoke
            case .credit, .debit:
                let raw = try r.u64()
                guard raw >= 1, raw <= UInt64(Int64.max) else { throw LedgerError.malformed("amount out of range") }
                self = .record(
                    amount: Int64(raw), memo: try Self.text(try r.lengthPrefixed16(), limit: Self.maxMemoBytes))
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw .malformed("the sealed \(kind) body is truncated")
        }
        guard r.isAtEnd else { throw .malformed("trailing bytes in the sealed \(kind) body") }
    }

    private static func text(_ bytes: [UInt8], limit: Int) throws(LedgerError) -> String {
        guard bytes.count <= limit else { throw .malformed("text longer than \(limit) bytes") }
        guard let s = String(validating: bytes, as: UTF8.self) else { throw .malformed("text is not UTF-8") }
        return s
    }
}

/// Sealing of private bodies (docs/PROTOCOL.md, "Sealed part").
public enum BodySeal {
    /// keyID (8) + nonce (24) + tag (16).
    public static let overhead = 8 + XChaCha20Poly1305.nonceLength + XChaCha20Poly1305.tagLength

    /// The associated data that binds a sealed part to its entry's position.
    static func associatedData(identity: IdentityID, author: DevicePublicKey, seq: Seq, kind: EntryKind) -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        w.raw(Array(Labels.seal.utf8))
        w.raw(identity.bytes)
        w.raw(author.bytes)
        w.u64(seq)
        w.u8(kind.rawValue)
        return w.bytes
    }

    /// Seals `body` for the entry at (`author`, `seq`) with `key`.
    public static func seal(
        _ body: PrivateBody, key: DataKey, identity: IdentityID, author: DevicePublicKey, seq: Seq, kind: EntryKind,
        nonce: [UInt8] = SecureRandom.bytes(XChaCha20Poly1305.nonceLength)
    ) throws(LedgerError) -> [UInt8] {
        let aad = associatedData(identity: identity, author: author, seq: seq, kind: kind)
        do {
            let ct = try XChaCha20Poly1305.seal(body.encoded, associatedData: aad, nonce: nonce, key: key.key)
            return key.id.bytes + nonce + ct
        } catch {
            throw .invalidState("sealing failed: \(error)")
        }
    }

    /// The id of the key that sealed `sealed`, or nil when it is too short to carry one.
    public static func keyID(of sealed: [UInt8]) -> DataKeyID? {
        sealed.count >= overhead ? DataKeyID(unchecked: Array(sealed[0..<8])) : nil
    }

    /// Opens the sealed part of `entry` with `key`.
    public static func open(_ entry: Entry, key: DataKey) throws(LedgerError) -> PrivateBody {
        let sealed = entry.sealed
        guard sealed.count >= overhead else { throw .malformed("sealed part too short") }
        let nonce = Array(sealed[8..<32])
        let ct = Array(sealed[32...])
        let aad = associatedData(identity: entry.identity, author: entry.author, seq: entry.seq, kind: entry.kind)
        let plain: [UInt8]
        do {
            plain = try XChaCha20Poly1305.open(ct, associatedData: aad, nonce: nonce, key: key.key)
        } catch {
            throw .unreadableBody("authentication failed")
        }
        return try PrivateBody(decoding: plain, kind: entry.kind)
    }
}
