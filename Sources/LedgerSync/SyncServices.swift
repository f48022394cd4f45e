import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import Logging
import NIOCore
import NIOPosix

/// Why a device's sync settings cannot be used, worded for the person.
package struct SyncSettingsError: Error, Equatable, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Where a device syncs and how, read from its `config.json` and the front-end's options,
/// every address checked: nothing unparsable is dropped in silence.
package struct SyncSettings: Sendable {
    package var peer = PeerServiceConfiguration()
    /// The store to poll, if any.
    package var store: URL?
    package var schedule = StoreSchedule(interval: .seconds(30), cap: .seconds(1800))

    package init() {}

    /// The settings `config.json` gives, with `extraPeers` dialled too.
    package init(_ config: DeviceConfig, extraPeers: [String] = []) throws(SyncSettingsError) {
        peer.listenPort = config.listenPort
        peer.discovery = config.discovery
        peer.discoveryPort = config.discoveryPort
        peer.staticPeers = try (config.peers + extraPeers).map(Self.endpoint)
        store = try config.store.map(Self.storeURL)
        schedule = StoreSchedule(interval: .seconds(config.storeInterval), cap: .seconds(config.storeMaxBackoff))
    }

    /// A peer's `HOST:PORT`, or why it is not one.
    package static func endpoint(_ text: String) throws(SyncSettingsError) -> PeerEndpoint {
        guard let endpoint = PeerEndpoint(parsing: text) else {
            throw SyncSettingsError("\(TextSafety.sanitised(text)) is not HOST:PORT (for example 192.168.1.20:8788)")
        }
        return endpoint
    }

    /// A store's address (`http(s)://HOST[:PORT][/PATH]`), or why it is not one.
    package static func storeURL(_ text: String) throws(SyncSettingsError) -> URL {
        guard let url = URL(string: text.trimmingCharacters(in: .whitespaces)), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw SyncSettingsError(
                "\(TextSafety.sanitised(text)) is not a store address (for example http://store.example:8787)")
        }
        return url
    }
}

