import CSodium

/// Failures of the cryptographic layer.
public enum CryptoError: Error, Equatable, Sendable {
    /// libsodium could not be initialised.
    case initialisationFailed
    /// A key, nonce or signature had the wrong length.
    case invalidLength(what: String, expected: Int, actual: Int)
    /// A signature did not verify.
    case invalidSignature
    /// Authenticated decryption failed: wrong key, or the data was altered.
    case decryptionFailed
    /// A public key could not be converted or used.
    case invalidPublicKey
    /// Key derivation ran out of memory or failed.
    case keyDerivationFailed
}

/// Initialises libsodium once per process; every entry point of this module calls it.
enum Sodium {
    /// sodium_init's answer (0 on first success, 1 when already initialised), once libsodium's
    /// BLAKE2b state is known to fit the room `Blake2b.hash(prefix:_:)` makes for it.
    private static let status: Int32 = {
        precondition(
            ll_generichash_statebytes() <= Blake2b.stateBytes,
            "libsodium's BLAKE2b state outgrew \(Blake2b.stateBytes) bytes")
        return sodium_init()
    }()

    @inline(__always)
    static func ensureInitialised() {
        precondition(status >= 0, "libsodium failed to initialise")
    }
}

/// Cryptographically secure random bytes from libsodium.
public enum SecureRandom {
    /// Returns `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: count)
        randombytes_buf(&out, count)
        return out
    }

    /// A uniformly random integer in `0..<upperBound`.
    public static func uniform(_ upperBound: UInt32) -> UInt32 {
        Sodium.ensureInitialised()
        return randombytes_uniform(upperBound)
    }
}

/// Compares two byte sequences in constant time.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    Sodium.ensureInitialised()
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return sodium_memcmp(a, b, a.count) == 0
}

@inline(__always)
func requireLength(_ bytes: [UInt8], _ expected: Int, _ what: String) throws(CryptoError) {
    guard bytes.count == expected else {
        throw .invalidLength(what: what, expected: expected, actual: bytes.count)
    }
}
