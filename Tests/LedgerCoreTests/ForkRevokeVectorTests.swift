import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Resources/vectors/forks-revokes-v1.json: a ledger of three devices in which one device forks
/// its log (two signed entries at seq 1) and another is revoked and writes on afterwards
/// (quarantined). It fixes every input and output byte and the state every replica must reach
/// (docs/PROTOCOL.md, "Validity", "Vector clock and digest"). Sealed boxes are randomised by
/// design, so their bytes are inputs. LEDGERLINK_WRITE_VECTORS=1 writes the file anew.
@Suite("Fork and revoke test vectors")
struct ForkRevokeVectorTests {
    static let vectors = VectorFile("forks-revokes-v1.json")

    static func range(_ start: UInt8, _ count: Int) -> [UInt8] { VectorFile.range(start, count) }
    static func hex(_ bytes: [UInt8]) -> JSONValue { .string(Hex.encode(bytes)) }

    static func build(boxes stored: [String: [UInt8]]?) async throws -> JSONValue {
        let vector = try VectorDevices(boxes: stored)
        let (laptop, phone, tablet) = (vector.laptop, vector.phone, vector.tablet)
        let (nonce, identity) = (vector.nonce, vector.identity)
        let key0 = DataKey(generation: 0, key: try SymmetricKey(bytes: range(0x60, 32)))
        let key1 = DataKey(generation: 1, key: try SymmetricKey(bytes: range(0x80, 32)))
        func box(_ name: String, _ keys: [DataKey], _ to: DevicePublicKey) throws -> [UInt8] {
            try vector.box(name, keys, to: to)
        }
        func link(_ device: SigningKeyPair, challenge: [UInt8], box name: String) throws -> PublicBody {
            try vector.link(device, challenge: challenge, box: name, keys: [key0])
        }
        struct Step {
            let author: SigningKeyPair
            let seq: Seq
            let prev: Int?
            let kind: EntryKind
            let publicBody: PublicBody
            let privateBody: PrivateBody
            let key: DataKey
        }
        let steps = [
            Step(
                author: laptop, seq: 1, prev: nil, kind: .genesis,
                publicBody: .genesis(nonce: nonce, keyring: try box("genesis", [key0], laptop.publicKey)),
                privateBody: .genesis(decimals: 2, deviceName: "laptop"), key: key0),
            Step(
                author: laptop, seq: 2, prev: 0, kind: .link,
                publicBody: try link(phone, challenge: range(0xB0, 32), box: "link_phone"),
                privateBody: .link(deviceName: "phone"), key: key0),
            Step(
                author: laptop, seq: 3, prev: 1, kind: .link,
                publicBody: try link(tablet, challenge: range(0xD0, 32), box: "link_tablet"),
                privateBody: .link(deviceName: "tablet"), key: key0),
            Step(
                author: phone, seq: 1, prev: nil, kind: .credit, publicBody: .record,
                privateBody: .record(amount: 500, memo: "counted"), key: key0),
            // The tablet's key is used on two machines: two different entries at seq 1.
            Step(
                author: tablet, seq: 1, prev: nil, kind: .credit, publicBody: .record,
                privateBody: .record(amount: 7, memo: "one copy"), key: key0),
            Step(
                author: tablet, seq: 1, prev: nil, kind: .credit, publicBody: .record,
                privateBody: .record(amount: 9, memo: "the other copy"), key: key0),
            // The laptop revokes the phone after its seq 1; the new key goes to the rest.
            Step(
                author: laptop, seq: 4, prev: 2, kind: .revoke,
                publicBody: .revoke(
                    device: phone.publicKey, boundary: 1,
                    keyrings: [
                        .init(recipient: laptop.publicKey, box: try box("grant_laptop", [key1], laptop.publicKey)),
                        .init(recipient: tablet.publicKey, box: try box("grant_tablet", [key1], tablet.publicKey)),
                    ]), privateBody: .revoke, key: key1),
            // Written by the phone after its boundary: kept, shown, never counted.
            Step(
                author: phone, seq: 2, prev: 3, kind: .credit, publicBody: .record,
                privateBody: .record(amount: 100, memo: "quarantined"), key: key0),
        ]
        var entries: [Entry] = []
        var described: [JSONValue] = []
        for (index, step) in steps.enumerated() {
            let sealNonce = range(0x10 &+ UInt8(index), 24)
            let sealed =
                step.kind == .revoke
                ? []
                : try BodySeal.seal(
                    step.privateBody, key: step.key, identity: identity, author: step.author.publicKey, seq: step.seq,
                    kind: step.kind, nonce: sealNonce)
            let entry = Entry(
                identity: identity, keyPair: step.author, seq: step.seq,
                prev: step.prev.map { entries[$0].hash } ?? .zero,
                kind: step.kind, time: 1_700_000_000_000 + Int64(index), publicBody: step.publicBody.encoded,
                sealed: sealed)
            entries.append(entry)
            described.append(
                .object([
                    ("kind", .string(step.kind.name)), ("author", hex(step.author.publicKey.bytes)),
                    ("seq", .integer(Int128(step.seq))), ("encoded", hex(entry.encoded)),
                    ("hash", .string(entry.hash.hex)),
                ]))
        }
        // The state every replica reaches from these entries, in any order.
        let store = try LedgerStore.inMemory(identity: identity, root: laptop.publicKey, device: laptop.publicKey)
        let replica = try await MergeEngine(store: store, keyPair: laptop)
        try await replica.merge(entries.reversed())
        let clock = try await replica.clock()
        let devices = try await replica.devices()
        return .object([
            ("description", .string("ledgerlink protocol v1 fork and revoke vectors; see docs/PROTOCOL.md")),
            ("laptop_seed", hex(range(0x00, 32))), ("phone_seed", hex(range(0x20, 32))),
            ("tablet_seed", hex(range(0x40, 32))), ("genesis_nonce", hex(nonce)), ("identity", hex(identity.bytes)),
            ("data_key_0", hex(key0.key.copyBytes())), ("data_key_1", hex(key1.key.copyBytes())),
            ("boxes", vector.boxesJSON),
            ("entries", .array(described)),
            ("clock_encoding", hex(VectorClock.encode(clock.entries))), ("clock_digest", .string(clock.digest.hex)),
            ("balance_minor", .integer(try await replica.totals().balance)),
            (
                "devices",
                .array(
                    devices.map {
                        .object([
                            ("key", hex($0.key.bytes)), ("name", .string($0.name ?? "")),
                            ("boundary", $0.boundary.map { .integer(Int128($0)) } ?? .null),
                            ("fork_seq", $0.forkSeq.map { .integer(Int128($0)) } ?? .null),
                            ("counted", .integer(Int128($0.entries))),
                            ("quarantined", .integer(Int128($0.quarantined))),
                        ])
                    })
            ),
        ])
    }

