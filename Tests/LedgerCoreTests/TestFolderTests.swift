import Foundation
import LedgerTestSupport
import Testing

@Suite("Test folders")
struct TestFolderTests {
    @Test("folders of test processes that have ended are removed; a running process's, and anything else, stay")
    func endedFoldersRemoved() throws {
        let temporary = TestFolder.url("sweep")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let names = [
            "ledgerlink-tests-\(ended.processIdentifier)", "ll-pg-\(ended.processIdentifier)",
            "ledgerlink-tests-\(getpid())", "ledgerlink-tests-1", "ledgerlink-tests-", "ledgerlink-tests-12x",
            "notes-\(ended.processIdentifier)",
        ]
        for name in names {
            try FileManager.default.createDirectory(
                at: temporary.appendingPathComponent(name).appendingPathComponent("data"),
                withIntermediateDirectories: true)
        }
        TestFolder.removeEnded(in: temporary)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: temporary.path))
        #expect(left == Set(names.dropFirst(2)))
    }
}
