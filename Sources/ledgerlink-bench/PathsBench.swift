import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerRemote
import LedgerTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// `ledgerlink-bench paths`: every way entries travel, in one run, beside the merge engine:
/// the release `ledgerlink` binary pushing to and pulling from a real `ledgerlink serve` on
/// loopback (the bytes of the sync bodies read from its /metrics), exporting, importing into a
/// new device and importing the same file again. `--rounds N` measures every path N times, each
/// round with new folders and a new store, and ends with each path's fastest, median and
/// slowest time: on a machine whose speed varies from one minute to the next, one run says
/// little about where a path stands.
enum PathsBench {
    static func run(entries total: Int, rounds: Int = 1) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledgerlink-paths-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let keep = ProcessInfo.processInfo.environment["LEDGERLINK_BENCH_KEEP"] != nil
        defer {
            // LEDGERLINK_BENCH_KEEP=1 keeps the data folders, the export and the store for a closer look.
            if keep { print("kept \(folder.path)") } else { try? FileManager.default.removeItem(at: folder) }
        }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("ledgerlink")

        print("building \(total) entries of one device (credits and debits with short memos) ...")
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<total {
            try fixture.record(
                device: 0, i % 4 == 0 ? .debit : .credit, amount: Int64(100 + i % 1000), memo: "coffee \(i % 1000)")
        }
        var times: [[Double]] = []
        for index in 1...max(1, rounds) {
            // One round's folders at the top for a single round (as before), else one folder each.
            let place = rounds > 1 ? folder.appendingPathComponent("round-\(index)") : folder
            if rounds > 1 { print("round \(index) of \(rounds):") }
            times.append(try await round(in: place, binary: binary, fixture: fixture, keepCopies: keep && index == 1))
            // The folders of a round are large (the store, five ledgers, the export): one at a time.
            if rounds > 1, !keep || index > 1 { try? FileManager.default.removeItem(at: place) }
        }
        guard times.count > 1 else { return }
        let n = Double(fixture.allEntries.count)
        print("each path over \(times.count) rounds (fastest, median, slowest; the rate at the median):")
        print("| path | fastest | median | slowest | rate at the median |")
        print("| --- | --- | --- | --- | --- |")
        for (column, name) in Round.names.enumerated() {
            let sorted = times.map { $0[column] }.sorted()
            let median =
                sorted.count % 2 == 1
                ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            print(
                String(
                    format: "| %@ | %.3f s | %.3f s | %.3f s | %.0f entries/s |", name, sorted[0], median,
                    sorted[sorted.count - 1], n / median))
        }
    }

    /// The paths a round times, in the order of its table and of the times it returns.
    enum Round {
        static let names = [
            "merge engine (decode and merge, in process)", "`sync --store` push",
            "`sync --store` pull into a new device",
            "the same pull into another new device", "`export`", "`import` into a new device",
            "`import` of the same file again",
        ]
    }

    /// One round of every path in `folder` (new ledgers, a new store), printed as a table; the
    /// seconds of each path, in `Round.names` order.
    static func round(in folder: URL, binary: URL, fixture: LedgerFixture, keepCopies: Bool) async throws -> [Double] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let all = fixture.allEntries
        let joined = Array(all.prefix(2))  // genesis and the second device's link
        let source = try await makeHome(folder.appendingPathComponent("source"), fixture, device: 0, entries: all)
        let puller = try await makeHome(folder.appendingPathComponent("pull"), fixture, device: 1, entries: joined)
        let secondPuller = try await makeHome(
            folder.appendingPathComponent("pull-again"), fixture, device: 1, entries: joined)
        let importer = try await makeHome(folder.appendingPathComponent("import"), fixture, device: 1, entries: joined)
        if keepCopies {
            // Untouched copies, to run a path again by hand (under perf, say).
            try FileManager.default.copyItem(at: puller, to: folder.appendingPathComponent("fresh"))
            try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent("fresh-source"))
        }

        // The merge engine alone, in this run: the speed every path is held to.
        let mergeStore = try LedgerStore.create(
            at: folder.appendingPathComponent("merge.sqlite").path, identity: fixture.identity,
            root: fixture.root.publicKey, device: fixture.devices[1].publicKey)
        let mergeEngine = try await MergeEngine(store: mergeStore, keyPair: fixture.devices[1])
        let wire = all.map(\.encoded)
        let mergeTime = try await Bench.seconds { _ = try await mergeEngine.merge(try Entry.decodeAll(wire)) }

        // A real store on loopback; the bytes of the sync bodies are read from its /metrics (a
        // proxy counting them in this process took a share of the two cores from the device and
        // the store: 10-20% of a pull's time).
        let port = try freePort(udp: false)
        let url = "http://127.0.0.1:\(port)"
        let serve = try Spawned.start(
            binary,
            [
                "serve", "--port", "\(port)", "--public-url", url, "--db",
                folder.appendingPathComponent("store.sqlite").path,
            ], output: folder.appendingPathComponent("serve.log"))
        defer { serve.stop() }
        _ = try await serve.waitForPort()

        let counters = ["sync_bytes_received", "sync_bytes_sent"]
        let atStart = try await Self.metrics(port: port, counters)
        let push = try Spawned.measure(binary, ["sync", "--store", url, "--home", source.path], watching: serve.pid)
        let afterPush = try await Self.metrics(port: port, counters)
        // The store hands its free heap back a quarter second after a large sync: each pull is
        // measured from the level it settles at, not from the push's garbage.
        await Spawned.settle(serve.pid)
        let pull = try Spawned.measure(binary, ["sync", "--store", url, "--home", puller.path], watching: serve.pid)
        let afterPull = try await Self.metrics(port: port, counters)
        // The same pull once more, into another new device: the store's memory for a pull once
        // its threads, heaps and database connections are warm.
        await Spawned.settle(serve.pid)
        let pullAgain = try Spawned.measure(
            binary, ["sync", "--store", url, "--home", secondPuller.path], watching: serve.pid)
        let pushTraffic = (fromDevice: afterPush[0] - atStart[0], toDevice: afterPush[1] - atStart[1])
        let pullTraffic = (fromDevice: afterPull[0] - afterPush[0], toDevice: afterPull[1] - afterPush[1])

        let exportFile = folder.appendingPathComponent("ledger.export")
        let export = try Spawned.measure(binary, ["export", "--home", source.path], stdout: exportFile)
        let exportSize = (try FileManager.default.attributesOfItem(atPath: exportFile.path)[.size] as? Int) ?? 0
        let firstImport = try Spawned.measure(binary, ["import", "--home", importer.path, exportFile.path])
        let again = try Spawned.measure(binary, ["import", "--home", importer.path, exportFile.path])

        let n = Double(all.count)
        let credit = all[all.count - 2]
        print(
            "every path with \(all.count) entries (release binary, loopback, \(ProcessInfo.processInfo.activeProcessorCount) cores):"
        )
        print("| path | time | rate | peak RSS |")
        print("| --- | --- | --- | --- |")
        func row(_ name: String, _ seconds: Double, _ rss: Int?) {
            let memory = rss.map { "\($0 >> 10) MB" } ?? "-"
            print(String(format: "| %@ | %.3f s | %.0f entries/s | %@ |", name, seconds, n / seconds, memory))
        }
        row("merge engine (decode and merge, in process)", mergeTime, nil)
        row("`sync --store` push", push.seconds, push.maxRSS)
        row("`sync --store` pull into a new device", pull.seconds, pull.maxRSS)
        row("the same pull into another new device", pullAgain.seconds, pullAgain.maxRSS)
        row("`export` (\(exportSize >> 20) MB)", export.seconds, export.maxRSS)
        row("`import` into a new device", firstImport.seconds, firstImport.maxRSS)
        row("`import` of the same file again", again.seconds, again.maxRSS)
        print("bytes per entry on the wire (sync bodies, HTTP headers not counted):")
        print(
            String(
                format: "  store push %.1f, store pull %.1f (device to store %d, store to device %d bytes)",
                Double(pushTraffic.fromDevice) / n, Double(pullTraffic.toDevice) / n, pushTraffic.fromDevice,
                pullTraffic.toDevice))
        print(
            "  one credit with a short memo: \(credit.encoded.count) bytes signed and stored, "
                + "\(EntryRuns.itemSize(of: credit)) in a run; a whole page of runs: "
                + String(format: "%.1f per entry", Double(EntryRuns.size(of: all)) / n))
        // A pull's page is at most StoreAPI.maxResponseBytes; the store is held to 1.5 of them.
        let page = Double(StoreAPI.maxResponseBytes) / 1_048_576
        print(
            String(
                format:
                    "the store's anonymous memory above its level before each sync (a pull's page is at most %.0f MiB):",
                page))
        for (name, result) in [("push", push), ("pull", pull), ("pull again", pullAgain)] {
            guard let watched = result.watched else { continue }
            let above = Double(watched.peak - watched.start) / 1024
            print(
                String(
                    format: "  %@: %.1f MiB before, at most +%.1f MiB (%.2f pages)", name, Double(watched.start) / 1024,
                    above, above / page))
        }
        for (name, result) in [
            ("push", push), ("pull", pull), ("pull again", pullAgain), ("import", firstImport), ("re-import", again),
        ]
        where result.status != 0 {
            print("warning: \(name) exited with \(result.status)")
        }
        return [
            mergeTime, push.seconds, pull.seconds, pullAgain.seconds, export.seconds, firstImport.seconds,
            again.seconds,
        ]
    }

    /// Counters of a store's /metrics (`ledgerlink_store_NAME_total`).
    static func metrics(port: Int, _ names: [String]) async throws -> [Int] {
        let (status, text) = try await RawHTTP.withConnection(port: port) { try await $0.get("/metrics", port: port) }
        guard status == 200 else { throw LedgerError.invalidState("/metrics answered \(status)") }
        let lines = text.split(separator: "\n")
        return try names.map { name in
            guard let line = lines.first(where: { $0.hasPrefix("ledgerlink_store_\(name)_total ") }),
                let value = Int(line.split(separator: " ").last ?? "")
            else { throw LedgerError.invalidState("/metrics has no \(name)") }
            return value
        }
    }

    /// A data folder as `init` or `join` leaves it: the device's key, and a ledger holding `entries`.
    static func makeHome(_ home: URL, _ fixture: LedgerFixture, device: Int, entries: [Entry]) async throws -> URL {
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let store = try LedgerStore.create(
            at: home.appendingPathComponent("ledger.sqlite").path, identity: fixture.identity,
            root: fixture.root.publicKey, device: fixture.devices[device].publicKey)
        let engine = try await MergeEngine(store: store, keyPair: fixture.devices[device])
        for start in stride(from: 0, to: entries.count, by: 50_000) {
            try await engine.merge(Array(entries[start..<min(start + 50_000, entries.count)]))
        }
        await engine.settle()
        try DeviceKeyFile.write(fixture.devices[device], to: home.appendingPathComponent("device.key"), passphrase: nil)
        return home
    }
}

