import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerSync
import LedgerTUI
import Logging

/// Pairing windows opened from the TUI (`p`): a listener on the peer channel, its code shown
/// in the link requests pane, and each request waiting there for the person's answer.
actor TUIPairing: PairingMonitor {
    private let engine: MergeEngine
    private let home: DataHome
    private let keyPair: SigningKeyPair
    private let logger: Logger
    private var window: PairingWindow?
    private var task: Task<Void, Never>?
    private var pending: (row: LinkRequestRow, answer: CheckedContinuation<PairingHost.Decision, Never>)?
    private var notices: [String] = []
    private var nextID = 1

    init(engine: MergeEngine, home: DataHome, keyPair: SigningKeyPair, logger: Logger) {
        self.engine = engine
        self.home = home
        self.keyPair = keyPair
        self.logger = logger
    }

    func suggestedAddress() -> String {
        if let configured = try? DeviceConfig.load(home).pairAddress { return configured }
        return lanAddress() ?? "127.0.0.1"
    }

    func open(address: String) async -> String {
        guard window == nil else { return "A pairing window is already open" }
        if let problem = PairingCode.hostProblem(address) { return "No pairing window: \(problem)" }
        let listener: PairingListener
        do {
            listener = try await PairingListener.bind(host: "0.0.0.0", port: 0)
        } catch {
            return "Cannot open a pairing window: \(error)"
        }
        let window = PairingWindow(
            code: .generate(identity: engine.identity, rendezvous: .peer(host: address, port: listener.port)))
        self.window = window
        let host = PairingHost(engine: engine, keyPair: keyPair, window: window)
        logger.info("pairing window open on port \(listener.port)")
        // The window holds this object only while it is open.
        task = Task { [self] in
            let outcome: PairingHost.Outcome
            do {
                outcome = try await listener.run(host) { request, attemptsLeft in
                    await self.decide(request, attemptsLeft)
                }
            } catch {
                outcome = .failed("\(error)")
            }
            self.finished(outcome)
        }
        return "Pairing window open for 10 minutes: on the new device, run `ledgerlink join` with the code below"
    }

    private func decide(_ request: LinkRequest, _ attemptsLeft: Int) async -> PairingHost.Decision {
        if attemptsLeft < PairingProtocol.sasAttempts {
            notices.append(
                "Those are not the words the new device shows: \(attemptsLeft) tr\(attemptsLeft == 1 ? "y" : "ies") left"
            )
        } else {
            notices.append("A new device asks to join: select it and press a to approve, d to deny")
        }
        let id = nextID
        nextID += 1
        let row = LinkRequestRow(
            id: id, name: TextSafety.sanitised(request.name), fingerprint: request.device.fingerprint,
            attemptsLeft: attemptsLeft)
        return await withCheckedContinuation { pending = (row, $0) }
    }

    func panel() -> PairingPanel? {
        guard let window else { return nil }
        let seconds = Int(window.remaining.components.seconds)
        return PairingPanel(
            code: window.code.description, secondsLeft: seconds, requests: pending.map { [$0.row] } ?? [])
    }

    func answer(_ id: Int, typed: String) {
        guard let pending, pending.row.id == id else { return }
        self.pending = nil
        pending.answer.resume(returning: .typed(typed))
    }

    func deny(_ id: Int) {
        guard let pending, pending.row.id == id else { return }
        self.pending = nil
        pending.answer.resume(returning: .deny)
    }

    func takeNotice() -> String? { notices.isEmpty ? nil : notices.removeFirst() }

    private func finished(_ outcome: PairingHost.Outcome) {
        window = nil
        pending?.answer.resume(returning: .deny)
        pending = nil
        // Sentences start with a capital on the TUI's status line.
        let notice = outcome.description.prefix(1).uppercased() + outcome.description.dropFirst()
        logger.info("pairing window closed: \(notice)")
        notices.append(notice)
    }

    /// Closes any open window (the TUI is quitting).
    func stop() {
        task?.cancel()
        pending?.answer.resume(returning: .deny)
        pending = nil
    }
}
