import Foundation
import LedgerCore
import LedgerCrypto
import Logging
import NIOCore
import NIOPosix

/// A peer's address as a person writes it: `HOST:PORT`, or `[IPv6]:PORT`.
package struct PeerEndpoint: Hashable, Sendable, CustomStringConvertible, Codable {
    package let host: String
    package let port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; nil when it is not one.
    package init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:%")
        guard !host.isEmpty, host.allSatisfy({ allowed.contains($0) }) else { return nil }
        self.init(host: host, port: port)
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    package init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let endpoint = PeerEndpoint(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not HOST:PORT"))
        }
        self = endpoint
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Exponential backoff: `initial` after the first failure, doubling to `cap`, each delay
/// spread by up to ±`spread` so that devices that failed together do not retry together.
package struct Backoff: Sendable, Equatable {
    package var initial: Duration
    package var cap: Duration
    package var spread: Double

    package init(initial: Duration, cap: Duration, spread: Double = 0.2) {
        self.initial = initial
        self.cap = cap
        self.spread = spread
    }

    /// The wait after `failures` consecutive failures (at least 1); `jitter` in 0...1 picks the
    /// point in the spread (0.5 is the middle).
    package func delay(failures: Int, jitter: Double) -> Duration {
        let doublings = min(max(failures - 1, 0), 62)
        let base = min(Self.seconds(initial) * pow(2, Double(doublings)), Self.seconds(cap))
        let factor = 1 + spread * (2 * min(max(jitter, 0), 1) - 1)
        return .milliseconds(Int64((base * factor * 1000).rounded()))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// How a device's peer service runs.
package struct PeerServiceConfiguration: Sendable {
    /// Address and port of the listener; no listener when `listenPort` is nil.
    package var listenHost = "0.0.0.0"
    package var listenPort: Int? = 8788
    /// Peers to dial and keep dialling (with backoff) whatever discovery finds.
    package var staticPeers: [PeerEndpoint] = []
    /// Announce this device on the network and dial devices of the identity that announce.
    package var discovery = true
    package var discoveryPort = 8789
    /// Where announcements go; nil broadcasts to 255.255.255.255 on `discoveryPort`.
    package var announceTargets: [PeerEndpoint]?
    package var announceInterval: Duration = .seconds(5)
    package var heartbeat: Duration = .seconds(5)
    /// How often the ledger is checked for entries written by other processes.
    package var changePoll: Duration = .milliseconds(20)
    package var backoff = Backoff(initial: .seconds(1), cap: .seconds(60))
    /// The clock heartbeats, backoff, announcements and change polls run on (tests drive a
    /// manual one).
    package var clock: any Clock<Duration> = ContinuousClock()

    package init() {}
}

/// A device's peer channel: the listener, dialers of static and discovered peers (each
/// reconnecting with backoff), LAN discovery, and a watcher that makes every live session push
/// new entries, whoever wrote them.
package final class PeerService: Sendable {
    package let hub: PeerHub
    let engine: MergeEngine
    let keyPair: SigningKeyPair
    let configuration: PeerServiceConfiguration
    let logger: Logger
    private let dialing = DialRegistry()

    package init(
        engine: MergeEngine, keyPair: SigningKeyPair, configuration: PeerServiceConfiguration, hub: PeerHub,
        logger: Logger = Logger(label: "ledgerlink.peer", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.engine = engine
        self.keyPair = keyPair
        self.configuration = configuration
        self.hub = hub
        self.logger = logger
    }

    var sessionOptions: PeerSessionOptions {
        PeerSessionOptions(live: true, heartbeat: configuration.heartbeat, clock: configuration.clock)
    }

    /// Binds the listener (so a port in use fails here, before anything runs) and returns a
    /// function that serves until its task is cancelled.
    package func start() async throws -> @Sendable () async throws -> Void {
        var listener: PeerListener?
        if let port = configuration.listenPort {
            let bound = try await PeerListener.bind(
                host: configuration.listenHost, port: port, readTimeout: sessionOptions.handshakeTimeout)
            listener = bound
            await hub.setListening(PeerEndpoint(host: configuration.listenHost, port: bound.port).description)
        }
        return { [listener] in try await self.serve(listener: listener) }
    }

    /// The port the listener is bound to, once started.
    package func listeningPort() async -> Int? {
        await hub.snapshot().listening.flatMap { PeerEndpoint(parsing: $0)?.port }
    }

    private func serve(listener: PeerListener?) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            if let listener {
                group.addTask {
                    try await listener.run(
                        engine: self.engine, keyPair: self.keyPair, options: self.sessionOptions, hub: self.hub
                    ) { result in self.report(result, direction: "from") }
                }
            }
            group.addTask { try await self.watchForChanges() }
            for peer in configuration.staticPeers where await dialing.claim(peer) {
                group.addTask { await self.keepDialling(peer, persistent: true) }
            }
            if configuration.discovery {
                group.addTask {
                    // Without discovery the rest still works: static peers, incoming connections.
                    do {
                        try await self.discover(listenPort: listener?.port)
                    } catch is CancellationError {
                    } catch {
                        self.logger.warning("discovery is off: \(error)")
                        await self.hub.failed("discovery is off: \(error)")
                    }
                }
            }
        }
    }

    /// Makes every live session push when the ledger changes: at once for entries this
    /// process commits (the engine's events), and within `changePoll` for entries another
    /// process wrote to the same data folder (the clock digest moves).
    private func watchForChanges() async throws {
        let events = await engine.subscribe()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await _ in events { await self.hub.poke() }
            }
            group.addTask {
                var last = try await self.engine.clock().digest
                while true {
                    try await self.configuration.clock.sleep(for: self.configuration.changePoll)
                    guard let digest = try? await self.engine.clock().digest, digest != last else { continue }
                    last = digest
                    await self.hub.poke()
                }
            }
        }
    }

    /// Dials `peer` and keeps a live session with it, reconnecting with backoff. A discovered
    /// peer is given up after three failures in a row (its next announcement brings it back).
    private func keepDialling(_ peer: PeerEndpoint, persistent: Bool) async {
        var failures = 0
        var device: DevicePublicKey?
        defer { Task { await dialing.release(peer) } }
        while !Task.isCancelled {
            if let device, await hub.connectedDevices().contains(device) {
                // Already connected the other way round; look again later.
                try? await configuration.clock.sleep(for: configuration.heartbeat)
                continue
            }
            let stopwatch = Stopwatch(configuration.clock)
            do {
                let result = try await PeerDialer.sync(
                    host: peer.host, port: peer.port, engine: engine, keyPair: keyPair, options: sessionOptions,
                    hub: hub)
                device = result.peer
                failures = 0
                logger.info("disconnected from \(peer)")
                continue
            } catch PeerChannelError.duplicate(let other) {
                device = other
                continue
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                // A session that ran a while before failing starts the backoff over.
                failures = stopwatch.elapsed > configuration.heartbeat * 3 ? 1 : failures + 1
                logger.warning("peer \(peer): \(error)")
                await hub.failed("peer \(peer): \(error)")
                if !persistent, failures >= 3 { return }
            }
            await dialing.pause(
                configuration.backoff.delay(failures: failures, jitter: Double.random(in: 0...1)),
                clock: configuration.clock)
        }
    }

    /// Announces this device every `announceInterval` and dials devices of the identity that
    /// announce themselves.
    private func discover(listenPort: Int?) async throws {
        let socket = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_broadcast), value: 1)
            .bind(host: "0.0.0.0", port: configuration.discoveryPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                        wrappingChannelSynchronously: channel)
                }
            }
        let identity = engine.identity
        let targets = try
            (configuration.announceTargets
            ?? [PeerEndpoint(host: "255.255.255.255", port: configuration.discoveryPort)])
            .map { try SocketAddress.makeAddressResolvingHost($0.host, port: $0.port) }
        try await withThrowingDiscardingTaskGroup { group in
            try await socket.executeThenClose { inbound, outbound in
                if let listenPort {
                    group.addTask {
                        while true {
                            let now = UInt64(Date().timeIntervalSince1970)
                            let announcement = PeerAnnouncement.make(
                                identity: identity, port: UInt16(listenPort), now: now)
                            await self.dialing.sent(nonce: Array(announcement[4..<20]))
                            for target in targets {
                                // A network without a route for broadcasts is not worth stopping for.
                                try? await outbound.write(
                                    AddressedEnvelope(remoteAddress: target, data: ByteBuffer(bytes: announcement)))
                            }
                            try await self.configuration.clock.sleep(for: self.configuration.announceInterval)
                        }
                    }
                }
                for try await envelope in inbound {
                    let bytes = Array(envelope.data.readableBytesView)
                    let now = UInt64(Date().timeIntervalSince1970)
                    guard let port = PeerAnnouncement.open(bytes, identity: identity, now: now),
                        bytes.count == PeerAnnouncement.length,
                        await !dialing.isOwn(nonce: Array(bytes[4..<20])),
                        let host = envelope.remoteAddress.ipAddress
                    else { continue }
                    let peer = PeerEndpoint(host: host, port: Int(port))
                    if await dialing.claim(peer) {
                        logger.info("found a device of this identity at \(peer)")
                        group.addTask { await self.keepDialling(peer, persistent: false) }
                    }
                }
            }
        }
    }

    /// Syncs now: every connected device compares clocks at once, and peers waiting out a
    /// backoff are dialled again. Returns the number of devices connected.
    @discardableResult
    package func syncNow() async -> Int {
        await dialing.wake()
        return await hub.syncNow()
    }

    private func report(_ result: Result<PeerSyncReport, any Error>, direction: String) {
        switch result {
        case .success(let report):
            logger.info(
                "session \(direction) \(report.peer?.fingerprint ?? "?") ended: sent \(report.sent), received \(report.accepted)"
            )
        case .failure(let error):
            logger.warning("a connection from a peer ended: \(error)")
            Task { await hub.failed("\(error)") }
        }
    }
}

