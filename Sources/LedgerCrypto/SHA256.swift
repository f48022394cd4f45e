import CSodium

/// SHA-256 (libsodium's crypto_hash_sha256): only where a standard asks for it (the BIP-39
/// checksum of recovery words); BLAKE2b everywhere else.
public enum SHA256 {
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: 32)
        _ = crypto_hash_sha256(&out, data, UInt64(data.count))
        return out
    }
}
