import LedgerCore
import LedgerCrypto

/// A recovery key written as 24 words (docs/PROTOCOL.md, "Recovery keys"): 256 bits of fresh
/// randomness and an 8-bit checksum (the first byte of its SHA-256), 11 bits a word, in the
/// BIP-39 English list the pairing words use. The Ed25519 key is derived from the randomness,
/// so the words are the key: whoever reads them holds it.
package struct RecoveryWords: Sendable {
    package static let wordCount = 24
    static let entropyLength = 32
    static let keyLabel = Array("ledgerlink-recovery-key-v1".utf8)

    private let entropy: SecureBytes

    /// Fresh randomness.
    package static func generate() -> RecoveryWords {
        RecoveryWords(entropy: SecureBytes(SecureRandom.bytes(entropyLength)))
    }

    package init(entropy: SecureBytes) {
        precondition(entropy.count == Self.entropyLength)
        self.entropy = entropy
    }

    /// The 24 words, in order.
    package var words: [String] {
        let bytes = entropy.copyBytes()
        var bits = BitString()
        bits.append(bytes, bits: Self.entropyLength * 8)
        bits.append([SHA256.hash(bytes)[0]], bits: 8)
        return bits.groups(of: Wordlist.bitsPerWord).map { Wordlist.words[$0] }
    }

    /// The key the words stand for: Ed25519 from the seed BLAKE2b-256(label || randomness).
    package var keyPair: SigningKeyPair {
        let seed = Blake2b.hash(prefix: Self.keyLabel, entropy.copyBytes()).bytes
        // A 32-byte seed always makes a key pair.
        return try! SigningKeyPair(seed: SecureBytes(seed))
    }

    /// Reads typed words: separated by spaces, dashes, commas or new lines, in any case, each
    /// whole or as its first four letters. Says which word is wrong, or that the checksum fails.
    package init(parsing text: String) throws(RecoveryError) {
        let typed = text.split(whereSeparator: { $0.isWhitespace || $0 == "-" || $0 == "," }).map(String.init)
            // Numbered lists (`1. abandon`) read as the words alone.
            .filter { !$0.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" || $0 == ")" } }
        guard typed.count == Self.wordCount else {
            throw RecoveryError(
                "recovery words are \(Self.wordCount) words; \(typed.count == 1 ? "1 was" : "\(typed.count) were") given"
            )
        }
        var bits = BitString()
        for (position, word) in typed.enumerated() {
            guard let value = Wordlist.index(of: word) else {
                throw RecoveryError(
                    "word \(position + 1) (\"\(TextSafety.sanitised(String(word.prefix(32))))\") is not a recovery "
                        + "word; check its spelling")
            }
            bits.append(value: value, bits: Wordlist.bitsPerWord)
        }
        let bytes = bits.bytes
        let entropy = Array(bytes[0..<Self.entropyLength])
        guard SHA256.hash(entropy)[0] == bytes[Self.entropyLength] else {
            throw RecoveryError(
                "the words do not check: one of them is wrong, or two are swapped (each is a real word, but "
                    + "together they are not a recovery key)")
        }
        self.init(entropy: SecureBytes(entropy))
    }
}

/// Why recovery words or a recovery were refused, in words.
package struct RecoveryError: Error, CustomStringConvertible, Equatable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