/// A child process started with posix_spawn, so its own resource use can be read with wait4.
struct Spawned {
    let pid: pid_t
    let output: URL

    struct Result {
        let status: Int32
        let seconds: Double
        /// Peak resident memory in KiB, sampled every few milliseconds.
        let maxRSS: Int
        /// The watched process's anonymous memory (KiB) when the run started, and the most it
        /// held while the run lasted (sampled with the peak above).
        var watched: (start: Int, peak: Int)?
    }

    static func start(_ binary: URL, _ arguments: [String], output: URL, stdout: URL? = nil) throws -> Spawned {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, (stdout ?? output).path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, output.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv = ([binary.path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LEDGERLINK_") }
        environment["LANG"] = "C.UTF-8"
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, binary.path, &actions, nil, argv, envp)
        guard status == 0 else { throw LedgerError.invalidState("cannot start \(binary.path): \(status)") }
        return Spawned(pid: pid, output: output)
    }

    /// A process's anonymous resident memory in KiB (`RssAnon`: its heaps and stacks, not the
    /// pages of its binary and libraries, which a first call of a code path maps in and which
    /// any process may share).
    static func anonymousKiB(_ pid: pid_t) -> Int? { ProcStatus.kib(pid, "RssAnon") }

    /// Waits until `pid`'s anonymous memory holds still (within 64 KiB for 300 ms), at most 5 s.
    static func settle(_ pid: pid_t) async {
        let deadline = ContinuousClock.now + .seconds(5)
        var last = anonymousKiB(pid) ?? 0
        var still = ContinuousClock.now
        while ContinuousClock.now < deadline, still.duration(to: .now) < .milliseconds(300) {
            try? await Task.sleep(for: .milliseconds(20))
            let now = anonymousKiB(pid) ?? 0
            if abs(now - last) > 64 { still = .now }
            last = now
        }
    }

    /// Runs to the end: its exit status, wall time and peak memory; with `watching`, also that
    /// process's anonymous memory meanwhile (the store's, while a device pulls from it).
    ///
    /// What earlier steps wrote is flushed to the disk first: the data folders are written just
    /// before, and a timed command's first sync of a file would otherwise write them out too
    /// (8 ms at the median of a push, whose folder was copied just before it).
    static func measure(_ binary: URL, _ arguments: [String], stdout: URL? = nil, watching: pid_t? = nil) throws
        -> Result
    {
        sync()
        let watchedStart = watching.flatMap(anonymousKiB)
        var watchedPeak = watchedStart ?? 0
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ledgerlink-paths-\(getpid()).log")
        let started = ContinuousClock.now
        let child = try start(binary, arguments, output: log, stdout: stdout)
        defer { try? FileManager.default.removeItem(at: log) }
        // The child's own high-water mark, read until it exits: what wait4 reports would include
        // this process's memory (a spawned child's peak starts from its parent's).
        var status: Int32 = 0
        var peak = 0
        while true {
            if let kib = ProcStatus.kib(child.pid, "VmHWM") { peak = max(peak, kib) }
            if let watching, let kib = anonymousKiB(watching) { watchedPeak = max(watchedPeak, kib) }
            let done = waitpid(child.pid, &status, WNOHANG)
            if done == child.pid { break }
            guard done == 0 else {
                throw LedgerError.invalidState("lost \(binary.lastPathComponent) \(arguments.first ?? "")")
            }
            usleep(2_000)
        }
        let seconds = StoreBench.seconds(started.duration(to: .now))
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        if exit != 0 {
            print("\(arguments.first ?? "") exited with \(exit):")
            print((try? String(contentsOf: log, encoding: .utf8)) ?? "")
        }
        return Result(
            status: exit, seconds: seconds, maxRSS: peak, watched: watchedStart.map { ($0, watchedPeak) })
    }

    /// The port `serve` says it listens on.
    func waitForPort() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            if let match = text.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/), let port = Int(match.1) {
                return port
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LedgerError.invalidState(
            "serve did not start: \((try? String(contentsOf: output, encoding: .utf8)) ?? "")")
    }

    func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
