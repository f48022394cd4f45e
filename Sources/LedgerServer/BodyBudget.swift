import Synchronization

/// The bytes of sync bodies a server handles at once, and the queue of those waiting for room.
///
/// Handling a push takes far more memory than its body: the body, its copy, the decoded entries
/// and the rows written took a server 45 MB above idle for a body of 3 MB. Without a bound, a
/// few clients pushing full bodies on many connections at once could take any amount (32
/// connections from one address, each with an 8 MiB body). A sync's body is read only once its
/// declared length fits beside the bodies being handled; requests wait in arrival order (a
/// large body is not passed over for ever by small ones), and one that waits longer than
/// `patience` is answered 503 `busy` with Retry-After, never held until its deadline. Polls
/// and small syncs take a few hundred bytes of it and pass at once.
package final class BodyBudget: Sendable {
    /// Bytes of bodies handled at once.
    package let capacity: Int
    /// How long a request waits for room before it is refused as busy.
    package let patience: Duration
    private let sleep: @Sendable (Duration) async throws -> Void

    private struct Waiter {
        let id: UInt64
        let bytes: Int
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var held = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    package static let defaultCapacity = 32 << 20
    package static let defaultPatience = Duration.seconds(5)

    /// `sleep` waits on the server's clock (tests drive it).
    package init(
        capacity: Int = defaultCapacity, patience: Duration = defaultPatience,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.capacity = max(1, capacity)
        self.patience = patience
        self.sleep = sleep
    }

    /// Bytes held by the requests admitted, and how many requests wait.
    package var usage: (held: Int, waiting: Int) { state.withLock { ($0.held, $0.waiters.count) } }

    /// Waits until a body of `declared` bytes fits, and returns the bytes to `release` once
    /// the request is handled (a body larger than the whole budget takes all of it).
    /// - Throws: `StoreError` `busy` after `patience`, or when the task is cancelled.
    package func admit(_ declared: Int) async throws -> Int {
        let bytes = min(max(declared, 0), capacity)
        let id = state.withLock { state -> UInt64? in
            if Self.take(bytes, &state, capacity: capacity) { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return bytes }
        let timer = Mutex<Task<Void, Never>?>(nil)
        defer { timer.withLock { $0?.cancel() } }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let admitted = state.withLock { state -> Bool in
                    if Self.take(bytes, &state, capacity: capacity) { return true }
                    state.waiters.append(Waiter(id: id, bytes: bytes, continuation: continuation))
                    return false
                }
                if admitted {
                    continuation.resume()
                    return
                }
                let (sleep, patience) = (self.sleep, self.patience)
                timer.withLock {
                    $0 = Task { [self] in
                        guard (try? await sleep(patience)) != nil, !Task.isCancelled else { return }
                        expire(id, Self.busy)
                    }
                }
            }
        } onCancel: {
            expire(id, Self.busy)
        }
        return bytes
    }

    /// Gives back what `admit` returned, and admits the requests waiting that now fit, in order.
    package func release(_ bytes: Int) {
        let woken = state.withLock { state in
            state.held = max(0, state.held - bytes)
            return Self.admitWaiting(&state, capacity: capacity)
        }
        for continuation in woken { continuation.resume() }
    }

    static let busy = StoreError(
        .busy, "the server is handling as many large syncs as it has memory for; try again", retryAfter: 1)

    /// Refuses waiter `id` if it still waits; the ones behind it may fit now.
    private func expire(_ id: UInt64, _ error: StoreError) {
        let (refused, woken) = state.withLock { state -> (Waiter?, [CheckedContinuation<Void, any Error>]) in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return (nil, []) }
            let waiter = state.waiters.remove(at: index)
            return (waiter, Self.admitWaiting(&state, capacity: capacity))
        }
        refused?.continuation.resume(throwing: error)
        for continuation in woken { continuation.resume() }
    }

    /// Takes `bytes` when nobody waits ahead and they fit beside what is held.
    private static func take(_ bytes: Int, _ state: inout State, capacity: Int) -> Bool {
        guard state.waiters.isEmpty, bytes <= capacity - state.held else { return false }
        state.held += bytes
        return true
    }

    private static func admitWaiting(_ state: inout State, capacity: Int) -> [CheckedContinuation<Void, any Error>] {
        var woken: [CheckedContinuation<Void, any Error>] = []
        while let first = state.waiters.first, first.bytes <= capacity - state.held {
            state.held += first.bytes
            woken.append(state.waiters.removeFirst().continuation)
        }
        return woken
    }
}
