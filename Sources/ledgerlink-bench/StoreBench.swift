import Foundation
import Hummingbird
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import NIOCore
import NIOPosix
import Synchronization

/// `ledgerlink-bench store`: nothing-changed polls per second against a live store on
/// loopback with many devices, and a first sync of a new device.
enum StoreBench {
    static func run(identities: Int, devicesEach: Int, seconds duration: Double, entries: Int, cacheMB: Int)
        async throws
    {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledgerlink-store-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // As `serve` runs it: every database call under its deadline.
        let backend = GuardedBackend(try SQLiteBackend(path: folder.appendingPathComponent("store.sqlite").path))
        try await backend.prepare()
        var configuration = StoreServerConfiguration()
        configuration.port = 0
        // The benchmark measures capacity: the per-address and per-identity limits would
        // otherwise be what it measures.
        configuration.addressRate = RateLimit(perSecond: 1e9, burst: 1e9)
        configuration.identityRate = RateLimit(perSecond: 1e9, burst: 1e9)
        // Every simulated device connects from 127.0.0.1; real devices come from their own addresses.
        configuration.maxConnectionsPerAddress = 10_000
        let bound = PortBox()
        let service = StoreService(backend: backend, cacheBytes: cacheMB << 20)
        let app = StoreServer.application(service: service, configuration: configuration) {
            channel in bound.set(channel.localAddress?.port ?? 0)
        }
        let server = Task { try await app.run() }
        defer { server.cancel() }
        let port = await bound.wait()
        let url = URL(string: "http://127.0.0.1:\(port)")!

        // Identities with their devices, each device with a token and the identity's digest.
        print("setting up \(identities) identities x \(devicesEach) devices ...")
        var pollers: [(identity: IdentityID, token: String, digest: String)] = []
        for _ in 0..<identities {
            var fixture = try LedgerFixture(deviceCount: devicesEach)
            for i in 0..<20 { try fixture.record(device: 0, .credit, amount: Int64(i + 1)) }
            let root = try await fixture.replica(device: 0)
            try await root.merge(fixture.allEntries)
            _ = try await StoreClient(url: url, engine: root, keyPair: fixture.devices[0]).sync()
            let digest = try await root.clock().digest.hex
            for device in fixture.devices {
                let token = try await RawHTTP.withConnection(port: port) { connection in
                    try await connection.token(identity: fixture.identity, keyPair: device, port: port)
                }
                pollers.append((fixture.identity, token, digest))
            }
        }

        // Every device polls on its own keep-alive connection, as fast as answers come.
        print("polling for \(duration) s with \(pollers.count) devices ...")
        let deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for poller in pollers {
                group.addTask {
                    try await RawHTTP.withConnection(port: port) { connection in
                        let body = Data(#"{"digest":"\#(poller.digest)"}"#.utf8)
                        var times: [Double] = []
                        while ContinuousClock.now < deadline {
                            let start = ContinuousClock.now
                            let (status, answer) = try await connection.post(
                                "/v1/identities/\(poller.identity.hex)/sync", body: body, bearer: poller.token,
                                port: port)
                            guard status == 200, answer.contains(poller.digest) else {
                                throw LedgerError.invalidState("poll answered \(status)")
                            }
                            times.append(seconds(start.duration(to: .now)))
                        }
                        return times
                    }
                }
            }
            var all: [Double] = []
            for try await times in group { all += times }
            return all.sorted()
        }
        let rate = Double(latencies.count) / duration
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }

        // A new device's first sync of `entries` entries.
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<entries { try fixture.record(device: 0, .credit, amount: Int64(1 + i % 97), memo: "sync \(i)") }
        let source = try await fixture.replica(device: 0)
        try await source.merge(fixture.allEntries)
        _ = try await StoreClient(url: url, engine: source, keyPair: fixture.devices[0]).sync()
        let store = try LedgerStore.create(
            at: folder.appendingPathComponent("fresh.sqlite").path, identity: fixture.identity,
            root: fixture.root.publicKey, device: fixture.devices[1].publicKey)
        let fresh = try await MergeEngine(store: store, keyPair: fixture.devices[1])
        let client = StoreClient(url: url, engine: fresh, keyPair: fixture.devices[1])
        var report = StoreSyncReport()
        let start = ContinuousClock.now
        report = try await client.sync()
        let firstSync = seconds(start.duration(to: .now))
        guard report.converged, report.received == fixture.allEntries.count else {
            throw LedgerError.invalidState("first sync received \(report.received) of \(fixture.allEntries.count)")
        }