    @Test("the fork and revoke vectors reproduce byte for byte, and every replica reaches their state")
    func reproduce() async throws {
        let fresh = VectorFile.isWriting ? try await Self.build(boxes: nil).prettyText + "\n" : ""
        let text = try Self.vectors.text(writingIfAsked: { fresh })
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let boxes = try #require(stored["boxes"] as? [String: String]).mapValues { Hex.decode($0) ?? [] }
        #expect(try await Self.build(boxes: boxes).prettyText + "\n" == text)
        #expect(stored["balance_minor"] as? Int == 500)
        let devices = try #require(stored["devices"] as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["laptop", "phone", "tablet"])
        #expect(devices[1]["boundary"] as? Int == 1)
        #expect(devices[1]["quarantined"] as? Int == 1)
        #expect(devices[2]["fork_seq"] as? Int == 1)

        // A replica without any key, fed in another order, reaches the same clock.
        let entries = try #require(stored["entries"] as? [[String: Any]]).map {
            try Entry(decoding: Hex.decode($0["encoded"] as? String ?? "") ?? [])
        }
        let genesis = try #require(entries.first)
        let keyless = try await MergeEngine(
            store: try LedgerStore.inMemory(
                identity: genesis.identity, root: genesis.author, device: SigningKeyPair.generate().publicKey),
            keyPair: nil)
        for entry in entries { try await keyless.merge([entry]) }
        #expect(try await keyless.clock().digest.hex == stored["clock_digest"] as? String)
    }
}
