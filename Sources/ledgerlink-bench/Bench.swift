import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerServer
import LedgerSync
import LedgerTUI
import LedgerTestSupport

/// ledgerlink-bench: measures the targets recorded in docs/BENCHMARKS.md. Run it from a
/// release build: `swift run -c release ledgerlink-bench merge`.
@main
struct Bench {
    static func main() async {
        let args = Array(CommandLine.arguments.dropFirst())
        do {
            switch args.first {
            case "merge":
                try await mergeBenchmark(
                    entries: option("--entries", in: args) ?? 100_000, devices: option("--devices", in: args) ?? 4)
            case "tui":
                try await tuiBenchmark(entries: option("--entries", in: args) ?? 1_000_000)
            case "store" where args.contains("--url"):
                let urls = (string("--url", in: args) ?? "").split(separator: ",").compactMap {
                    URL(string: String($0))
                }
                try await StoreLoad.run(
                    urls: urls, identities: option("--identities", in: args) ?? 1_000,
                    devicesEach: option("--devices", in: args) ?? 2,
                    seconds: Double(option("--seconds", in: args) ?? 10),
                    addresses: option("--addresses", in: args) ?? 1,
                    pollers: option("--pollers", in: args) ?? 1_000,
                    serverPIDs: (string("--server-pids", in: args) ?? "").split(separator: ",").compactMap {
                        Int32($0)
                    },
                    databasePIDs: (string("--database-pids", in: args) ?? "").split(separator: ",").compactMap {
                        Int32($0)
                    })
            case "store":
                try await StoreBench.run(
                    identities: option("--identities", in: args) ?? 20, devicesEach: option("--devices", in: args) ?? 5,
                    seconds: Double(option("--seconds", in: args) ?? 5),
                    entries: option("--entries", in: args) ?? 10_000,
                    cacheMB: option("--cache-mb", in: args) ?? (LedgerCache.defaultBudget >> 20))
            case "paths":
                try await PathsBench.run(
                    entries: option("--entries", in: args) ?? 100_000, rounds: option("--rounds", in: args) ?? 1)
            case "peer":
                try await peerBenchmark(
                    entries: option("--entries", in: args) ?? 100_000, samples: option("--samples", in: args) ?? 500)
            default:
                FileHandle.standardError.write(
                    Data(
                        ("usage: ledgerlink-bench merge [--entries N] [--devices N] | tui [--entries N]"
                            + " | peer [--entries N] [--samples N] | paths [--entries N] [--rounds N]"
                            + " | store [--identities N] [--devices N] [--seconds N] [--entries N] [--cache-mb N]"
                            + " | store --url URL[,URL] [--identities N] [--devices N] [--seconds N] [--addresses N] [--pollers N]"
                            + " [--server-pids PID,PID] [--database-pids PID,…]\n")
                            .utf8))
                exit(64)
            }
        } catch {
            FileHandle.standardError.write(Data("ledgerlink-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func string(_ name: String, in args: [String]) -> String? {
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return args[i + 1]
    }

    static func option(_ name: String, in args: [String]) -> Int? {
        guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
        return Int(args[i + 1])
    }

    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Merge (decode + validate + persist in a file database) `entries` entries written by
    /// `devices` devices into an empty replica, and the raw one-signature-per-entry rate.
    static func mergeBenchmark(entries total: Int, devices: Int) async throws {
        print("building \(total) entries from \(devices) devices ...")
        var fixture = try LedgerFixture(deviceCount: devices)
        let perDevice = (total - fixture.allEntries.count) / devices
        for i in 0..<perDevice {
            for d in 0..<devices {
                try fixture.record(
                    device: d, i % 3 == 0 ? .debit : .credit, amount: Int64(100 + i % 1000), memo: "bench \(i)")
            }
        }
        let wire = fixture.allEntries.shuffled().map(\.encoded)
        let count = wire.count

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledgerlink-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try LedgerStore.create(
            at: folder.appendingPathComponent("ledger.sqlite").path, identity: fixture.identity,
            root: fixture.root.publicKey, device: fixture.devices[1].publicKey)
        let engine = try await MergeEngine(store: store, keyPair: fixture.devices[1])
        print("merging ...")
        fflush(nil)

        var report = MergeReport()
        var decodeTime = 0.0
        // Timed: decoding the wire bytes and the merge, up to the moment it returns (durable).
        // The decoded batch is released after the clock stops, as a sync session would.
        var decoded: [Entry] = []
        let mergeTime = try await seconds {
            decodeTime = try await seconds { decoded = try Entry.decodeAll(wire) }
            report = try await engine.merge(decoded)
        }
        decoded = []
        print(String(format: "  of which decoding:       %.3f s", decodeTime))
        guard report.accepted.count == count, report.rejected.isEmpty else {
            throw LedgerError.invalidState("merge accepted \(report.accepted.count) of \(count)")
        }
        let totals = try await engine.totals()
        let settleTime = await seconds { await engine.settle() }

        // The baseline: one libsodium signature check per entry.
        let sample = fixture.allEntries.prefix(min(count, 20_000))
        let messages = sample.map { ($0.author, $0.signature, $0.signingMessage) }
        var valid = 0
        let verifyTime = await seconds {
            for (key, sig, message) in messages where key.isValidSignature(sig, for: message) { valid += 1 }
        }
        precondition(valid == messages.count)
        let mergeRate = Double(count) / mergeTime
        let verifyRate = Double(messages.count) / verifyTime
        print("entries merged:           \(count) (balance \(totals.balance))")
        print(String(format: "merge time:               %.3f s", mergeTime))
        print(String(format: "merge rate:               %.0f entries/s (target >= 250000)", mergeRate))
        print(String(format: "background checkpoint:    %.3f s after the merge returned (not in the rate)", settleTime))
        print(String(format: "one-verify-per-entry:     %.0f entries/s (libsodium Ed25519, one core)", verifyRate))
        print(String(format: "speed-up over verifying:  %.1fx (target >= 10x)", mergeRate / verifyRate))

        // The same entries again (a file imported twice, a peer resending): all repeats.
        var again = MergeReport()
        let againTime = try await seconds { again = try await engine.merge(try Entry.decodeAll(wire)) }
        guard again.duplicates == count, again.accepted.isEmpty else {
            throw LedgerError.invalidState("the second merge found \(again.duplicates) repeats of \(count)")
        }
        print(
            String(
                format: "the same entries again:   %.3f s (%.0f entries/s, all repeats)", againTime,
                Double(count) / againTime))
    }

    /// Exec of `ledgerlink tui` (in tmux) to its first complete frame over a ledger of
    /// `entries` entries, its peak memory by then, and key-press-to-redraw latency.
    static func tuiBenchmark(entries total: Int) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledgerlink-tui-bench-\(getpid())")
        defer {
            // LEDGERLINK_BENCH_KEEP=1 keeps the ledger for a closer look.
            if ProcessInfo.processInfo.environment["LEDGERLINK_BENCH_KEEP"] == nil {
                try? FileManager.default.removeItem(at: folder)
            } else {
                print("kept \(folder.path)")
            }
        }
        let home = folder.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        print("building a ledger of \(total) entries from 2 devices (signing and merging; a minute or so) ...")
        var fixture = try LedgerFixture(deviceCount: 2)
        let store = try LedgerStore.create(
            at: home.appendingPathComponent("ledger.sqlite").path, identity: fixture.identity,
            root: fixture.root.publicKey, device: fixture.root.publicKey)
        let engine = try await MergeEngine(store: store, keyPair: fixture.root)
        var written = 0
        try await engine.merge(fixture.allEntries)
        while written < total {
            let batch = min(100_000, total - written)
            let before = fixture.logs.map(\.count)
            for i in 0..<batch {
                try fixture.record(
                    device: i % 2, i % 5 == 0 ? .debit : .credit, amount: Int64(1 + i % 997),
                    memo: "entry \(written + i)")
            }
            let fresh = zip(fixture.logs, before).flatMap { log, count in log[count...] }
            try await engine.merge(Array(fresh))
            written += batch
        }
        await engine.settle()
        try DeviceKeyFile.write(fixture.root, to: home.appendingPathComponent("device.key"), passphrase: nil)
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "ledgerlink")
        let probe = folder.appendingPathComponent("probe")
        let start = MonotonicClock.nanoseconds
        let session = try TmuxSession(
            [binary.path, "tui", "--home", home.path], width: 120, height: 40,
            environment: ["LEDGERLINK_TUI_PROBE": probe.path, "LANG": "C.UTF-8"])
        defer { session.close() }
        let deadline = Date().addingTimeInterval(60)
        var report: [String: UInt64] = [:]
        while Date() < deadline {
            if let text = try? String(contentsOf: probe, encoding: .utf8), text.contains("key_p99_ns") {
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: "=")
                    if parts.count == 2, let value = UInt64(parts[1]) { report[String(parts[0])] = value }
                }
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let first = report["first_frame_ns"], let rss = report["peak_rss_kb"], let p50 = report["key_p50_ns"],
            let p99 = report["key_p99_ns"]
        else { throw LedgerError.invalidState("the TUI did not report a first frame within 60 s") }
        print("entries in the ledger:    \(fixture.allEntries.count)")
        print(
            String(
                format: "exec to first frame:      %.1f ms (target <= 150 ms, includes starting tmux)",
                Double(first - start) / 1e6))
        print(String(format: "peak RSS by then:         %.1f MB (target <= 80 MB)", Double(rss) / 1024))
        if let indexed = report["index_ns"], let entries = report["history_entries"],
            let rssAfter = report["peak_rss_after_index_kb"]
        {
            print(
                String(
                    format:
                        "whole history indexed:    %.0f ms for %d entries (in the background, after the first frame)",
                    Double(indexed) / 1e6, entries))
            if let searched = report["search_ns"], let matches = report["search_matches"] {
                print(
                    String(
                        format: "search of the whole ledger: %.0f ms (\"entry 99999\": %d matches)",
                        Double(searched) / 1e6, matches))
            }
            print(
                String(
                    format: "peak RSS after indexing and searching: %.1f MB (target <= 80 MB)", Double(rssAfter) / 1024)
            )
        }
        print(
            String(
                format:
                    "key press to redraw:      p50 %.2f ms, p99 %.2f ms over the whole history (target p99 <= 16 ms)",
                Double(p50) / 1e6, Double(p99) / 1e6))
    }

    /// Peer channel on loopback, between two file-backed devices: latency from an append on one
    /// to the entry merged on the other over a live session; a first sync of `total` entries
    /// into an empty device, end to end; bytes on the wire; and pycrdt syncing the same entries.
    static func peerBenchmark(entries total: Int, samples: Int) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledgerlink-peer-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var fixture = try LedgerFixture(deviceCount: 2)
        func engine(_ name: String, device: Int) async throws -> MergeEngine {
            let store = try LedgerStore.create(
                at: folder.appendingPathComponent("\(name).sqlite").path, identity: fixture.identity,
                root: fixture.root.publicKey, device: fixture.devices[device].publicKey)
            return try await MergeEngine(store: store, keyPair: fixture.devices[device])
        }

        // 1. Live latency: append on A, wait for B's engine to report the merge.
        let a = try await engine("a", device: 0)
        let b = try await engine("b", device: 1)
        try await a.merge(fixture.allEntries)
        try await b.merge(fixture.allEntries)
        var configuration = PeerServiceConfiguration()
        configuration.listenHost = "127.0.0.1"
        configuration.listenPort = 0
        configuration.discovery = false
        let serviceB = PeerService(engine: b, keyPair: fixture.devices[1], configuration: configuration, hub: PeerHub())
        let serveB = try await serviceB.start()
        let taskB = Task { try await serveB() }
        configuration.listenPort = nil
        configuration.staticPeers = [PeerEndpoint(host: "127.0.0.1", port: await serviceB.listeningPort() ?? 0)]
        let serviceA = PeerService(engine: a, keyPair: fixture.devices[0], configuration: configuration, hub: PeerHub())
        let serveA = try await serviceA.start()
        let taskA = Task { try await serveA() }
        while await serviceB.hub.connectedDevices().isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let events = await b.subscribe()
        var arrivals = events.makeAsyncIterator()
        var latencies: [Double] = []
        for i in 0..<samples {
            let start = ContinuousClock.now
            let entry = try await a.appendRecord(.credit, amount: 1, memo: "latency \(i)")
            while try await b.clock()[entry.author] < entry.seq { _ = await arrivals.next() }
            let d = ContinuousClock.now - start
            latencies.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
        }
        taskA.cancel()
        taskB.cancel()
        _ = await (taskA.result, taskB.result)
        latencies.sort()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }

