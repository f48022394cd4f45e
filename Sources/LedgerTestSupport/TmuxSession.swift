import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A private tmux server running one command in a real terminal, for tests that need a TTY:
/// type with `send`, read the screen with `screen()`, wait for text with a deadline.
package final class TmuxSession: @unchecked Sendable {
    private let socketDir: URL
    private let name = "ledgerlink"

    /// Starts `command` (argv) in a detached session of the given size.
    package init(_ command: [String], width: Int = 80, height: Int = 24, environment: [String: String] = [:]) throws {
        socketDir = TestFolder.url("tmux")
        try FileManager.default.createDirectory(at: socketDir, withIntermediateDirectories: true)
        var args = ["new-session", "-d", "-s", name, "-x", "\(width)", "-y", "\(height)"]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { args += ["-e", "\(key)=\(value)"] }
        args += command
        try tmux(args)
    }

    deinit { close() }

    /// Ends the tmux server and everything running in it.
    package func close() {
        guard FileManager.default.fileExists(atPath: socketDir.path) else { return }
        _ = try? tmux(["kill-server"])
        try? FileManager.default.removeItem(at: socketDir)
    }

    /// True when tmux is installed.
    package static var isAvailable: Bool {
        ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/tmux") } ?? false
    }

    /// Types keys (tmux key names such as "Enter" are allowed).
    package func send(_ keys: String...) throws { try tmux(["send-keys", "-t", name] + keys) }

    /// Types text literally.
    package func type(_ text: String) throws { try tmux(["send-keys", "-t", name, "-l", text]) }

    /// Resizes the terminal, as a person dragging the window would.
    package func resize(width: Int, height: Int) throws {
        try tmux(["resize-window", "-t", name, "-x", "\(width)", "-y", "\(height)"])
    }

    /// The visible screen as text.
    package func screen() throws -> String { try tmux(["capture-pane", "-p", "-t", name]) }

    /// Polls the screen every 50 ms until it contains `text`; false at the deadline. It
    /// suspends between polls rather than blocking a thread, and reads the screen on a thread
    /// of its own (a tmux client waited for with waitpid), so in-process network tests running
    /// beside it keep the (two-thread) cooperative pool.
    package func waitFor(_ text: String, timeout: Double = 20) async throws -> Bool {
        try await waitFor(timeout: timeout) { $0.contains(text) }
    }

    /// Polls the screen every 50 ms until `condition` holds for it; false at the deadline.
    package func waitFor(timeout: Double = 20, _ condition: (String) -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(try await offThePool { try self.screen() }) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return condition(try await offThePool { try self.screen() })
    }

    /// Runs tmux with posix_spawn and waitpid: Foundation's Process never sees the client of
    /// `new-session` exit (the server it forks keeps its descriptors), so it would wait forever.
    @discardableResult
    private func tmux(_ args: [String]) throws -> String {
        let outputFile = socketDir.appendingPathComponent("out-\(UUID().uuidString)")
        var env = ProcessInfo.processInfo.environment
        env["TMUX_TMPDIR"] = socketDir.path
        env["LANG"] = "C.UTF-8"
        env.removeValue(forKey: "TMUX")
        let argv = ["tmux", "-f", "/dev/null"] + args
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The test process blocks signals on some threads; a child would inherit that mask and
        // the shell in the pane would then ignore the SIGHUP that ends it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cArgs + cEnv { free(pointer) } }
        let rc = posix_spawnp(&pid, "tmux", &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw CommandRunner.CommandError("cannot start tmux: \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let text = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: outputFile)
        guard status == 0 else {
            throw CommandRunner.CommandError("tmux \(args.first ?? "") failed: \(text)")
        }
        return text
    }
}
