import Foundation
import Logging
import Synchronization

/// A backend that can say, without its pool, whether the database can be reached now (nil)
/// or why not: a direct connection attempt names the cause a pool waiting for a connection
/// does not.
package protocol DiagnosableBackend: StoreBackend {
    func diagnose() async -> String?
}

/// Every database call with a deadline, and a fast answer while the database is down: a
/// request never waits on a database that does not answer, SIGTERM (which lets requests in
/// flight finish) always stops the server within seconds, and devices are told 503
/// `database_unavailable` with Retry-After, with the cause in the log.
///
/// A call that times out, or fails because the database cannot be reached, marks the database
/// down: from then on calls fail at once, without trying, while a probe checks the database
/// every `quiet` (a direct connection where the backend can make one, else a ping with the
/// deadline) and logs why it is down; the first probe that reaches it opens the way again.
package final class GuardedBackend: StoreBackend {
    let inner: any StoreBackend
    let deadline: Duration
    let quiet: Duration
    private let logger: Logger
    private let state = Mutex<State>(State())
    /// Why an error means the database cannot be reached (nil: an ordinary failure).
    private let unreachable: @Sendable (any Error) -> String?
    private let sleep: @Sendable (Duration) async throws -> Void

    struct State {
        /// Set while the database is down: why.
        var cause: String?
        var probing = false
    }

    package init<C: Clock>(
        _ inner: any StoreBackend, deadline: Duration = .seconds(5), quiet: Duration = .seconds(1),
        logger: Logger = Logger(label: "ledgerlink.store.database"),
        unreachable: @escaping @Sendable (any Error) -> String? = PostgresBackend.unreachable,
        clock: C = ContinuousClock()
    ) where C.Duration == Duration {
        self.inner = inner
        self.deadline = deadline
        self.quiet = quiet
        self.logger = logger
        self.unreachable = unreachable
        sleep = { try await clock.sleep(for: $0) }
    }

    /// Seconds a device is told to wait while the database is down.
    static let retryAfter = 2

    /// The database's state for /healthz: nil when it answers, else why not.
    package var problem: String? { state.withLock { $0.cause } }

    private func unavailable(_ cause: String) -> StoreError {
        StoreError(
            .databaseUnavailable, "the database is unavailable (\(cause)); retry shortly", retryAfter: Self.retryAfter)
    }

    private func call<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if let cause = problem { throw unavailable(cause) }
        do {
            return try await withHardDeadline(deadline, sleep: sleep, body)
        } catch let error as StoreError {
            throw error
        } catch {
            let cause: String
            if error is DeadlineExceeded {
                cause = "it did not answer \(what) within \(deadline.components.seconds) s"
            } else if let why = unreachable(error) {
                cause = why
            } else {
                throw error
            }
            markDown(cause)
            throw unavailable(cause)
        }
    }

    private func markDown(_ cause: String) {
        let startProbe = state.withLock { state -> Bool in
            if state.cause == nil { state.cause = cause }
            guard !state.probing else { return false }
            state.probing = true
            return true
        }
        guard startProbe else { return }
        logger.error("database unavailable: \(cause)")
        Task { [weak self] in await self?.probe() }
    }

    /// Checks the database at once (to name the cause), then every `quiet` until it answers.
    private func probe() async {
        var first = true
        while true {
            if !first { try? await sleep(quiet) }
            first = false
            let why: String?
            if let diagnosable = inner as? any DiagnosableBackend {
                do {
                    why = try await withHardDeadline(deadline, sleep: sleep) { await diagnosable.diagnose() }
                } catch {
                    why = "it did not answer a connection within \(deadline.components.seconds) s"
                }
            } else {
                do {
                    try await withHardDeadline(deadline, sleep: sleep) { try await self.inner.ping() }
                    why = nil
                } catch {
                    why = unreachable(error) ?? "\(error)"
                }
            }
            let (reported, changed) = state.withLock { state -> (String?, Bool) in
                let before = state.cause
                state.cause = why
                if why == nil { state.probing = false }
                return (before, before != why)
            }
            guard let why else {
                logger.notice("database available again (it was: \(reported ?? "unavailable"))")
                return
            }
            if changed { logger.error("database unavailable: \(why)") }
        }
    }

    /// Creating the schema at start may wait for the first connection and for another server
    /// starting at once: a minute, not a request's deadline.
    package func prepare() async throws {
        try await prepareSchema()
        // An older store's rows gain their author and seq a thousand at a time, each batch
        // under the schema's deadline: a large store takes as long as it takes, once.
        while try await fillPositions(limit: 1000) > 0 {}
    }

    package func prepareSchema() async throws {
        do {
            try await withHardDeadline(.seconds(60), sleep: sleep) { try await self.inner.prepareSchema() }
        } catch is DeadlineExceeded {
            throw unavailable("it did not answer within 60 s while the schema was prepared")
        }
    }

    package func fillPositions(limit: Int) async throws -> Int {
        do {
            return try await withHardDeadline(.seconds(60), sleep: sleep) {
                try await self.inner.fillPositions(limit: limit)
            }
        } catch is DeadlineExceeded {
            throw unavailable("it did not answer within 60 s while older rows were given their author and seq")
        }
    }
    package func version(of identity: [UInt8]) async throws -> Int64? {
        try await call("a version read") { try await self.inner.version(of: identity) }
    }
    package func head(of identity: [UInt8]) async throws -> StoredHead? {
        try await call("a version read") { try await self.inner.head(of: identity) }
    }
    package func rows(of identity: [UInt8], after n: Int64, limit: Int) async throws -> [StoredRow] {
        try await call("a read of entries") { try await self.inner.rows(of: identity, after: n, limit: limit) }
    }
    package func rows(of identity: [UInt8], author: [UInt8], seqs: ClosedRange<Int64>, limit: Int) async throws
        -> [StoredRow]
    {
        try await call("a read of entries") {
            try await self.inner.rows(of: identity, author: author, seqs: seqs, limit: limit)
        }
    }
    package func append(
        _ raws: [[UInt8]], to identity: [UInt8], expected: Int64?, recoveryKeys: [[UInt8]], summary: IdentitySummary?
    ) async throws -> Bool {
        try await call("an append") {
            try await self.inner.append(
                raws, to: identity, expected: expected, recoveryKeys: recoveryKeys, summary: summary)
        }
    }
    package func identities(recoveryKey: [UInt8]) async throws -> [[UInt8]] {
        try await call("a recovery lookup") { try await self.inner.identities(recoveryKey: recoveryKey) }
    }
    package func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws {
        try await call("a challenge write") { try await self.inner.saveChallenge(challenge, grant) }
    }
    package func takeChallenge(_ challenge: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        try await call("a challenge read") { try await self.inner.takeChallenge(challenge, identity: identity) }
    }
    package func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws {
        try await call("a token write") { try await self.inner.saveToken(hash: hash, grant) }
    }
    package func token(hash: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        try await call("a token read") { try await self.inner.token(hash: hash, identity: identity) }
    }
    package func openMailbox(_ id: [UInt8], identity: [UInt8], expires: Int64, now: Int64, maxOpen: Int) async throws
        -> Bool
    {
        try await call("a mailbox write") {
            try await self.inner.openMailbox(id, identity: identity, expires: expires, now: now, maxOpen: maxOpen)
        }
    }
    package func mailbox(_ id: [UInt8]) async throws -> MailboxRecord? {
        try await call("a mailbox read") { try await self.inner.mailbox(id) }
    }
    package func closeMailbox(_ id: [UInt8]) async throws {
        try await call("a mailbox write") { try await self.inner.closeMailbox(id) }
    }
    package func putMessage(_ id: [UInt8], side: Int, index: Int, body: [UInt8], limit: Int) async throws
        -> MailboxPut
    {
        try await call("a message write") {
            try await self.inner.putMessage(id, side: side, index: index, body: body, limit: limit)
        }
    }
    package func message(_ id: [UInt8], side: Int, index: Int) async throws -> [UInt8]? {
        try await call("a message read") { try await self.inner.message(id, side: side, index: index) }
    }
    package func purge(before now: Int64) async throws {
        try await call("a purge") { try await self.inner.purge(before: now) }
    }
    package func counts() async throws -> (identities: Int64, entries: Int64) {
        try await call("a count") { try await self.inner.counts() }
    }
    package func ping() async throws { try await call("a ping") { try await self.inner.ping() } }
    package func storeKeySeed(proposed: [UInt8]) async throws -> [UInt8] {
        try await call("a key read") { try await self.inner.storeKeySeed(proposed: proposed) }
    }
}

