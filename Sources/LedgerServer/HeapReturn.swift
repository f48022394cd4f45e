import CMalloc
import Dispatch
import Synchronization

/// Hands the allocator's free memory back to the system once the large syncs have stopped for
/// a moment, and after each page a pull sends.
///
/// A push or a pull page is decoded, checked and answered on whichever threads the runtime
/// picks, and glibc keeps what each thread freed in that thread's own arena for its next
/// allocation: after a push of 100,000 entries the server held 51 MB of anonymous memory, 37 MB
/// of it free (`malloc_trim` took it to 10-12 MB). Trimming after every batch of a push cost the
/// server 15-20% more CPU (each batch grew the heaps again), so the trim waits until no large
/// sync has been answered for `quiet`: a push or a pull in progress keeps its heap, and the
/// server gives it back once it is done. A pull is different: the next page is megabytes more,
/// read and written on other threads, and the heap the last one left behind would add to it (a
/// pull of 100,000 entries took the store 6.6-7.5 MiB above its level, 1.7-1.9 pages of 4 MiB;
/// trimmed after each page sent, 5.3-6.5 MiB, for about 15% more server CPU per pull). Trimming
/// all arenas takes 1-8 ms, on a queue of its own, never on the threads that answer requests.
package final class HeapReturn: Sendable {
    /// Bytes of a sync (its body and its answer) from which it counts as large: polls and small
    /// syncs leave the allocator alone.
    package let threshold: Int
    /// How long after the last large sync the heap is handed back.
    package let quiet: Duration
    private let release: @Sendable () -> Void
    private let now: @Sendable () -> ContinuousClock.Instant
    private let after: @Sendable (Duration, @escaping @Sendable () -> Void) -> Void
    private let state = Mutex(State())

    private struct State {
        var last: ContinuousClock.Instant?
        var waiting = false
    }

    package static let defaultThreshold = 1 << 20
    package static let defaultQuiet = Duration.milliseconds(250)

    /// `release` hands the free memory back (glibc's `malloc_trim`); `now` and `after` are the
    /// clock and the timer (tests drive both).
    package init(
        threshold: Int = defaultThreshold, quiet: Duration = defaultQuiet,
        release: @escaping @Sendable () -> Void = { _ = malloc_trim(0) },
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        after: (@Sendable (Duration, @escaping @Sendable () -> Void) -> Void)? = nil
    ) {
        self.threshold = threshold
        self.quiet = quiet
        self.release = release
        self.now = now
        let queue = DispatchQueue(label: "ledgerlink.store.heap-return", qos: .utility)
        self.after =
            after ?? { delay, body in
                let (seconds, attoseconds) = delay.components
                let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
                queue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds)), execute: body)
            }
    }

    /// Called once a sync has been answered: `received` bytes of body, `sent` of answer. An
    /// answer of `threshold` or more (a pull's page) is handed back at once; a sync as large
    /// in all, once the large syncs have stopped for `quiet`.
    package func answered(received: Int, sent: Int) {
        if sent >= threshold {
            after(.zero) { [self] in release() }
            return
        }
        // `sent` is below the threshold here: the difference cannot trap.
        guard received >= threshold - max(0, sent) else { return }
        let start = state.withLock { state in
            state.last = now()
            defer { state.waiting = true }
            return !state.waiting
        }
        if start { after(quiet) { [self] in check() } }
    }

    /// Releases when the last large sync is `quiet` old, else waits for the rest of it.
    private func check() {
        let rest = state.withLock { state -> Duration? in
            let since = state.last.map { now() - $0 } ?? quiet
            guard since < quiet else {
                state.waiting = false
                return nil
            }
            return quiet - since
        }
        if let rest {
            after(rest) { [self] in check() }
        } else {
            release()
        }
    }
}
