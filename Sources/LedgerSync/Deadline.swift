/// Why an operation was cut off: it did not finish within its total time.
package struct DeadlineExceeded: Error, Sendable, Equatable {
    package let limit: Duration
    package init(limit: Duration) { self.limit = limit }
}

/// Runs `operation` and returns its result, or cancels it and throws `DeadlineExceeded` once
/// `limit` has passed on `clock`, whichever comes first. The operation must honour
/// cancellation (network I/O in swift-nio and AsyncHTTPClient does).
package func withDeadline<T: Sendable>(
    _ limit: Duration, clock: any Clock<Duration>, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await clock.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        // The first child to finish decides: a result, an error, or the timer (nil).
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(limit: limit)
        }
        return value
    }
}

/// Time elapsed on an injected clock since the stopwatch was made.
package struct Stopwatch: Sendable {
    private let read: @Sendable () -> Duration

    package init<C: Clock<Duration>>(_ clock: C) {
        let start = clock.now
        read = { start.duration(to: clock.now) }
    }

    package var elapsed: Duration { read() }
}