/// Runs `operation` and returns its result, or throws `DeadlineExceeded` once `limit` has
/// passed, without waiting for the operation to notice its cancellation (a database client
/// waiting for a connection may not). Whichever settles first cancels the other.
func withHardDeadline<T: Sendable>(
    _ limit: Duration, sleep: @escaping @Sendable (Duration) async throws -> Void,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = Once<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.attach(continuation)
            let work = Task {
                do {
                    outcome.finish(.success(try await operation()))
                } catch {
                    outcome.finish(.failure(error))
                }
            }
            let timer = Task {
                try await sleep(limit)
                outcome.finish(.failure(DeadlineExceeded(limit: limit)))
            }
            outcome.onSettle {
                work.cancel()
                timer.cancel()
            }
        }
    } onCancel: {
        outcome.finish(.failure(CancellationError()))
    }
}

/// A continuation resumed once, by whichever of the operation, the timer or a cancellation
/// comes first (a result that comes before the continuation is attached waits for it); then
/// `onSettle` runs once.
final class Once<T: Sendable>: Sendable {
    struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var resumed = false
        var settle: (@Sendable () -> Void)?
    }
    private let state = Mutex<State>(State())

    func attach(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            guard let result = state.result, !state.resumed else {
                state.continuation = continuation
                return nil
            }
            state.resumed = true
            return result
        }
        if let early { continuation.resume(with: early) }
    }

    /// Runs `body` once the outcome is settled (at once if it is).
    func onSettle(_ body: @escaping @Sendable () -> Void) {
        let settled = state.withLock { state -> Bool in
            if state.result != nil { return true }
            state.settle = body
            return false
        }
        if settled { body() }
    }

    /// Settles the outcome unless it was; true when this call did.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (settled, continuation, settle) = state.withLock {
            state -> (Bool, CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard state.result == nil else { return (false, nil, nil) }
            state.result = result
            let settle = state.settle
            state.settle = nil
            guard let continuation = state.continuation else { return (true, nil, settle) }
            state.resumed = true
            return (true, continuation, settle)
        }
        continuation?.resume(with: result)
        settle?()
        return settled
    }
}

/// The deadline's error (the same as the sync services'), for the backend's own callers.
package struct DeadlineExceeded: Error, Sendable, Equatable {
    package let limit: Duration
}
