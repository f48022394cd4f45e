import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import Synchronization

/// Every error the store answers with: its code on the wire and its HTTP status. The table
/// in docs/PROTOCOL.md, "Errors and limits", lists the same codes (a test checks they agree).
package enum StoreErrorCode: String, CaseIterable, Sendable {
    case badRequest = "bad_request"
    case badIdentity = "bad_identity"
    case badIndex = "bad_index"
    case noToken = "no_token"
    case unknownToken = "unknown_token"
    case expiredToken = "expired_token"
    case unknownChallenge = "unknown_challenge"
    case expiredChallenge = "expired_challenge"
    case wrongChallenge = "wrong_challenge"
    case badSignature = "bad_signature"
    case notAuthorised = "not_authorised"
    case unlinkedDevice = "unlinked_device"
    case revokedDevice = "revoked_device"
    case unknownIdentity = "unknown_identity"
    case pairingNotFound = "pairing_not_found"
    case pairingClosed = "pairing_closed"
    case pairingTaken = "pairing_taken"
    case missingEntries = "missing_entries"
    case tooLarge = "too_large"
    case tooManyEntries = "too_many_entries"
    case messageTooLarge = "message_too_large"
    case invalidEntry = "invalid_entry"
    case foreignEntry = "foreign_entry"
    case invalidGenesis = "invalid_genesis"
    case rateLimited = "rate_limited"
    case tooManyPairings = "too_many_pairings"
    case `internal` = "internal"
    case corruptStore = "corrupt_store"
    case busy = "busy"
    case databaseUnavailable = "database_unavailable"
    case badPostgresURL = "bad_postgres_url"

    /// The HTTP status it is answered with.
    package var status: Int {
        switch self {
        case .badRequest, .badIdentity, .badIndex, .badPostgresURL: 400
        case .noToken, .unknownToken, .expiredToken, .unknownChallenge, .expiredChallenge, .wrongChallenge,
            .badSignature:
            401
        case .notAuthorised, .unlinkedDevice, .revokedDevice: 403
        case .unknownIdentity, .pairingNotFound: 404
        case .pairingTaken, .missingEntries: 409
        case .pairingClosed: 410
        case .tooLarge, .tooManyEntries, .messageTooLarge: 413
        case .invalidEntry, .foreignEntry, .invalidGenesis: 422
        case .rateLimited, .tooManyPairings: 429
        case .internal, .corruptStore: 500
        case .busy, .databaseUnavailable: 503
        }
    }

    /// Codes that never reach the wire (a server's own start-up checks).
    package static let startUpOnly: Set<StoreErrorCode> = [.badPostgresURL]
}

/// A refusal with its HTTP status, a stable code and a sentence for people.
package struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    package let status: Int
    package let code: String
    package let message: String
    /// Seconds to wait, for 429.
    package var retryAfter: Int?

    package init(_ code: StoreErrorCode, _ message: String, retryAfter: Int? = nil) {
        self.init(status: code.status, code: code.rawValue, message: message, retryAfter: retryAfter)
    }

    /// An error named by Hummingbird (its own status, `http_NNN`), for what the router refuses
    /// before a handler runs.
    package init(status: Int, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    package var description: String { "\(status) \(code): \(message)" }

    static func badRequest(_ message: String) -> StoreError { StoreError(.badRequest, message) }
}

