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

/// A transport that passes requests to a real store and lets a test rewrite its sync answers:
/// a store that lies, built from an honest one.
struct LyingTransport: StoreTransport {
    let inner: any StoreTransport
    let requests = Locked(0)
    let rewrite: @Sendable (_ action: String, _ answer: inout [String: Any]) -> Void

    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        requests.withLock { $0 += 1 }
        var (status, headers, data) = try await inner.post(url, body: body, bearer: bearer, contentType: contentType)
        guard status == 200, var json = jsonObject(answer: data, headers: headers) else {
            return (status, headers, data)
        }
        rewrite(url.lastPathComponent, &json)
        headers["content-type"] = "application/json"  // the lie is told in the first form, which devices read too
        return (status, headers, try JSONSerialization.data(withJSONObject: json))
    }
}

/// A store's answer as a JSON object, whichever form it came in (a binary or streamed sync
/// answer's entries become the base64 list of the JSON form).
func jsonObject(answer data: Data, headers: [String: String]) -> [String: Any]? {
    let object: [String: Any]?
    let entries: [Entry]
    switch headers["content-type"] {
    case SyncBody.contentType:
        guard let (control, found) = try? SyncBody.split(Array(data), maxEntries: .max) else { return nil }
        (object, entries) = ((try? JSONSerialization.jsonObject(with: Data(control))) as? [String: Any], found)
    case SyncBody.streamType:
        guard let (control, found) = try? SyncBody.decodeStream(Array(data), as: SyncResponse.self, maxEntries: .max),
            let json = try? JSONEncoder().encode(control)
        else { return nil }
        (object, entries) = ((try? JSONSerialization.jsonObject(with: json)) as? [String: Any], found)
    default:
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
    guard var object else { return nil }
    object["entries"] = entries.map { Data.base64($0.encoded) }
    return object
}

/// A server that speaks just enough of the store's API to hand out a token, then misbehaves
/// on sync as `sync` says.
func hostileStore(sync: @escaping @Sendable (Request) async throws -> Response) -> some ApplicationProtocol {
    let router = Router()
    router.post("/v1/identities/:id/challenge") { _, _ in
        let body = #"{"challenge":"\#(Data.base64(SecureRandom.bytes(32)))","expires":4000000000}"#
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    router.post("/v1/identities/:id/token") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"token":"c2VjcmV0","expires":4000000000}"#)))
    }
    router.post("/v1/identities/:id/sync") { request, _ in try await sync(request) }
    var logger = Logger(label: "hostile")
    logger.logLevel = .critical
    return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
}

/// The `head` field of a sync answer, signed by `key` for `digest` (hex): what a store that lies
/// about anything else must still send for its answer to be read at all.
func signedHead(_ key: SigningKeyPair, _ identity: IdentityID, digest: String, version: UInt64 = 1) -> String {
    let head = StoreHead(
        signing: key, identity: identity, version: version,
        digest: (try? Digest32(bytes: Hex.decode(digest) ?? [])) ?? .zero, time: 1_000)
    let wire = StoreHeadWire(head)
    return
        #"{"store":"\#(wire.store)","version":\#(wire.version),"time":\#(wire.time),"signature":"\#(wire.signature)"}"#
}

func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

