import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

/// A backend whose every call can be made to hang (ignoring cancellation, as a database
/// client waiting for a connection may) or to fail, around a real SQLite backend.
final class FaultyBackend: InterceptingBackend, @unchecked Sendable {
    enum Mode: Sendable { case works, hangs, fails }
    let mode = Locked(Mode.works)
    let calls = Locked(0)
    private let stuck = Locked<[CheckedContinuation<Void, Never>]>([])

    struct Refused: Error {}

    override func intercept(_ call: BackendCall) async throws {
        calls.withLock { $0 += 1 }
        switch mode.value {
        case .works: return
        case .fails: throw Refused()
        case .hangs:
            await withCheckedContinuation { continuation in stuck.withLock { $0.append(continuation) } }
        }
    }

    /// Lets every hung call go on.
    func release() {
        for continuation in stuck.withLock({ list in
            defer { list = [] }
            return list
        }) { continuation.resume() }
    }
}

@Suite("Database faults")
struct DatabaseFaultTests {
    func isUnavailable(_ error: any Error) -> Bool {
        (error as? StoreError)?.code == "database_unavailable" && (error as? StoreError)?.retryAfter != nil
    }

    @Test("the SQLite store's commits wait for the disk (synchronous=FULL) before a push is answered")
    func sqliteCommitsAreDurable() async throws {
        // GRDB's pool sets synchronous=NORMAL after the configuration's own set-up: a store
        // answered pushes as stored while a power cut could still take them, and devices
        // would then rightly report it for dropping entries it had signed for.
        let backend = try #require(try await BackendKind.sqlite.make() as? SQLiteBackend)
        #expect(try await backend.commitSyncLevel() == 2)
    }

    @Test("a call the database never answers ends at its deadline with 503; then calls fail at once until it answers")
    func hangingDatabase() async throws {
        let faulty = FaultyBackend(try await BackendKind.sqlite.make())
        let clock = ManualClock()
        let guarded = GuardedBackend(
            faulty, deadline: .seconds(5), quiet: .seconds(1), unreachable: { _ in "unreachable" }, clock: clock)
        try await guarded.ping()
        faulty.mode.set(.hangs)
        let call = Task { try await guarded.ping() }
        #expect(await eventually { clock.nextWake == .seconds(5) })
        clock.advance(by: .seconds(5))
        do {
            try await call.value
            Issue.record("a hung call returned")
        } catch {
            #expect(isUnavailable(error), "\(error)")
            #expect("\(error)".contains("did not answer a ping within 5 s"))
        }
        #expect(guarded.problem != nil)
        // The probe's first check (the third call: a ping that worked, the one that hung, the
        // probe's) hangs too, under its own deadline; when it starts depends on the machine.
        #expect(await eventually { faulty.calls.value == 3 && clock.nextWake == .seconds(5) })
        // While it is known to be down, calls fail without trying.
        let tried = faulty.calls.value
        for _ in 0..<3 {
            await #expect(throws: StoreError.self) { try await guarded.version(of: [1]) }
        }
        #expect(faulty.calls.value == tried)
        // A probe checks at once and every quiet time after; once it answers, calls go through.
        faulty.mode.set(.works)
        faulty.release()
        #expect(await eventually { guarded.problem == nil })
        try await guarded.ping()
    }

    @Test("a refused connection is 503 with its cause; an ordinary query error passes through as it was")
    func refusedDatabase() async throws {
        let faulty = FaultyBackend(try await BackendKind.sqlite.make())
        let guarded = GuardedBackend(
            faulty, unreachable: { $0 is FaultyBackend.Refused ? "connection refused" : nil }, clock: ManualClock())
        faulty.mode.set(.fails)
        do {
            try await guarded.ping()
            Issue.record("a refused call returned")
        } catch {
            #expect(isUnavailable(error))
            #expect("\(error)".contains("connection refused"))
        }
        let other = GuardedBackend(faulty, unreachable: { _ in nil }, clock: ManualClock())
        await #expect(throws: FaultyBackend.Refused.self) { try await other.ping() }
        #expect(other.problem == nil)
    }

    @Test("PostgreSQL stopped under a live store: 503 with Retry-After, nothing hangs; started again, devices converge")
    func postgresOutage() async throws {
        guard DedicatedPostgres.isAvailable else { return }
        let postgres = try await DedicatedPostgres.start()
        do {
            try await outage(postgres)
        } catch {
            await postgres.close()
            throw error
        }
        await postgres.close()
    }

    func outage(_ postgres: DedicatedPostgres) async throws {
        var built = try LedgerFixture(deviceCount: 1)
        try built.record(device: 0, .credit, amount: 10)
        let fixture = built
        let backend = GuardedBackend(try PostgresBackend(url: postgres.url, poolSize: 4), deadline: .seconds(10))
        try await backend.prepare()
        let store = try await TestStore(backend: backend, realTime: true)
        let app = store.application {
            $0.publicURL = nil
            TestStore.unlimited(&$0)
            // The test client keeps one connection across stopping and starting PostgreSQL,
            // which can take longer than the usual limits on a busy machine.
            TestStore.patientConnections(&$0)
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let engine = try await fixture.replica()
            try await engine.merge(fixture.allEntries)
            let device = StoreClient(url: url, engine: engine, keyPair: fixture.root)
            #expect(try await device.sync().converged)

            try await postgres.stop()
            // Every answer comes within the database deadline, whatever the database does.
            let health = try await withDeadline(.seconds(30), clock: ContinuousClock()) {
                try await client.execute(uri: "/healthz", method: .get)
            }
            #expect(health.status.code == 503)
            #expect(health.headers[.retryAfter] != nil)
            #expect(String(buffer: health.body).contains("\"database\""))
            #expect(try await client.execute(uri: "/livez", method: .get).status.code == 200)
            try await engine.appendRecord(.credit, amount: 5, memo: "during the outage")
            do {
                _ = try await withDeadline(.seconds(30), clock: ContinuousClock()) { try await device.sync() }
                Issue.record("a sync went through with the database stopped")
            } catch StoreClientError.refused(let status, let code, _, let retryAfter) {
                #expect(status == 503)
                #expect(code == "database_unavailable")
                #expect(retryAfter != nil)
            }

            try await postgres.start()
            #expect(
                await eventually(timeout: 60) {
                    try await client.execute(uri: "/healthz", method: .get).status.code == 200
                })
            #expect(try await device.sync().converged)
            #expect(try await backend.version(of: fixture.identity.bytes) == 3)
        }
    }
}
