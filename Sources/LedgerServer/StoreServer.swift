import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LedgerCore
import LedgerCrypto
import LedgerRemote
import Logging
import NIOCore
import Synchronization

/// How `ledgerlink serve` runs.
package struct StoreServerConfiguration: Sendable {
    package var host = "127.0.0.1"
    package var port = 8787
    /// The URL devices use to reach this server (behind a TLS proxy, its https:// address).
    /// Devices sign the address they reach when they log in, so a relay in between cannot use
    /// their login here. Without it the server answers only to loopback names on its own port
    /// (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`), never to
    /// whatever Host header a request carries.
    package var publicURL: URL?
    /// Open connections from one address; more are closed as they arrive.
    package var maxConnectionsPerAddress = 32
    /// Open connections beyond this wait to be accepted.
    package var maxConnections = 1_024
    /// A connection that sends nothing for this long is closed.
    package var idleTimeout: TimeAmount = .seconds(15)
    /// A request head (request line and headers) must arrive within this long of the connection
    /// opening or of the previous response, however steadily its bytes trickle in.
    package var headerTimeout: TimeAmount = .seconds(10)
    /// A request's body must arrive whole within this long of its head.
    package var bodyTimeout: TimeAmount = .seconds(30)
    /// Requests per second and burst, per client address and per identity.
    package var addressRate = RateLimit(perSecond: 50, burst: 100)
    package var identityRate = RateLimit(perSecond: 20, burst: 60)
    /// /healthz and /metrics, per address, apart from the API's limit: a busy client does not
    /// make the server look down, and probes cannot be used to flood it.
    package var probeRate = RateLimit(perSecond: 10, burst: 20)
    /// Proxies whose X-Forwarded-For is believed: limits key on the client's address behind
    /// them, and their own connections are not capped per address.
    package var trustedProxies = TrustedProxies()
    /// Bytes of sync bodies handled at once (`BodyBudget`): handling one takes about 15 times
    /// its size in memory, so this bounds what concurrent pushes can take.
    package var syncBodyBytes = BodyBudget.defaultCapacity

    /// True when `host` names this machine only (loopback), so no other machine can reach it.
    package static func isLoopback(_ host: String) -> Bool {
        ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) || host.hasPrefix("127.")
    }

    package init() {}
}

