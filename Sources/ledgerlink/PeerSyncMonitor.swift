import Foundation
import LedgerCore
import LedgerIdentity
import LedgerSync
import LedgerTUI
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The peer channel and the store beside the TUI: its own `PeerService` (logging to the data
/// folder's log file, never the screen) and store poller, or, when `ledgerlink listen` already
/// serves this data folder, that process, watched through its status files and nudged with
/// SIGUSR1. A store saved later (`sync --store` in another terminal) is picked up while the
/// screen runs.
actor PeerSyncMonitor: SyncMonitor {
    private let context: DeviceContext
    /// The services this process runs; nil when `ledgerlink listen` serves this data folder
    /// (or the key is locked).
    private let services: SyncServices?
    private let startProblem: String?
    private let lastSyncBefore: Date?
    private let clock: any Clock<Duration>
    private var nextConfigCheck: ContinuousClock.Instant = .now
    /// The newest problem recorded with a store (proof kept in the ledger's database), read
    /// again at most once a second.
    private var recordedStoreProblem: String?
    private var recordedStoreProblems: [String] = []
    private var nextProblemCheck: ContinuousClock.Instant = .now
    private var notices: [String] = []
    /// The first write of this screen looked for newer entries of this device first.
    private var checkedBeforeWriting = false
    private var outcome: Task<Void, Never>?
    private var watching: Task<Void, Never>?
    /// `HH:mm` for the badge, made once: the badge is asked for ten times a second.
    private let hoursMinutes: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm"
        return formatter
    }()

    /// How long `s` waits for every connected device and the store before saying what is left.
    static let syncDeadline: Duration = .seconds(60)

    private var home: DataHome { context.home }

    private init(
        context: DeviceContext, services: SyncServices?, problem: String?, clock: any Clock<Duration>
    ) {
        self.context = context
        self.services = services
        self.startProblem = problem
        self.clock = clock
        let record = SyncRecord.load(context.home)
        self.lastSyncBefore = [record.peer, record.store].compactMap { $0 }.max()
    }

    static func start(_ context: DeviceContext, clock: any Clock<Duration> = ContinuousClock()) async
        -> PeerSyncMonitor
    {
        let home = context.home
        func monitor(_ services: SyncServices?, _ problem: String?) async -> PeerSyncMonitor {
            let monitor = PeerSyncMonitor(context: context, services: services, problem: problem, clock: clock)
            await monitor.watch()
            return monitor
        }
        if let other = PeerStatus.read(from: home.peerStatusFile), other.isLive, other.pid != getpid() {
            return await monitor(nil, nil)
        }
        guard let keyPair = context.keyPair else { return await monitor(nil, "sync needs the device key") }
        var settings: SyncSettings
        do {
            settings = try SyncSettings(try DeviceConfig.load(home))
        } catch {
            // A settings file with an address that is not one: said, never dropped in silence.
            return await monitor(nil, "\(error)")
        }
        // Another process may poll the store for this device already.
        if let other = StoreStatus.read(from: home.storeStatusFile), other.isLive, other.pid != getpid() {
            settings.store = nil
        }
        let logger = Logger.lines("ledgerlink.sync", .file(home.logFile))
        do {
            let services = try await SyncServices.start(
                home: home, engine: context.engine, keyPair: keyPair, settings: settings, dialOnlyIfTaken: true,
                logger: logger)
            return await monitor(services, services.listenProblem)
        } catch {
            return await monitor(nil, "not listening: \(describe(error.underlying))")
        }
    }

    /// Polls the store saved since the screen opened (`sync --store` in another terminal), or
    /// stops polling one removed, unless another process polls for this device. Looks at the
    /// settings at most every two seconds.
    private func pickUpStore() async {
        guard let services, ContinuousClock.now >= nextConfigCheck else { return }
        nextConfigCheck = .now + .seconds(2)
        guard let config = try? DeviceConfig.load(home), let saved = try? config.store.map(SyncSettings.storeURL)
        else { return }
        if let other = StoreStatus.read(from: home.storeStatusFile), other.isLive, other.pid != getpid() {
            return
        }
        await services.use(store: saved)
    }

    private func peerStatus() async -> PeerStatus? {
        if let services { return await services.peerStatus() }
        return PeerStatus.read(from: home.peerStatusFile).flatMap { $0.isLive ? $0 : nil }
    }

    private func storeStatus() async -> StoreStatus? {
        if let status = await services?.storeStatus() { return status }
        return StoreStatus.read(from: home.storeStatusFile).flatMap { $0.isLive ? $0 : nil }
    }

    func badge() async -> SyncBadge? {
        await pickUpStore()
        if ContinuousClock.now >= nextProblemCheck {
            nextProblemCheck = .now + .seconds(1)
            let recorded = (try? context.engine.store.storeProblems()) ?? []
            recordedStoreProblems = recorded.map {
                "\(TextSafety.sanitised($0.message)) (found \(TimeText.short($0.time)))"
            }
            recordedStoreProblem = recorded.last.map { "store: \($0.message) (press ! for every problem)" }
        }
        let status = await peerStatus()
        let store = await storeStatus()
        guard status != nil || store != nil else {
            var badge = (recordedStoreProblem ?? startProblem).map { SyncBadge(problem: TextSafety.sanitised($0)) }
            badge?.storeProblems = recordedStoreProblems
            return badge
        }
        let last = [status?.lastSync, store?.lastSuccess, lastSyncBefore].compactMap { $0 }.max()
        let formatter = hoursMinutes
        // The problem shown in words under the panes: the store's first (a failing or lying
        // store), then the peer channel's.
        let storeProblem = (store?.lastError ?? store?.problem).map { "store: \($0)" }
        var badge = SyncBadge(
            peers: status?.connections.map { TextSafety.sanitised($0.name) } ?? [],
            lastSync: last.map { formatter.string(from: $0) },
            problem: (storeProblem ?? recordedStoreProblem ?? status?.lastError ?? startProblem).map {
                TextSafety.sanitised($0)
            })
        badge.store = store?.badge
        if let receiving = status?.connections.first(where: { $0.received > 0 && $0.level == nil }) {
            badge.store = [badge.store, "receiving \(receiving.received)"].compactMap { $0 }.joined(separator: " · ")
        }
        badge.storeProblems = recordedStoreProblems
        return badge
    }

    func takeNotice() -> String? { notices.isEmpty ? nil : notices.removeFirst() }

    func beforeWriting() async -> String? {
        guard !checkedBeforeWriting else { return nil }
        checkedBeforeWriting = true
        let lines = await CatchUp.beforeWriting(context)
        return lines.isEmpty ? nil : lines.joined(separator: " ")
    }

    func syncNow() async -> String {
        await pickUpStore()
        let started = Date()
        let storeAttempts = (await storeStatus())?.attempts ?? 0
        let nudged: String?
        if let services {
            await services.syncNow()
            nudged = nil
        } else if let other = PeerStatus.read(from: home.peerStatusFile), other.isLive,
            kill(pid_t(other.pid), SIGUSR1) == 0
        {
            nudged = "ledgerlink listen (pid \(other.pid))"
        } else {
            nudged = nil
        }
        let peers = (await peerStatus())?.connections ?? []
        let store = await storeStatus()
        if peers.isEmpty, store == nil {
            if let startProblem { return "Sync is not running: \(startProblem)" }
            return "Nothing to sync with: no device is connected and no store is set "
                + "(run `ledgerlink listen` on another device, `ledgerlink peers add HOST:PORT`, or `sync --store URL`)"
        }
        outcome?.cancel()
        outcome = Task {
            await self.report(since: started, peers: peers, storeAttempts: store == nil ? nil : storeAttempts)
        }
        let names = peers.map { TextSafety.sanitised($0.name) } + (store == nil ? [] : ["the store"])
        let via = nudged.map { " (through \($0))" } ?? ""
        return "Syncing with \(Self.list(names))\(via)…"
    }

    /// Where a sync started by `s` stands: the devices level since, gone, or still waited for.
    private struct Progress {
        var level: [String] = []
        var gone: [String] = []
        var waiting: [String] = []
        var store: StoreStatus?
        var storeDone = true
        var isDone: Bool { waiting.isEmpty && storeDone }
    }

    private func progress(since started: Date, peers: [PeerStatus.Connection], storeAttempts: Int?) async
        -> Progress
    {
        var progress = Progress()
        let now = (await peerStatus())?.connections ?? []
        for peer in peers {
            let name = TextSafety.sanitised(peer.name)
            guard let current = now.first(where: { $0.device == peer.device }) else {
                progress.gone.append(name)
                continue
            }
            if let at = current.level, at >= started {
                progress.level.append(name)
            } else {
                progress.waiting.append(name)
            }
        }
        progress.store = await storeStatus()
        progress.storeDone = storeAttempts.map { (progress.store?.attempts ?? 0) > $0 } ?? true
        return progress
    }

    /// Waits until every device connected when `s` was pressed is level (or gone) and the store
    /// finished an attempt, or `syncDeadline` passes on the clock; then says how it ended.
    private func report(since started: Date, peers: [PeerStatus.Connection], storeAttempts: Int?) async {
        let step: Duration = .milliseconds(100)
        var now = await progress(since: started, peers: peers, storeAttempts: storeAttempts)
        var waited: Duration = .zero
        while !now.isDone, waited < Self.syncDeadline, !Task.isCancelled {
            try? await clock.sleep(for: step)
            waited += step
            now = await progress(since: started, peers: peers, storeAttempts: storeAttempts)
        }
        guard !Task.isCancelled else { return }
        var parts: [String] = []
        var storeLevel = false
        if storeAttempts != nil, let store = now.store {
            if let error = store.lastError {
                parts.append("the store failed: \(TextSafety.sanitised(error))")
            } else if let problem = store.problem {
                storeLevel = true
                parts.append("the store: \(TextSafety.sanitised(problem))")
            } else if now.storeDone {
                storeLevel = true
            } else {
                parts.append("the store did not answer in \(Self.syncDeadline.components.seconds) s")
            }
        }
        let levelWith = now.level + (storeLevel ? ["the store"] : [])
        if !now.gone.isEmpty { parts.append("\(Self.list(now.gone)) disconnected") }
        if !now.waiting.isEmpty {
            parts.append("\(Self.list(now.waiting)) not level after \(Self.syncDeadline.components.seconds) s")
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        let time = formatter.string(from: Date())
        if parts.isEmpty {
            notices.append("Synced at \(time): level with \(Self.list(levelWith))")
        } else if levelWith.isEmpty {
            notices.append("⚠ Sync at \(time) did not finish: " + parts.joined(separator: "; "))
        } else {
            notices.append("⚠ Synced at \(time) with \(Self.list(levelWith)); " + parts.joined(separator: "; "))
        }
    }

    private static func list(_ names: [String]) -> String {
        switch names.count {
        case 0: return "nobody"
        case 1: return names[0]
        default: return names.dropLast().joined(separator: ", ") + " and " + (names.last ?? "")
        }
    }

    /// Stops the services (if this process runs them) and records when it last synced.
    func stop() async {
        outcome?.cancel()
        watching?.cancel()
        await services?.stop()
    }

    /// Announces what the engine finds worth saying while the screen runs: entries of this
    /// device's own log that came back from elsewhere (a folder restored from a backup).
    private func watch() {
        let events = context.engine
        watching = Task { [weak self] in
            for await event in await events.subscribe() {
                guard case .caughtUp(let entries) = event else { continue }
                await self?.notify(CatchUp.caughtUpLine(entries))
            }
        }
    }

    private func notify(_ line: String) { notices.append(line) }
}
