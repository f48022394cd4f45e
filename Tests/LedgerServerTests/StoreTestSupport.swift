import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Logging
import NIOCore
import Testing

/// Seconds since 1970 that a test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64 = 1_800_000_000

    var now: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func advance(_ seconds: Int64) {
        lock.lock()
        value += seconds
        lock.unlock()
    }
}

/// The databases a store can keep its data in; store tests run against each.
enum BackendKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres
    /// PostgreSQL through PgBouncer in transaction mode, which discards a session's state after
    /// every transaction (`PgBouncerTestServer`): the statements the backend prepares are lost
    /// at once, so these runs take the unprepared path after its first read.
    case pooledPostgres

    var testDescription: String { rawValue }

    /// Every kind this machine can run: PostgreSQL when its binaries are installed, and behind
    /// PgBouncer when that is too (CI installs both; `scripts/setup.sh` does too).
    static var testable: [BackendKind] {
        allCases.filter {
            switch $0 {
            case .sqlite: true
            case .postgres: PostgresTestServer.isAvailable
            case .pooledPostgres: PgBouncerTestServer.isAvailable
            }
        }
    }

    /// A fresh, empty database of this kind.
    func make() async throws -> any StoreBackend {
        let backend: any StoreBackend
        switch self {
        case .sqlite:
            let folder = TestFolder.url("ll-store")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            backend = try SQLiteBackend(path: folder.appendingPathComponent("store.sqlite").path)
        case .postgres:
            backend = try PostgresBackend(url: try await PostgresTestServer.shared.freshDatabase())
        case .pooledPostgres:
            backend = try PostgresBackend(url: try await PgBouncerTestServer.shared.freshDatabase())
        }
        try await backend.prepare()
        return backend
    }
}

extension LedgerFixture {
    /// Device 0's `records` credits, then device 1 signing two different entries at its seq 2:
    /// the fixture (holding the one it kept) and every entry, the rival last.
    static func forked(after records: Int) throws -> (LedgerFixture, [Entry]) {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<records { try fixture.record(device: 0, .credit, amount: Int64(i + 1)) }
        var rival = fixture
        let rivalEntry = try rival.record(device: 1, .credit, amount: 99, memo: "rival")
        try fixture.record(device: 1, .credit, amount: 98, memo: "main")
        return (fixture, fixture.allEntries + [rivalEntry])
    }
}

/// A store on a fresh database.
struct TestStore {
    let backend: any StoreBackend
    let service: StoreService
    let clock: TestClock

    init(_ kind: BackendKind = .sqlite, clock: TestClock = TestClock(), realTime: Bool = false) async throws {
        try await self.init(backend: try await kind.make(), clock: clock, realTime: realTime)
    }

    /// Another server on the same database.
    init(
        backend: any StoreBackend, clock: TestClock = TestClock(), realTime: Bool = false,
        cacheBytes: Int = LedgerCache.defaultBudget, pageEntries: Int = StoreAPI.maxResponseEntries,
        rowsPerRead: Int = 20_000, maxEngines: Int = LedgerCache.defaultMaxEngines
    ) async throws {
        self.backend = backend
        self.clock = clock
        service =
            realTime
            ? StoreService(
                backend: backend, cacheBytes: cacheBytes, pageEntries: pageEntries, rowsPerRead: rowsPerRead,
                maxEngines: maxEngines)
            : StoreService(
                backend: backend, now: { clock.now }, cacheBytes: cacheBytes, pageEntries: pageEntries,
                rowsPerRead: rowsPerRead, maxEngines: maxEngines)
    }

    func application(
        heap: HeapReturn = HeapReturn(), bodies: BodyBudget? = nil,
        configure: (inout StoreServerConfiguration) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var configuration = StoreServerConfiguration()
        configuration.port = 0
        configuration.publicURL = URL(string: "http://store.test")
        configure(&configuration)
        // The server's own log lines (start, stop) are noise in test output.
        var logger = Logger(label: "ledgerlink.store.test")
        logger.logLevel = .critical
        return StoreServer.application(
            service: service, configuration: configuration, logger: logger, heap: heap, bodies: bodies)
    }