/// Which endpoints have a dialer, and the nonces of this device's own announcements (which
/// come back to it on a broadcast network).
actor DialRegistry {
    private var active: Set<PeerEndpoint> = []
    private var ownNonces: [[UInt8]] = []

    private var wakers: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaker: UInt64 = 0

    /// Waits `delay` on `clock`, or less when `wake()` is called meanwhile or the task is
    /// cancelled.
    nonisolated func pause(_ delay: Duration, clock: any Clock<Duration>) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(for: delay) }
            group.addTask { await self.waitForWake() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWake() async {
        nextWaker += 1
        let id = nextWaker
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if Task.isCancelled {
                    continuation.resume()
                } else {
                    wakers[id] = continuation
                }
            }
        } onCancel: {
            Task { await self.resumeWaker(id) }
        }
    }

    private func resumeWaker(_ id: UInt64) { wakers.removeValue(forKey: id)?.resume() }

    func wake() {
        let waiting = wakers
        wakers = [:]
        for continuation in waiting.values { continuation.resume() }
    }

    func claim(_ peer: PeerEndpoint) -> Bool { active.insert(peer).inserted }
    func release(_ peer: PeerEndpoint) { active.remove(peer) }

    func sent(nonce: [UInt8]) {
        ownNonces.append(nonce)
        if ownNonces.count > 64 { ownNonces.removeFirst() }
    }

    func isOwn(nonce: [UInt8]) -> Bool { ownNonces.contains(nonce) }
}
