import Dispatch
import Foundation
import LedgerCore
import LedgerCrypto

/// Runs the terminal UI over one device's merge engine.
@MainActor
public final class TUIApp {
    private let engine: MergeEngine
    private let canWrite: Bool
    private let sync: (any SyncMonitor)?
    private let pairing: (any PairingMonitor)?

    /// `canWrite` is false when the device key could not be unlocked (earn and spend refuse);
    /// `sync` is the sync service running beside the TUI, if any; `pairing` opens pairing
    /// windows and answers link requests.
    public init(
        engine: MergeEngine, canWrite: Bool, sync: (any SyncMonitor)? = nil, pairing: (any PairingMonitor)? = nil
    ) {
        self.engine = engine
        self.canWrite = canWrite
        self.sync = sync
        self.pairing = pairing
    }

    /// Takes over the terminal until the person quits (q, Ctrl-C or SIGTERM), then restores it.
    public func run(usesColor: Bool) async throws {
        let stop = SignalFlag(SIGTERM)
        let terminal = try CursesTerminal(usesColor: usesColor)
        defer { terminal.close() }
        try await loop(terminal, usesColor: usesColor, stop: stop)
    }

    /// Shows the onboarding screen in a data folder with no device; once `create` has made the
    /// identity from the name typed, or `join` has joined one with a pairing code (calling
    /// `showSAS` with the words to type on the pairing device), goes on to the main screen in
    /// the same terminal session.
    public static func runOnboarding(
        usesColor: Bool, create: @escaping @Sendable (String) async throws -> MergeEngine,
        join:
            @escaping @Sendable (_ code: String, _ name: String, _ showSAS: @escaping @Sendable (String) -> Void)
            async throws -> MergeEngine
    ) async throws {
        let stop = SignalFlag(SIGTERM)
        let terminal = try CursesTerminal(usesColor: usesColor)
        defer { terminal.close() }
        let (width, height) = terminal.size
        var state = OnboardingState(width: width, height: height)
        terminal.draw(TUIRenderer.render(state))
        var working: Task<Void, Never>?
        let sas = Shared<String>()
        let outcome = Shared<Result<MergeEngine, any Error>>()
        while !state.wantsQuit, !stop.isSet {
            if let done = outcome.take() {
                working = nil
                switch done {
                case .success(let engine):
                    try await TUIApp(engine: engine, canWrite: true).loop(terminal, usesColor: usesColor, stop: stop)
                    return
                case .failure(let error):
                    state.isWorking = false
                    state.sas = nil
                    state.error = "\(error)"
                    terminal.draw(TUIRenderer.render(state))
                }
            }
            if let words = sas.value, state.isWorking, state.sas != words {
                state.sas = words
                terminal.draw(TUIRenderer.render(state))
            }
            guard let key = terminal.readKey() else {
                await Task.yield()
                continue
            }
            for effect in OnboardingReducer.reduce(&state, key) {
                _ = sas.take()
                working = Task {
                    do {
                        switch effect {
                        case .createIdentity(let name): outcome.set(.success(try await create(name)))
                        case .joinIdentity(let code, let name):
                            outcome.set(.success(try await join(code, name, { sas.set($0) })))
                        }
                    } catch {
                        outcome.set(.failure(error))
                    }
                }
            }
            terminal.draw(TUIRenderer.render(state))
        }
        working?.cancel()
    }

    private func loop(_ terminal: CursesTerminal, usesColor: Bool, stop: SignalFlag) async throws {
        let (width, height) = terminal.size
        var state = TUIState(width: width, height: height, usesColor: usesColor)
        terminal.draw(TUIRenderer.render(state))  // the first frame, before reading anything
        var digest = try await reload(&state)
        terminal.draw(TUIRenderer.render(state))
        if let probe = ProcessInfo.processInfo.environment["LEDGERLINK_TUI_PROBE"] {
            return Self.measure(after: MonotonicClock.nanoseconds, &state, terminal, writingTo: probe)
        }
        TUIReducer.apply(&state, .sync(await sync?.badge()))
        while !state.wantsQuit, !stop.isSet {
            guard let key = terminal.readKey() else {
                // Between keys (at most 100 ms apart): entries merged by sync or written by
                // another process, the sync badge and link requests show up on the next tick.
                let before = state
                if let now = try? await engine.clock().digest, now != digest {
                    digest = try await reload(&state)
                }
                for event in await events() { TUIReducer.apply(&state, event) }
                if state != before { terminal.draw(TUIRenderer.render(state)) }
                await Task.yield()
                continue
            }
            let effects = TUIReducer.reduce(&state, key)
            for effect in effects {
                terminal.draw(TUIRenderer.render(state))
                state.message = await perform(effect)
                digest = try await reload(&state)
            }
            terminal.draw(TUIRenderer.render(state))
        }
    }

    /// What the services beside the screen have to report now.
    private func events() async -> [TUIEvent] {
        var events: [TUIEvent] = []
        if let sync { events.append(.sync(await sync.badge())) }
        if let pairing {
            events.append(.pairing(await pairing.panel()))
            if let notice = await pairing.takeNotice() { events.append(.notice(notice)) }
        }
        return events
    }