    /// No rate limits: for tests about consistency under load, not about limits.
    /// For a test whose HummingbirdTesting client opens its one connection at the start and
    /// may first use it much later (a busy machine): the server must not close it as idle or
    /// as a slow request head meanwhile.
    static func patientConnections(_ configuration: inout StoreServerConfiguration) {
        configuration.idleTimeout = .seconds(600)
        configuration.headerTimeout = .seconds(600)
    }

    static func unlimited(_ configuration: inout StoreServerConfiguration) {
        let unlimited = RateLimit(perSecond: 10_000, burst: 10_000)
        configuration.identityRate = unlimited
        configuration.addressRate = unlimited
    }

    /// Runs `body` with a real-time server on loopback that answers to whatever address it is
    /// reached at, given that address.
    static func live(
        configure: (inout StoreServerConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (URL) async throws -> Void
    ) async throws {
        let store = try await TestStore(realTime: true)
        let app = store.application {
            $0.publicURL = nil
            configure(&$0)
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body(try #require(URL(string: "http://127.0.0.1:\(port)")))
        }
    }
}

/// A response as JSON.
struct Answer {
    let status: Int
    let headers: HTTPFields
    let body: [String: Any]
    let bytes: Int

    subscript(key: String) -> Any? { body[key] }
    var error: String? { body["error"] as? String }
}

extension TestClientProtocol {
    func post(_ path: String, _ json: [String: Any], token: String? = nil) async throws -> Answer {
        try await post(path, raw: try JSONSerialization.data(withJSONObject: json), token: token)
    }

    func post(_ path: String, raw: Data, token: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await executeRequest(
            uri: path, method: .post, headers: headers, body: ByteBuffer(bytes: raw))
        let data = Data(response.body.readableBytesView)
        let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return Answer(status: Int(response.status.code), headers: response.headers, body: body, bytes: data.count)
    }

    /// Challenge, signature, token: the device's token, or the refusal.
    func authenticate(
        _ identity: IdentityID, _ keyPair: SigningKeyPair, origin: String = "http://store.test", genesis: Entry? = nil
    ) async throws -> Answer {
        let path = "/v1/identities/\(identity.hex)"
        let challenge = try await post("\(path)/challenge", ["device": keyPair.publicKey.hex])
        guard challenge.status == 200, let text = challenge["challenge"] as? String,
            let expires = challenge["expires"] as? Int64, let bytes = base64Bytes(text)
        else { return challenge }
        let transcript = StoreAPI.authTranscript(
            origin: origin, identity: identity, device: keyPair.publicKey, challenge: bytes, expires: expires)
        var body: [String: Any] = [
            "device": keyPair.publicKey.hex, "challenge": text,
            "signature": Data.base64(keyPair.sign(transcript).bytes),
        ]
        if let genesis { body["genesis"] = Data.base64(genesis.encoded) }
        return try await post("\(path)/token", body)
    }

    /// A token for `keyPair`, introducing the identity with `genesis` when given.
    func token(_ identity: IdentityID, _ keyPair: SigningKeyPair, genesis: Entry? = nil) async throws -> String {
        let answer = try await authenticate(identity, keyPair, genesis: genesis)
        guard let token = answer["token"] as? String else {
            throw StoreClientError.transport("no token: \(answer.status) \(answer.body)")
        }
        return token
    }

    /// Pushes `entries` with `clock` (default empty).
    func push(_ identity: IdentityID, token: String, _ entries: [Entry], clock: VectorClock = .empty) async throws
        -> Answer
    {
        try await post(
            "/v1/identities/\(identity.hex)/sync",
            [
                "clock": Data.base64(VectorClock.encode(clock.entries)),
                "entries": entries.map { Data.base64($0.encoded) },
            ], token: token)
    }
}

/// The calls a test may intercept on their way to a real backend.
enum BackendCall: Sendable { case version, head, rows, append, ping }

/// A real backend behind a hook that sees the calls that reach an identity's entries or the
/// database's health (`BackendCall`) before they are made; the rest pass straight through.
/// Tests subclass it to make calls hang or fail, or to count them.
class InterceptingBackend: StoreBackend, @unchecked Sendable {
    let inner: any StoreBackend

    init(_ inner: any StoreBackend) { self.inner = inner }

    /// Runs before each intercepted call; throwing fails the call.
    func intercept(_ call: BackendCall) async throws {}
    /// Runs before each read of rows in stored order (after `intercept(.rows)`), given where
    /// it reads from.
    func interceptScan(after n: Int64) async throws {}

    func prepare() async throws { try await inner.prepare() }
    func prepareSchema() async throws { try await inner.prepareSchema() }
    func fillPositions(limit: Int) async throws -> Int { try await inner.fillPositions(limit: limit) }
    func version(of identity: [UInt8]) async throws -> Int64? {
        try await intercept(.version)
        return try await inner.version(of: identity)
    }
    func head(of identity: [UInt8]) async throws -> StoredHead? {
        try await intercept(.head)
        return try await inner.head(of: identity)
    }
    func rows(of identity: [UInt8], after n: Int64, limit: Int) async throws -> [StoredRow] {
        try await intercept(.rows)
        try await interceptScan(after: n)
        return try await inner.rows(of: identity, after: n, limit: limit)
    }
    func rows(of identity: [UInt8], author: [UInt8], seqs: ClosedRange<Int64>, limit: Int) async throws
        -> [StoredRow]
    {
        try await intercept(.rows)
        return try await inner.rows(of: identity, author: author, seqs: seqs, limit: limit)
    }
    func append(
        _ raws: [[UInt8]], to identity: [UInt8], expected: Int64?, recoveryKeys: [[UInt8]], summary: IdentitySummary?
    ) async throws -> Bool {
        try await intercept(.append)
        return try await inner.append(
            raws, to: identity, expected: expected, recoveryKeys: recoveryKeys, summary: summary)
    }
    func identities(recoveryKey: [UInt8]) async throws -> [[UInt8]] {
        try await inner.identities(recoveryKey: recoveryKey)
    }
    func saveChallenge(_ challenge: [UInt8], _ grant: AuthGrant) async throws {
        try await inner.saveChallenge(challenge, grant)
    }
    func takeChallenge(_ challenge: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        try await inner.takeChallenge(challenge, identity: identity)
    }
    func saveToken(hash: [UInt8], _ grant: AuthGrant) async throws { try await inner.saveToken(hash: hash, grant) }
    func token(hash: [UInt8], identity: [UInt8]) async throws -> AuthGrant? {
        try await inner.token(hash: hash, identity: identity)
    }
    func openMailbox(_ id: [UInt8], identity: [UInt8], expires: Int64, now: Int64, maxOpen: Int) async throws -> Bool {
        try await inner.openMailbox(id, identity: identity, expires: expires, now: now, maxOpen: maxOpen)
    }
    func mailbox(_ id: [UInt8]) async throws -> MailboxRecord? { try await inner.mailbox(id) }
    func closeMailbox(_ id: [UInt8]) async throws { try await inner.closeMailbox(id) }
    func putMessage(_ id: [UInt8], side: Int, index: Int, body: [UInt8], limit: Int) async throws -> MailboxPut {
        try await inner.putMessage(id, side: side, index: index, body: body, limit: limit)
    }
    func message(_ id: [UInt8], side: Int, index: Int) async throws -> [UInt8]? {
        try await inner.message(id, side: side, index: index)
    }
    func purge(before now: Int64) async throws { try await inner.purge(before: now) }
    func counts() async throws -> (identities: Int64, entries: Int64) { try await inner.counts() }
    func ping() async throws {
        try await intercept(.ping)
        try await inner.ping()
    }
    func storeKeySeed(proposed: [UInt8]) async throws -> [UInt8] { try await inner.storeKeySeed(proposed: proposed) }
}
