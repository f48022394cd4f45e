import AsyncHTTPClient
import Foundation
import LedgerRemote
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// HTTP through AsyncHTTPClient, holding a store to the limits a device needs against one that
/// is slow or hostile: a total deadline for each request (connecting, the answer's head and its
/// whole body), a cap on the answer's size, and no redirects (a redirect would carry the
/// device's token to wherever the store points).
package struct HTTPStoreTransport: StoreTransport {
    /// Default total time for one request.
    package static let defaultDeadline: Duration = .seconds(60)

    let deadline: Duration
    let maxAnswer: Int
    let clock: any Clock<Duration>

    /// - Parameters:
    ///   - deadline: total time one request may take, from connecting to the last byte.
    ///   - maxAnswer: most bytes of an answer's body; a larger one is refused unread.
    ///   - clock: the clock the deadline runs on (tests pass a manual one).
    package init(
        deadline: Duration = defaultDeadline, maxAnswer: Int = StoreAPI.maxResponseBody,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.deadline = deadline
        self.maxAnswer = maxAnswer
        self.clock = clock
    }

    /// One client for the process: connections are pooled across stores and requests.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(30)))
        configuration.httpVersion = .http1Only
        // A store that refuses the connection is said at once: AHC would otherwise retry until
        // the connect timeout (`sync` waited 10 s to say "connection refused"). The poller
        // retries with its own backoff, so nothing is lost by failing fast.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    package func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        let answer = try await post(
            url, body: body, bearer: bearer, contentType: contentType, reading: GatheredAnswer())
        return (answer.status, answer.headers, Data(answer.bytes))
    }

    package func post<Reader: AnswerReader>(
        _ url: URL, body: Data, bearer: String?, contentType: String, reading reader: Reader
    ) async throws -> Reader {
        // A request called off before it goes out is not sent (a push batch sent ahead and called
        // off would otherwise reach the store after the device had sent it again).
        try Task.checkCancellation()
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        // A sync in the binary form takes its answer streamed (or binary, from an older store).
        if contentType == SyncBody.contentType { request.headers.add(name: "Accept", value: SyncBody.accept) }
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        let prepared = request
        let maxAnswer = self.maxAnswer
        let limit = deadline
        do {
            return try await withDeadline(limit, clock: clock) {
                // The total deadline is `withDeadline`'s (on the injected clock); AHC's own
                // timeout only backs it up, a second later, should cancellation be lost.
                let response = try await Self.client.execute(prepared, timeout: .seconds(limit.components.seconds + 1))
                var headers: [String: String] = [:]
                for (name, value) in response.headers { headers[name.lowercased()] = value }
                if let declared = headers["content-length"].flatMap(Int.init), declared > maxAnswer {
                    throw StoreClientError.transport(
                        "the store's answer is \(declared) bytes, more than the protocol allows (\(maxAnswer))")
                }
                var reader = reader
                try reader.start(status: Int(response.status.code), headers: headers)
                // Each piece is read as it arrives (a streamed page is decoded while the rest
                // travels); the answer's size is counted as it comes, whatever it declared.
                var received = 0
                for try await part in response.body {
                    guard part.readableBytes <= maxAnswer - received else {
                        throw NIOTooManyBytesError(maxBytes: maxAnswer)
                    }
                    received += part.readableBytes
                    try reader.read(part.readableBytesView)
                }
                return reader
            }
        } catch let error as StoreClientError {
            throw error
        } catch is DeadlineExceeded {
            throw StoreClientError.timeout("the store did not answer within \(Self.words(limit))")
        } catch is NIOTooManyBytesError {
            throw StoreClientError.transport(
                "the store's answer is larger than the protocol allows (\(maxAnswer) bytes)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw StoreClientError.timeout("the store did not answer within \(Self.words(limit))")
        } catch let error as HTTPClientError where error == .remoteConnectionClosed {
            throw Self.cutOff
        } catch let error as HTTPParserError where error == .invalidEOFState {
            // A streamed answer the store cut off (its database failed part-way, or it stopped).
            throw Self.cutOff
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw StoreClientError.timeout("connecting to the store timed out")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw StoreClientError.transport(
                "cannot reach the store: "
                    + NetworkWords.describe(
                        error, place: "the store's address", refusedHint: "is the store running, and is the port right?"
                    ))
        }
    }

    static let cutOff = StoreClientError.transport(
        "the store closed the connection before its whole answer arrived")

    static func words(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds >= 1 ? "\(seconds) s" : "\(duration.components.attoseconds / 1_000_000_000_000_000) ms"
    }
}

/// An answer gathered whole: its status, headers and body.
struct GatheredAnswer: AnswerReader {
    var status = 0
    var headers: [String: String] = [:]
    var bytes: [UInt8] = []

    mutating func start(status: Int, headers: [String: String]) throws {
        (self.status, self.headers) = (status, headers)
        // Room taken once when the length is known, never more than an answer may hold.
        let declared = headers["content-length"].flatMap(Int.init) ?? 0
        bytes.reserveCapacity(min(max(0, declared), StoreAPI.maxResponseBody))
    }

    mutating func read(_ bytes: some Collection<UInt8>) throws { self.bytes.append(contentsOf: bytes) }
}
