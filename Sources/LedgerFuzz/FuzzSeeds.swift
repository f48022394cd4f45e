import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerRemote
import LedgerSync

/// Valid inputs for each target, built fresh: the fuzzer starts from them (scripts/fuzz.sh
/// writes them out), and the replay test checks that each target's round-trip property holds
/// on them, so a target that refused everything would be noticed.
package enum FuzzSeeds {
    package static func make() throws -> [String: [[UInt8]]] {
        let root = SigningKeyPair.generate()
        let dataKey = DataKey.generate(generation: 0)
        let (identity, genesis) = try MergeEngine.makeGenesis(
            keyPair: root, deviceName: "seed", decimals: 2, time: 1_700_000_000_000, dataKey: dataKey)
        let sealed = try BodySeal.seal(
            .record(amount: 1250, memo: "lunch"), key: dataKey, identity: identity, author: root.publicKey, seq: 2,
            kind: .debit)
        let debit = Entry(
            identity: identity, keyPair: root, seq: 2, prev: genesis.hash, kind: .debit, time: 1_700_000_000_001,
            publicBody: PublicBody.record.encoded, sealed: sealed)
        let clock = VectorClock([
            ClockEntry(author: root.publicKey, seq: 2, head: debit.hash),
            ClockEntry(author: SigningKeyPair.generate().publicKey, seq: 7, head: genesis.hash, forkSeq: 3),
        ])
        let json = ExportDocument.json(
            identity: identity, device: root.publicKey, entries: [(.log, genesis), (.log, debit)])
        let text =
            ExportDocument.textHeader + "\n"
            + [genesis, debit].map { Hex.encode($0.encoded) }.joined(
                separator: "\n") + "\n"
        let code = PairingCode.generate(identity: identity, rendezvous: .peer(host: "192.168.1.20", port: 8788))
        let storeCode = PairingCode.generate(
            identity: identity, rendezvous: .store(URL(string: "https://store.example.org:8787")!))
        let sync =
            #"{"clock":"\#(Data.base64(VectorClock.encode(clock.entries)))","entries":["\#(Data.base64(debit.encoded))"]}"#
        // A sealed message to the new device: kind byte 5 picks 4 + 5 = 9 (LEDGER).
        var page = ByteWriter()
        page.u32(1)
        page.u32(UInt32(debit.encoded.count))
        page.raw(debit.encoded)
        let ledgerPage: [UInt8] = [1, 5, UInt8(page.bytes.count >> 8), UInt8(page.bytes.count & 0xff)] + page.bytes
        let head = StoreHead(
            signing: root, identity: identity, version: 2, digest: clock.digest, time: 1_800_000_000_000)
        var signed = SyncResponse(digest: clock.digest.hex)
        signed.head = StoreHeadWire(head)
        let withHeads = ExportDocument.json(
            identity: identity, device: root.publicKey, entries: [(.log, genesis)], storeHeads: [head.json])
        let textWithHeads = ExportDocument.text(entries: [(.log, genesis)], storeHeads: [head.json, head.json])
        return [
            "entry": [genesis.encoded, debit.encoded],
            "public-body": [
                [EntryKind.genesis.rawValue] + genesis.publicBody, [EntryKind.debit.rawValue],
                [EntryKind.settle.rawValue]
                    + PublicBody.settle(device: debit.author, forkSeq: 2, chosen: debit.hash, through: 5).encoded,
            ],
            "private-body": [
                [EntryKind.debit.rawValue] + PrivateBody.record(amount: 1250, memo: "lunch").encoded,
                [EntryKind.correction.rawValue]
                    + PrivateBody.correction(
                        target: EntryRef(author: genesis.author, seq: 1, hash: genesis.hash), amount: 0, memo: nil
                    ).encoded,
                [EntryKind.correction.rawValue]
                    + PrivateBody.correction(
                        target: EntryRef(author: debit.author, seq: debit.seq, hash: debit.hash), amount: 1200,
                        memo: "lunch for two"
                    ).encoded,
            ],
            "clock": [VectorClock.encode(clock.entries), VectorClock.encode([])],
            "entry-runs": [
                EntryRuns.encoded([genesis, debit]), EntryRuns.encoded([debit, genesis]),
                try SyncBody.encode(signed, entries: [genesis, debit]),
                try SyncBody.encode(SyncRequest(clock: Data.base64(VectorClock.encode(clock.entries))), entries: []),
                try SyncBody.stream(signed, parts: [[genesis], [debit]]), try SyncBody.stream(signed, parts: []),
            ],
            "segment": [],
            "stored-run": [[1] + genesis.encoded, [2] + genesis.encoded + debit.encoded],
            "export": [
                Array(json.text.utf8), Array(text.utf8), Array(withHeads.text.utf8), Array(textWithHeads.utf8),
            ],
            "store-wire": [
                Array(sync.utf8), Array(#"{"digest":"\#(clock.digest.hex)","more":true}"#.utf8),
                Array(try JSONEncoder().encode(signed)), Array(try JSONEncoder().encode(head)),
                Array(
                    try JSONEncoder().encode(
                        RecoveryLookupResponse(identities: [
                            RecoveryIdentity(identity: identity.hex, genesis: Data.base64(genesis.encoded))
                        ]))),
            ],
            "pairing-code": [Array(code.description.utf8), Array(storeCode.description.utf8)],
            "pairing-messages": [[0] + [UInt8](repeating: 1, count: 70), ledgerPage],
            "peer-message": [
                [1] + VectorClock.encode(clock.entries), [3] + clock.digest.bytes,
                PeerMessage.heads([
                    StoreHead(
                        signing: root, identity: identity, version: 2, digest: clock.digest, time: 1_800_000_000_000)
                ]).encoded,
            ],
            "announcement": [PeerAnnouncement.make(identity: identity, port: 8788, now: 1_800_000_000)],
            "recovery-words": [
                Array(
                    RecoveryWords(entropy: SecureBytes([UInt8](repeating: 0, count: 32))).words.joined(separator: " ")
                        .utf8),
                Array(RecoveryWords.generate().words.map { String($0.prefix(4)) }.joined(separator: "-").utf8),
            ],
            // date=1,amount=3,memo=2, ymd order, a point for decimals (options byte 0b0001_1000 | 0).
            "csv-statement": [
                [0b0001_1000]
                    + Array("Date,Memo,Amount\n2026-11-02,\"Salary, November\",1200.00\n2026-11-03,Rent,-850\n".utf8),
                [0b1101_1000] + Array("Datum;Text;Betrag\r\n24.11.2026;Miete;-1.234,50\r\n".utf8),
            ],
            "forwarded-for": [
                Array("203.0.113.7, 10.0.0.2".utf8), Array("2001:db8::1\n::ffff:198.51.100.4, fd00::1".utf8),
                Array("10.0.0.0/8".utf8),
            ],
        ]
    }
}
