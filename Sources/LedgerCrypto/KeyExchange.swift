import CSodium

/// An ephemeral X25519 key pair for one session (libsodium's crypto_kx), and the session keys
/// two ends derive from it: what one end sends with, the other receives with.
public struct KeyExchangeKeyPair: Sendable {
    /// Public key length.
    public static let publicKeyLength = 32
    /// This end's public key, sent to the other end.
    public let publicKey: [UInt8]
    private let secret: SecureBytes

    /// A fresh key pair.
    public init() {
        Sodium.ensureInitialised()
        var pk = [UInt8](repeating: 0, count: Self.publicKeyLength)
        secret = SecureBytes(count: 32) { sk in _ = crypto_kx_keypair(&pk, sk) }
        publicKey = pk
    }

    /// The key pair derived from a 32-byte seed (deterministic; for test vectors only).
    public init(seed: [UInt8]) throws(CryptoError) {
        try requireLength(seed, 32, "X25519 seed")
        Sodium.ensureInitialised()
        var pk = [UInt8](repeating: 0, count: Self.publicKeyLength)
        secret = SecureBytes(count: 32) { sk in _ = crypto_kx_seed_keypair(&pk, sk, seed) }
        publicKey = pk
    }

    /// Keys for one session.
    public struct SessionKeys: Sendable {
        /// Decrypts what the other end sends.
        public let receive: SymmetricKey
        /// Encrypts what this end sends.
        public let send: SymmetricKey
    }

    /// Session keys for the end that dialled (`client`) or accepted (`server`) the connection.
    public func sessionKeys(peer: [UInt8], isClient: Bool) throws(CryptoError) -> SessionKeys {
        try requireLength(peer, Self.publicKeyLength, "X25519 public key")
        // libsodium writes both keys at once; they are split into two protected buffers.
        var failed = false
        let both = SecureBytes(count: 64) { out in
            secret.withPointer { sk in
                let rc =
                    isClient
                    ? crypto_kx_client_session_keys(out, out + 32, publicKey, sk, peer)
                    : crypto_kx_server_session_keys(out, out + 32, publicKey, sk, peer)
                failed = rc != 0
            }
        }
        guard !failed else { throw .invalidPublicKey }
        let rx = SecureBytes(count: 32) { out in both.withPointer { out.update(from: $0, count: 32) } }
        let tx = SecureBytes(count: 32) { out in both.withPointer { out.update(from: $0 + 32, count: 32) } }
        return SessionKeys(receive: SymmetricKey(secret: rx), send: SymmetricKey(secret: tx))
    }
}
