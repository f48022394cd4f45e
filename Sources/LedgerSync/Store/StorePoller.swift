import Foundation
import LedgerCore
import LedgerCrypto
import Logging

/// When to ask the store next: every `interval` while all is well; after failures,
/// exponential backoff from the interval doubling to `cap`, or longer when the store asked for
/// more patience with Retry-After (clamped to an hour).
package struct StoreSchedule: Sendable, Equatable {
    package var interval: Duration
    package var cap: Duration
    /// Wait after a local change before pushing it, so a burst of entries goes in one request.
    package var debounce: Duration
    package static let longestRetryAfter: Duration = .seconds(3600)

    package init(interval: Duration = .seconds(30), cap: Duration = .seconds(1800), debounce: Duration = .seconds(2)) {
        self.interval = interval
        self.cap = cap
        self.debounce = debounce
    }

    /// The wait after `failures` consecutive failures (0 after a success); `jitter` in 0...1.
    package func delay(failures: Int, retryAfter: Duration? = nil, jitter: Double) -> Duration {
        guard failures > 0 else { return interval }
        let backoff = Backoff(initial: interval, cap: cap).delay(failures: failures, jitter: jitter)
        return max(backoff, min(retryAfter ?? .zero, Self.longestRetryAfter))
    }
}

/// Retry-After in either form HTTP allows: delta-seconds, or an HTTP-date.
package enum RetryAfter {
    /// The wait it asks for at `now`, between zero and an hour; nil when it is neither form.
    package static func parse(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text), seconds >= 0 {
            return .seconds(min(seconds, 3600))
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let seconds = min(max(0, date.timeIntervalSince(now)), 3600)
                return .milliseconds(Int64((seconds * 1000).rounded()))
            }
        }
        return nil
    }
}

/// What the store poller is doing, for the TUI and `ledgerlink status --json` (written to a
/// file in the data folder while it runs).
package struct StoreStatus: StatusFile, Sendable, Equatable {
    package var url: String
    package var pid: Int32
    package var lastSuccess: Date?
    package var nextDue: Date?
    package var consecutiveFailures: Int
    package var lastError: String?
    /// Progress of the sync under way, if any: entries received of the total.
    package var receiving: Int?
    package var total: Int?
    /// Syncs tried so far by this process (each success or failure adds one).
    package var attempts: Int?
    /// What the last sync that worked found wrong with what the store sent: entries refused,
    /// fork claims without proof. Nil when nothing was.
    package var problem: String?
    package var updated: Date

    package init(url: String) {
        self.url = url
        self.pid = getpid()
        self.consecutiveFailures = 0
        self.updated = Date()
    }

}

extension StoreStatus {
    /// The store's state in a word or two, for the TUI's badge: `store 40%` while a sync
    /// receives, `store ✗3` after three failures in a row, `store ⚠` when the last sync found
    /// something wrong with what the store sent, `store ok` otherwise.
    package var badge: String {
        if let receiving, let total, total > 0 {
            return "store \(min(100, max(0, receiving) * 100 / total))%"
        }
        if consecutiveFailures > 0 { return "store ✗\(consecutiveFailures)" }
        return problem == nil ? "store ok" : "store ⚠"
    }
}

