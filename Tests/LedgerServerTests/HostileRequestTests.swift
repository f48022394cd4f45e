import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerTestSupport
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import NIOPosix
import Testing

@testable import LedgerServer

@Suite("A hostile client cannot crash or starve the store")
struct HostileRequestTests {
    @Test(
        "a sync whose clock claims seq 2^64-1 for the device and repeats its genesis is refused; the store goes on",
        arguments: BackendKind.testable)
    func clockOverflow(_ kind: BackendKind) async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let store = try await TestStore(kind)
        try await store.application().test(.router) { client in
            let genesis = fixture.logs[0][0]
            let token = try await client.token(fixture.identity, fixture.root, genesis: genesis)
            for seq in [Seq.max, VectorClock.maxSeq + 1] {
                let forged = VectorClock([ClockEntry(author: fixture.root.publicKey, seq: seq, head: genesis.hash)])
                let answer = try await client.push(fixture.identity, token: token, [genesis], clock: forged)
                #expect(answer.status == 400)
                #expect(answer.error == "bad_request")
            }
            // At the largest seq an entry may carry, the clock is valid and the store answers.
            let top = VectorClock([
                ClockEntry(author: fixture.root.publicKey, seq: VectorClock.maxSeq, head: genesis.hash)
            ])
            let fine = try await client.push(fixture.identity, token: token, [genesis], clock: top)
            #expect(fine.status == 200, "\(fine.body)")
            let health = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
        }
    }
}

@Suite("Store connections: whole-request deadlines and a cap per address")
struct StoreConnectionLimitTests {
    func head() -> HTTPRequestPart {
        .head(HTTPRequest(method: .post, scheme: nil, authority: "store", path: "/v1/identities/00/challenge"))
    }

    /// A connection behind the store's deadlines (head 10 s, body 30 s, answer 120 s), on a
    /// clock the test moves.
    func deadlines() async throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(
            handler: RequestReadTimeout(headTimeout: .seconds(10), bodyTimeout: .seconds(30)))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        return channel
    }

    /// Runs `step` once a second for `seconds - 1` seconds: the connection is still open then,
    /// and closed a second later however steadily the steps went.
    func expectCutOff(_ channel: EmbeddedChannel, after seconds: Int, step: () throws -> Void) throws {
        for _ in 0..<(seconds - 1) {
            channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            try step()
        }
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("a request whose body trickles in is cut off at the body deadline, counted from its head")
    func slowBody() async throws {
        let channel = try await deadlines()
        try channel.writeInbound(head())
        // One byte a second keeps an idle timer happy; it does not move this deadline.
        try expectCutOff(channel, after: 30) {
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "x")))
        }
    }

    @Test("a request that arrives whole in time is not cut off, and the next head gets a fresh deadline")
    func wholeRequest() async throws {
        let channel = try await deadlines()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try channel.writeInbound(head())
        try channel.writeInbound(HTTPRequestPart.end(nil))
        // The handler takes its time, within the answer's deadline.
        channel.embeddedEventLoop.advanceTime(by: .seconds(119))
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("an answer not written whole within its deadline (a client that stops reading) is cut off")
    func answerDeadline() async throws {
        let channel = try await deadlines()
        try channel.writeInbound(head())
        try channel.writeInbound(HTTPRequestPart.end(nil))
        // A streamed answer goes out part by part; the deadline counts from the request's end,
        // however steadily the parts go.
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try expectCutOff(channel, after: 120) {
            try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: "part")))
        }
    }

    @Test("one address holds at most its share of connections; another address is still served")
    func perAddressCap() async throws {
        let store = try await TestStore()
        let app = store.application {
            $0.maxConnectionsPerAddress = 4
            $0.publicURL = nil
            // The four held connections never send a request: on a slow run the head deadline
            // or the idle timeout would close them and let a fifth in.
            $0.headerTimeout = .seconds(3600)
            $0.idleTimeout = .seconds(3600)
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            @Sendable func connect(from source: String) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
                try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .bind(to: try SocketAddress(ipAddress: source, port: 0))
                    .connect(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        }
                    }
            }
            /// Sends a health probe and reads the status line; nil when the server closed first.
            @Sendable func probe(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async throws -> String? {
                try await channel.executeThenClose { inbound, outbound in
                    try? await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: store\r\n\r\n"))
                    var text = ""
                    for try await part in inbound {
                        text += String(buffer: part)
                        if text.contains("\r\n") { break }
                    }
                    return text.split(separator: "\r\n").first.map(String.init)
                }
            }
            // The test framework's own client connects from 127.0.0.1 when it likes (and may give
            // up and close under load), so the capped address is one nothing else uses.
            let capped = "127.0.0.3"
            var held: [NIOAsyncChannel<ByteBuffer, ByteBuffer>] = []
            for _ in 0..<4 { held.append(try await connect(from: capped)) }
            // The fifth from the same address is closed as it opens.
            #expect(await eventually { (try? await probe(try await connect(from: capped))) ?? nil == nil })
            // Another address is served meanwhile.
            #expect(try await probe(try await connect(from: "127.0.0.2")) == "HTTP/1.1 200 OK")
            // Once one of the four closes, the address may open another.
            try await held.removeFirst().executeThenClose { _, _ in }
            #expect(await eventually { try await probe(try await connect(from: capped)) == "HTTP/1.1 200 OK" })
            for channel in held { try await channel.executeThenClose { _, _ in } }
        }
    }

    @Test("health and metrics answer while the address is rate limited on the API")
    func probesLimitedApart() async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let store = try await TestStore()
        let app = store.application { $0.addressRate = RateLimit(perSecond: 0.01, burst: 3) }
        try await app.test(.router) { client in
            var last = 0
            for _ in 0..<4 {
                last = try await client.post(
                    "/v1/identities/\(fixture.identity.hex)/challenge", ["device": fixture.root.publicKey.hex]
                ).status
            }
            #expect(last == 429)
            let health = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
        }
    }

    @Test("without a public URL, a login signed for another address (a relay) is refused; the loopback one works")
    func relayedLogin() async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let store = try await TestStore()
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let relayed = try await client.authenticate(
                fixture.identity, fixture.root, origin: "http://relay.example:\(port)", genesis: fixture.logs[0][0])
            #expect(relayed.status == 401)
            #expect(relayed.error == "bad_signature")
            let direct = try await client.authenticate(
                fixture.identity, fixture.root, origin: "http://127.0.0.1:\(port)", genesis: fixture.logs[0][0])
            #expect(direct.status == 200, "\(direct.body)")
        }
    }
}
