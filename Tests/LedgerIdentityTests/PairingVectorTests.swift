import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@testable import LedgerIdentity

/// Resources/vectors/pairing-v1.json fixes every input of one pairing exchange (device seeds,
/// ephemeral seeds, the code's secret, the challenge) and every message it produces, so an
/// independent implementation of docs/PROTOCOL.md "Linking a device" can check itself.
/// Run with LEDGERLINK_WRITE_VECTORS=1 to write the file anew (only when the format changes).
@Suite("Pairing test vectors")
struct PairingVectorTests {
    static let vectors = VectorFile("pairing-v1.json")
    static var file: URL { vectors.url }

    static func range(_ start: UInt8, _ count: Int) -> [UInt8] { VectorFile.range(start, count) }

    static func build() throws -> JSONValue {
        let inviterSeed = range(0x00, 32)
        let joinerSeed = range(0x20, 32)
        let inviterEphemeralSeed = range(0x80, 32)
        let joinerEphemeralSeed = range(0x90, 32)
        let nonce = range(0xA0, 16)
        let secret = range(0xC0, PairingCode.secretLength)
        let challenge = range(0x60, 32)
        let inviterKey = try SigningKeyPair(seed: SecureBytes(inviterSeed))
        let joinerKey = try SigningKeyPair(seed: SecureBytes(joinerSeed))
        let identity = IdentityID.derive(rootDevice: inviterKey.publicKey, nonce: nonce)
        let code = PairingCode(
            identityTag: PairingCode.tag(of: identity), secret: secret, rendezvous: .peer(host: "192.0.2.7", port: 8790)
        )
        var inviter = PairingInviter(
            code: code, identity: identity, keyPair: inviterKey,
            ephemeral: try KeyExchangeKeyPair(seed: inviterEphemeralSeed), challenge: { challenge })
        var joiner = PairingJoiner(
            code: code, keyPair: joinerKey, name: "phone", ephemeral: try KeyExchangeKeyPair(seed: joinerEphemeralSeed))
        let join = joiner.join()
        let offer = try inviter.receiveJoin(join)
        let (reveal, sas) = try joiner.receiveOffer(offer)
        let request = try inviter.receiveReveal(reveal)
        guard request.sas == sas, case .challenge(let challengeMessage) = try inviter.approve(typed: sas.description),
            case .proof(let proofMessage) = try joiner.receive(challengeMessage)
        else { throw PairingError.tampered("the vector exchange did not complete") }
        _ = try inviter.receiveProof(proofMessage)
        let hex = Hex.encode
        return .object([
            ("description", "ledgerlink pairing v1 test vectors; see docs/PROTOCOL.md, Linking a device"),
            (
                "inputs",
                .object([
                    ("inviter_seed", .string(hex(inviterSeed))), ("joiner_seed", .string(hex(joinerSeed))),
                    ("inviter_ephemeral_seed", .string(hex(inviterEphemeralSeed))),
                    ("joiner_ephemeral_seed", .string(hex(joinerEphemeralSeed))),
                    ("genesis_nonce", .string(hex(nonce))), ("secret", .string(hex(secret))),
                    ("rendezvous", "192.0.2.7:8790"), ("joiner_name", "phone"), ("challenge", .string(hex(challenge))),
                ])
            ),
            ("identity", .string(identity.hex)),
            ("code", .string(code.description)),
            ("code_key", .string(hex(PairingProtocol.codeKey(code)))),
            ("mailbox", .string(PairingProtocol.mailbox(for: code))),
            ("join", .string(hex(join))),
            ("offer", .string(hex(offer))),
            ("reveal", .string(hex(reveal))),
            ("sas", .string(sas.description)),
            ("challenge_message", .string(hex(challengeMessage))),
            ("proof_message", .string(hex(proofMessage))),
        ])
    }

    @Test("the pairing vectors file reproduces byte for byte")
    func reproduce() throws {
        let document = try Self.build()
        let stored = try Self.vectors.text(writingIfAsked: { document.prettyText + "\n" })
        #expect(document.prettyText + "\n" == stored)
    }

    @Test("an independent implementation (PyNaCl, from docs/PROTOCOL.md) reproduces every pairing message")
    func independentImplementation() async throws {
        let root = Self.vectors.packageRoot
        let list = TestFolder.url("bip39").appendingPathExtension("txt")
        try (Wordlist.words.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: list) }
        let script = root.appendingPathComponent("Tests/interop/verify_pairing.py").path
        let vectors = Self.file.path
        let (status, text) = try await runPython([script, vectors, list.path])
        #expect(status == 0, "\(text)")
        #expect(text.contains("12 passed, 0 failed"), "\(text)")
    }
}
