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
        for json in [true, false] {
            #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
            let handle = try FileHandle(forWritingTo: url)
            try await replica.writeExport(json: json, to: handle)
            try handle.close()
            let text = try String(contentsOf: url, encoding: .utf8)
            let expected =
                json
                ? ExportDocument.json(
                    identity: fixture.identity, device: fixture.devices[1].publicKey,
                    entries: entries.map { ($0.place, $0.entry) }
                ).prettyText + "\n"
                : ExportDocument.text(entries: entries.map { ($0.place, $0.entry) })
            #expect(text == expected)
            #expect(try ExportDocument.read(Data(text.utf8)).count == entries.count)
        }
        #expect(try await replica.storedEntryCount() == entries.count)
    }
}