        // 2. First sync of `total` entries into an empty device, through a counting proxy.
        print("building \(total) entries from 2 devices ...")
        for i in 0..<(total - fixture.allEntries.count) {
            try fixture.record(
                device: i % 2, i % 4 == 0 ? .debit : .credit, amount: Int64(1 + i % 997), memo: "sync \(i)")
        }
        let source = try await engine("source", device: 0)
        try await source.merge(fixture.allEntries)
        await source.settle()
        let fresh = try await engine("fresh", device: 1)
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0)
        let sourceKey = fixture.devices[0]
        let listening = Task { try await listener.run(engine: source, keyPair: sourceKey) }
        let proxy = try await FaultProxy.start(targetPort: listener.port) { _ in .pass }
        let proxying = Task { try await proxy.run() }
        var report = PeerSyncReport()
        let syncTime = try await seconds {
            report = try await PeerDialer.sync(
                host: "127.0.0.1", port: proxy.port, engine: fresh, keyPair: fixture.devices[1])
        }
        guard report.converged, report.accepted == fixture.allEntries.count else {
            throw LedgerError.invalidState("first sync accepted \(report.accepted) of \(fixture.allEntries.count)")
        }
        let first = proxy.traffic(0)
        _ = try await PeerDialer.sync(host: "127.0.0.1", port: proxy.port, engine: fresh, keyPair: fixture.devices[1])
        let idle = proxy.traffic(1)
        listening.cancel()
        proxying.cancel()
        await fresh.settle()
        // Handshake frames per direction: hello (4 + 64), stream header (4 + 24), proof (4 + 96 + 17).
        let handshake = 2 * (68 + 28 + 117)
        let entryBytes = fixture.allEntries.reduce(0) { $0 + $1.encoded.count }
        let count = fixture.allEntries.count

        print("live push, append on A to merged on B (\(samples) samples):")
        print(String(format: "  p50 %.2f ms, p99 %.2f ms (target p99 < 50 ms)", percentile(0.5), percentile(0.99)))
        print("first sync of \(count) entries into an empty device:")
        print(
            String(
                format: "  %.3f s = %.0f entries/s end to end (target >= 100000)", syncTime, Double(count) / syncTime))
        print(
            String(
                format: "  %d bytes on the wire = %.1f bytes/entry (entries themselves: %.1f bytes each)",
                first.fromDialler + first.toDialler, Double(first.fromDialler + first.toDialler) / Double(count),
                Double(entryBytes) / Double(count)))
        print(
            "nothing-changed session: \(idle.fromDialler + idle.toDialler) bytes in all, of which"
                + " \(idle.fromDialler + idle.toDialler - handshake) after the handshake")

        // 3. pycrdt (Yjs) with the same entries.
        let script = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["LEDGERLINK_PYCRDT_SCRIPT"]
                ?? "scripts/pycrdt_bench.py")
        let input = folder.appendingPathComponent("entries.hex")
        try fixture.allEntries.map { Hex.encode($0.encoded) }.joined(separator: "\n").write(
            to: input, atomically: true, encoding: .utf8)
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", script.path, input.path]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        python.waitUntilExit()
        guard python.terminationStatus == 0,
            let y = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let full = y["full_update_bytes"] as? Int, let delta = y["one_entry_delta_bytes"] as? Int,
            let apply = y["apply_seconds"] as? Double, let build = y["build_seconds"] as? Double
        else {
            print("pycrdt comparison skipped: run `pip install pycrdt` (and from the repository root)")
            return
        }
        // ledgerlink's one-entry push: the ENTRIES frame for one entry (length, tag, type, count, entry).
        let onePush = 4 + 17 + 1 + 4 + 4 + (fixture.allEntries.last?.encoded.count ?? 0)
        print("pycrdt \(y["entries"] ?? "?") entries as a Y.Array (one transaction each):")
        print(
            String(
                format: "  full update %d bytes (%.1f/entry) vs ledgerlink %d; one-entry delta %d bytes vs %d",
                full, Double(full) / Double(count), first.fromDialler + first.toDialler, delta, onePush))
        print(
            String(
                format: "  apply full update %.3f s (no signature checks) vs ledgerlink sync + verify + store %.3f s;"
                    + " building the doc took %.1f s", apply, syncTime, build))
    }
}