/// The sync services of one device, run the same way by every front-end (`listen`, the TUI):
/// the peer channel (listener, discovery, static peers) and the store poller beside it, their
/// status files in the data folder, and the record of when the device was last level.
package actor SyncServices {
    package nonisolated let home: DataHome
    package nonisolated let engine: MergeEngine
    package nonisolated let hub: PeerHub
    private let keyPair: SigningKeyPair
    private let service: PeerService
    private let schedule: StoreSchedule
    private let logger: Logger
    private var serving: Task<Void, any Error>?
    private var poller: StorePoller?
    private var polling: Task<Void, Never>?
    /// The store polled now, if any.
    package private(set) var store: URL?
    /// Set when the listener could not be bound and the services dial only.
    package nonisolated let listenProblem: String?

    private init(
        home: DataHome, engine: MergeEngine, keyPair: SigningKeyPair, service: PeerService, schedule: StoreSchedule,
        listenProblem: String?, logger: Logger
    ) {
        self.home = home
        self.engine = engine
        self.keyPair = keyPair
        self.service = service
        self.hub = service.hub
        self.schedule = schedule
        self.listenProblem = listenProblem
        self.logger = logger
    }

    /// How the listener failed to start.
    package struct ListenError: Error, CustomStringConvertible {
        package let underlying: any Error
        package var description: String { "\(underlying)" }
    }

    /// Starts the peer channel and, when `settings` name one, the store poller. When the
    /// listening port is taken, `dialOnlyIfTaken` decides: dial only (the TUI beside another
    /// device's) or throw `ListenError` (`listen`, which exists to listen).
    package static func start(
        home: DataHome, engine: MergeEngine, keyPair: SigningKeyPair, settings: SyncSettings,
        dialOnlyIfTaken: Bool, logger: Logger
    ) async throws(ListenError) -> SyncServices {
        var configuration = settings.peer
        var problem: String?
        while true {
            let hub = PeerHub(statusFile: home.peerStatusFile, discovery: configuration.discovery)
            let service = PeerService(
                engine: engine, keyPair: keyPair, configuration: configuration, hub: hub, logger: logger)
            do {
                let serve = try await service.start()
                let services = SyncServices(
                    home: home, engine: engine, keyPair: keyPair, service: service, schedule: settings.schedule,
                    listenProblem: problem, logger: logger)
                await services.begin(serve, store: settings.store)
                return services
            } catch {
                guard dialOnlyIfTaken, configuration.listenPort != nil else { throw ListenError(underlying: error) }
                problem = "not listening: port \(configuration.listenPort ?? 0) \(NetworkWords.describe(error))"
                logger.warning("\(problem ?? "")")
                configuration.listenPort = nil
            }
        }
    }

    private func begin(_ serve: @escaping @Sendable () async throws -> Void, store: URL?) {
        serving = Task { try await serve() }
        use(store: store)
    }

    /// Polls `store` from now on (nil: no store), unless it is the one polled already.
    package func use(store url: URL?) {
        guard url != store || (url != nil && poller == nil) else { return }
        polling?.cancel()
        poller = nil
        store = url
        guard let url else { return }
        let poller = StorePoller(
            client: StoreClient(url: url, engine: engine, keyPair: keyPair), engine: engine, schedule: schedule,
            statusFile: home.storeStatusFile, logger: logger)
        self.poller = poller
        polling = Task { await poller.run() }
        logger.info("polling the store at \(url.absoluteString)")
    }

    /// The port the listener is bound to, if it listens.
    package func listeningPort() async -> Int? { await service.listeningPort() }

    /// The peer channel's status now.
    package func peerStatus() async -> PeerStatus { await hub.snapshot() }

    /// The store poller's status now; nil when no store is polled.
    package func storeStatus() async -> StoreStatus? { await poller?.status() }

    /// Syncs with every connected device and the store now; returns how many devices are connected.
    @discardableResult
    package func syncNow() async -> Int {
        await poller?.syncNow()
        return await service.syncNow()
    }

    /// Waits until the peer channel stops on its own (a failure), returning why; it runs until
    /// `stop()` otherwise.
    package func ended() async -> (any Error)? {
        guard let serving else { return nil }
        if case .failure(let error) = await serving.result, !(error is CancellationError) { return error }
        return nil
    }

    /// Stops everything, removes the peer status file and records when the device was last
    /// level with another. Returns why the peer channel had stopped by itself, if it had.
    @discardableResult
    package func stop() async -> (any Error)? {
        polling?.cancel()
        await polling?.value
        serving?.cancel()
        let outcome = await ended()
        await hub.stopAll()
        try? FileManager.default.removeItem(at: home.peerStatusFile)
        if let last = await hub.snapshot().lastSync {
            var record = SyncRecord.load(home)
            record.peer = max(record.peer ?? last, last)
            record.save(home)
        }
        await engine.settle()
        return outcome
    }
}

/// Network errors in words, classified by type: NIO's own descriptions name syscalls. One
/// wording for the peer channel and the store; `place` and `refusedHint` fit the message to
/// what was dialled.
package enum NetworkWords {
    package static func describe(
        _ error: any Error, place: String = "that address",
        refusedHint: String = "is `ledgerlink listen` running there?"
    ) -> String {
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused (\(refusedHint))"
            case EADDRINUSE: return "the port is in use by another program"
            case EACCES: return "is not allowed for this user (ports below 1024 need privileges)"
            case EADDRNOTAVAIL: return "is not an address of this machine"
            case ECONNRESET: return "the connection was reset"
            case ENETUNREACH, EHOSTUNREACH: return "no route to \(place)"
            case ETIMEDOUT: return "no answer (timed out)"
            default: return error.description
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "no answer (timed out)" }
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first {
                return describe(first.error, place: place, refusedHint: refusedHint)
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "the host name is unknown (check the address)"
            }
        }
        // AsyncHTTPClient wraps resolution and refusals in errors of its own: known by their text.
        let text = "\(error)"
        if text.contains("UnknownHost") || text.contains("Name or service not known") {
            return "the host name is unknown (check the address)"
        }
        if text.contains("connectionRefused") || text.contains("Connection refused") {
            return "connection refused (\(refusedHint))"
        }
        return text
    }
}
