import CSodium

/// A 32-byte symmetric key for XChaCha20-Poly1305, held in protected memory.
public struct SymmetricKey: Sendable {
    /// Length in bytes.
    public static let length = 32
    let secret: SecureBytes

    /// Generates a fresh random key.
    public static func generate() -> SymmetricKey {
        SymmetricKey(secret: SecureBytes(count: length) { randombytes_buf($0, length) })
    }

    /// Wraps 32 secret bytes.
    public init(bytes: [UInt8]) throws(CryptoError) {
        try requireLength(bytes, Self.length, "symmetric key")
        secret = SecureBytes(bytes)
    }

    init(secret: SecureBytes) { self.secret = secret }

    /// A copy of the key bytes, for sealing it to another device or storing it.
    public func copyBytes() -> [UInt8] { secret.copyBytes() }
}

/// XChaCha20-Poly1305 (IETF) authenticated encryption with associated data.
public enum XChaCha20Poly1305 {
    /// Nonce length (24 bytes: random nonces are safe).
    public static let nonceLength = 24
    /// Authentication tag length.
    public static let tagLength = 16

    /// Encrypts `plaintext`, binding `associatedData`; returns ciphertext || tag.
    public static func seal(
        _ plaintext: [UInt8], associatedData: [UInt8], nonce: [UInt8], key: SymmetricKey
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ensureInitialised()
        try requireLength(nonce, nonceLength, "XChaCha20-Poly1305 nonce")
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var outLength: UInt64 = 0
        key.secret.withPointer { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                &out, &outLength, plaintext, UInt64(plaintext.count), associatedData,
                UInt64(associatedData.count), nil, nonce, k)
        }
        return out
    }

    /// Decrypts ciphertext || tag, checking `associatedData`.
    public static func open(
        _ ciphertext: [UInt8], associatedData: [UInt8], nonce: [UInt8], key: SymmetricKey
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ensureInitialised()
        try requireLength(nonce, nonceLength, "XChaCha20-Poly1305 nonce")
        guard ciphertext.count >= tagLength else { throw .decryptionFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagLength)
        var outLength: UInt64 = 0
        let rc = key.secret.withPointer { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                &out, &outLength, nil, ciphertext, UInt64(ciphertext.count), associatedData,
                UInt64(associatedData.count), nonce, k)
        }
        guard rc == 0 else { throw .decryptionFailed }
        return out
    }

    /// Decrypts ciphertext || tag into `plaintext` (exactly `ciphertext.count - tagLength`
    /// bytes), checking `associatedData`, without allocating: the merge opens every entry.
    /// Returns false when the ciphertext does not authenticate.
    public static func open(
        _ ciphertext: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
        key: SymmetricKey, into plaintext: UnsafeMutableRawBufferPointer
    ) -> Bool {
        Sodium.ensureInitialised()
        guard nonce.count == nonceLength, ciphertext.count >= tagLength,
            plaintext.count == ciphertext.count - tagLength,
            let cipherBase = ciphertext.bindMemory(to: UInt8.self).baseAddress,
            let nonceBase = nonce.bindMemory(to: UInt8.self).baseAddress
        else { return false }
        var outLength: UInt64 = 0
        let rc = key.secret.withPointer { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                plaintext.bindMemory(to: UInt8.self).baseAddress, &outLength, nil,
                cipherBase, UInt64(ciphertext.count),
                associatedData.bindMemory(to: UInt8.self).baseAddress, UInt64(associatedData.count), nonceBase, k)
        }
        return rc == 0
    }
}
