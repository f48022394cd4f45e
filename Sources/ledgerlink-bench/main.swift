import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
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
            default:
                FileHandle.standardError.write(
                    Data("usage: ledgerlink-bench merge [--entries N] [--devices N] | tui [--entries N]\n".utf8))
                exit(64)
            }
        } catch {
            FileHandle.standardError.write(Data("ledgerlink-bench: \(error)\n".utf8))
            exit(1)
        }
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
        print(
            String(
                format: "key press to redraw:      p50 %.2f ms, p99 %.2f ms (target p99 <= 16 ms)", Double(p50) / 1e6,
                Double(p99) / 1e6))
    }
}