@Suite("A hostile store cannot crash, hang or fill a device")
struct HostileStoreTests {
    @Test("a store answering a push with a clock at seq 2^64-1 is refused as a protocol violation, not a crash")
    func clockOverflowFromStore() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        try built.record(device: 0, .credit, amount: 5)
        let fixture = built
        let store = try await TestStore(realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let engine = try await fixture.replica()
            try await engine.merge(fixture.allEntries)
            let honest = StoreClient(url: url, engine: engine, keyPair: fixture.root)
            _ = try await honest.sync()  // the store learns its clock
            try await engine.appendRecord(.credit, amount: 7, memo: "pushed")
            let lying = LyingTransport(inner: HTTPStoreTransport()) { action, answer in
                guard action == "sync", answer["clock"] != nil else { return }
                let forged = ClockEntry(author: fixture.root.publicKey, seq: .max, head: .zero)
                answer["clock"] = Data.base64(VectorClock.encode([forged]))
            }
            let victim = StoreClient(url: url, engine: engine, keyPair: fixture.root, transport: lying)
            await #expect(throws: StoreClientError.self) { try await victim.sync() }
            do {
                _ = try await victim.sync()
            } catch let error as StoreClientError {
                #expect("\(error)".contains("the store broke the protocol: its clock is not valid"))
            }
        }
    }

    @Test(
        "a forged entry from the store is refused with its reason and not stored; a fork claim without proof is not believed"
    )
    func forgedFromStore() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        try built.record(device: 1, .credit, amount: 5)
        let fixture = built
        let forged: Entry = try {
            var bytes = fixture.logs[1][0].encoded
            bytes[bytes.count - 2] ^= 0x01
            return try Entry(decoding: bytes)
        }()
        let store = try await TestStore(realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let root = try await fixture.replica(device: 0)
            try await root.merge(fixture.logs[0])
            _ = try await StoreClient(url: url, engine: root, keyPair: fixture.root).sync()
            // The store answers with the phone's entry altered, and claims the phone forked.
            let lying = LyingTransport(inner: HTTPStoreTransport()) { action, answer in
                guard action == "sync", answer["clock"] != nil else { return }
                answer["entries"] = [Data.base64(forged.encoded)]
                answer["forks"] = [fixture.devices[1].publicKey.hex]
            }
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.logs[0])
            let report = try await StoreClient(url: url, engine: laptop, keyPair: fixture.root, transport: lying).sync()
            #expect(report.refused.map(\.reason) == [.invalidSignature])
            #expect(report.refused.first?.author == fixture.devices[1].publicKey)
            #expect(report.forks.isEmpty)
            #expect(report.unprovenForkClaims == [fixture.devices[1].publicKey.hex])
            #expect(try await laptop.storedEntryCount() == fixture.logs[0].count)
            #expect(try await laptop.verifyAll().isEmpty)
        }
    }

    @Test("a store that says `more` but sends nothing new is stopped after one page, not polled forever")
    func moreWithoutProgress() async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let requests = Locked(0)
        let storeKey = SigningKeyPair.generate()
        let app = hostileStore { _ in
            requests.withLock { $0 += 1 }
            let digest = String(repeating: "ab", count: 32)
            let head = signedHead(storeKey, fixture.identity, digest: digest)
            return json(#"{"digest":"\#(digest)","head":\#(head),"entries":[],"more":true}"#)
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let engine = try await fixture.replica()
            try await engine.merge(fixture.allEntries)
            let storeClient = StoreClient(url: url, engine: engine, keyPair: fixture.root)
            do {
                _ = try await storeClient.sync()
                Issue.record("a store that never makes progress was synced with")
            } catch let error as StoreClientError {
                #expect("\(error)".contains("said it had more for this device but sent 0 entries, none of them new"))
            }
            #expect(requests.value <= 2)
        }
    }

    @Test("an answer trickled a byte at a time ends at the total deadline, worded as a timeout")
    func trickle() async throws {
        let started = Locked(false)
        // The handler holds its answer open until the test is done with it.
        let (release, releaser) = AsyncStream<Void>.makeStream()
        defer { releaser.finish() }  // on every path, or the server's shutdown waits for the handler
        let app = hostileStore { _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "{"))
                    started.withLock { $0 = true }
                    // Then nothing, until the test has seen the client give up.
                    for await _ in release {}
                })
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)/v1/identities/x/sync"))
            let clock = ManualClock()
            let transport = HTTPStoreTransport(deadline: .seconds(60), clock: clock)
            let request = Task { try await transport.post(url, body: Data("{}".utf8), bearer: nil) }
            #expect(await eventually { started.value && clock.sleepers == 1 })
            clock.advance(by: .seconds(61))
            do {
                _ = try await request.value
                Issue.record("a trickled answer was taken")
            } catch let error as StoreClientError {
                #expect(error == .timeout("the store did not answer within 60 s"))
            }
            releaser.finish()  // before the server shuts down, which waits for open requests
        }
    }

    @Test("an answer larger than the protocol allows is refused, declared or streamed")
    func oversized() async throws {
        let app = hostileStore { request in
            let chunk = ByteBuffer(repeating: UInt8(ascii: "a"), count: 1 << 20)
            if request.uri.query == "declared" {
                return Response(
                    status: .ok, headers: [.contentLength: "\(100 << 20)"],
                    body: ResponseBody(contentLength: 100 << 20) { writer in
                        for _ in 0..<100 { try await writer.write(chunk) }
                    })
            }
            return Response(
                status: .ok, body: ResponseBody { writer in for _ in 0..<100 { try await writer.write(chunk) } })
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let base = "http://127.0.0.1:\(port)/v1/identities/x/sync"
            let transport = HTTPStoreTransport()
            for (query, words) in [
                ("declared", "the store's answer is \(100 << 20) bytes, more than the protocol allows"),
                ("streamed", "the store's answer is larger than the protocol allows"),
            ] {
                let url = try #require(URL(string: "\(base)?\(query)"))
                do {
                    _ = try await transport.post(url, body: Data("{}".utf8), bearer: nil)
                    Issue.record("a 100 MB answer was read")
                } catch let error as StoreClientError {
                    #expect("\(error)".contains(words), "\(error)")
                }
            }
        }
    }

    @Test(
        "a redirect is not followed, so the token never reaches another origin, and the refusal says where it pointed")
    func redirect() async throws {
        let seen = Locked<[String]>([])
        let router = Router()
        router.post("/**") { request, _ in
            seen.withLock { $0.append(request.headers[.authorization] ?? "none") }
            return json("{}")
        }
        let elsewhere = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let fixture = try LedgerFixture(deviceCount: 1)
        try await elsewhere.test(.live) { other in
            let otherPort = try #require(other.port)
            let target = "http://127.0.0.1:\(otherPort)/steal"
            let app = hostileStore { _ in
                Response(status: .temporaryRedirect, headers: [.location: target])
            }
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
                let engine = try await fixture.replica()
                try await engine.merge(fixture.allEntries)
                do {
                    _ = try await StoreClient(url: url, engine: engine, keyPair: fixture.root).sync()
                    Issue.record("a redirected sync succeeded")
                } catch let error as StoreClientError {
                    #expect("\(error)".contains("redirected to \(target); ledgerlink does not follow redirects"))
                }
                #expect(seen.value.isEmpty)
            }
        }
    }
}
