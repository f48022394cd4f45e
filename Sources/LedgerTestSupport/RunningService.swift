import Foundation
import LedgerCore
import LedgerCrypto
import LedgerSync
import Synchronization

/// A device's peer service running in the background of a test.
public struct RunningService: Sendable {
    public let service: PeerService
    public let task: Task<Void, any Error>
    public let port: Int
    public let log: LineLog

    public var hub: PeerHub { service.hub }

    public static func start(
        _ engine: MergeEngine, _ keyPair: SigningKeyPair, peers: [PeerEndpoint] = [],
        configure: (inout PeerServiceConfiguration) -> Void = { _ in }, statusFile: URL? = nil
    ) async throws -> RunningService {
        var configuration = PeerServiceConfiguration()
        configuration.listenHost = "127.0.0.1"
        configuration.listenPort = 0
        configuration.staticPeers = peers
        configuration.discovery = false
        configuration.heartbeat = .milliseconds(500)
        configuration.backoff = Backoff(initial: .milliseconds(20), cap: .milliseconds(200))
        configure(&configuration)
        let log = LineLog()
        let service = PeerService(
            engine: engine, keyPair: keyPair, configuration: configuration, hub: PeerHub(statusFile: statusFile),
            log: { log.append($0) })
        let serve = try await service.start()
        let task = Task { try await serve() }
        return RunningService(service: service, task: task, port: await service.listeningPort() ?? 0, log: log)
    }

    public var endpoint: PeerEndpoint { PeerEndpoint(host: "127.0.0.1", port: port) }

    public func connected() async -> Int { await hub.snapshot().connections.count }

    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// Lines a service logged.
public final class LineLog: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    public func append(_ line: String) { lines.withLock { $0.append(line) } }

    public var all: [String] { lines.withLock { $0 } }

    public func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
}
