import CSodium

/// An Ed25519 public key (32 bytes).
public struct PublicSigningKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Length in bytes.
    public static let length = 32
    /// The key, inline.
    public let storage: InlineBytes32
    /// The raw key.
    public var bytes: [UInt8] { storage.array }

    /// Wraps 32 raw bytes.
    public init(bytes: [UInt8]) throws(CryptoError) {
        try requireLength(bytes, Self.length, "Ed25519 public key")
        storage = InlineBytes32(bytes)
    }

    /// Verifies an Ed25519 signature of `message` made by this key.
    public func isValidSignature(_ signature: Signature, for message: [UInt8]) -> Bool {
        message.withUnsafeBytes { isValidSignature(signature, for: $0) }
    }

    /// Verifies an Ed25519 signature of the bytes in `message` made by this key.
    public func isValidSignature(_ signature: Signature, for message: UnsafeRawBufferPointer) -> Bool {
        Sodium.ensureInitialised()
        return storage.withBytePointer { key in
            signature.storage.withBytePointer { sig in
                crypto_sign_verify_detached(
                    sig, message.bindMemory(to: UInt8.self).baseAddress, UInt64(message.count), key) == 0
            }
        }
    }

    /// Verifies a signature, throwing `CryptoError.invalidSignature` when it fails.
    public func verify(_ signature: Signature, for message: [UInt8]) throws(CryptoError) {
        guard isValidSignature(signature, for: message) else { throw .invalidSignature }
    }

    /// The X25519 public key that corresponds to this Ed25519 key, for sealed boxes.
    public func curve25519() throws(CryptoError) -> [UInt8] {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: 32)
        let rc = storage.withBytePointer { key in crypto_sign_ed25519_pk_to_curve25519(&out, key) }
        guard rc == 0 else { throw .invalidPublicKey }
        return out
    }

    /// Lowercase hex of the key.
    public var hex: String { Hex.encode(bytes) }

    /// A short, human-comparable fingerprint: the first 8 bytes of BLAKE2b-256 of the key, in 4 groups.
    public var fingerprint: String {
        let digest = Blake2b.hash(Array("ledgerlink-fingerprint-v1".utf8) + bytes)
        let hex = Hex.encode(Array(digest.bytes.prefix(8)))
        return stride(from: 0, to: 16, by: 4).map { i in
            String(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 4)])
        }.joined(separator: "-")
    }

    public var description: String { hex }

    /// Hashes the first eight bytes: the bytes are already uniformly random.
    public func hash(into hasher: inout Hasher) { hasher.combine(storage.leadingWord) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.storage == rhs.storage }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.storage < rhs.storage }
}

/// An Ed25519 signature (64 bytes).
public struct Signature: Hashable, Sendable {
    /// Length in bytes.
    public static let length = 64
    /// The signature, inline.
    public let storage: InlineBytes64
    /// The raw signature.
    public var bytes: [UInt8] { storage.array }

    /// Wraps 64 raw bytes.
    public init(bytes: [UInt8]) throws(CryptoError) {
        try requireLength(bytes, Self.length, "Ed25519 signature")
        storage = InlineBytes64(bytes)
    }

}

/// An Ed25519 key pair whose secret half lives in protected memory.
public struct SigningKeyPair: Sendable {
    /// Length of the seed from which a key pair is derived.
    public static let seedLength = 32
    /// The public half.
    public let publicKey: PublicSigningKey
    private let secret: SecureBytes  // 64 bytes: seed || public key, as libsodium stores it

    /// Generates a fresh key pair.
    public static func generate() -> SigningKeyPair {
        let seed = SecureBytes(count: seedLength) { randombytes_buf($0, seedLength) }
        return SigningKeyPair(validSeed: seed)
    }

    /// Derives the key pair from a 32-byte seed (deterministic; used for key files and test vectors).
    public init(seed: SecureBytes) throws(CryptoError) {
        guard seed.count == Self.seedLength else {
            throw .invalidLength(what: "Ed25519 seed", expected: Self.seedLength, actual: seed.count)
        }
        self.init(validSeed: seed)
    }

    private init(validSeed seed: SecureBytes) {
        Sodium.ensureInitialised()
        var pk = [UInt8](repeating: 0, count: 32)
        secret = SecureBytes(count: 64) { sk in
            seed.withPointer { s in _ = crypto_sign_seed_keypair(&pk, sk, s) }
        }
        publicKey = PublicSigningKey(storage: InlineBytes32(pk))
    }

    /// The 32-byte seed, to be written to a protected key file.
    public var seed: SecureBytes {
        SecureBytes(count: 32) { out in
            secret.withPointer { out.update(from: $0, count: 32) }
        }
    }

    /// Signs `message` (Ed25519, detached).
    public func sign(_ message: [UInt8]) -> Signature {
        let sig = InlineBytes64(filling: { out in
            secret.withPointer { sk in _ = crypto_sign_detached(out, nil, message, UInt64(message.count), sk) }
        })
        return Signature(storage: sig)
    }

    /// The X25519 secret key that corresponds to this Ed25519 key, for opening sealed boxes.
    func curve25519Secret() -> SecureBytes {
        SecureBytes(count: 32) { out in
            secret.withPointer { sk in _ = crypto_sign_ed25519_sk_to_curve25519(out, sk) }
        }
    }
}

extension PublicSigningKey {
    /// Wraps bytes already held inline (always the right length).
    public init(storage: InlineBytes32) { self.storage = storage }
}

extension Signature {
    /// Wraps bytes already held inline (always the right length).
    public init(storage: InlineBytes64) { self.storage = storage }
}