/// What the store does, apart from HTTP: challenges and tokens, and syncing an identity's
/// entries, which it validates (signatures, chains, authority) without being able to read them.
package final class StoreService: Sendable {
    let backend: any StoreBackend
    /// Unix seconds now (injectable for tests).
    let now: @Sendable () -> Int64
    /// Unix milliseconds now, for the time in signed heads.
    let nowMilliseconds: @Sendable () -> Int64
    private let ledgers: LedgerCache
    private let tokens = TokenCache()
    private let key = Mutex<SigningKeyPair?>(nil)

    /// Most entries in one sync answer (the protocol's limit; tests page smaller ledgers).
    let pageEntries: Int

    /// `cacheBytes` bounds the memory identities take (`serve --cache-mb`).
    package init(
        backend: any StoreBackend, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
        nowMilliseconds: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) },
        cacheBytes: Int = LedgerCache.defaultBudget, pageEntries: Int = StoreAPI.maxResponseEntries,
        rowsPerRead: Int = IdentityLedger.defaultRowsPerRead, maxEngines: Int = LedgerCache.defaultMaxEngines
    ) {
        self.pageEntries = min(max(1, pageEntries), StoreAPI.maxResponseEntries)
        self.backend = backend
        self.now = now
        self.nowMilliseconds = nowMilliseconds
        ledgers = LedgerCache(budget: cacheBytes, rowsPerRead: rowsPerRead, maxEngines: maxEngines)
    }

    /// What the identity cache holds (for metrics and tests): identities, engines, bytes.
    package func cacheState() async -> (identities: Int, engines: Int, bytes: Int) {
        let counts = await ledgers.counts
        return (counts.identities, counts.engines, await ledgers.bytes)
    }

    /// The store's signing key: made by the first server to start on this database, kept in
    /// it, and the same for every server on it.
    package func storeKey() async throws -> SigningKeyPair {
        if let key = key.withLock({ $0 }) { return key }
        let seed = try await backend.storeKeySeed(proposed: SecureRandom.bytes(SigningKeyPair.seedLength))
        let pair = try SigningKeyPair(seed: SecureBytes(seed))
        key.withLock { $0 = pair }
        return pair
    }

    // MARK: - Authentication

    package func challenge(identity: IdentityID, request: ChallengeRequest) async throws -> ChallengeResponse {
        let device = try Self.deviceKey(request.device)
        let challenge = SecureRandom.bytes(32)
        let expires = now() + StoreAPI.challengeLifetime
        try await backend.saveChallenge(
            challenge, AuthGrant(identity: identity.bytes, device: device.bytes, expires: expires))
        return ChallengeResponse(challenge: Data.base64(challenge), expires: expires)
    }

    /// Checks the signed challenge and that the device may act for the identity now.
    /// `origin` is this server as the device addressed it.
    /// A token for a device that signed a fresh challenge for one of `origins` (the addresses
    /// this server answers to; see `StoreServerConfiguration.publicURL`).
    package func token(identity: IdentityID, request: TokenRequest, origins: [String]) async throws -> TokenResponse {
        let device = try Self.deviceKey(request.device)
        guard let challenge = base64Bytes(request.challenge), challenge.count == 32,
            let signatureBytes = base64Bytes(request.signature), let signature = try? Signature(bytes: signatureBytes)
        else { throw StoreError.badRequest("challenge and signature must be base64 of 32 and 64 bytes") }
        // Single use: taken (deleted) whatever happens next.
        guard let grant = try await backend.takeChallenge(challenge, identity: identity.bytes) else {
            throw StoreError(
                .unknownChallenge, "the challenge is unknown or was already used; ask for a new one")
        }
        guard grant.expires >= now() else {
            throw StoreError(.expiredChallenge, "the challenge expired; ask for a new one")
        }
        guard grant.identity == identity.bytes, grant.device == device.bytes else {
            throw StoreError(.wrongChallenge, "the challenge was issued for another identity or device")
        }
        let signedForHere = origins.contains { origin in
            device.isValidSignature(
                signature,
                for: StoreAPI.authTranscript(
                    origin: origin, identity: identity, device: device, challenge: challenge, expires: grant.expires))
        }
        guard signedForHere else {
            throw StoreError(
                .badSignature, "the signature does not verify (wrong key, or another server's name)")
        }
        let ledger = await ledgers.ledger(identity, backend: backend)
        if try await !ledger.exists() {
            guard let genesis = request.genesis.flatMap(base64Bytes) else {
                throw StoreError(
                    .unknownIdentity, "this store does not hold the identity yet; its genesis device must sync first")
            }
            try await ledger.introduce(genesis: genesis, by: device)
        }
        guard try await ledger.authorises(device) else {
            throw StoreError(.notAuthorised, "device \(device.fingerprint) is not a linked, unrevoked device")
        }
        let token = SecureRandom.bytes(32)
        let expires = now() + StoreAPI.tokenLifetime
        try await backend.saveToken(
            hash: Blake2b.hash(token).bytes, AuthGrant(identity: identity.bytes, device: device.bytes, expires: expires)
        )
        return TokenResponse(token: Data.base64(token), expires: expires)
    }

    /// The device a bearer token stands for, if it is valid for `identity` now.
    package func authenticate(bearer: String?, identity: IdentityID) async throws -> DevicePublicKey {
        guard let bearer, let token = base64Bytes(bearer), token.count == 32 else {
            throw StoreError(.noToken, "send Authorization: Bearer TOKEN (from /token)")
        }
        let hash = Blake2b.hash(token).bytes
        // Looked up by its hash and this identity (every statement names the identity, so
        // the tables can be sharded on it): a token of another identity is unknown here.
        let known = tokens.grant(hash).flatMap { $0.identity == identity.bytes ? $0 : nil }
        var stored: AuthGrant?
        if known == nil { stored = try await backend.token(hash: hash, identity: identity.bytes) }
        guard let grant = known ?? stored else {
            throw StoreError(.unknownToken, "the token is unknown for this identity; authenticate again")
        }
        if known == nil { tokens.remember(hash, grant) }
        guard grant.expires >= now() else {
            throw StoreError(.expiredToken, "the token expired; authenticate again")
        }
        let device = try DevicePublicKey(bytes: grant.device)
        // Revoked since the token was issued: refused from now on.
        guard try await ledgers.ledger(identity, backend: backend).authorises(device) else {
            throw StoreError(.notAuthorised, "device \(device.fingerprint) is no longer authorised")
        }
        return device
    }

    // MARK: - Sync

    /// A sync whose entries travel as base64 inside JSON (the first form of the protocol).
    package func sync(identity: IdentityID, request: SyncRequest) async throws -> SyncResponse {
        let raws = try (request.entries ?? []).map { text in
            guard let bytes = base64Bytes(text) else { throw StoreError.badRequest("entries must be base64") }
            return bytes
        }
        guard raws.count <= StoreAPI.maxRequestEntries else {
            throw StoreError(.tooManyEntries, "at most \(StoreAPI.maxRequestEntries) entries per request")
        }
        let entries: [Entry]
        do {
            entries = try raws.map { try Entry(decoding: $0) }
        } catch {
            throw StoreError(.invalidEntry, "an entry does not parse: \(error)")
        }
        var (response, answer) = try await sync(identity: identity, request: request, entries: entries, runs: false)
        let out = try await answer.heldInParts(&response)
        if request.clock != nil { response.entries = out.entries.map { Data.base64($0.encoded) } }
        return response
    }

    /// A sync in the binary form: `body` is a `SyncBody`, and so is the answer (the control
    /// object, then the runs in parts as the rows were read).
    package func sync(identity: IdentityID, binary body: [UInt8]) async throws -> (
        response: SyncResponse, sent: Int, prefix: [UInt8], runs: [[UInt8]]
    ) {
        let (fields, answer) = try await answer(identity: identity, binary: body)
        return try await Self.binary(fields, answer)
    }

    /// An answer in the binary form: its entries read (held in parts as they are read), then
    /// its control object, and the entries sent.
    static func binary(_ fields: SyncResponse, _ answer: AnswerEntries) async throws -> (
        response: SyncResponse, sent: Int, prefix: [UInt8], runs: [[UInt8]]
    ) {
        var response = fields
        var out = try await answer.heldInParts(&response)
        return (
            response, out.count, try SyncBody.prefix(response), out.finishedRunParts() ?? [SyncBody.runs(out.entries)]
        )
    }

    /// A sync in the binary form, merged: the answer's fields, and its entries, which may be
    /// rows still to read (the caller sends them in the form the device asked for; `more` and
    /// the sizes are written as they are read).
    func answer(identity: IdentityID, binary body: [UInt8]) async throws -> (SyncResponse, AnswerEntries) {
        let request: SyncRequest
        let entries: [Entry]
        do {
            (request, entries) = try SyncBody.decode(body, as: SyncRequest.self, maxEntries: StoreAPI.maxRequestEntries)
        } catch  where error.tooMany {
            throw StoreError(.tooManyEntries, "at most \(StoreAPI.maxRequestEntries) entries per request")
        } catch {
            throw StoreError.badRequest("the sync body is malformed: \(error)")
        }
        guard request.entries == nil else {
            throw StoreError.badRequest("a binary sync body carries its entries as runs, not in its control object")
        }
        return try await sync(identity: identity, request: request, entries: entries, runs: true)
    }

    /// Merges `entries` and answers with what the device lacks: the answer's fields, and its
    /// entries, which may be rows still to read (`AnswerEntries.fill`).
    func sync(identity: IdentityID, request: SyncRequest, entries: [Entry], runs: Bool) async throws -> (
        SyncResponse, AnswerEntries
    ) {
        let ledger = await ledgers.ledger(identity, backend: backend)
        if request.clock == nil, entries.isEmpty {
            guard request.digest != nil else { throw StoreError.badRequest("send a digest, or a clock") }
            let (digest, version) = try await ledger.head()
            var response = SyncResponse(digest: digest.hex)
            response.head = StoreHeadWire(
                await ledger.signedHead(try await storeKey(), version: version, digest: digest, time: nowMilliseconds())
            )
            return (response, .filled(DeltaBatcher.Batch(writingRuns: runs)))
        }
        guard let clockBytes = request.clock.flatMap(base64Bytes) else {
            throw StoreError.badRequest("clock must be base64 of a clock encoding")
        }
        let clock: VectorClock
        do {
            clock = try VectorClock(decoding: clockBytes)
        } catch {
            throw StoreError.badRequest("the clock is not valid: \(error.reason)")
        }
        var (response, out, version) = try await ledger.sync(
            pushed: entries, clock: clock, page: AnswerShape(entries: pageEntries, runs: runs))
        guard let digest = Hex.decode(response.digest).flatMap({ try? Digest32(bytes: $0) }) else {
            throw StoreError(.internal, "the store's digest is malformed")
        }
        response.head = StoreHeadWire(
            await ledger.signedHead(try await storeKey(), version: version, digest: digest, time: nowMilliseconds()))
        return (response, out)
    }

    /// Proves the store holds the entries asked for (docs/PROTOCOL.md, "Proof of possession").
    package func prove(identity: IdentityID, request: ProveRequest) async throws -> ProveResponse {
        guard let nonce = base64Bytes(request.nonce), nonce.count == 32 else {
            throw StoreError.badRequest("nonce must be base64 of 32 bytes")
        }
        guard request.entries.count <= ProveRequest.maxEntries else {
            throw StoreError(.tooManyEntries, "at most \(ProveRequest.maxEntries) entries per proof")
        }
        let items = try request.entries.map { item in (try Self.deviceKey(item.device), item.seq) }
        let ledger = await ledgers.ledger(identity, backend: backend)
        let held = try await ledger.entries(items)
        return ProveResponse(
            proofs: held.map { $0.map { StoreAPI.possessionProof(nonce: nonce, entry: $0.encoded).hex } })
    }

    /// The identities that linked `request.key` as a recovery key, each with its genesis entry.
    package func lookUpRecovery(_ request: RecoveryLookupRequest) async throws -> RecoveryLookupResponse {
        let key = try Self.deviceKey(request.key)
        var found: [RecoveryIdentity] = []
        for identity in try await backend.identities(recoveryKey: key.bytes).prefix(
            RecoveryLookupResponse.maxIdentities)
        {
            guard let genesis = try await backend.rows(of: identity, after: 0, limit: 1).first else { continue }
            found.append(
                RecoveryIdentity(identity: Hex.encode(identity), genesis: Data(genesis.raw).base64EncodedString()))
        }
        guard !found.isEmpty else {
            throw StoreError(.unknownIdentity, "this store holds no identity with that recovery key")
        }
        return RecoveryLookupResponse(identities: found)
    }

    // MARK: - Pairing mailbox

    /// Opens the mailbox a pairing code names, for a device of `identity` (already authenticated).
    package func openMailbox(identity: IdentityID, request: MailboxOpenRequest) async throws -> MailboxOpenResponse {
        let id = try Self.mailboxID(request.mailbox)
        guard (1...PairingAPI.maxLifetime).contains(request.expiresIn) else {
            throw StoreError.badRequest("expiresIn must be between 1 and \(PairingAPI.maxLifetime) seconds")
        }
        let expires = now() + Int64(request.expiresIn)
        if let existing = try await backend.mailbox(id), existing.identity != identity.bytes {
            throw StoreError(.pairingTaken, "that mailbox belongs to another identity")
        }
        guard
            try await backend.openMailbox(
                id, identity: identity.bytes, expires: expires, now: now(), maxOpen: PairingAPI.maxOpenPerIdentity)
        else {
            throw StoreError(
                .tooManyPairings,
                "this identity already has \(PairingAPI.maxOpenPerIdentity) pairing windows open; close one first",
                retryAfter: 60)
        }
        return MailboxOpenResponse(expires: expires)
    }

    /// Closes a mailbox of `identity`; its messages can no longer be sent or read.
    package func closeMailbox(identity: IdentityID, request: MailboxCloseRequest) async throws {
        let id = try Self.mailboxID(request.mailbox)
        guard let record = try await backend.mailbox(id), record.identity == identity.bytes else {
            throw Self.noMailbox
        }
        try await backend.closeMailbox(id)
    }

    /// Leaves a message. The inviter side needs a token of the mailbox's identity.
    package func send(mailbox: String, request: MailboxSendRequest, bearer: String?) async throws {
        let id = try Self.mailboxID(mailbox)
        let record = try await openRecord(id)
        if request.side == .inviter {
            _ = try await authenticate(bearer: bearer, identity: try IdentityID(bytes: record.identity))
        }
        guard let body = base64Bytes(request.message) else { throw StoreError.badRequest("message must be base64") }
        guard body.count <= PairingAPI.maxMessage else {
            throw StoreError(.messageTooLarge, "a pairing message holds at most \(PairingAPI.maxMessage) bytes")
        }
        guard request.index >= 0 else { throw StoreError.badRequest("index must not be negative") }
        switch try await backend.putMessage(
            id, side: request.side.number, index: request.index, body: body,
            limit: PairingAPI.maxMessagesPerSide)
        {
        case .stored, .duplicate: return
        case .conflict:
            throw StoreError(
                .pairingTaken, "another device already used this pairing code; open a new pairing window")
        case .outOfOrder:
            throw StoreError(
                .badIndex,
                "messages are numbered from 0 without gaps, at most \(PairingAPI.maxMessagesPerSide) per side")
        }
    }

    /// Message `index` of a side, waiting up to `wait` seconds for it.
    package func receive(mailbox: String, request: MailboxReceiveRequest) async throws -> MailboxReceiveResponse {
        let id = try Self.mailboxID(mailbox)
        let deadline = ContinuousClock.now + .seconds(min(max(request.wait, 0), PairingAPI.maxWait))
        let side = request.side.number
        while true {
            // Messages already left stay readable after the window closes, so the last word of
            // a finished pairing still reaches the other side.
            if let body = try await backend.message(id, side: side, index: request.index) {
                return MailboxReceiveResponse(message: Data.base64(body))
            }
            _ = try await openRecord(id)
            guard ContinuousClock.now < deadline else { return MailboxReceiveResponse(message: nil) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func openRecord(_ id: [UInt8]) async throws -> MailboxRecord {
        guard let record = try await backend.mailbox(id) else { throw Self.noMailbox }
        guard !record.closed, record.expires >= now() else {
            throw StoreError(.pairingClosed, "the pairing window closed or expired; open a new one")
        }
        return record
    }

    static let noMailbox = StoreError(
        .pairingNotFound,
        "no pairing window at this store matches the code (check its words; the window may have closed)")

    static func mailboxID(_ hex: String) throws -> [UInt8] {
        guard let bytes = Hex.decode(hex), bytes.count == PairingAPI.mailboxLength else {
            throw StoreError.badRequest("the mailbox must be \(PairingAPI.mailboxLength) bytes of hex")
        }
        return bytes
    }

    /// Drops challenges and tokens that expired.
    package func purgeExpired() async throws { try await backend.purge(before: now()) }

    static func deviceKey(_ hex: String) throws -> DevicePublicKey {
        guard let bytes = Hex.decode(hex), let key = try? DevicePublicKey(bytes: bytes) else {
            throw StoreError.badRequest("device must be a 32-byte key in hex")
        }
        return key
    }
}

/// Tokens already looked up (a token never changes; expiry and revocation are checked on
/// every use), so a poll costs no database read for it.
final class TokenCache: Sendable {
    private let grants = Mutex<[[UInt8]: AuthGrant]>([:])

    func grant(_ hash: [UInt8]) -> AuthGrant? { grants.withLock { $0[hash] } }

    func remember(_ hash: [UInt8], _ grant: AuthGrant) {
        grants.withLock { grants in
            if grants.count >= 100_000 { grants.removeAll(keepingCapacity: true) }
            grants[hash] = grant
        }
    }
}

/// One ledger per identity, in memory within a budget (`serve --cache-mb`): past it, the
/// engines of the identities used least recently are dropped (their roster, digest and last
/// head stay, so their polls still need no database beyond the version read), then those
/// identities are forgotten altogether. A dropped identity is read again from the database on
/// its next push or pull.
package actor LedgerCache {
    private struct Held {
        let ledger: IdentityLedger
        var lastUse: UInt64
    }
    private var ledgers: [IdentityID: Held] = [:]
    private var tick: UInt64 = 0
    /// Bytes the cache may hold (engines, and this much per identity besides).
    let budget: Int
    static let shellBytes = 8 << 10

    /// Rows an identity's replica reads from the database at a time.
    let rowsPerRead: Int

    init(
        budget: Int = LedgerCache.defaultBudget, rowsPerRead: Int = IdentityLedger.defaultRowsPerRead,
        maxEngines: Int = LedgerCache.defaultMaxEngines
    ) {
        self.budget = max(1 << 20, budget)
        self.rowsPerRead = rowsPerRead
        self.maxEngines = max(1, maxEngines)
    }

    /// 64 MiB: 8,192 identities' states (counted at 8 KiB, about 1 KiB real) or 28 replicas.
    /// With 100,000 identities a server stayed 92 MiB above its empty self with it, and 116 MiB
    /// with 256 (docs/BENCHMARKS.md): the store-scale target is 100 MB at any number served.
    package static let defaultBudget = 64 << 20

    /// The engines' bytes, summed as they change.
    private let engines = Tally()

    /// What the cache holds now, by its own accounting.
    var bytes: Int { engines.value + ledgers.count * Self.shellBytes }

    /// Identities held, and how many of them with an engine.
    var counts: (identities: Int, engines: Int) {
        (ledgers.count, ledgers.values.filter { $0.ledger.footprint.value > 0 }.count)
    }

    func ledger(_ identity: IdentityID, backend: any StoreBackend) -> IdentityLedger {
        tick += 1
        if var held = ledgers[identity] {
            held.lastUse = tick
            ledgers[identity] = held
            checkBudget(sparing: identity)
            return held.ledger
        }
        let ledger = IdentityLedger(
            identity: identity, backend: backend, footprint: Footprint(total: engines), rowsPerRead: rowsPerRead)
        ledgers[identity] = Held(ledger: ledger, lastUse: tick)
        checkBudget(sparing: identity)
        return ledger
    }

    /// Past the budget (checked on every request: the total is kept as footprints change),
    /// least recently used engines are dropped, then identities forgotten, down to 90% of it.
    /// Engines are also kept to `maxEngines` (each holds a temporary file open). `spared` (the
    /// identity being served) is never chosen.
    private func checkBudget(sparing spared: IdentityID) {
        // Engines whose drop is under way count as gone already.
        let droppingBytes = dropping.reduce(0) { $0 + (ledgers[$1]?.ledger.footprint.value ?? 0) }
        var total = bytes - droppingBytes
        // Every engine counts the same (`IdentityLedger.engineBytes`).
        var engineCount = (engines.value - droppingBytes) / IdentityLedger.engineBytes
        guard total > budget || engineCount > maxEngines else { return }
        let goal = budget / 10 * 9
        let engineGoal = maxEngines - (maxEngines + 9) / 10
        let oldest = ledgers.filter { $0.key != spared }.sorted { $0.value.lastUse < $1.value.lastUse }
        for (identity, held) in oldest where (total > goal || engineCount > engineGoal) && !dropping.contains(identity)
        {
            let engine = held.ledger.footprint.value
            if engine > 0 {
                total -= engine
                engineCount -= 1
                dropping.insert(identity)
                let ledger = held.ledger
                Task {
                    await ledger.dropEngine()
                    self.dropped(identity)
                }
            }
        }
        for (identity, _) in oldest where total > goal && !dropping.contains(identity) {
            // Forgetting an identity costs its next poll a rebuild: only past the engines.
            ledgers[identity] = nil
            total -= Self.shellBytes
        }
    }

    /// Engines kept at most, whatever the budget.
    let maxEngines: Int
    package static let defaultMaxEngines = 256

    /// Identities whose engine is being dropped.
    private var dropping: Set<IdentityID> = []

    private func dropped(_ identity: IdentityID) { dropping.remove(identity) }
}
