import CSodium

/// Authenticated encryption of a stream of messages (libsodium's
/// crypto_secretstream_xchacha20poly1305): messages can be neither changed, dropped, replayed
/// nor reordered without the receiver noticing, and the last one is marked final.
public enum SecretStream {
    /// Header the sender sends once, before the first message.
    public static let headerLength = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
    /// Bytes each message grows by.
    public static let overhead = Int(crypto_secretstream_xchacha20poly1305_abytes())

    /// The sending half.
    public struct Sender: ~Copyable {
        private var state = crypto_secretstream_xchacha20poly1305_state()
        /// Send this first.
        public let header: [UInt8]

        public init(key: SymmetricKey) {
            Sodium.ensureInitialised()
            var bytes = [UInt8](repeating: 0, count: SecretStream.headerLength)
            var fresh = crypto_secretstream_xchacha20poly1305_state()
            key.secret.withPointer { k in _ = crypto_secretstream_xchacha20poly1305_init_push(&fresh, &bytes, k) }
            state = fresh
            header = bytes
        }

        /// Encrypts the next message; `isFinal` marks the end of the stream.
        public mutating func seal(_ message: [UInt8], isFinal: Bool = false) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: message.count + SecretStream.overhead)
            let tag =
                isFinal
                ? crypto_secretstream_xchacha20poly1305_tag_final()
                : crypto_secretstream_xchacha20poly1305_tag_message()
            _ = crypto_secretstream_xchacha20poly1305_push(
                &state, &out, nil, message, UInt64(message.count), nil, 0, tag)
            return out
        }
    }

    /// The receiving half.
    public struct Receiver: ~Copyable {
        private var state = crypto_secretstream_xchacha20poly1305_state()
        /// True once the final message has been opened; nothing may follow it.
        public private(set) var isFinished = false

        /// Starts from the sender's header; fails when the header is malformed.
        public init(header: [UInt8], key: SymmetricKey) throws(CryptoError) {
            Sodium.ensureInitialised()
            try requireLength(header, SecretStream.headerLength, "secretstream header")
            var state = crypto_secretstream_xchacha20poly1305_state()
            let rc = key.secret.withPointer { k in crypto_secretstream_xchacha20poly1305_init_pull(&state, header, k) }
            guard rc == 0 else { throw .decryptionFailed }
            self.state = state
        }

        /// Opens the next message, failing on any change, drop, replay or reordering.
        public mutating func open(_ ciphertext: [UInt8]) throws(CryptoError) -> [UInt8] {
            guard !isFinished, ciphertext.count >= SecretStream.overhead else { throw .decryptionFailed }
            var out = [UInt8](repeating: 0, count: ciphertext.count - SecretStream.overhead)
            var tag: UInt8 = 0
            let rc = crypto_secretstream_xchacha20poly1305_pull(
                &state, &out, nil, &tag, ciphertext, UInt64(ciphertext.count), nil, 0)
            guard rc == 0 else { throw .decryptionFailed }
            if tag == crypto_secretstream_xchacha20poly1305_tag_final() { isFinished = true }
            return out
        }
    }
}