        print("nothing-changed polls, \(pollers.count) devices on \(identities) identities, \(duration) s:")
        print(
            String(
                format: "  %.0f polls/s (target >= 3000); latency p50 %.2f ms, p99 %.2f ms", rate,
                percentile(0.5) * 1000, percentile(0.99) * 1000))
        print("first sync of a new device, \(fixture.allEntries.count) entries (auth, pull in pages, merge):")
        print(String(format: "  %.3f s in %d requests (target under 0.5 s)", firstSync, report.requests))
        let cache = await service.cacheState()
        print(
            "identity cache (--cache-mb \(cacheMB)): \(cache.identities) identities, \(cache.engines) with engines, "
                + "\(cache.bytes >> 20) MiB counted; process RSS \(residentMiB()) MiB (server and clients)")
    }

    /// This process's resident memory in MiB (Linux).
    static func residentMiB() -> Int { StoreLoad.residentMiB(getpid()) }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// The port the server bound, once it runs.
final class PortBox: Sendable {
    private let port = Mutex<Int?>(nil)

    func set(_ value: Int) { port.withLock { $0 = value } }

    func wait() async -> Int {
        while true {
            if let value = port.withLock({ $0 }) { return value }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A minimal HTTP/1.1 keep-alive client over swift-nio, so the load generator costs little
/// beside the server it measures.
final class RawHTTP: @unchecked Sendable {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffer = ByteBuffer()

    private init(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// Connects, runs `body` with the connection, and closes it.
    static func withConnection<T: Sendable>(port: Int, from source: String? = nil, _ body: (RawHTTP) async throws -> T)
        async throws -> T
    {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        // Another loopback address as the client's: the server sees many clients.
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel =
            try await bootstrap
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(RawHTTP(inbound: inbound, outbound: outbound))
        }
    }

    func post(_ path: String, body: Data, bearer: String?, port: Int) async throws -> (Int, String) {
        try await send("POST", path, body: body, bearer: bearer, port: port)
    }

    func get(_ path: String, port: Int) async throws -> (Int, String) {
        try await send("GET", path, body: Data(), bearer: nil, port: port)
    }

    private func send(_ method: String, _ path: String, body: Data, bearer: String?, port: Int) async throws -> (
        Int, String
    ) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        if let bearer { head += "Authorization: Bearer \(bearer)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        var request = ByteBuffer(string: head)
        request.writeBytes(body)
        try await outbound.write(request)
        while true {
            if let response = parse() { return response }
            guard var chunk = try await inbound.next() else { throw LedgerError.invalidState("connection closed") }
            buffer.writeBuffer(&chunk)
        }
    }

    private func parse() -> (Int, String)? {
        let view = buffer.readableBytesView
        guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let headText = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        let lines = headText.split(separator: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        let length =
            lines.dropFirst().compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }.first ?? 0
        let headLength = end.upperBound - view.startIndex
        guard buffer.readableBytes >= headLength + length else { return nil }
        buffer.moveReaderIndex(forwardBy: headLength)
        let body = buffer.readString(length: length) ?? ""
        buffer.discardReadBytes()
        return (status, body)
    }

    /// Challenge, signature, token.
    func token(identity: IdentityID, keyPair: SigningKeyPair, port: Int) async throws -> String {
        let base = "/v1/identities/\(identity.hex)"
        let (_, challengeText) = try await post(
            "\(base)/challenge", body: try JSONEncoder().encode(ChallengeRequest(device: keyPair.publicKey.hex)),
            bearer: nil, port: port)
        let challenge = try JSONDecoder().decode(ChallengeResponse.self, from: Data(challengeText.utf8))
        let transcript = StoreAPI.authTranscript(
            origin: "http://127.0.0.1:\(port)", identity: identity, device: keyPair.publicKey,
            challenge: base64Bytes(challenge.challenge) ?? [], expires: challenge.expires)
        let request = TokenRequest(
            device: keyPair.publicKey.hex, challenge: challenge.challenge,
            signature: Data.base64(keyPair.sign(transcript).bytes))
        let (status, tokenText) = try await post(
            "\(base)/token", body: try JSONEncoder().encode(request), bearer: nil, port: port)
        guard status == 200 else { throw LedgerError.invalidState("token refused: \(tokenText)") }
        return try JSONDecoder().decode(TokenResponse.self, from: Data(tokenText.utf8)).token
    }
}
