import CNCursesw
import LedgerCrypto
import Testing

@Suite("Crypto")
struct CryptoTests {
    @Test("an Ed25519 signature verifies, and fails after any change to message or signature")
    func signVerify() throws {
        let pair = SigningKeyPair.generate()
        let message = Array("pay 12.50".utf8)
        let signature = pair.sign(message)
        #expect(pair.publicKey.isValidSignature(signature, for: message))
        #expect(!pair.publicKey.isValidSignature(signature, for: Array("pay 12.51".utf8)))
        var bad = signature.bytes
        bad[10] ^= 1
        #expect(!pair.publicKey.isValidSignature(try Signature(bytes: bad), for: message))
        #expect(!SigningKeyPair.generate().publicKey.isValidSignature(signature, for: message))
    }

    @Test("a seed always derives the same key pair and the same signatures (RFC 8032 test 1)")
    func deterministicKeys() throws {
        let seed = try #require(Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        let pair = try SigningKeyPair(seed: SecureBytes(seed))
        #expect(pair.publicKey.hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        #expect(
            Hex.encode(pair.sign([]).bytes)
                == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        #expect(Hex.encode(pair.seed.copyBytes()) == Hex.encode(seed))
    }

    @Test("wrong-length keys and signatures are refused")
    func lengths() {
        #expect(throws: CryptoError.self) { try PublicSigningKey(bytes: [1, 2, 3]) }
        #expect(throws: CryptoError.self) { try Signature(bytes: [UInt8](repeating: 0, count: 63)) }
        #expect(throws: CryptoError.self) { try SigningKeyPair(seed: SecureBytes([1])) }
    }

    @Test("BLAKE2b-256 matches the reference digest, in one call and incrementally")
    func blake2b() {
        #expect(Blake2b.hash([]).hex == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        let abc = Array("abc".utf8)
        #expect(Blake2b.hash(abc).hex == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        var hasher = Blake2b.Hasher()
        hasher.update(Array("a".utf8))
        hasher.update(Array("bc".utf8)[...])
        #expect(hasher.finalize() == Blake2b.hash(abc))
    }

    @Test("BLAKE2b-256 of a prefix and data (state on the stack) is the digest of both together, from any thread")
    func blake2bPrefix() async throws {
        let abc = Array("abc".utf8)
        #expect(Blake2b.hash(prefix: [], abc) == Blake2b.hash(abc))
        #expect(
            Blake2b.hash(prefix: Array("a".utf8), Array("bc".utf8)).hex
                == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        // Lengths across BLAKE2b's 128-byte blocks, data at every offset of a buffer, on many
        // threads at once (each state is its own, aligned within its stack space).
        let bytes = (0..<700).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for split in stride(from: 0, through: 300, by: 13) {
                group.addTask {
                    for length in [0, 1, 127, 128, 129, 255, 256, 257, 399] {
                        let prefix = Array(bytes[0..<split])
                        let data = Array(bytes[split..<(split + length)])
                        let together = Blake2b.hash(prefix + data)
                        #expect(Blake2b.hash(prefix: prefix, data) == together)
                        bytes.withUnsafeBytes { all in
                            let rebased = UnsafeRawBufferPointer(rebasing: all[split..<(split + length)])
                            #expect(Blake2b.hash(prefix: prefix, rebased) == together)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("XChaCha20-Poly1305 round-trips and refuses a changed ciphertext, nonce, key or associated data")
    func aead() throws {
        let key = SymmetricKey.generate()
        let nonce = SecureRandom.bytes(XChaCha20Poly1305.nonceLength)
        let sealed = try XChaCha20Poly1305.seal(Array("memo".utf8), associatedData: [1, 2], nonce: nonce, key: key)
        #expect(
            try XChaCha20Poly1305.open(sealed, associatedData: [1, 2], nonce: nonce, key: key) == Array("memo".utf8))
        var tampered = sealed
        tampered[0] ^= 0x80
        #expect(throws: CryptoError.decryptionFailed) {
            try XChaCha20Poly1305.open(tampered, associatedData: [1, 2], nonce: nonce, key: key)
        }
        #expect(throws: CryptoError.decryptionFailed) {
            try XChaCha20Poly1305.open(sealed, associatedData: [1, 3], nonce: nonce, key: key)
        }
        #expect(throws: CryptoError.decryptionFailed) {
            try XChaCha20Poly1305.open(sealed, associatedData: [1, 2], nonce: SecureRandom.bytes(24), key: key)
        }
        #expect(throws: CryptoError.decryptionFailed) {
            try XChaCha20Poly1305.open(sealed, associatedData: [1, 2], nonce: nonce, key: .generate())
        }
        #expect(throws: CryptoError.decryptionFailed) {
            try XChaCha20Poly1305.open([1, 2], associatedData: [], nonce: nonce, key: key)
        }
    }

    @Test("a sealed box opens only with the recipient's key")
    func sealedBox() throws {
        let recipient = SigningKeyPair.generate()
        let box = try SealedBox.seal(Array("data key".utf8), to: recipient.publicKey)
        #expect(box.count == 8 + SealedBox.overhead)
        #expect(try SealedBox.open(box, with: recipient) == Array("data key".utf8))
        #expect(throws: CryptoError.decryptionFailed) { try SealedBox.open(box, with: .generate()) }
        #expect(throws: CryptoError.decryptionFailed) { try SealedBox.open([1, 2, 3], with: recipient) }
    }

    @Test("Argon2id derives the same key from the same passphrase and salt, and another from another")
    func argon2id() throws {
        let salt = [UInt8](repeating: 7, count: Argon2id.saltLength)
        let a = try Argon2id.deriveKey(passphrase: Array("correct horse".utf8), salt: salt, cost: .minimum)
        let b = try Argon2id.deriveKey(passphrase: Array("correct horse".utf8), salt: salt, cost: .minimum)
        let c = try Argon2id.deriveKey(passphrase: Array("correct horsf".utf8), salt: salt, cost: .minimum)
        #expect(a.copyBytes() == b.copyBytes())
        #expect(a.copyBytes() != c.copyBytes())
        #expect(throws: CryptoError.self) {
            try Argon2id.deriveKey(passphrase: [1], salt: [1, 2], cost: .minimum)
        }
    }

    @Test("hex round-trips and refuses odd lengths and non-hex characters")
    func hex() {
        #expect(Hex.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test("the fingerprint is short, stable and differs between keys")
    func fingerprint() throws {
        let seed = try #require(Hex.decode(String(repeating: "11", count: 32)))
        let a = try SigningKeyPair(seed: SecureBytes(seed)).publicKey
        #expect(a.fingerprint == a.fingerprint)
        #expect(a.fingerprint.count == 19)
        #expect(a.fingerprint != SigningKeyPair.generate().publicKey.fingerprint)
    }

    @Test("the ncurses shim links and exposes the wide-character library")
    func ncursesShim() throws {
        let version = String(cString: try #require(curses_version()))
        #expect(version.hasPrefix("ncurses"))
        #expect(ll_key_f(1) == KEY_F0 + 1)
    }
}
