import Foundation
import LedgerCore
import LedgerCrypto
import LedgerSync
import Logging
import Synchronization

/// A device's peer service running in the background of a test.
package struct RunningService: Sendable {
    package let service: PeerService
    package let task: Task<Void, any Error>
    package let port: Int
    package let log: LineLog

    package var hub: PeerHub { service.hub }

    package static func start(
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
            logger: Logger(label: "test", factory: { _ in LineLogHandler(log: log) }))
        let serve = try await service.start()
        let task = Task { try await serve() }
        return RunningService(service: service, task: task, port: await service.listeningPort() ?? 0, log: log)
    }

    package var endpoint: PeerEndpoint { PeerEndpoint(host: "127.0.0.1", port: port) }

    package func connected() async -> Int { await hub.snapshot().connections.count }

    package func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// Sends a logger's messages to a `LineLog`.
package struct LineLogHandler: LogHandler {
    let log: LineLog
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) { log.append(event.message.description) }
}

/// Lines a service logged.
package final class LineLog: Sendable {
    private let lines = Mutex<[String]>([])

    package init() {}

    package func append(_ line: String) { lines.withLock { $0.append(line) } }

    package var all: [String] { lines.withLock { $0 } }

    package func contains(_ text: String) -> Bool { lines.withLock { $0.contains { $0.contains(text) } } }
}
