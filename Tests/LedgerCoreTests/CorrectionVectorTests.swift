import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Resources/vectors/corrections-v1.json: two devices correct one credit at the same time (the
/// later author time wins, the other stays visible as overruled), one of them is corrected
/// again, a debit is voided, one correction names a link (counts nothing) and one names an
/// entry that has not arrived (waits). It fixes the sealed bodies' plaintext, every entry's
/// bytes and the state every replica reaches (docs/PROTOCOL.md, "Corrections").
/// LEDGERLINK_WRITE_VECTORS=1 writes the file anew.
@Suite("Correction test vectors")
struct CorrectionVectorTests {
    static let vectors = VectorFile("corrections-v1.json")

    static func range(_ start: UInt8, _ count: Int) -> [UInt8] { VectorFile.range(start, count) }
    static func hex(_ bytes: [UInt8]) -> JSONValue { .string(Hex.encode(bytes)) }

    static func build(boxes stored: [String: [UInt8]]?) async throws -> JSONValue {
        let devices = try VectorDevices(boxes: stored)
        let (laptop, phone, nonce, identity) = (devices.laptop, devices.phone, devices.nonce, devices.identity)
        let key = DataKey(generation: 0, key: try SymmetricKey(bytes: range(0x60, 32)))
        var entries: [Entry] = []
        var described: [JSONValue] = []
        var heads: [DevicePublicKey: Entry] = [:]
        func append(_ author: SigningKeyPair, _ kind: EntryKind, _ publicBody: PublicBody, _ body: PrivateBody) throws {
            let index = entries.count
            let seq = (heads[author.publicKey]?.seq ?? 0) + 1
            let sealed = try BodySeal.seal(
                body, key: key, identity: identity, author: author.publicKey, seq: seq, kind: kind,
                nonce: range(0x10 &+ UInt8(index), 24))
            let entry = Entry(
                identity: identity, keyPair: author, seq: seq, prev: heads[author.publicKey]?.hash ?? .zero, kind: kind,
                time: 1_700_000_000_000 + Int64(index) * 1000, publicBody: publicBody.encoded, sealed: sealed)
            heads[author.publicKey] = entry
            entries.append(entry)
            described.append(
                .object([
                    ("kind", .string(kind.name)), ("author", hex(author.publicKey.bytes)),
                    ("seq", .integer(Int128(seq))), ("private_body", hex(body.encoded)),
                    ("encoded", hex(entry.encoded)),
                    ("hash", .string(entry.hash.hex)),
                ]))
        }
        func ref(_ index: Int) -> EntryRef {
            EntryRef(author: entries[index].author, seq: entries[index].seq, hash: entries[index].hash)
        }
        try append(
            laptop, .genesis, .genesis(nonce: nonce, keyring: try devices.box("genesis", [key], to: laptop.publicKey)),
            .genesis(decimals: 2, deviceName: "laptop"))
        try append(
            laptop, .link, try devices.link(phone, challenge: range(0xB0, 32), box: "link_phone", keys: [key]),
            .link(deviceName: "phone"))
        try append(laptop, .credit, .record, .record(amount: 1000, memo: "salary"))  // 2
        try append(phone, .debit, .record, .record(amount: 250, memo: "groceries"))  // 3
        // 4 and 5 correct the salary without seeing each other: 5 is later, so it decides.
        try append(laptop, .correction, .record, .correction(target: ref(2), amount: 1200, memo: nil))
        try append(phone, .correction, .record, .correction(target: ref(2), amount: 1100, memo: "salary (net)"))
        // 6 corrects 5 (what the laptop saw after syncing): it replaces 5, and the memo stays 5's.
        try append(laptop, .correction, .record, .correction(target: ref(5), amount: 1150, memo: nil))
        try append(phone, .correction, .record, .correction(target: ref(3), amount: 0, memo: nil))  // 7 voids 3
        try append(laptop, .correction, .record, .correction(target: ref(1), amount: 5, memo: nil))  // 8 names a link
        try append(
            phone, .correction, .record,
            .correction(
                target: EntryRef(author: laptop.publicKey, seq: 99, hash: try EntryHash(bytes: range(0xE0, 32))),
                amount: 1, memo: nil))  // 9 waits for an entry that is not there
        let store = try LedgerStore.inMemory(identity: identity, root: laptop.publicKey, device: laptop.publicKey)
        let replica = try await MergeEngine(store: store, keyPair: laptop)
        try await replica.merge(entries.reversed())
        let corrections = try await replica.corrections()
        let index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.hash, $0) })
        func state(_ state: Corrections.State?) -> JSONValue {
            switch state {
            case .counts?: .string("counts")
            case .replaced(let by)?: .string("replaced by \(index[by.hash] ?? -1)")
            case .overruled(let by)?: .string("overruled by \(index[by.hash] ?? -1)")
            case .waiting?: .string("waiting")
            case .unusable?: .string("unusable")
            case nil: .null
            }
        }
        return .object([
            ("description", .string("ledgerlink protocol v1 correction vectors; see docs/PROTOCOL.md")),
            ("laptop_seed", hex(range(0x00, 32))), ("phone_seed", hex(range(0x20, 32))),
            ("genesis_nonce", hex(nonce)), ("identity", hex(identity.bytes)), ("data_key", hex(key.key.copyBytes())),
            ("boxes", devices.boxesJSON),
            ("entries", .array(described)),
            (
                "states",
                .object(
                    entries.enumerated().filter { $0.element.kind == .correction }.map {
                        ("\($0.offset)", state(corrections.states[$0.element.hash]))
                    })
            ),
            (
                "counted",
                .array(
                    corrections.effects.values.sorted {
                        index[$0.original.ref.hash] ?? 0 < index[$1.original.ref.hash] ?? 0
                    }
                    .map {
                        .object([
                            ("entry", .integer(Int128(index[$0.original.ref.hash] ?? -1))),
                            ("amount_minor", .integer(Int128($0.amount ?? -1))), ("memo", .string($0.memo ?? "")),
                            ("decided_by", .integer(Int128(index[$0.decidedBy.hash] ?? -1))),
                        ])
                    })
            ),
            ("balance_minor", .integer(try await replica.totals().balance)),
        ])
    }

    @Test("the correction vectors reproduce byte for byte, and every replica reaches their state in any order")
    func reproduce() async throws {
        let fresh = VectorFile.isWriting ? try await Self.build(boxes: nil).prettyText + "\n" : ""
        let text = try Self.vectors.text(writingIfAsked: { fresh })
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let boxes = try #require(stored["boxes"] as? [String: String]).mapValues { Hex.decode($0) ?? [] }
        #expect(try await Self.build(boxes: boxes).prettyText + "\n" == text)
        #expect(stored["balance_minor"] as? Int == 1150)
        let states = try #require(stored["states"] as? [String: String])
        #expect(
            states == [
                "4": "overruled by 5", "5": "replaced by 6", "6": "counts", "7": "counts", "8": "unusable",
                "9": "waiting",
            ])

        // Entry by entry in another order, each merged alone: the same balance and states.
        let entries = try #require(stored["entries"] as? [[String: Any]]).map {
            try Entry(decoding: Hex.decode($0["encoded"] as? String ?? "") ?? [])
        }
        let laptop = try SigningKeyPair(seed: SecureBytes(Self.range(0x00, 32)))
        let replica = try await MergeEngine(
            store: try LedgerStore.inMemory(
                identity: entries[0].identity, root: laptop.publicKey, device: laptop.publicKey),
            keyPair: laptop)
        for index in [0, 1, 6, 9, 5, 7, 2, 8, 4, 3] { try await replica.merge([entries[index]]) }
        #expect(try await replica.totals().balance == 1150)
        let corrections = try await replica.corrections()
        #expect(corrections.states[entries[6].hash] == .counts)
        #expect(corrections.effects[entries[2].hash]?.memo == "salary (net)")
        #expect(corrections.effects[entries[3].hash]?.isVoid == true)

        // An independent implementation, written from docs/PROTOCOL.md, resolves them the same way.
        let script = Self.vectors.packageRoot.appendingPathComponent("Tests/interop/verify_export.py").path
        let (status, output) = try await runPython([script, "corrections", Self.vectors.url.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("3 passed, 0 failed"), "\(output)")
    }
}