/// Keeps a device in step with its store: a sync every interval, soon after local changes,
/// and at once when asked; backoff after failures. Runs until its task is cancelled.
package actor StorePoller {
    package nonisolated let client: StoreClient
    let engine: MergeEngine
    let schedule: StoreSchedule
    let statusFile: URL?
    let logger: Logger
    private var current: StoreStatus
    /// The clock the schedule runs on (tests drive a manual one), and the time on it.
    private let clock: any Clock<Duration>
    private let stopwatch: Stopwatch
    private var now: Duration { stopwatch.elapsed }
    /// When the next sync is due, as time on `stopwatch`.
    private var due = Duration.zero
    private var wakeups = 0

    package init(
        client: StoreClient, engine: MergeEngine, schedule: StoreSchedule, statusFile: URL? = nil,
        logger: Logger = Logger(label: "ledgerlink.store", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.clock = clock
        self.stopwatch = Stopwatch(clock)
        self.client = client
        self.engine = engine
        self.schedule = schedule
        self.statusFile = statusFile
        self.logger = logger
        self.current = StoreStatus(url: client.url.absoluteString)
    }

    package func status() -> StoreStatus { current }

    /// Syncs as soon as possible.
    package func syncNow() {
        due = now
        wakeups += 1
    }

    package func run() async {
        var failures = 0
        var seen = try? await engine.clock().digest
        while !Task.isCancelled {
            // Wait for the due time, moving it closer when this device's ledger changes.
            current.nextDue = Date().addingTimeInterval(Self.seconds(due - now))
            publish()
            while now < due, !Task.isCancelled {
                try? await clock.sleep(for: min(.milliseconds(100), due - now))
                if let digest = try? await engine.clock().digest, digest != seen {
                    seen = digest
                    due = min(due, now + schedule.debounce)
                }
            }
            if Task.isCancelled { break }
            do {
                var report = try await client.sync { progress in
                    Task { await self.progress(progress) }
                }
                if !report.converged, report.storeProblems.isEmpty, report.refused.isEmpty {
                    // Another device writing through the store at the same moment can leave one
                    // sync a step behind; only a second that also ends apart is a failure.
                    report = try await client.sync { progress in
                        Task { await self.progress(progress) }
                    }
                }
                // A sync that ends not level, or that caught the store misbehaving, did not work:
                // counted as a failure with its reason, and backed off like one.
                if let why = Self.failure(in: report, attempt: failures + 1) { throw StorePollFailure(reason: why) }
                failures = 0
                current.lastSuccess = Date()
                current.lastError = nil
                current.problem = Self.problem(in: report)
                if !report.unchanged {
                    logger.info("store: sent \(report.sent), received \(report.received)")
                }
                due = now + schedule.delay(failures: 0, jitter: Double.random(in: 0...1))
            } catch {
                failures += 1
                current.lastError = "\(error)"
                let retryAfter = (error as? StoreClientError)?.retryAfter.flatMap { RetryAfter.parse($0, now: Date()) }
                let wait = schedule.delay(failures: failures, retryAfter: retryAfter, jitter: Double.random(in: 0...1))
                logger.warning("store: \(error); next attempt in \(Int(Self.seconds(wait))) s")
                due = now + wait
            }
            seen = try? await engine.clock().digest
            current.consecutiveFailures = failures
            current.attempts = (current.attempts ?? 0) + 1
            current.receiving = nil
            current.total = nil
        }
        if let statusFile { try? FileManager.default.removeItem(at: statusFile) }
    }

    /// Why a sync that returned did not work, in words; nil when it did. `attempt` counts the
    /// polls in a row that did not work, this one included.
    static func failure(in report: StoreSyncReport, attempt: Int) -> String? {
        if !report.storeProblems.isEmpty {
            return report.storeProblems.map(\.message).joined(separator: "; ")
        }
        guard !report.converged else { return nil }
        return report.refused.isEmpty
            ? "the store is not letting this device catch up: \(attempt) attempt\(attempt == 1 ? "" : "s") in a "
                + "row ended with the two still different"
            : "the store sent entries this device refused, so the two still differ"
    }

    /// What a sync that worked still found wrong, in words; nil when nothing.
    static func problem(in report: StoreSyncReport) -> String? {
        var parts: [String] = []
        if let first = report.refused.first {
            let what = report.refused.count == 1 ? "1 entry" : "\(report.refused.count) entries"
            parts.append(
                "the store sent \(what) this device refused (\(first.author.fingerprint) seq \(first.seq): "
                    + "\(first.reason))")
        }
        if !report.unprovenForkClaims.isEmpty {
            let who = report.unprovenForkClaims.compactMap(Self.fingerprint)
            parts.append("the store claims \(who.joined(separator: ", ")) forked but sent no proof")
        }
        if !report.forks.isEmpty {
            let who = report.forks.compactMap(Self.fingerprint)
            parts.append("fork proven for \(who.joined(separator: ", "))")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    private static func fingerprint(_ hex: String) -> String? {
        Hex.decode(hex).flatMap { try? DevicePublicKey(bytes: $0) }?.fingerprint
    }

    private func progress(_ progress: StoreSyncProgress) {
        current.receiving = progress.received
        current.total = progress.total
        publish()
    }

    private func publish() {
        current.updated = Date()
        if let statusFile { current.write(to: statusFile) }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// A sync that returned but did not work (see `StorePoller.failure(in:attempt:)`).
struct StorePollFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
