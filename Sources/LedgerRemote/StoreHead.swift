import Foundation
import LedgerCore
import LedgerCrypto

/// A store's signed statement of what it holds for one identity (docs/PROTOCOL.md, "Store
/// heads"): its key, the identity, a version that only grows (rows the store has appended for
/// the identity), the clock digest of that version, and when it said so. Every sync answer
/// carries one; a device keeps the newest, and two heads of one store that cannot both be
/// true are a proof that the store lied.
package struct StoreHead: Sendable, Equatable, Codable {
    package var store: PublicSigningKey
    package var identity: IdentityID
    package var version: UInt64
    package var digest: Digest32
    /// Unix time in milliseconds, by the store's clock.
    package var time: Int64
    package var signature: Signature

    static let label = Array("ledgerlink-store-head-v1".utf8)

    /// The signed bytes: label || store key (32) || identity (32) || u64 version || digest (32)
    /// || i64 time.
    package static func signedBytes(
        store: PublicSigningKey, identity: IdentityID, version: UInt64, digest: Digest32, time: Int64
    ) -> [UInt8] {
        var w = ByteWriter(capacity: label.count + 112)
        w.raw(label)
        w.raw(store.bytes)
        w.raw(identity.bytes)
        w.u64(version)
        w.raw(digest.bytes)
        w.i64(time)
        return w.bytes
    }

    /// Signs a head with the store's key.
    package init(signing key: SigningKeyPair, identity: IdentityID, version: UInt64, digest: Digest32, time: Int64) {
        self.store = key.publicKey
        self.identity = identity
        self.version = version
        self.digest = digest
        self.time = time
        self.signature = key.sign(
            Self.signedBytes(store: key.publicKey, identity: identity, version: version, digest: digest, time: time))
    }

    package init(
        store: PublicSigningKey, identity: IdentityID, version: UInt64, digest: Digest32, time: Int64,
        signature: Signature
    ) {
        self.store = store
        self.identity = identity
        self.version = version
        self.digest = digest
        self.time = time
        self.signature = signature
    }

    /// True when the store's key signed exactly this.
    package var isValid: Bool {
        store.isValidSignature(
            signature,
            for: Self.signedBytes(store: store, identity: identity, version: version, digest: digest, time: time))
    }

    /// Why two heads of one store cannot both be true, if they cannot: one version with two
    /// digests, or a later statement of a lower version. Nil when they agree.
    package static func contradiction(_ a: StoreHead, _ b: StoreHead) -> String? {
        guard a.store == b.store, a.identity == b.identity else { return nil }
        if a.version == b.version, a.digest != b.digest {
            return "it signed two different states as version \(a.version)"
        }
        let (earlier, later) = a.time <= b.time ? (a, b) : (b, a)
        if later.version < earlier.version {
            return "it signed version \(later.version) after version \(earlier.version)"
        }
        return nil
    }

    /// The head as JSON, in the same form as its Codable encoding (for export files).
    package var json: JSONValue {
        .object([
            ("store", .string(store.hex)), ("identity", .string(identity.hex)), ("version", .integer(Int128(version))),
            ("digest", .string(digest.hex)), ("time", .integer(Int128(time))),
            ("signature", .string(Data(signature.bytes).base64EncodedString())),
        ])
    }

    // Codable as JSON: keys and digests hex, the signature base64 (StoreHeadWire's form).
    enum CodingKeys: String, CodingKey { case store, identity, version, digest, time, signature }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func bytes(_ key: CodingKeys, hexLength: Int) throws -> [UInt8] {
            let text = try c.decode(String.self, forKey: key)
            guard text.utf8.count == hexLength * 2, let bytes = Hex.decode(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "not \(hexLength) hex bytes")
            }
            return bytes
        }
        do {
            store = try PublicSigningKey(bytes: try bytes(.store, hexLength: 32))
            identity = try IdentityID(bytes: try bytes(.identity, hexLength: 32))
            digest = try Digest32(bytes: try bytes(.digest, hexLength: 32))
            let signatureText = try c.decode(String.self, forKey: .signature)
            guard signatureText.utf8.count <= 100, let raw = base64Bytes(signatureText) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .signature, in: c, debugDescription: "the signature is not base64")
            }
            signature = try Signature(bytes: raw)
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "\(error)"))
        }
        version = try c.decode(UInt64.self, forKey: .version)
        time = try c.decode(Int64.self, forKey: .time)
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(store.hex, forKey: .store)
        try c.encode(identity.hex, forKey: .identity)
        try c.encode(version, forKey: .version)
        try c.encode(digest.hex, forKey: .digest)
        try c.encode(time, forKey: .time)
        try c.encode(Data(signature.bytes).base64EncodedString(), forKey: .signature)
    }
}
