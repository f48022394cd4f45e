import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerTestSupport
import Testing

/// Resources/vectors/store-heads-v1.json: a store key, two heads it signs for one identity (the
/// signed bytes and Ed25519 signatures, which are deterministic), and a pair that proves a
/// rollback (docs/PROTOCOL.md, "Store heads"). LEDGERLINK_WRITE_VECTORS=1 writes the file anew.
@Suite("Store head test vectors")
struct StoreHeadVectorTests {
    static let vectors = VectorFile("store-heads-v1.json")

    struct Vector: Codable {
        var version: UInt64
        var digest: String
        var time: Int64
        var signedBytes: String
        var signature: String
    }

    struct Document: Codable {
        var description: String
        var storeSeed: String
        var storeKey: String
        var identity: String
        var heads: [Vector]
        var rollback: String
    }

    static func build() throws -> Document {
        let key = try SigningKeyPair(seed: SecureBytes(VectorFile.range(0xC0, 32)))
        let identity = try IdentityID(bytes: VectorFile.range(0x10, 32))
        let heads = [
            (UInt64(7), Blake2b.hash(Array("seven".utf8)), Int64(1_800_000_000_000)),
            (UInt64(5), Blake2b.hash(Array("five".utf8)), Int64(1_800_000_060_000)),
        ].map { version, digest, time in
            let head = StoreHead(signing: key, identity: identity, version: version, digest: digest, time: time)
            return Vector(
                version: version, digest: digest.hex, time: time,
                signedBytes: Hex.encode(
                    StoreHead.signedBytes(
                        store: key.publicKey, identity: identity, version: version, digest: digest, time: time)),
                signature: Hex.encode(head.signature.bytes))
        }
        let (a, b) = try (head(heads[0], key.publicKey, identity), head(heads[1], key.publicKey, identity))
        return Document(
            description: "ledgerlink store heads v1; see docs/PROTOCOL.md, Store heads",
            storeSeed: Hex.encode(VectorFile.range(0xC0, 32)), storeKey: key.publicKey.hex, identity: identity.hex,
            heads: heads, rollback: StoreHead.contradiction(a, b) ?? "")
    }

    static func head(_ v: Vector, _ key: PublicSigningKey, _ identity: IdentityID) throws -> StoreHead {
        StoreHead(
            store: key, identity: identity, version: v.version, digest: try Digest32(bytes: Hex.decode(v.digest) ?? []),
            time: v.time, signature: try Signature(bytes: Hex.decode(v.signature) ?? []))
    }

    @Test("the signed bytes and signatures of store heads, and the rollback two of them prove")
    func vectors() throws {
        let stored = try Self.vectors.document(writingIfAsked: Self.build)
        let fresh = try Self.build()
        #expect(stored.storeKey == fresh.storeKey)
        #expect(stored.identity == fresh.identity)
        for (kept, made) in zip(stored.heads, fresh.heads) {
            #expect(kept.signedBytes == made.signedBytes)
            #expect(kept.signature == made.signature)
        }
        let key = try PublicSigningKey(bytes: Hex.decode(stored.storeKey) ?? [])
        let identity = try IdentityID(bytes: Hex.decode(stored.identity) ?? [])
        let heads = try stored.heads.map { try Self.head($0, key, identity) }
        #expect(heads.allSatisfy { $0.isValid })
        #expect(StoreHead.contradiction(heads[0], heads[1]) == stored.rollback)
        #expect(stored.rollback == "it signed version 5 after version 7")
        var altered = heads[0]
        altered.time += 1
        #expect(!altered.isValid)
    }
}