/// The store's HTTP server (Hummingbird): routes, limits, errors as JSON, metrics.
package enum StoreServer {
    /// Bytes of a sync answer's runs handed to the connection at a time.
    static let bodySlice = 64 * 1024

    /// The request context: the client's address, and the request body limit.
    package struct Context: RequestContext {
        package var coreContext: CoreRequestContextStorage
        package let remoteAddress: SocketAddress?
        /// The port this request arrived on.
        package let localPort: Int?
        /// The identity named in the path, once the route group's `Admission` admitted the request.
        package var identity: IdentityID?
        /// The pairing mailbox named in the path, once the route group's `Admission` admitted it.
        package var mailbox: String?

        package init(source: ApplicationRequestContextSource) {
            coreContext = .init(source: source)
            remoteAddress = source.channel.remoteAddress
            localPort = source.channel.localAddress?.port
        }

        package var maxUploadSize: Int { StoreAPI.maxRequestBody }
    }

    /// The application, ready for `runService()` (or HummingbirdTesting).
    package static func application(
        service: StoreService, configuration: StoreServerConfiguration, metrics: StoreMetrics = StoreMetrics(),
        logger: Logger = Logger(label: "ledgerlink.store"), heap: HeapReturn = HeapReturn(),
        bodies: BodyBudget? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: Context.self)
        let bodies = bodies ?? BodyBudget(capacity: configuration.syncBodyBytes)
        let addressLimiter = RateLimiter(configuration.addressRate)
        let identityLimiter = RateLimiter(configuration.identityRate)
        router.add(middleware: ErrorMiddleware(metrics: metrics, logger: logger))
        router.add(
            middleware: AddressLimitMiddleware(
                limiter: addressLimiter, probeLimiter: RateLimiter(configuration.probeRate),
                proxies: configuration.trustedProxies))

        // Liveness: the process answers. Readiness (/healthz): the database answers too.
        router.get("livez") { _, _ -> Response in json(200, #"{"status":"ok"}"#) }
        router.get("healthz") { _, _ -> Response in
            do {
                try await service.backend.ping()
                let key = try await service.storeKey().publicKey.hex
                return json(200, #"{"status":"ok","database":"ok","storeKey":"\#(key)"}"#)
            } catch let error as StoreError where error.code == StoreErrorCode.databaseUnavailable.rawValue {
                var response = json(
                    503, #"{"status":"unavailable","database":\#(JSONValue.string(error.message).text)}"#)
                response.headers[.retryAfter] = String(error.retryAfter ?? 2)
                return response
            } catch {
                throw StoreError(.databaseUnavailable, "the database does not answer", retryAfter: 2)
            }
        }
        let counts = CountsCache(backend: service.backend)
        router.get("metrics") { _, _ -> Response in
            let counts = await counts.value()
            let cache = await service.cacheState()
            var response = Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.render(counts: counts, cache: cache))))
            response.headers[.cacheControl] = "no-store"
            return response
        }
        // Every identity route: the identity in the path parsed and admitted at its rate.
        let identities = router.group("v1/identities/:identity")
            .add(middleware: Admission { $0.identity = try await admit($0, identityLimiter) })
        identities.post("challenge") { request, context -> Response in
            let identity = try context.admittedIdentity()
            let body = try await request.decode(as: ChallengeRequest.self, context: context)
            metrics.count("challenge")
            return try encode(try await service.challenge(identity: identity, request: body))
        }
        identities.post("token") { request, context -> Response in
            let identity = try context.admittedIdentity()
            let body = try await request.decode(as: TokenRequest.self, context: context)
            let origins: [String]
            if let publicURL = configuration.publicURL.flatMap(StoreAPI.origin(of:)) {
                origins = [publicURL.lowercased()]
            } else {
                let port = context.localPort.map { $0 == 80 ? "" : ":\($0)" } ?? ""
                origins = ["127.0.0.1", "localhost", "[::1]"].map { "http://\($0)\(port)" }
            }
            do {
                let token = try await service.token(identity: identity, request: body, origins: origins)
                metrics.count("token_issued")
                return try encode(token)
            } catch {
                metrics.count("token_refused")
                throw error
            }
        }
        // And those that need a valid token of that identity.
        let authorised = identities.group().add(middleware: TokenCheck(service: service))
        authorised.post("sync") { request, context -> Response in
            let identity = try context.admittedIdentity()
            // The body is read once its declared length fits beside the bodies being handled.
            let declared = request.headers[.contentLength].flatMap { Int($0) } ?? context.maxUploadSize
            let admitted = try await bodies.admit(min(declared, context.maxUploadSize))
            defer { bodies.release(admitted) }
            if request.headers[.contentType] == SyncBody.contentType {
                let bytes = try await request.body.collect(upTo: context.maxUploadSize)
                let received = bytes.readableBytes
                let (fields, answer) = try await service.answer(
                    identity: identity, binary: Array(bytes.readableBytesView))
                metrics.count(fields.clock == nil ? "poll" : "sync")
                metrics.count("entries_received", by: fields.accepted ?? 0)
                metrics.count("sync_bytes_received", by: received)
                if SyncBody.acceptsStream(request.headers[.accept]) {
                    return streamed(fields, answer, received: received, metrics: metrics, heap: heap)
                }
                let (_, sent, prefix, runs) = try await StoreService.binary(fields, answer)
                metrics.count("entries_sent", by: sent)
                // Written in slices, each part of the runs let go once it is handed to the
                // connection: a page is megabytes, a device asks for the next one while it merges
                // the last, and the connection holds what the device has not read yet.
                let length = runs.reduce(prefix.count) { $0 + $1.count }
                metrics.count("sync_bytes_sent", by: length)
                let parts = AnswerParts(runs)
                let body = ResponseBody(contentLength: length) { writer in
                    try await writer.write(ByteBuffer(bytes: prefix))
                    while let part = parts.next() {
                        for start in stride(from: 0, to: part.count, by: Self.bodySlice) {
                            try await writer.write(
                                ByteBuffer(bytes: part[start..<min(start + Self.bodySlice, part.count)]))
                        }
                    }
                    try await writer.finish(nil)
                    heap.answered(received: received, sent: length)
                }
                return Response(status: .ok, headers: [.contentType: SyncBody.contentType], body: body)
            }
            let bytes = try await request.body.collect(upTo: context.maxUploadSize)
            let body = try await Request(head: request.head, body: .init(buffer: bytes))
                .decode(as: SyncRequest.self, context: context)
            let response = try await service.sync(identity: identity, request: body)
            if body.clock == nil {
                metrics.count("poll")
            } else {
                metrics.count("sync")
                metrics.count("entries_received", by: response.accepted ?? 0)
                metrics.count("entries_sent", by: response.entries?.count ?? 0)
            }
            let encoded = try encode(response)
            metrics.count("sync_bytes_received", by: bytes.readableBytes)
            metrics.count("sync_bytes_sent", by: encoded.body.contentLength ?? 0)
            // The JSON form's answer is one buffer: what was decoded and merged is freed by now.
            heap.answered(received: bytes.readableBytes, sent: encoded.body.contentLength ?? 0)
            return encoded
        }
        authorised.post("prove") { request, context -> Response in
            let identity = try context.admittedIdentity()
            let body = try await request.decode(as: ProveRequest.self, context: context)
            metrics.count("prove")
            return try encode(try await service.prove(identity: identity, request: body))
        }
        authorised.post("pairing/open") { request, context -> Response in
            let identity = try context.admittedIdentity()
            let body = try await request.decode(as: MailboxOpenRequest.self, context: context)
            metrics.count("pairing_open")
            return try encode(try await service.openMailbox(identity: identity, request: body))
        }
        authorised.post("pairing/close") { request, context -> Response in
            let identity = try context.admittedIdentity()
            let body = try await request.decode(as: MailboxCloseRequest.self, context: context)
            try await service.closeMailbox(identity: identity, request: body)
            return try encode(EmptyResponse())
        }
        // The mailbox routes are limited per mailbox as the identity routes are per identity.
        router.post("v1/recovery/lookup") { request, context -> Response in
            let body = try await request.decode(as: RecoveryLookupRequest.self, context: context)
            metrics.count("recovery_lookup")
            return try encode(try await service.lookUpRecovery(body))
        }
        let mailboxes = router.group("v1/pairing/:mailbox")
            .add(middleware: Admission { $0.mailbox = try await admitMailbox($0, identityLimiter) })
        mailboxes.post("send") { request, context -> Response in
            let mailbox = try context.admittedMailbox()
            let body = try await request.decode(as: MailboxSendRequest.self, context: context)
            try await service.send(mailbox: mailbox, request: body, bearer: bearer(request))
            metrics.count("pairing_message")
            return try encode(EmptyResponse())
        }
        mailboxes.post("receive") { request, context -> Response in
            let mailbox = try context.admittedMailbox()
            let body = try await request.decode(as: MailboxReceiveRequest.self, context: context)
            return try encode(try await service.receive(mailbox: mailbox, request: body))
        }

        let (headerTimeout, bodyTimeout) = (configuration.headerTimeout, configuration.bodyTimeout)
        let connections = AddressConnectionLimit.Counts(
            limit: configuration.maxConnectionsPerAddress, exempt: configuration.trustedProxies)
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                AddressConnectionLimit(counts: connections),
                RequestReadTimeout(headTimeout: headerTimeout, bodyTimeout: bodyTimeout),
            ],
            idleTimeout: configuration.idleTimeout)
        return Application(
            router: router, server: .http1(configuration: http),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "ledgerlink",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections, logger: logger)),
            onServerRunning: onServerRunning, logger: logger)
    }

    /// The identity named in the path, once its rate allows another request.
    static func admit(_ context: Context, _ limiter: RateLimiter) async throws -> IdentityID {
        let text = try context.parameters.require("identity")
        guard let bytes = Hex.decode(text), let identity = try? IdentityID(bytes: bytes) else {
            throw StoreError(.badIdentity, "the identity in the path must be 32 bytes of hex")
        }
        if let wait = await limiter.take(text) {
            throw StoreError(.rateLimited, "too many requests for this identity; retry later", retryAfter: wait)
        }
        return identity
    }

    static func admitMailbox(_ context: Context, _ limiter: RateLimiter) async throws -> String {
        let text = try context.parameters.require("mailbox")
        if let wait = await limiter.take("mailbox:" + text) {
            throw StoreError(.rateLimited, "too many requests for this mailbox; retry later", retryAfter: wait)
        }
        return text
    }

    static func bearer(_ request: Request) -> String? {
        request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst(7)) : nil
        }
    }

    static func encode<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func json(_ status: Int, _ text: String) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Turns every error into a JSON body with a status, and counts responses.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = StoreServer.Context
    let metrics: StoreMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let route = request.uri.path.split(separator: "/").last.map(String.init) ?? "/"
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as StoreError {
            response = Self.response(error)
        } catch let error as HTTPError {
            let message = error.body ?? error.status.reasonPhrase
            let code = error.status.code == 413 ? "too_large" : "http_\(error.status.code)"
            let text =
                error.status.code == 413 ? "the request body is larger than \(StoreAPI.maxRequestBody) bytes" : message
            response = Self.response(StoreError(status: error.status.code, code: code, message: text))
        } catch is NIOTooManyBytesError {
            response = Self.response(
                StoreError(.tooLarge, "the request body is larger than \(StoreAPI.maxRequestBody) bytes"))
        } catch is DecodingError {
            response = Self.response(StoreError.badRequest(StoreAPI.notJSONMessage))
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            response = Self.response(StoreError(.internal, "the server failed; it was logged"))
        }
        metrics.observe(route: route, status: response.status.code, seconds: started.duration(to: .now))
        return response
    }

    static func response(_ error: StoreError) -> Response {
        let body = StoreErrorBody(error: error.code, message: error.message)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let wait = error.retryAfter { headers[.retryAfter] = "\(wait)" }
        if error.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        return Response(
            status: .init(code: error.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// 429 for an address that sends faster than its rate.
struct AddressLimitMiddleware: RouterMiddleware {
    typealias Context = StoreServer.Context
    let limiter: RateLimiter
    /// Health and metrics probes, limited apart.
    let probeLimiter: RateLimiter
    let proxies: TrustedProxies

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let peer = context.remoteAddress?.ipAddress ?? "unknown"
        let key = proxies.client(peer: peer, forwardedFor: request.headers[values: .xForwardedFor])
        let isProbe = request.uri.path == "/healthz" || request.uri.path == "/metrics"
        if let wait = await (isProbe ? probeLimiter : limiter).take(key) {
            throw StoreError(.rateLimited, "too many requests from this address; retry later", retryAfter: wait)
        }
        return try await next(request, context)
    }
}

extension StoreServer.Context {
    /// The identity the group's `Admission` admitted (a route outside such a group has none).
    func admittedIdentity() throws -> IdentityID {
        guard let identity else { throw StoreError(.internal, "a route ran without its identity admitted") }
        return identity
    }

    /// The mailbox the group's `Admission` admitted.
    func admittedMailbox() throws -> String {
        guard let mailbox else { throw StoreError(.internal, "a route ran without its mailbox admitted") }
        return mailbox
    }
}

/// Admits a request to a route group: `admit` checks what the path names (an identity, a
/// pairing mailbox: 400 when malformed, 429 with Retry-After past its rate) and puts it in the
/// context, where the routes find it.
struct Admission: RouterMiddleware {
    typealias Context = StoreServer.Context
    let admit: @Sendable (inout Context) async throws -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        try await admit(&context)
        return try await next(request, context)
    }
}

/// A bearer token of the admitted identity, from a device still linked (401 or 403 otherwise).
struct TokenCheck: RouterMiddleware {
    typealias Context = StoreServer.Context
    let service: StoreService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        _ = try await service.authenticate(bearer: StoreServer.bearer(request), identity: context.admittedIdentity())
        return try await next(request, context)
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}

/// The identity and entry counts /metrics shows, read at most every 30 s (counting is a scan
/// of the identities table; a scrape every few seconds must not repeat it).
actor CountsCache {
    let backend: any StoreBackend
    private var cached: (identities: Int64, entries: Int64)?
    private var readAt: ContinuousClock.Instant?

    init(backend: any StoreBackend) { self.backend = backend }

    func value() async -> (identities: Int64, entries: Int64)? {
        if let readAt, ContinuousClock.now - readAt < .seconds(30), let cached { return cached }
        readAt = .now
        cached = try? await backend.counts()
        return cached
    }
}

/// The parts of an answer's body, each handed out once and then no longer held.
extension StoreServer {
    /// A sync's answer streamed (docs/PROTOCOL.md, "Streamed answers"): each read is sent as a
    /// list of runs as it is written, so an answer holds one read's runs whatever its page's
    /// size, and a device that reads slowly holds back the reads, not a page in memory. The
    /// control object ends it, once `more` and the sizes are known.
    static func streamed(
        _ fields: SyncResponse, _ answer: AnswerEntries, received: Int, metrics: StoreMetrics, heap: HeapReturn
    ) -> Response {
        let body = ResponseBody { writer in
            var (response, sent) = (fields, 0)
            // A part: its tag, then one list of runs.
            func send(_ list: [UInt8]) async throws {
                var buffer = ByteBuffer()
                buffer.reserveCapacity(SyncBody.partStart.count + list.count)
                buffer.writeBytes(SyncBody.partStart)
                buffer.writeBytes(list)
                sent += buffer.readableBytes
                try await writer.write(buffer)
            }
            var out = try await answer.fill(&response) { batch in
                if let list = batch.takeRunList() { try await send(list) }
            }
            if let list = out.takeRunList() { try await send(list) }
            let end = try SyncBody.streamEnd(response)
            sent += end.count
            try await writer.write(ByteBuffer(bytes: end))
            try await writer.finish(nil)
            metrics.count("entries_sent", by: out.count)
            metrics.count("sync_bytes_sent", by: sent)
            heap.answered(received: received, sent: sent)
        }
        return Response(status: .ok, headers: [.contentType: SyncBody.streamType], body: body)
    }
}

final class AnswerParts: Sendable {
    private let parts: Mutex<[[UInt8]]>

    init(_ parts: [[UInt8]]) { self.parts = Mutex(parts.reversed()) }

    func next() -> [UInt8]? { parts.withLock { $0.popLast() } }
}
