import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where tests put their files: one folder per test process, `ledgerlink-tests-<pid>` in the
/// temporary directory, removed when the process exits (after the test PostgreSQL, whose data
/// lives there too, has stopped). Folders of test processes that no longer run (killed, or
/// from before this existed) are removed when the next test process first asks for one, so a
/// machine that runs the tests again and again does not fill its disk.
package enum TestFolder {
    /// A path in this process's test folder, `<name>-<uuid>`; not created.
    package static func url(_ name: String) -> URL {
        root.appendingPathComponent("\(name)-\(UUID().uuidString)")
    }

    /// This process's test folder (created, and its removal at exit arranged, on first use).
    package static let root: URL = {
        let temporary = FileManager.default.temporaryDirectory
        removeEnded(in: temporary)
        let folder = temporary.appendingPathComponent("\(prefix)\(getpid())")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        atexit { TestProcessExit.run() }
        return folder
    }()

    private static let prefix = "ledgerlink-tests-"

    /// Removes the folders of test processes that have ended (and the data folders the test
    /// PostgreSQL used to leave behind, `ll-pg-<pid>`) from `temporary`.
    package static func removeEnded(in temporary: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names {
            guard let pid = ownerPid(of: name), pid != getpid(), !isRunning(pid) else { continue }
            try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
        }
    }

    /// The process id a test folder's name carries, if it is one of ours.
    static func ownerPid(of name: String) -> pid_t? {
        for prefix in [prefix, "ll-pg-"] where name.hasPrefix(prefix) {
            let digits = name.dropFirst(prefix.count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                let pid = pid_t(digits), pid > 0
            else { return nil }
            return pid
        }
        return nil
    }

    private static func isRunning(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

/// What the exit handler (which cannot capture) needs: the PostgreSQL servers still running
/// (the shared one, and any a test started and did not stop), stopped and waited for first,
/// then the test folder to remove.
enum TestProcessExit {
    /// Each server's process, and the signal that stops it at once.
    private static let servers = Mutex<[pid_t: Int32]>([:])

    /// A server to stop at exit if it still runs then: with SIGINT (PostgreSQL's fast
    /// shutdown) unless it names another. (PgBouncer keeps the signals the test process
    /// blocks, which it inherits, blocked: only SIGKILL ends it.)
    static func started(_ pid: pid_t, stopWith signal: Int32 = SIGINT) { servers.withLock { $0[pid] = signal } }

    /// A server that was stopped.
    static func stopped(_ pid: pid_t) { servers.withLock { _ = $0.removeValue(forKey: pid) } }

    static func run() {
        let running = servers.withLock { $0 }
        for (pid, signal) in running { kill(pid, signal) }
        for pid in running.keys { waitForEnd(pid) }
        try? FileManager.default.removeItem(at: TestFolder.root)  // set before this was registered
    }

    /// Up to 10 s for a server sent its signal to end, so its files are not
    /// removed under it.
    private static func waitForEnd(_ pid: pid_t) {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            // Reaped now, or already (by Foundation's process monitor): it has ended.
            if reaped == pid || (reaped == -1 && kill(pid, 0) == -1 && errno == ESRCH) { return }
            usleep(10_000)
        }
    }
}
