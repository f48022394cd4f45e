import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Resources/vectors/entry-runs-v1.json: the entries of settle-v1.json, in the order they were
/// written, as one list of runs (docs/PROTOCOL.md, "Entry runs"): the laptop's first three,
/// the phone's three, the phone's rival at seq 2 (a fork starts a run of its own), the laptop's
/// settlement (it follows another author's entry), the tablet's. An independent reader
/// (Tests/interop/verify_export.py runs) rebuilds the exact entries from it.
/// LEDGERLINK_WRITE_VECTORS=1 writes the file anew.
@Suite("Entry runs test vectors")
struct EntryRunsVectorTests {
    static let vectors = VectorFile("entry-runs-v1.json")

    static func document() async throws -> JSONValue {
        let settle = try SettleVectorTests.vectors.read()
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(settle.utf8)) as? [String: Any])
        let boxes = try #require(stored["boxes"] as? [String: String]).mapValues { Hex.decode($0) ?? [] }
        let entries = try await SettleVectorTests.build(boxes: boxes).1
        let runs = EntryRuns.encoded(entries)
        var runCount = 0
        EntryRuns.forEachRun(entries) { _ in runCount += 1 }
        // The same entries as a store's streamed answer: two parts (the second starts a run of
        // its own mid-log), then the control object.
        let control = #"{"digest":"\#(String(repeating: "ab", count: 32))","more":false,"remaining":9}"#
        var stream: [UInt8] = []
        for part in [entries[..<2], entries[2...]] { stream += [1] + EntryRuns.encoded(Array(part)) }
        stream += [0, 0, 0, 0, UInt8(control.utf8.count)] + Array(control.utf8)
        return .object([
            (
                "description",
                .string(
                    "ledgerlink entry runs vectors; see docs/PROTOCOL.md, \"Entry runs\" and \"Streamed answers\"")
            ),
            ("entries_from", .string("settle-v1.json")),
            ("order", .array(entries.indices.map { .integer(Int128($0)) })),
            ("run_count", .integer(Int128(runCount))),
            ("runs", .string(Hex.encode(runs))),
            ("stream", .string(Hex.encode(stream))),
            (
                "stream_control",
                .object([
                    ("digest", .string(String(repeating: "ab", count: 32))), ("more", .bool(false)),
                    ("remaining", .integer(9)),
                ])
            ),
        ])
    }

    @Test("the runs of the settlement entries reproduce byte for byte and rebuild every entry")
    func reproduce() async throws {
        let fresh = VectorFile.isWriting ? try await Self.document().prettyText + "\n" : ""
        let text = try Self.vectors.text(writingIfAsked: { fresh })
        #expect(try await Self.document().prettyText + "\n" == text)
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(stored["run_count"] as? Int == 5)
        let runsText = try #require(stored["runs"] as? String)
        var reader = ByteReader(try #require(Hex.decode(runsText)))
        let rebuilt = try EntryRuns.decode(&reader, maxCount: 100)
        #expect(rebuilt.count == 9)
        #expect(reader.isAtEnd)
        // The stream's two parts, found one after the other and rebuilt together.
        let streamText = try #require(stored["stream"] as? String)
        let stream = try #require(Hex.decode(streamText))
        var streamReader = ByteReader(stream)
        var found = EntryRuns.Found()
        var parts: [Int] = []
        while try streamReader.u8() == 1 {
            parts.append(try EntryRuns.find(&streamReader, maxCount: 100, into: &found))
        }
        #expect(parts == [2, 7])
        #expect(try found.rebuild(from: stream).map(\.encoded) == rebuilt.map(\.encoded))

        // An independent reader, written from docs/PROTOCOL.md, rebuilds the same entries.
        let script = Self.vectors.packageRoot.appendingPathComponent("Tests/interop/verify_export.py").path
        let (status, output) = try await runPython([script, "runs", Self.vectors.url.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("32 passed, 0 failed"), "\(output)")
    }
}
