import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Resources/vectors/settle-v1.json: the phone's key writes two branches from its seq 2; the
/// laptop settles the first (through seq 3) and the tablet, ranked after it, settles the other.
/// The laptop's settlement counts, its branch counts again, and the rival stays kept. It fixes
/// every entry's bytes and the clock and balance every replica reaches (docs/PROTOCOL.md,
/// "Settling a fork"). LEDGERLINK_WRITE_VECTORS=1 writes the file anew.
@Suite("Settlement test vectors")
struct SettleVectorTests {
    static let vectors = VectorFile("settle-v1.json")

    static func range(_ start: UInt8, _ count: Int) -> [UInt8] { VectorFile.range(start, count) }
    static func hex(_ bytes: [UInt8]) -> JSONValue { .string(Hex.encode(bytes)) }

    static func build(boxes stored: [String: [UInt8]]?) async throws -> (JSONValue, [Entry]) {
        let devices = try VectorDevices(boxes: stored)
        let (laptop, phone, tablet) = (devices.laptop, devices.phone, devices.tablet)
        let (nonce, identity) = (devices.nonce, devices.identity)
        let key = DataKey(generation: 0, key: try SymmetricKey(bytes: range(0x60, 32)))
        var entries: [Entry] = []
        var described: [JSONValue] = []
        func append(
            _ author: SigningKeyPair, seq: Seq, prev: Entry?, _ kind: EntryKind, _ publicBody: PublicBody,
            _ body: PrivateBody
        ) throws -> Entry {
            let index = entries.count
            let sealed =
                kind == .settle
                ? []
                : try BodySeal.seal(
                    body, key: key, identity: identity, author: author.publicKey, seq: seq, kind: kind,
                    nonce: range(0x10 &+ UInt8(index), 24))
            let entry = Entry(
                identity: identity, keyPair: author, seq: seq, prev: prev?.hash ?? .zero, kind: kind,
                time: 1_700_000_000_000 + Int64(index) * 1000, publicBody: publicBody.encoded, sealed: sealed)
            entries.append(entry)
            described.append(
                .object([
                    ("kind", .string(kind.name)), ("author", hex(author.publicKey.bytes)),
                    ("seq", .integer(Int128(seq))), ("public_body", hex(publicBody.encoded)),
                    ("encoded", hex(entry.encoded)), ("hash", .string(entry.hash.hex)),
                ]))
            return entry
        }
        let genesis = try append(
            laptop, seq: 1, prev: nil, .genesis,
            .genesis(nonce: nonce, keyring: try devices.box("genesis", [key], to: laptop.publicKey)),
            .genesis(decimals: 2, deviceName: "laptop"))
        let l2 = try append(
            laptop, seq: 2, prev: genesis, .link,
            try devices.link(phone, challenge: range(0xB0, 32), box: "link_phone", keys: [key]),
            .link(deviceName: "phone"))
        let l3 = try append(
            laptop, seq: 3, prev: l2, .link,
            try devices.link(tablet, challenge: range(0xD0, 32), box: "link_tablet", keys: [key]),
            .link(deviceName: "tablet"))
        let p1 = try append(phone, seq: 1, prev: nil, .credit, .record, .record(amount: 500, memo: "before"))
        let p2 = try append(phone, seq: 2, prev: p1, .credit, .record, .record(amount: 20, memo: "synced"))
        _ = try append(phone, seq: 3, prev: p2, .debit, .record, .record(amount: 5, memo: "synced too"))
        let rival = try append(phone, seq: 2, prev: p1, .credit, .record, .record(amount: 777, memo: "restored"))
        let l4 = try append(
            laptop, seq: 4, prev: l3, .settle,
            .settle(device: phone.publicKey, forkSeq: 2, chosen: p2.hash, through: 3), .settle)
        _ = l4
        _ = try append(
            tablet, seq: 1, prev: nil, .settle,
            .settle(device: phone.publicKey, forkSeq: 2, chosen: rival.hash, through: 2), .settle)
        let store = try LedgerStore.inMemory(identity: identity, root: laptop.publicKey, device: laptop.publicKey)
        let replica = try await MergeEngine(store: store, keyPair: laptop)
        try await replica.merge(entries.reversed())
        let clock = try await replica.clock()
        let settlement = try await replica.settlementOf(phone.publicKey)
        let document: JSONValue = .object([
            ("description", .string("ledgerlink protocol v1 settlement vectors; see docs/PROTOCOL.md")),
            ("laptop_seed", hex(range(0x00, 32))), ("phone_seed", hex(range(0x20, 32))),
            ("tablet_seed", hex(range(0x40, 32))), ("genesis_nonce", hex(nonce)), ("identity", hex(identity.bytes)),
            ("data_key", hex(key.key.copyBytes())),
            ("boxes", devices.boxesJSON),
            ("entries", .array(described)),
            ("settled_by", settlement.map { hex($0.author.bytes) } ?? .null),
            ("clock_encoding", hex(VectorClock.encode(clock.entries))), ("clock_digest", .string(clock.digest.hex)),
            ("balance_minor", .integer(try await replica.totals().balance)),
        ])
        return (document, entries)
    }

    @Test("the settlement vectors reproduce byte for byte, and every replica reaches their state in any order")
    func reproduce() async throws {
        let fresh = VectorFile.isWriting ? try await Self.build(boxes: nil).0.prettyText + "\n" : ""
        let text = try Self.vectors.text(writingIfAsked: { fresh })
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let boxes = try #require(stored["boxes"] as? [String: String]).mapValues { Hex.decode($0) ?? [] }
        let (document, entries) = try await Self.build(boxes: boxes)
        #expect(document.prettyText + "\n" == text)
        #expect(stored["balance_minor"] as? Int == 515)
        let laptop = try SigningKeyPair(seed: SecureBytes(Self.range(0x00, 32)))
        #expect(stored["settled_by"] as? String == laptop.publicKey.hex)
        // A replica without keys, entry by entry in two other orders: the same clock.
        for order in [Array(entries.indices), Array(entries.indices.reversed().shuffled())] {
            let keyless = try await MergeEngine(
                store: try LedgerStore.inMemory(
                    identity: entries[0].identity, root: entries[0].author, device: SigningKeyPair.generate().publicKey),
                keyPair: nil)
            for index in order { try await keyless.merge([entries[index]]) }
            #expect(try await keyless.clock().digest.hex == stored["clock_digest"] as? String)
        }
    }
}
