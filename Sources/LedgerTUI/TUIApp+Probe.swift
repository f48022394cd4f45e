import Foundation
import LedgerCore

#if canImport(Glibc)
    import Glibc
#endif

extension TUIApp {
    /// Diagnostics for docs/BENCHMARKS.md (`LEDGERLINK_TUI_PROBE=FILE`): records when the first
    /// complete frame was drawn and the peak memory so far, then replays 500 keys, timing each
    /// from the reducer to the terminal update, writes the results and quits.
    static func measure(
        after firstFrame: UInt64, _ state: inout TUIState, _ terminal: CursesTerminal, history: HistoryPager,
        writingTo path: String
    ) async {
        let peakAtFirstFrame = ProcessStatus.peakResidentKilobytes
        // Then the whole ledger is indexed, as it is behind a running screen.
        let indexStart = MonotonicClock.nanoseconds
        await history.waitForIndex(&state)
        let indexed = MonotonicClock.nanoseconds - indexStart
        // A search of the whole ledger, as `/` runs it.
        let searchStart = MonotonicClock.nanoseconds
        state.filter = "entry 99999"
        await history.waitForSearch(&state)
        let searched = MonotonicClock.nanoseconds - searchStart
        let matches = state.history.count
        state.filter = ""
        await history.update(&state)
        state.focus = .history
        let keys: [Key] = [
            .down, .down, .character("j"), .pageDown, .pageDown, .character("G"), .pageUp, .character("g"), .up,
        ]
        var latencies: [UInt64] = []
        for i in 0..<500 {
            let start = MonotonicClock.nanoseconds
            _ = TUIReducer.reduce(&state, keys[i % keys.count])
            await history.update(&state)
            terminal.draw(TUIRenderer.render(state))
            latencies.append(MonotonicClock.nanoseconds - start)
        }
        latencies.sort()
        let report = [
            "first_frame_ns=\(firstFrame)", "peak_rss_kb=\(peakAtFirstFrame)", "index_ns=\(indexed)",
            "history_entries=\(state.history.count)", "search_ns=\(searched)", "search_matches=\(matches)",
            "peak_rss_after_index_kb=\(ProcessStatus.peakResidentKilobytes)",
            "key_p50_ns=\(latencies[latencies.count / 2])", "key_p99_ns=\(latencies[latencies.count * 99 / 100])",
        ].joined(separator: "\n")
        try? (report + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: comparable across processes on one machine.
package enum MonotonicClock {
    package static var nanoseconds: UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Reads this process's peak resident memory (VmHWM) from /proc.
enum ProcessStatus {
    static var peakResidentKilobytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
