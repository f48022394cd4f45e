import Dispatch
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import Synchronization

/// What the screen runs over: the engine, and the services beside it that the front-end
/// started (this module has no network code), with how to stop them.
package struct TUIServices: Sendable {
    package let engine: MergeEngine
    /// False when the device key could not be unlocked (earn, spend and revoke refuse).
    package let canWrite: Bool
    package let sync: (any SyncMonitor)?
    package let pairing: (any PairingMonitor)?
    /// Stops the services when the screen closes.
    package let stop: @Sendable () async -> Void
    /// The floor a spend is warned at (`min_balance`), in minor units.
    package var minBalance: Int128 = 0

    package init(
        engine: MergeEngine, canWrite: Bool, sync: (any SyncMonitor)? = nil, pairing: (any PairingMonitor)? = nil,
        stop: @escaping @Sendable () async -> Void = {}
    ) {
        (self.engine, self.canWrite, self.sync, self.pairing, self.stop) = (engine, canWrite, sync, pairing, stop)
    }
}

/// Runs the terminal UI over one device's merge engine.
@MainActor
package final class TUIApp {
    private let engine: MergeEngine
    private let canWrite: Bool
    private let minBalance: Int128
    private let sync: (any SyncMonitor)?
    private let pairing: (any PairingMonitor)?
    /// Where the benchmark wants its measurements (see TUIApp+Probe.swift); nil in use.
    private let probe: String?
    /// Recovery words shown and not yet typed back: the key exists only here until then.
    private var pendingRecovery: RecoveryWords?
    /// The dialog that shows them, for the screen's state once the effect returns.
    private var recoveryToShow: RecoveryDialog?
    /// A forked device's branches read for the settle dialog, shown after the effect.
    private var settleToShow: SettleDialog?

    /// `probe` is for the benchmark only (`ledgerlink-bench tui`): a file to write measurements
    /// to, after which the screen closes.
    package init(_ services: TUIServices, probe: String? = nil) {
        engine = services.engine
        canWrite = services.canWrite
        minBalance = services.minBalance
        sync = services.sync
        pairing = services.pairing
        self.probe = probe
    }

    /// Takes over the terminal until the person quits (q, Ctrl-C or SIGTERM), then restores it.
    /// `mouse` turns on clicks and the wheel.
    package func run(usesColor: Bool, mouse: Bool = true) async throws {
        let stop = SignalFlag(SIGTERM)
        let terminal = try CursesTerminal(usesColor: usesColor, mouse: mouse)
        defer { terminal.close() }
        try await loop(terminal, usesColor: usesColor, stop: stop)
    }

    /// Shows the onboarding screen in a data folder with no device; once `create` has made the
    /// identity from the name typed, or `join` has joined one with a pairing code (calling
    /// `showSAS` with the words to type on the pairing device), goes on to the main screen in
    /// the same terminal session, with the same services a later launch would start.
    package static func runOnboarding(
        usesColor: Bool, mouse: Bool = true, create: @escaping @Sendable (String) async throws -> TUIServices,
        join:
            @escaping @Sendable (_ code: String, _ name: String, _ showSAS: @escaping @Sendable (String) -> Void)
            async throws -> TUIServices
    ) async throws {
        let stop = SignalFlag(SIGTERM)
        let terminal = try CursesTerminal(usesColor: usesColor, mouse: mouse)
        defer { terminal.close() }
        let (width, height) = terminal.size
        var state = OnboardingState(width: width, height: height)
        terminal.draw(TUIRenderer.render(state))
        var working: Task<Void, Never>?
        let sas = Shared<String>()
        let outcome = Shared<Result<TUIServices, any Error>>()
        while !state.wantsQuit, !stop.isSet {
            if let done = outcome.take() {
                working = nil
                switch done {
                case .success(let services):
                    do {
                        try await TUIApp(services).loop(terminal, usesColor: usesColor, stop: stop)
                    } catch {
                        await services.stop()
                        throw error
                    }
                    await services.stop()
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
        let history = HistoryPager(engine: engine)
        var digest = try await reload(&state, history)
        terminal.draw(TUIRenderer.render(state))
        if let probe {
            return await Self.measure(
                after: MonotonicClock.nanoseconds, &state, terminal, history: history, writingTo: probe)
        }
        if let pairing { TUIReducer.apply(&state, .pairingAddress(await pairing.suggestedAddress())) }
        TUIReducer.apply(&state, .sync(await sync?.badge()))
        while !state.wantsQuit, !stop.isSet {
            guard let key = terminal.readKey() else {
                // Between keys (at most 100 ms apart): entries merged by sync or written by
                // another process, the sync badge, link requests and the history index show
                // up on the next tick.
                let before = state
                if let now = try? await engine.clock().digest, now != digest {
                    digest = try await reload(&state, history)
                }
                for event in await events() { TUIReducer.apply(&state, event) }
                await history.update(&state)
                if state != before { terminal.draw(TUIRenderer.render(state)) }
                await Task.yield()
                continue
            }
            let effects = TUIReducer.reduce(&state, key)
            for effect in effects {
                terminal.draw(TUIRenderer.render(state))
                state.message = await perform(effect)
                if let dialog = recoveryToShow {
                    recoveryToShow = nil
                    TUIReducer.apply(&state, .recovery(dialog))
                }
                if let dialog = settleToShow {
                    settleToShow = nil
                    TUIReducer.apply(&state, .settle(dialog))
                }
                digest = try await reload(&state, history)
            }
            await history.update(&state)
            terminal.draw(TUIRenderer.render(state))
        }
    }

    /// What the services beside the screen have to report now.
    private func events() async -> [TUIEvent] {
        var events: [TUIEvent] = []
        if let sync {
            events.append(.sync(await sync.badge()))
            if let notice = await sync.takeNotice() { events.append(.notice(notice)) }
        }
        if let pairing {
            events.append(.pairing(await pairing.panel()))
            if let notice = await pairing.takeNotice() { events.append(.notice(notice)) }
        }
        return events
    }

    private func perform(_ effect: TUIEffect) async -> String {
        switch effect {
        case .openPairing(let address):
            guard let pairing, canWrite else { return "Pairing needs the device key: run `ledgerlink pair` instead" }
            return await pairing.open(address: address)
        case .approve(let id, let typed):
            await pairing?.answer(id, typed: typed)
            return "Checking the words…"
        case .deny(let id):
            await pairing?.deny(id)
            return "Denied; the pairing window is closed"
        case .prepareRecovery:
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            let words = RecoveryWords.generate()
            pendingRecovery = words
            let first = Int(SecureRandom.uniform(UInt32(RecoveryWords.wordCount)))
            var second = Int(SecureRandom.uniform(UInt32(RecoveryWords.wordCount - 1)))
            if second >= first { second += 1 }
            recoveryToShow = RecoveryDialog(words: words.words, asks: [first, second].sorted())
            return ""
        case .cancelRecovery:
            pendingRecovery = nil
            return "No recovery key was made"
        case .linkRecovery:
            guard let words = pendingRecovery else { return "No recovery words are waiting" }
            pendingRecovery = nil
            do {
                let key = words.keyPair
                let day = HistoryDate.format(MergeEngine.now()).prefix(10)
                try await engine.appendRecoveryKey(key, name: "recovery key \(day)")
                return "Linked recovery key \(key.publicKey.fingerprint); keep the words on paper. Sync so every "
                    + "device knows it."
            } catch {
                return "Not linked: \(error)"
            }
        case .syncNow:
            guard let sync else { return "Sync is not running: the device key is needed for it" }
            return await sync.syncNow()
        case .record(let kind, let amount, let memo):
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            do {
                let note = await sync?.beforeWriting()
                try await engine.appendRecord(kind, amount: amount, memo: memo)
                let d = await engine.decimals ?? 2
                return (note.map { "\($0) " } ?? "")
                    + "\(kind == .credit ? "Earned" : "Spent") \(AmountFormat.format(Int128(amount), decimals: d))"
            } catch {
                return "Not saved: \(error)"
            }
        case .correct(let ref, let amount, let memo):
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            do {
                let note = await sync?.beforeWriting()
                try await engine.appendCorrection(of: ref, amount: amount, memo: memo)
                let d = await engine.decimals ?? 2
                return (note.map { "\($0) " } ?? "")
                    + (amount == 0
                        ? "Voided \(ref.id)"
                        : "Corrected \(ref.id) to \(AmountFormat.format(Int128(amount), decimals: d))")
            } catch {
                return "Not saved: \(error)"
            }
        case .loadBranches(let hex):
            do {
                guard let bytes = Hex.decode(hex), !bytes.isEmpty else { return "This screen does not know that key" }
                let key = try DevicePublicKey(bytes: bytes)
                guard let (fork, branches) = try await engine.branches(of: key), !branches.isEmpty else {
                    return "That device is not forked"
                }
                let d = await engine.decimals ?? 2
                let names = Dictionary(
                    uniqueKeysWithValues: try await engine.devices().map {
                        ($0.key, TextSafety.sanitised($0.name ?? ""))
                    })
                settleToShow = SettleDialog(
                    device: names[key] ?? key.fingerprint, deviceKey: hex, forkSeq: fork,
                    branches: branches.map { Self.settleBranch($0, decimals: d) })
                return ""
            } catch {
                return "Cannot read the branches: \(error)"
            }
        case .settle(let hex, let chosen, let through):
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            do {
                guard let bytes = Hex.decode(hex), let hash = Hex.decode(chosen) else { return "Not settled: bad key" }
                try await engine.appendSettle(
                    device: try DevicePublicKey(bytes: bytes), chosen: try EntryHash(bytes: hash), through: through)
                return "Settled: that branch counts through seq \(through). Sync so every device applies it"
            } catch {
                return "Not settled: \(error)"
            }
        case .revoke(let hex):
            guard canWrite else { return "This device's key is locked: run `ledgerlink tui` with --passphrase-file" }
            do {
                guard let bytes = Hex.decode(hex), !bytes.isEmpty else {
                    return "Not revoked: this screen does not know that device's key"
                }
                let key = try DevicePublicKey(bytes: bytes)
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
    private func reload(_ state: inout TUIState, _ history: HistoryPager) async throws -> EntryHash {
        let digest = try await engine.clock().digest
        let snapshot = try await LedgerSnapshot.load(from: engine)
        state.decimals = await engine.decimals ?? 2
        state.minBalance = minBalance
        TUIReducer.apply(&state, .snapshot(snapshot))
        try await history.ledgerChanged()
        return digest
    }
}

extension LedgerSnapshot {
    /// Reads what the TUI shows from the engine, sanitising every piece of untrusted text.
    /// `newest` entries are read for the first frame and the sparkline; the whole history is
    /// paged in by `HistoryPager`.
    package static func load(from engine: MergeEngine, newest: Int = 200) async throws -> LedgerSnapshot {
        let totals = try await engine.totals()
        let d = await engine.decimals ?? 2
        let devices = try await engine.devices()
        let names = Dictionary(
            uniqueKeysWithValues: devices.map { ($0.key, TextSafety.sanitised($0.name ?? "(unnamed)")) })
        let rows = HistoryRowFormat(names: names, decimals: d)
        let history = try await engine.history(limit: newest)
        var snapshot = LedgerSnapshot(
            identity: engine.identity.hex, deviceName: names[engine.device] ?? "(this device)",
            fingerprint: engine.device.fingerprint, balance: AmountFormat.format(totals.balance, decimals: d),
            earned: AmountFormat.format(totals.credits, decimals: d),
            spent: AmountFormat.format(totals.debits, decimals: d),
            devices: devices.map { device in
                let linked =
                    device.linkedBy.map { "linked by \(names[$0] ?? $0.fingerprint)" } ?? "created the identity"
                return DeviceRow(
                    name: names[device.key] ?? "", fingerprint: device.key.fingerprint,
                    state: device.isRecovery && device.boundary == nil
                        ? "recovery key" : device.settlement != nil ? "forked, settled" : device.state,
                    entries: Int(clamping: device.entries), isThisDevice: device.isThisDevice, key: device.key.hex,
                    linked: "\(linked) \(HistoryDate.format(device.linkedAt))",
                    lastSeen: device.lastSeen.map { "last entry \(HistoryDate.format($0))" } ?? "no entries",
                    quarantined: Int(clamping: device.quarantined), forkSeq: device.forkSeq)
            },
            history: history.map(rows.row))
        snapshot.unreadable = totals.unreadable
        snapshot.balanceMinor = totals.balance
        // Walk back from today's balance through the newest entries.
        var balance = totals.balance
        var trend = [balance]
        for item in history.prefix(60) where item.kind.isRecord {
            guard let amount = item.countedAmount else { continue }
            balance -= item.kind == .credit ? Int128(amount) : -Int128(amount)
            trend.append(balance)
        }
        snapshot.balanceTrend = trend.reversed()
        if let low = trend.min(), let high = trend.max(), trend.count > 1 {
            snapshot.trendLabel =
                "last \(trend.count - 1) entr\(trend.count == 2 ? "y" : "ies"): "
                + "\(AmountFormat.format(low, decimals: d)) to \(AmountFormat.format(high, decimals: d))"
        }
        return snapshot
    }
}

extension TUIApp {
    /// One branch as the settle dialog lists it: a summary, then its newest entries.
    static func settleBranch(_ branch: ForkBranch, decimals d: UInt8) -> SettleDialog.Branch {
        let records = branch.entries.filter(\.kind.isRecord)
        let sum = { (kind: EntryKind) in
            records.filter { $0.kind == kind }.compactMap(\.amount).reduce(Int128(0)) { $0 + Int128($1) }
        }
        let first = branch.entries.first?.seq ?? 0
        let last = branch.entries.last?.seq ?? first
        let count = branch.entries.count
        let summary =
            "seqs \(first)-\(last), \(count) entr\(count == 1 ? "y" : "ies"): in +\(AmountFormat.format(sum(.credit), decimals: d)), "
            + "out -\(AmountFormat.format(sum(.debit), decimals: d))" + (branch.isChosen ? "  [counts now]" : "")
        let lines = branch.entries.suffix(3).map { item in
            let sign = item.kind == .credit ? "+" : item.kind == .debit ? "-" : ""
            let amount = item.amount.map { sign + AmountFormat.format(Int128($0), decimals: d) } ?? item.kind.name
            return
                "seq \(item.seq)  \(HistoryDate.format(item.time))  \(amount)  \(TextSafety.sanitised(item.memo ?? ""))"
        }
        return SettleDialog.Branch(
            summary: summary, lines: lines, first: branch.first?.hex ?? "", last: last, isChosen: branch.isChosen)
    }
}

/// Turns history items into screen rows: local time, the amount with the unit's decimals, the
/// device's name, the memo sanitised.
struct HistoryRowFormat: Sendable {
    let names: [DevicePublicKey: String]
    let decimals: UInt8

    /// A corrected credit or debit shows the amount and memo it counts with now and what it
    /// was; a correction shows what it names and how it stands, without a sign.
    func row(_ item: HistoryItem) -> LedgerSnapshot.HistoryRow {
        let format = { (amount: Int64) in AmountFormat.format(Int128(amount), decimals: decimals) }
        let device = names[item.author] ?? item.author.fingerprint
        let sign = item.kind == .credit ? "+" : "-"
        var row = LedgerSnapshot.HistoryRow(
            time: HistoryDate.format(item.time), isCredit: item.kind == .credit,
            amount: item.amount.map(format) ?? "(unreadable)", device: device,
            memo: TextSafety.sanitised(item.memo ?? ""), ref: item.kind.isRecord ? item.ref : nil)
        switch item.note {
        case .corrected(let effect):
            let was = item.amount.map { sign + format($0) } ?? "?"
            row.memo = TextSafety.sanitised(effect.memo ?? "")
            if effect.isVoid {
                (row.amount, row.unsigned) = ("void", true)
                row.memo += "  [void; was \(was)]"
            } else {
                row.amount = effect.amount.map(format) ?? "(unreadable)"
                row.memo += "  [corrected; was \(was)]"
            }
        case .correction(let state, let target, let original):
            row.unsigned = true
            row.amount = item.amount.map { $0 == 0 ? "void" : "→" + format($0) } ?? "(unreadable)"
            let words: String
            switch state {
            case .counts: words = "counts"
            case .replaced(let by): words = "replaced by \(by.id)"
            case .overruled(let by): words = "overruled by \(by.id)"
            case .waiting: words = "waiting for its entry"
            case .unusable: words = "names no credit or debit"
            }
            row.memo =
                "corrects \(target.id)" + (item.memo.map { ": \"\(TextSafety.sanitised($0))\"" } ?? "") + "  [\(words)]"
            // Correcting a correction that counts corrects its credit or debit.
            if case .counts = state, original != nil { row.ref = item.ref }
        case nil:
            if item.kind == .correction { (row.amount, row.unsigned) = ("(unreadable)", true) }
        }
        let counted = item.countedAmount ?? item.amount
        row.countedAmount = counted.map(format) ?? ""
        if case .corrected(let effect) = item.note {
            row.countedMemo = effect.memo ?? ""
        } else {
            row.countedMemo = item.memo ?? ""
        }
        return row
    }
}

/// The whole history, paged: indexes the ledger (and each filter typed) off the main actor,
/// one build at a time, keeps the indexes up to date as entries arrive, and loads the rows
/// around the selection as it moves.
@MainActor
final class HistoryPager {
    private let engine: MergeEngine
    /// The logs as of the last reload.
    private var logs: HistoryLogs?
    private var format = HistoryRowFormat(names: [:], decimals: 2)
    private var full: HistoryIndex?
    private var filtered: HistoryIndex?
    /// The build running, and the filter it is for ("" for the whole ledger).
    private var building: (task: Task<Void, Never>, filter: String)?
    private let finished = Shared<(filter: String, result: Result<HistoryIndex?, LedgerError>)>()
    /// Bumped whenever the list shown may have moved under its loaded rows.
    private var generation = 0
    private var shownGeneration = -1

    init(engine: MergeEngine) { self.engine = engine }

    /// The ledger changed: the indexes are brought up to date on the next updates.
    func ledgerChanged() async throws {
        let logs = try await engine.historyLogs()
        self.logs = logs
        format = HistoryRowFormat(
            names: logs.names.mapValues { TextSafety.sanitised($0) }, decimals: logs.decimals)
    }

    /// Takes a finished build, starts the next one needed, and loads the rows the screen needs.
    func update(_ state: inout TUIState) async {
        if let done = finished.take() {
            building = nil
            switch done.result {
            case .success(let index?):
                if done.filter.isEmpty { full = index } else { filtered = index }
                generation += 1
                if done.filter.isEmpty { TUIReducer.apply(&state, .months(months(of: index), current: thisMonth)) }
            case .success(nil):
                break  // cancelled: a newer filter replaced it
            case .failure(let error):
                state.message = "The history could not be read: \(error)"
            }
        }
        startBuildIfNeeded(filter: state.filter)
        show(&state)
    }

    private var thisMonth: Int { HistoryDate.month(Int64(Date().timeIntervalSince1970 * 1000)) }

    private func isCurrent(_ index: HistoryIndex?, filter: String) -> Bool {
        guard let index, let logs else { return false }
        return index.logs == logs && (index.filter?.text ?? "") == filter
    }

    private func startBuildIfNeeded(filter: String) {
        guard let logs else { return }
        // The filter being typed comes first; a search for an older filter is dropped.
        let wanted: String
        if !filter.isEmpty, !isCurrent(filtered, filter: filter) {
            wanted = filter
        } else if !isCurrent(full, filter: "") {
            wanted = ""
        } else {
            return
        }
        if let building {
            guard building.filter != wanted, !building.filter.isEmpty else { return }
            building.task.cancel()
        }
        let earlier = wanted.isEmpty ? full : filtered
        let engine = engine
        let finished = finished
        let task = Task.detached(priority: .utility) {
            let result = Result { () throws(LedgerError) -> HistoryIndex? in
                try engine.historyIndex(
                    logs, filter: wanted.isEmpty ? nil : HistoryFilter(wanted, decimals: logs.decimals),
                    updating: earlier,
                    isCancelled: { Task.isCancelled })
            }
            finished.set((wanted, result))
        }
        building = (task, wanted)
    }

    /// Puts the list for the filter in force on the screen, with the rows around the selection.
    private func show(_ state: inout TUIState) {
        let index = state.filter.isEmpty ? full : filtered
        guard let index, (index.filter?.text ?? "") == state.filter else { return }
        var view = state.history
        if view.filter != state.filter || view.total == nil || shownGeneration != generation {
            view = HistoryView(total: index.count, filter: state.filter, sums: sums(of: index))
            shownGeneration = generation
            TUIReducer.apply(&state, .history(view))
            view = state.history
        }
        let needed = state.historyRowsNeeded
        guard !view.holds(needed) else { return }
        let page = max(0, needed.lowerBound - state.height)..<min(index.count, needed.upperBound + state.height)
        do {
            view.rows = try engine.historyItems(index, in: page).map(format.row)
            view.first = page.lowerBound
            TUIReducer.apply(&state, .history(view))
        } catch {
            state.message = "The history could not be read: \(error)"
        }
    }

    private func sums(of index: HistoryIndex) -> String? {
        guard index.filter != nil else { return nil }
        let d = format.decimals
        let totals = index.corrected.totals
        return "+\(AmountFormat.format(totals.credits, decimals: d)) "
            + "−\(AmountFormat.format(totals.debits, decimals: d))"
    }

    private func months(of index: HistoryIndex) -> [Int: MonthTotals] {
        let d = format.decimals
        return index.corrected.months.mapValues { t in
            let net = t.credits - t.debits
            return MonthTotals(
                earned: AmountFormat.format(t.credits, decimals: d), spent: AmountFormat.format(t.debits, decimals: d),
                net: (net > 0 ? "+" : "") + AmountFormat.format(net, decimals: d), entries: t.entries)
        }
    }

    /// Waits (for the benchmark probe) until the whole ledger is indexed.
    func waitForIndex(_ state: inout TUIState) async {
        while full == nil || !isCurrent(full, filter: "") {
            await update(&state)
            try? await Task.sleep(for: .milliseconds(5))
        }
        await update(&state)
    }

    /// Waits (for the benchmark probe) until the filter typed has been searched for.
    func waitForSearch(_ state: inout TUIState) async {
        while state.isSearching {
            await update(&state)
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A value one task writes and the UI loop reads.
final class Shared<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)

    var value: Value? { stored.withLock { $0 } }

    func set(_ value: Value) { stored.withLock { $0 = value } }

    /// The value, once: it is cleared.
    func take() -> Value? {
        stored.withLock { value in
            defer { value = nil }
            return value
        }
    }
}

/// Set once the process receives `signal`; the default action is turned off meanwhile.
final class SignalFlag {
    private let raised = Shared<Bool>()
    private let source: any DispatchSourceSignal

    init(_ number: Int32) {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        self.source = source
        source.setEventHandler { [raised] in raised.set(true) }
        source.resume()
    }

    var isSet: Bool { raised.value ?? false }
}
