import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the real `ledgerlink` binary for tests, with a deadline instead of sleeps.
package struct CommandRunner: Sendable {
    /// What a finished command printed and returned.
    package struct Result: Sendable {
        package let status: Int32
        package let stdout: String
        package let stderr: String
        package init(status: Int32, stdout: String, stderr: String) {
            (self.status, self.stdout, self.stderr) = (status, stdout, stderr)
        }
    }

    package let executable: URL
    package let environment: [String: String]

    /// Finds the built `ledgerlink` next to the test bundle (or at $LEDGERLINK_BIN).
    package init(environment extra: [String: String] = [:]) throws {
        let env = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let bin = env["LEDGERLINK_BIN"] { candidates.append(URL(fileURLWithPath: bin)) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("ledgerlink"))
            dir = dir.deletingLastPathComponent()
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw CommandError("cannot find the ledgerlink binary; build it first or set LEDGERLINK_BIN")
        }
        executable = found
        var base = env.filter { !$0.key.hasPrefix("LEDGERLINK_") }
        base["LANG"] = "C.UTF-8"
        base["TZ"] = "UTC"
        environment = base.merging(extra) { $1 }
    }

    package struct CommandError: Error, CustomStringConvertible {
        package let description: String
        package init(_ description: String) { self.description = description }
    }

    /// Starts the binary with `arguments`; the caller waits or kills.
    package func start(_ arguments: [String], stdin: Data? = nil) throws -> (Process, Pipe, Pipe) {
        let (process, input, out, err) = try launch(arguments)
        if let stdin { input.write(stdin) }
        try input.close()
        return (process, out, err)
    }

    /// The running binary, its standard input's writing end, and its output pipes.
    private func launch(_ arguments: [String]) throws -> (Process, FileHandle, Pipe, Pipe) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        return (process, input.fileHandleForWriting, out, err)
    }

    /// Starts the binary with standard input left open, for a test that answers its prompts
    /// (close `input` to end it).
    package func startInteractive(_ arguments: [String]) throws -> (
        process: Process, input: FileHandle, output: PipeCollector
    ) {
        let (process, input, out, err) = try launch(arguments)
        return (process, input, PipeCollector(out: out, err: err))
    }

    /// Runs to completion (at most `timeout` seconds), waiting on a thread of its own.
    @discardableResult
    package func run(_ arguments: [String], stdin: Data? = nil, timeout: Double = 60) async throws -> Result {
        try await offThePool { try runBlocking(arguments, stdin: stdin, timeout: timeout) }
    }

    /// Runs to completion, blocking the calling thread (never call it from a task).
    package func runBlocking(_ arguments: [String], stdin: Data? = nil, timeout: Double = 60) throws -> Result {
        let (process, out, err) = try start(arguments, stdin: stdin)
        // Read both pipes while the process runs so a full pipe can never stall it.
        let collected = PipeCollector(out: out, err: err)
        let deadline = Date().addingTimeInterval(timeout)
        var exitedAt: Date?
        while process.isRunning {
            // Foundation learns of a child's exit from a signal handler of its own, which under
            // a full test run's load once missed four exits for a minute (CI: each process a
            // zombie whose output was complete). An exit the kernel reports is taken from it.
            if let status = Self.exitStatus(process.processIdentifier) {
                if let exitedAt, Date().timeIntervalSince(exitedAt) > 1 {
                    let (stdout, stderr) = collected.finish()
                    return Result(status: status, stdout: stdout, stderr: stderr)
                }
                exitedAt = exitedAt ?? Date()
            }
            if Date() > deadline {
                // Say where it stood, so a hang seen once (in CI) can be understood afterwards.
                let threads = Self.threadDump(process.processIdentifier)
                // SIGKILL, not SIGTERM: a process gdb left stopped (gdb ended at its own deadline
                // while attached) never acts on SIGTERM, and outlived a CI run stopped so.
                kill(process.processIdentifier, SIGKILL)
                let (stdout, stderr) = (collected.waitForData(upTo: 0), collected.stderrSoFar)
                throw CommandError(
                    "ledgerlink \(arguments.joined(separator: " ")) did not finish in \(timeout) s\n"
                        + "stdout so far: \(stdout.suffix(2000))\nstderr so far: \(stderr.suffix(2000))\n\(threads)")
            }
            _ = collected.waitForData(upTo: 0.05)
        }
        process.waitUntilExit()
        let (stdout, stderr) = collected.finish()
        return Result(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }
}

