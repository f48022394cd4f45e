import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("A command that hangs in a test")
struct HungCommandTests {
    @Test("is ended at its deadline and reported with what it printed and what each of its threads was doing")
    func reportedWithThreads() async throws {
        let folder = TestFolder.url("hung")
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

    @Test("a child that exited and was not reaped yet reads as exited, with its code or its signal")
    func exitedNotReaped() throws {
        for (script, expected) in [("exit 3", Int32(3)), ("exit 0", 0), ("kill -9 $$", 128 + 9)] {
            // Spawned without Foundation, so that nothing reaps it before the test has looked.
            var pid: pid_t = 0
            let words: [String] = ["/bin/sh", "-c", script]
            let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            defer { for argument in arguments { free(argument) } }
            #expect(posix_spawn(&pid, "/bin/sh", nil, nil, arguments, environ) == 0)
            #expect(CommandRunner.exitStatus(pid) == nil || CommandRunner.exitStatus(pid) == expected)
            let deadline = Date().addingTimeInterval(30)
            while CommandRunner.exitStatus(pid) == nil, Date() < deadline { usleep(1_000) }
            #expect(CommandRunner.exitStatus(pid) == expected, "\(script)")
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            #expect(CommandRunner.exitStatus(pid) == nil, "reaped: no longer there")
        }
    }
}
