import Foundation
import LedgerTestSupport
import Testing

@Suite("A command that hangs in a test")
struct HungCommandTests {
    @Test("is ended at its deadline and reported with what it printed and what each of its threads was doing")
    func reportedWithThreads() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hung-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cli = try CommandRunner()
        // `serve` runs until stopped: a stand-in for a command that never finishes.
        let error = await #expect(throws: CommandRunner.CommandError.self) {
            try await cli.run(
                ["serve", "--port", "0", "--db", folder.appendingPathComponent("store.sqlite").path], timeout: 3)
        }
        let report = try #require(error).description
        #expect(report.contains("did not finish in 3.0 s"))
        #expect(report.contains("stdout so far: ledgerlink store listening on http://127.0.0.1:"))
        #expect(report.contains("threads of "))
        #expect(report.contains("State:"))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") {
            #expect(report.contains("epoll_wait"), "gdb shows the event loop waiting: \(report.prefix(3000))")
        }
    }
}