extension CommandRunner {
    /// The exit status of a child that has exited and not been reaped yet (a zombie), read from
    /// /proc (its last field is the status as `waitpid` reports it): the exit code, or 128 plus
    /// the signal that ended it. Nil while it runs, or when /proc cannot say.
    package static func exitStatus(_ pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.first == "Z",
            let last = fields.last.flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        else { return nil }
        let signal = last & 0x7F
        return signal == 0 ? (last >> 8) & 0xFF : 128 + signal
    }

    /// What each thread of a running process is doing: every thread's state and kernel wait
    /// channel from /proc, and its stack from gdb when gdb is installed (at most 30 s).
    package static func threadDump(_ pid: Int32, frames: Int = 12) -> String {
        var lines = ["threads of \(pid):"]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for task in tasks.sorted() {
            func read(_ name: String) -> String {
                ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/\(name)", encoding: .utf8)) ?? "?")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let state = read("status").split(separator: "\n").first { $0.hasPrefix("State:") } ?? "State: ?"
            lines.append("  \(task) \(read("comm")) \(state) wchan=\(read("wchan"))")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return lines.joined(separator: "\n") }
        // gdb writes to a file, not a pipe: when the process dumped is this one, gdb stops the
        // threads that would read a pipe, and a full pipe would then stop gdb.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gdb-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        guard FileManager.default.createFile(atPath: file.path, contents: nil),
            let output = try? FileHandle(forWritingTo: file)
        else { return lines.joined(separator: "\n") }
        defer { try? output.close() }
        let gdb = Process()
        gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb")
        gdb.arguments = ["-p", "\(pid)", "-batch", "-nx", "-ex", "thread apply all bt \(frames)"]
        gdb.standardOutput = output
        gdb.standardError = FileHandle.nullDevice
        gdb.standardInput = FileHandle.nullDevice
        guard (try? gdb.run()) != nil else { return lines.joined(separator: "\n") }
        let deadline = Date().addingTimeInterval(30)
        while exitStatus(gdb.processIdentifier) == nil, gdb.isRunning, Date() < deadline { usleep(20_000) }
        if exitStatus(gdb.processIdentifier) == nil, gdb.isRunning { kill(gdb.processIdentifier, SIGKILL) }
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        lines.append(
            text.split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread") }
                .map { $0.prefix(200) }
                .joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }
}

/// Runs `python3` with `arguments` to completion on a thread of its own (never on the
/// two-thread cooperative pool); returns its exit status and what it printed on stdout and
/// stderr together, read before waiting so a full pipe cannot stall it.
package func runPython(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await offThePool {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3"] + arguments
        let out = Pipe()
        python.standardOutput = out
        python.standardError = out
        try python.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        python.waitUntilExit()
        return (python.terminationStatus, text)
    }
}

/// Drains a process's stdout and stderr on background threads.
package final class PipeCollector: @unchecked Sendable {
    private let lock = NSCondition()
    private var outData = Data()
    private var errData = Data()
    private var open = 2

    package init(out: Pipe, err: Pipe) {
        for (pipe, isOut) in [(out, true), (err, false)] {
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    lock.lock()
                    if chunk.isEmpty {
                        self.open -= 1
                        lock.broadcast()
                        lock.unlock()
                        return
                    }
                    if isOut { self.outData.append(chunk) } else { self.errData.append(chunk) }
                    lock.broadcast()
                    lock.unlock()
                }
            }
        }
    }

    /// Waits until more output arrives or `seconds` pass; returns stdout so far.
    package func waitForData(upTo seconds: Double) -> String {
        lock.lock()
        defer { lock.unlock() }
        _ = lock.wait(until: Date().addingTimeInterval(seconds))
        return String(decoding: outData, as: UTF8.self)
    }

    /// Standard error so far.
    package var stderrSoFar: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errData, as: UTF8.self)
    }

    /// Waits until stdout contains `text` (true) or the deadline passes (false).
    package func waitForStdout(containing text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while !String(decoding: outData, as: UTF8.self).contains(text) {
            if open == 0 || !lock.wait(until: deadline) {
                return String(decoding: outData, as: UTF8.self).contains(text)
            }
        }
        return true
    }

    /// Waits for both pipes to close and returns everything.
    package func finish() -> (String, String) {
        lock.lock()
        defer { lock.unlock() }
        let deadline = Date().addingTimeInterval(10)
        while open > 0, lock.wait(until: deadline) {}
        return (String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
