import Foundation
import LedgerCore
import LedgerIdentity
import LedgerSync
import LedgerTUI

#if canImport(Glibc)
    import Glibc
#endif

/// The peer channel beside the TUI: its own `PeerService` (logging to the data folder's log
/// file, never the screen), or, when `ledgerlink listen` already serves this data folder,
/// that process, watched through its status file and nudged with SIGUSR1.
final class PeerSyncMonitor: SyncMonitor {
    private let home: DataHome
    private let service: PeerService?
    private let task: Task<Void, any Error>?
    private let startProblem: String?
    private let lastSyncBefore: Date?
    private let poller: StorePoller?
    private let polling: Task<Void, Never>?

    private init(
        home: DataHome, service: PeerService?, task: Task<Void, any Error>?, problem: String?,
        poller: StorePoller? = nil
    ) {
        self.home = home
        self.service = service
        self.task = task
        self.startProblem = problem
        let record = SyncRecord.load(home)
        self.lastSyncBefore = [record.peer, record.store].compactMap { $0 }.max()
        self.poller = poller
        self.polling = poller.map { poller in Task { await poller.run() } }
    }

    /// The store poller for this device, unless another process already polls for it.
    private static func storePoller(_ context: DeviceContext, _ settings: DeviceConfig, log: FileLog) -> StorePoller? {
        guard let keyPair = context.keyPair, let text = settings.store, let url = URL(string: text) else { return nil }
        if let other = StoreStatus.read(from: context.home.storeStatusFile), other.isLive, other.pid != getpid() {
            return nil
        }
        return StorePoller(
            client: StoreClient(url: url, engine: context.engine, keyPair: keyPair), engine: context.engine,
            schedule: StoreSchedule(
                interval: .seconds(settings.storeInterval), cap: .seconds(settings.storeMaxBackoff)),
            statusFile: context.home.storeStatusFile, log: { log.line($0) })
    }

    static func start(_ context: DeviceContext) async -> PeerSyncMonitor {
        let home = context.home
        if let other = PeerStatus.read(from: home.peerStatusFile), other.isLive, other.pid != getpid() {
            return PeerSyncMonitor(home: home, service: nil, task: nil, problem: nil)
        }
        guard let keyPair = context.keyPair else {
            return PeerSyncMonitor(home: home, service: nil, task: nil, problem: "sync needs the device key")
        }
        let settings: DeviceConfig
        do {
            settings = try DeviceConfig.load(home)
        } catch {
            return PeerSyncMonitor(home: home, service: nil, task: nil, problem: error.description)
        }
        var configuration = PeerServiceConfiguration()
        configuration.listenPort = settings.listenPort
        configuration.discovery = settings.discovery
        configuration.discoveryPort = settings.discoveryPort
        configuration.staticPeers = settings.peers.compactMap(PeerEndpoint.init(parsing:))
        let log = FileLog(home.logFile)
        var problem: String?
        for attempt in 0..<2 {
            let hub = PeerHub(statusFile: home.peerStatusFile, discovery: configuration.discovery)
            let service = PeerService(
                engine: context.engine, keyPair: keyPair, configuration: configuration, hub: hub,
                log: { log.line($0) })
            do {
                let serve = try await service.start()
                let task = Task { try await serve() }
                return PeerSyncMonitor(
                    home: home, service: service, task: task, problem: problem,
                    poller: storePoller(context, settings, log: log))
            } catch {
                // The port is taken (another program, another device's TUI): dial only.
                problem = "not listening: port \(settings.listenPort) \(describe(error))"
                log.line(problem ?? "")
                if attempt == 0 { configuration.listenPort = nil }
            }
        }
        return PeerSyncMonitor(home: home, service: nil, task: nil, problem: problem)
    }

    func badge() async -> SyncBadge? {
        let status: PeerStatus?
        if let service {
            status = await service.hub.snapshot()
        } else {
            status = PeerStatus.read(from: home.peerStatusFile).flatMap { $0.isLive ? $0 : nil }
        }
        let store =
            await poller?.status()
            ?? StoreStatus.read(from: home.storeStatusFile).flatMap { $0.isLive ? $0 : nil }
        guard status != nil || store != nil else {
            return startProblem.map { SyncBadge(problem: $0) }
        }
        let last = [status?.lastSync, store?.lastSuccess, lastSyncBefore].compactMap { $0 }.max()
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm"
        var badge = SyncBadge(
            peers: status?.connections.map { TextSafety.sanitised($0.name) } ?? [],
            lastSync: last.map { formatter.string(from: $0) },
            problem: (status?.lastError ?? store?.lastError ?? startProblem).map { TextSafety.sanitised($0) })
        if let store {
            if let receiving = store.receiving, let total = store.total, total > 0 {
                badge.store = "store \(receiving * 100 / total)%"
            } else {
                badge.store = store.consecutiveFailures == 0 ? "store ok" : "store ✗\(store.consecutiveFailures)"
            }
        }
        return badge
    }

    func syncNow() async -> String {
        await poller?.syncNow()
        if let service {
            let connected = await service.syncNow()
            return connected == 0
                ? "No device connected: run `ledgerlink listen` on another, or `ledgerlink peers add HOST:PORT`"
                : "Syncing with \(connected == 1 ? "1 device" : "\(connected) devices")"
        }
        if let other = PeerStatus.read(from: home.peerStatusFile), other.isLive, kill(pid_t(other.pid), SIGUSR1) == 0 {
            return "Asked ledgerlink listen (pid \(other.pid)) to sync now"
        }
        return "Sync is not running: \(startProblem ?? "start `ledgerlink listen`")"
    }

    /// Stops the service (if this process runs one) and records when it last synced.
    func stop() async {
        polling?.cancel()
        await polling?.value
        guard let service, let task else { return }
        task.cancel()
        _ = await task.result
        await service.hub.stopAll()
        try? FileManager.default.removeItem(at: home.peerStatusFile)
        if let last = await service.hub.snapshot().lastSync {
            var record = SyncRecord.load(home)
            record.peer = max(record.peer ?? last, last)
            record.save(home)
        }
    }
}

/// Appends timestamped lines to a file (the TUI owns the terminal, so logs go here).
final class FileLog: Sendable {
    private let handle: FileHandle?

    init(_ url: URL) {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        handle = try? FileHandle(forWritingTo: url)
        _ = try? handle?.seekToEnd()
    }

    func line(_ text: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        try? handle?.write(contentsOf: Data("\(stamp) \(TextSafety.sanitised(text))\n".utf8))
    }
}
