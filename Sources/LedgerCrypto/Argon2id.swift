import CSodium

/// Argon2id password hashing (libsodium's crypto_pwhash), used to wrap key files with a passphrase.
public enum Argon2id {
    /// Salt length in bytes.
    public static let saltLength = 16

    /// Cost parameters, recorded beside every wrapped key so they can be raised later.
    public struct Cost: Sendable, Equatable {
        /// Passes over memory.
        public var opsLimit: UInt64
        /// Memory in bytes.
        public var memLimit: Int

        public init(opsLimit: UInt64, memLimit: Int) {
            self.opsLimit = opsLimit
            self.memLimit = memLimit
        }

        /// libsodium's interactive limits (2 passes, 64 MiB): a fraction of a second here.
        public static let interactive = Cost(
            opsLimit: UInt64(crypto_pwhash_opslimit_interactive()),
            memLimit: Int(crypto_pwhash_memlimit_interactive()))
        /// libsodium's minimum limits; for tests only.
        public static let minimum = Cost(
            opsLimit: UInt64(crypto_pwhash_opslimit_min()), memLimit: Int(crypto_pwhash_memlimit_min()))
    }

    /// Derives a 32-byte key from `passphrase` and `salt`.
    public static func deriveKey(
        passphrase: [UInt8], salt: [UInt8], cost: Cost
    ) throws(CryptoError) -> SymmetricKey {
        Sodium.ensureInitialised()
        try requireLength(salt, saltLength, "Argon2id salt")
        var failed = false
        let secret = SecureBytes(count: SymmetricKey.length) { out in
            let chars = passphrase.map { CChar(bitPattern: $0) }
            let rc = crypto_pwhash(
                out, UInt64(SymmetricKey.length), chars, UInt64(chars.count), salt, cost.opsLimit,
                cost.memLimit, crypto_pwhash_alg_argon2id13())
            failed = rc != 0
        }
        guard !failed else { throw .keyDerivationFailed }
        return SymmetricKey(secret: secret)
    }
}