    private func perform(_ effect: TUIEffect) async -> String {
        switch effect {
        case .openPairing:
            guard let pairing, canWrite else { return "Pairing needs the device key: run `ledgerlink pair` instead" }
            return await pairing.open()
        case .approve(let id, let typed):
            await pairing?.answer(id, typed: typed)
            return "Checking the words…"
        case .deny(let id):
            await pairing?.deny(id)
            return "Denied; the pairing window is closed"
        case .syncNow:
            guard let sync else { return "Sync is not running: the device key is needed for it" }
            return await sync.syncNow()
        case .record(let kind, let amount, let memo):
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            do {
                try await engine.appendRecord(kind, amount: amount, memo: memo)
                let d = await engine.decimals ?? 2
                return "\(kind == .credit ? "Earned" : "Spent") \(AmountFormat.format(Int128(amount), decimals: d))"
            } catch {
                return "Not saved: \(error)"
            }
        case .revoke(let hex):
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            do {
                let key = try DevicePublicKey(bytes: Hex.decode(hex) ?? [])
                try await engine.appendRevoke(device: key)
                return "Revoked \(key.fingerprint); the data key was rotated"
            } catch {
                return "Not revoked: \(error)"
            }
        }
    }

    /// Loads the snapshot anew; returns the clock digest it reflects at least. The digest is
    /// read first: an entry merged while the snapshot is read then shows up as a change at the
    /// next tick, instead of slipping between the two reads unseen.
    private func reload(_ state: inout TUIState) async throws -> EntryHash {
        let digest = try await engine.clock().digest
        state.snapshot = try await LedgerSnapshot.load(from: engine)
        state.decimals = await engine.decimals ?? 2
        _ = TUIReducer.reduce(&state, .resize(width: state.width, height: state.height))  // clamp selections
        return digest
    }
}

extension LedgerSnapshot {
    /// Reads what the TUI shows from the engine, sanitising every piece of untrusted text.
    public static func load(from engine: MergeEngine, historyLimit: Int = 500) async throws -> LedgerSnapshot {
        let totals = try await engine.totals()
        let d = await engine.decimals ?? 2
        let devices = try await engine.devices()
        let names = Dictionary(
            uniqueKeysWithValues: devices.map { ($0.key, TextSafety.sanitised($0.name ?? "(unnamed)")) })
        let history = try await engine.history(limit: historyLimit)
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        let date = { (ms: Int64) in formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)) }
        var snapshot = LedgerSnapshot(
            identity: engine.identity.hex, deviceName: names[engine.device] ?? "(this device)",
            fingerprint: engine.device.fingerprint, balance: AmountFormat.format(totals.balance, decimals: d),
            earned: AmountFormat.format(totals.credits, decimals: d),
            spent: AmountFormat.format(totals.debits, decimals: d),
            devices: devices.map {
                DeviceRow(
                    name: names[$0.key] ?? "", fingerprint: $0.key.fingerprint, state: $0.state,
                    entries: Int($0.entries),
                    isThisDevice: $0.isThisDevice)
            },
            history: history.map {
                HistoryRow(
                    time: date($0.time),
                    isCredit: $0.kind == .credit,
                    amount: $0.amount.map { AmountFormat.format(Int128($0), decimals: d) } ?? "(unreadable)",
                    device: names[$0.author] ?? $0.author.fingerprint, memo: TextSafety.sanitised($0.memo ?? ""))
            })
        // Walk back from today's balance through the newest entries.
        var balance = totals.balance
        var trend = [balance]
        for item in history.prefix(60) {
            guard let amount = item.amount else { continue }
            balance -= item.kind == .credit ? Int128(amount) : -Int128(amount)
            trend.append(balance)
        }
        snapshot.balanceTrend = trend.reversed()
        return snapshot
    }
}

extension TUIApp {
    /// Diagnostics for docs/BENCHMARKS.md (`LEDGERLINK_TUI_PROBE=FILE`): records when the first
    /// complete frame was drawn and the peak memory so far, then replays 500 keys, timing each
    /// from the reducer to the terminal update, writes the results and quits.
    private static func measure(
        after firstFrame: UInt64, _ state: inout TUIState, _ terminal: CursesTerminal, writingTo path: String
    ) {
        let peakKB = ProcessStatus.peakResidentKilobytes
        let keys: [Key] = [.down, .down, .character("j"), .tab, .down, .character("G"), .character("g"), .up, .backTab]
        var latencies: [UInt64] = []
        for i in 0..<500 {
            let start = MonotonicClock.nanoseconds
            _ = TUIReducer.reduce(&state, keys[i % keys.count])
            terminal.draw(TUIRenderer.render(state))
            latencies.append(MonotonicClock.nanoseconds - start)
        }
        latencies.sort()
        let report = [
            "first_frame_ns=\(firstFrame)", "peak_rss_kb=\(peakKB)",
            "key_p50_ns=\(latencies[latencies.count / 2])", "key_p99_ns=\(latencies[latencies.count * 99 / 100])",
        ].joined(separator: "\n")
        try? (report + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: comparable across processes on one machine.
public enum MonotonicClock {
    public static var nanoseconds: UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Reads this process's peak resident memory (VmHWM) from /proc.
enum ProcessStatus {
    static var peakResidentKilobytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

/// A value one task writes and the UI loop reads.
final class Shared<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?

    var value: Value? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func set(_ value: Value) {
        lock.lock()
        stored = value
        lock.unlock()
    }

    /// The value, once: it is cleared.
    func take() -> Value? {
        lock.lock()
        defer { lock.unlock() }
        let value = stored
        stored = nil
        return value
    }
}

/// Set once the process receives `signal`; the default action is turned off meanwhile.
final class SignalFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    private let source: DispatchSourceSignal

    init(_ number: Int32) {
        signal(number, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            self.raised = true
            self.lock.unlock()
        }
        source.resume()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return raised
    }
}
