import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

@Suite("Export")
struct ExportTests {
    @Test("the streamed export is the same document as the one built in memory, in both forms, and reads back")
    func streamed() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<50 { try fixture.record(device: i % 2, .credit, amount: Int64(i + 1), memo: "m\(i)") }
        let replica = try await fixture.replica(device: 1)
        try await replica.merge(fixture.allEntries)
        let entries = try await replica.storedEntries()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
        // Store heads are carried as they are; their signatures are checked by whoever reads them.
        let heads: [JSONValue] = [.object([("store", "ab"), ("version", 7)]), .object([("store", "cd")])]
        for json in [true, false] {
            #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
            let handle = try FileHandle(forWritingTo: url)
            try await replica.writeExport(json: json, storeHeads: heads, to: handle)
            try handle.close()
            let text = try String(contentsOf: url, encoding: .utf8)
            let expected =
                json
                ? ExportDocument.json(
                    identity: fixture.identity, device: fixture.devices[1].publicKey,
                    entries: entries.map { ($0.place, $0.entry) }, storeHeads: heads
                ).prettyText + "\n"
                : ExportDocument.text(entries: entries.map { ($0.place, $0.entry) }, storeHeads: heads)
            #expect(text == expected)
            let contents = try ExportDocument.contents(Data(text.utf8))
            #expect(contents.entries.count == entries.count)
            #expect(contents.storeHeads.count == 2)
            let first = try #require(
                try JSONSerialization.jsonObject(with: Data(contents.storeHeads[0])) as? [String: Any])
            #expect(first["version"] as? Int == 7)
        }
        // An export without heads (written before they were carried) still reads.
        let older = ExportDocument.text(entries: entries.map { ($0.place, $0.entry) })
        #expect(try ExportDocument.contents(Data(older.utf8)).storeHeads.isEmpty)
        #expect(try await replica.storedEntryCount() == entries.count)
    }

    @Test("an export with too many or oversized store heads is refused with its reason")
    func boundedHeads() throws {
        let many = [ExportDocument.textHeader] + Array(repeating: ExportDocument.storeHeadPrefix + "{}", count: 33)
        #expect(throws: ExportDocument.ReadError.self) {
            try ExportDocument.contents(Data(many.joined(separator: "\n").utf8))
        }
        let long = [
            ExportDocument.textHeader, ExportDocument.storeHeadPrefix + "{" + String(repeating: " ", count: 2000) + "}",
        ]
        #expect(throws: ExportDocument.ReadError.self) {
            try ExportDocument.contents(Data(long.joined(separator: "\n").utf8))
        }
        let json = #"{"format": "ledgerlink-export", "version": 1, "store_heads": [1], "entries": []}"#
        #expect(throws: ExportDocument.ReadError.self) { try ExportDocument.contents(Data(json.utf8)) }
    }
}
