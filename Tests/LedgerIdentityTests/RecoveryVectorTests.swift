import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerTestSupport
import Testing

/// Resources/vectors/recovery-v1.json: recovery words for fixed randomness, the key they stand
/// for, and the recovery mark of a link (docs/PROTOCOL.md, "Recovery keys").
/// LEDGERLINK_WRITE_VECTORS=1 writes the file anew.
@Suite("Recovery words and keys")
struct RecoveryVectorTests {
    static let vectors = VectorFile("recovery-v1.json")

    struct Vector: Codable, Equatable {
        var entropy: String
        var words: String
        var publicKey: String
    }

    struct Document: Codable {
        var description: String
        var keys: [Vector]
        var identity: String
        var recoveryChallenge: String
    }

    static func build() throws -> Document {
        let keys = [VectorFile.range(0x00, 32), [UInt8](repeating: 0, count: 32), [UInt8](repeating: 0x7F, count: 32)]
            .map { entropy in
                let words = RecoveryWords(entropy: SecureBytes(entropy))
                return Vector(
                    entropy: Hex.encode(entropy), words: words.words.joined(separator: " "),
                    publicKey: words.keyPair.publicKey.hex)
            }
        let identity = try IdentityID(bytes: VectorFile.range(0x10, 32))
        let key = try PublicSigningKey(bytes: Hex.decode(keys[0].publicKey) ?? [])
        return Document(
            description: "ledgerlink recovery keys v1; see docs/PROTOCOL.md, Recovery keys", keys: keys,
            identity: identity.hex,
            recoveryChallenge: Hex.encode(PublicBody.recoveryChallenge(identity: identity, device: key)))
    }

    @Test("words, keys and the recovery mark match the vectors; the words are BIP-39's for the same randomness")
    func vectors() throws {
        let stored = try Self.vectors.document(writingIfAsked: Self.build)
        let fresh = try Self.build()
        #expect(stored.keys == fresh.keys)
        #expect(stored.recoveryChallenge == fresh.recoveryChallenge)
        // BIP-39's own test vectors (English, 256 bits): the same randomness gives the same words.
        #expect(stored.keys[1].words == Array(repeating: "abandon", count: 23).joined(separator: " ") + " art")
        #expect(
            stored.keys[2].words
                == "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth "
                + "useful legal winner thank year wave sausage worth title")
        for vector in stored.keys {
            let read = try RecoveryWords(parsing: vector.words)
            #expect(read.keyPair.publicKey.hex == vector.publicKey)
        }
    }

    @Test("typed words: any case, 4-letter prefixes, numbered lines; a wrong word, a swap or a short list is refused")
    func parsing() throws {
        let words = RecoveryWords.generate()
        let list = words.words
        let numbered = list.enumerated().map { "\($0.offset + 1). \($0.element.uppercased())" }.joined(separator: "\n")
        #expect(try RecoveryWords(parsing: numbered).keyPair.publicKey == words.keyPair.publicKey)
        let prefixes = list.map { String($0.prefix(4)) }.joined(separator: "-")
        #expect(try RecoveryWords(parsing: prefixes).keyPair.publicKey == words.keyPair.publicKey)
        var typo = list
        typo[9] = "qwerty"
        #expect(throws: RecoveryError.self) { try RecoveryWords(parsing: typo.joined(separator: " ")) }
        #expect(throws: RecoveryError.self) { try RecoveryWords(parsing: list.dropLast().joined(separator: " ")) }
        // A swap of two different words breaks the checksum, except by chance (1 in 256): try
        // swaps until one differs, and check that most are caught.
        var caught = 0
        for i in 0..<23 where list[i] != list[i + 1] {
            var swapped = list
            swapped.swapAt(i, i + 1)
            if (try? RecoveryWords(parsing: swapped.joined(separator: " "))) == nil { caught += 1 }
        }
        #expect(caught >= 20)
    }
}
