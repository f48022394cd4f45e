import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Resources/vectors/ledger-v1.json fixes every input (seeds, nonces, keys, times) and every
/// output byte of a small ledger, so an independent implementation can check itself against
/// docs/PROTOCOL.md. This test rebuilds each output from the inputs and compares byte for byte.
/// Run with LEDGERLINK_WRITE_VECTORS=1 to write the file anew (only when the format changes).
@Suite("Protocol test vectors")
struct ProtocolVectorTests {
    static let vectors = VectorFile("ledger-v1.json")

    static func bytes(_ hex: String) -> [UInt8] { Hex.decode(hex) ?? [] }
    static func range(_ start: UInt8, _ count: Int) -> [UInt8] { VectorFile.range(start, count) }

    /// Builds the vector ledger. Sealed boxes are randomised by design, so their bytes are inputs.
    static func build(keyrings: [String: [UInt8]]?) throws -> (JSONValue, [Entry]) {
        let rootSeed = range(0x00, 32)
        let phoneSeed = range(0x20, 32)
        let root = try SigningKeyPair(seed: SecureBytes(rootSeed))
        let phone = try SigningKeyPair(seed: SecureBytes(phoneSeed))
        let nonce = range(0xA0, 16)
        let dataKey = DataKey(generation: 0, key: try SymmetricKey(bytes: range(0x40, 32)))
        let identity = IdentityID.derive(rootDevice: root.publicKey, nonce: nonce)
        let challenge = range(0x60, 32)
        let time: Int64 = 1_700_000_000_000
        let genesisKeyring = try keyrings?["genesis"] ?? Keyring.seal([dataKey], to: root.publicKey)
        let linkKeyring = try keyrings?["link"] ?? Keyring.seal([dataKey], to: phone.publicKey)
        let proof = phone.sign(
            PublicBody.linkProofMessage(
                identity: identity, device: phone.publicKey, approver: root.publicKey, challenge: challenge))

        struct Step {
            let author: SigningKeyPair
            let kind: EntryKind
            let publicBody: PublicBody
            let privateBody: PrivateBody
        }
        let steps = [
            Step(
                author: root, kind: .genesis, publicBody: .genesis(nonce: nonce, keyring: genesisKeyring),
                privateBody: .genesis(decimals: 2, deviceName: "laptop")),
            Step(
                author: root, kind: .link,
                publicBody: .link(device: phone.publicKey, challenge: challenge, proof: proof, keyring: linkKeyring),
                privateBody: .link(deviceName: "phone")),
            Step(author: root, kind: .credit, publicBody: .record, privateBody: .record(amount: 1250, memo: "salary")),
            Step(author: phone, kind: .debit, publicBody: .record, privateBody: .record(amount: 250, memo: "lunch")),
        ]
        var entries: [Entry] = []
        var described: [JSONValue] = []
        for (index, step) in steps.enumerated() {
            let previous = entries.last { $0.author == step.author.publicKey }
            let seq = (previous?.seq ?? 0) + 1
            let sealNonce = range(0xC0 &+ UInt8(index), 24)
            let sealed = try BodySeal.seal(
                step.privateBody, key: dataKey, identity: identity, author: step.author.publicKey, seq: seq,
                kind: step.kind, nonce: sealNonce)
            let entry = Entry(
                identity: identity, keyPair: step.author, seq: seq, prev: previous?.hash ?? .zero, kind: step.kind,
                time: time + Int64(index), publicBody: step.publicBody.encoded, sealed: sealed)
            entries.append(entry)
            described.append(
                .object([
                    ("kind", .string(step.kind.name)), ("author", .string(step.author.publicKey.hex)),
                    ("seq", .integer(Int128(seq))), ("time_ms", .integer(Int128(entry.time))),
                    ("seal_nonce", .string(Hex.encode(sealNonce))),
                    ("private_plaintext", .string(Hex.encode(step.privateBody.encoded))),
                    ("public_body", .string(Hex.encode(entry.publicBody))),
                    ("sealed", .string(Hex.encode(entry.sealed))),
                    ("signing_message", .string(Hex.encode(entry.signingMessage))),
                    ("signature", .string(Hex.encode(entry.signature.bytes))),
                    ("encoded", .string(Hex.encode(entry.encoded))),
                    ("hash", .string(entry.hash.hex)),
                ]))
        }
        let clock = VectorClock([
            ClockEntry(author: root.publicKey, seq: 3, head: entries[2].hash),
            ClockEntry(author: phone.publicKey, seq: 1, head: entries[3].hash),
        ])
        let document: JSONValue = .object([
            ("description", "ledgerlink protocol v1 test vectors; see docs/PROTOCOL.md"),
            ("root_seed", .string(Hex.encode(rootSeed))), ("root_public_key", .string(root.publicKey.hex)),
            ("phone_seed", .string(Hex.encode(phoneSeed))), ("phone_public_key", .string(phone.publicKey.hex)),
            ("genesis_nonce", .string(Hex.encode(nonce))), ("identity", .string(identity.hex)),
            ("data_key", .string(Hex.encode(dataKey.key.copyBytes()))),
            ("data_key_id", .string(dataKey.id.description)),
            ("link_challenge", .string(Hex.encode(challenge))),
            (
                "link_proof_message",
                .string(
                    Hex.encode(
                        PublicBody.linkProofMessage(
                            identity: identity, device: phone.publicKey, approver: root.publicKey, challenge: challenge)
                    ))
            ),
            ("link_proof", .string(Hex.encode(proof.bytes))),
            (
                "keyrings",
                .object([("genesis", .string(Hex.encode(genesisKeyring))), ("link", .string(Hex.encode(linkKeyring)))])
            ),
            ("entries", .array(described)),
            ("clock_encoding", .string(Hex.encode(VectorClock.encode(clock.entries)))),
            ("clock_digest", .string(clock.digest.hex)),
            ("balance_minor", 1000),
        ])
        return (document, entries)
    }

    @Test("the vectors file reproduces byte for byte")
    func reproduce() async throws {
        let data = Data(
            try Self.vectors.text(writingIfAsked: { try Self.build(keyrings: nil).0.prettyText + "\n" }).utf8)
        let stored = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let keyrings = try #require(stored["keyrings"] as? [String: String]).mapValues(Self.bytes)
        let (document, entries) = try Self.build(keyrings: keyrings)
        #expect(document.prettyText + "\n" == String(decoding: data, as: UTF8.self))

        // The built ledger is valid: a replica of the phone accepts it and opens every keyring.
        let phone = try SigningKeyPair(seed: SecureBytes(Self.range(0x20, 32)))
        let store = try LedgerStore.inMemory(
            identity: entries[0].identity, root: entries[0].author, device: phone.publicKey)
        let replica = try await MergeEngine(store: store, keyPair: phone)
        let report = try await replica.merge(entries)
        #expect(report.accepted.count == 4)
        #expect(try await replica.totals().balance == 1000)
        #expect(try await replica.clock().digest.hex == stored["clock_digest"] as? String)
        #expect(try await replica.devices().map(\.name) == ["laptop", "phone"])
    }
}
