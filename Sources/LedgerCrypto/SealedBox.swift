import CSodium

/// Anonymous public-key encryption to an Ed25519 identity (libsodium's crypto_box_seal on the
/// key converted to X25519): only the holder of the matching secret key can open it.
public enum SealedBox {
    /// Bytes a sealed box adds to its message.
    public static var overhead: Int { Int(crypto_box_sealbytes()) }

    /// Seals `message` to `recipient`.
    public static func seal(_ message: [UInt8], to recipient: PublicSigningKey) throws(CryptoError) -> [UInt8] {
        let curve = try recipient.curve25519()
        var out = [UInt8](repeating: 0, count: message.count + overhead)
        let rc = crypto_box_seal(&out, message, UInt64(message.count), curve)
        guard rc == 0 else { throw .invalidPublicKey }
        return out
    }

    /// Opens a box sealed to `keyPair`'s public key.
    public static func open(_ box: [UInt8], with keyPair: SigningKeyPair) throws(CryptoError) -> [UInt8] {
        guard box.count >= overhead else { throw .decryptionFailed }
        let curvePublic = try keyPair.publicKey.curve25519()
        let curveSecret = keyPair.curve25519Secret()
        var out = [UInt8](repeating: 0, count: box.count - overhead)
        let rc = curveSecret.withPointer { sk in
            crypto_box_seal_open(&out, box, UInt64(box.count), curvePublic, sk)
        }
        guard rc == 0 else { throw .decryptionFailed }
        return out
    }
}
