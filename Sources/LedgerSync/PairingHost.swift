import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity

/// One open pairing window: its code, its deadline, and whether a new device has claimed it.
/// A window serves one new device; requests made with a wrong code are refused and counted,
/// and too many of them close the window.
package actor PairingWindow {
    package nonisolated let code: PairingCode
    package nonisolated let deadline: ContinuousClock.Instant
    /// Wrong-code requests after which the window closes.
    package static let maxWrongCodes = 10
    /// Default length of a window.
    package static let defaultLength: Duration = .seconds(600)

    private var claimed = false
    private var wrongCodes = 0
    private var result: PairingHost.Outcome?
    private var waiters: [CheckedContinuation<PairingHost.Outcome, Never>] = []
    private var timer: Task<Void, Never>?

    package init(code: PairingCode, length: Duration = PairingWindow.defaultLength) {
        self.code = code
        self.deadline = .now + length
    }

    /// True while requests are taken.
    package var isOpen: Bool { result == nil && ContinuousClock.now < deadline }

    /// Time left before the window closes.
    package nonisolated var remaining: Duration { max(.zero, ContinuousClock.now.duration(to: deadline)) }

    /// Waits for the window's end: a linked device, a refusal, or expiry.
    package func outcome() async -> PairingHost.Outcome {
        if let result { return result }
        if timer == nil {
            let deadline = deadline
            timer = Task { [weak self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                await self?.finish(.expired)
            }
        }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// Ends the window with `outcome` (the first outcome wins).
    package func finish(_ outcome: PairingHost.Outcome) {
        guard result == nil else { return }
        result = outcome
        timer?.cancel()
        for waiter in waiters { waiter.resume(returning: outcome) }
        waiters = []
    }

    /// Takes the window for one request; false when it is closed or already taken.
    func claim() -> PairingProtocol.Refusal? {
        guard isOpen else { return .windowClosed }
        guard !claimed else { return .busy }
        claimed = true
        return nil
    }

    func recordWrongCode() {
        wrongCodes += 1
        if wrongCodes >= Self.maxWrongCodes { finish(.tooManyWrongCodes) }
    }
}

/// The pairing device's side of linking: serves requests arriving in a window, asks the
/// person, and on approval writes the link entry.
package struct PairingHost: Sendable {
    /// The person's answer to a request: the words they typed, or a denial.
    package enum Decision: Sendable, Equatable {
        case typed(String)
        case deny
    }

    /// Asks the person about `request`; `attemptsLeft` counts the tries at typing the words.
    package typealias Decide = @Sendable (_ request: LinkRequest, _ attemptsLeft: Int) async -> Decision

    /// How a window ended.
    package enum Outcome: Sendable, Equatable, CustomStringConvertible {
        case linked(device: DevicePublicKey, name: String)
        case denied
        case sasMismatch
        case expired
        case tooManyWrongCodes
        case failed(String)

        /// The sentence for the person.
        package var description: String {
            switch self {
            case .linked(let device, let name): "Linked \(name) (\(device.fingerprint))"
            case .denied: "denied: no device was linked"
            case .sasMismatch: PairingError.sasMismatch.description
            case .expired: "the pairing window expired; no device was linked"
            case .tooManyWrongCodes:
                "too many requests with a wrong code; the window was closed and no device was linked"
            case .failed(let why): "no device was linked: \(why)"
            }
        }
    }

    package let engine: MergeEngine
    package let keyPair: SigningKeyPair
    package let window: PairingWindow
    /// Sends the ledger over the connection after the certificate (the peer channel); a store
    /// pairing leaves that to the new device's first store sync.
    package let sendsLedger: Bool
    /// Runs after the link entry is written and before the new device hears of it (the store
    /// pairing pushes the entry to the store here, so the new device can sync at once).
    package let afterLink: @Sendable () async throws -> Void
    /// How long the person may take to answer.
    package static let answerTime: Duration = .seconds(900)
    /// How long a connection may take to send its request.
    package static let requestTime: Duration = .seconds(30)

    package init(
        engine: MergeEngine, keyPair: SigningKeyPair, window: PairingWindow, sendsLedger: Bool = true,
        afterLink: @escaping @Sendable () async throws -> Void = {}
    ) {
        self.engine = engine
        self.keyPair = keyPair
        self.window = window
        self.sendsLedger = sendsLedger
        self.afterLink = afterLink
    }

    /// Serves one incoming request over `transport`. A request that claims the window ends it
    /// (linked, denied, or failed); one refused at the door (wrong code, busy, closed) leaves it.
    /// `waitForRequest` is how long the JOIN may take: a connection that says nothing is
    /// dropped after `requestTime`, while a mailbox waits for as long as the window is open.
    package func serve(_ transport: any PairingTransport, waitForRequest: Duration? = nil, decide: Decide) async {
        var inviter = PairingInviter(code: window.code, identity: engine.identity, keyPair: keyPair)
        let join: [UInt8]
        do {
            join = try await transport.receive(within: waitForRequest ?? Self.requestTime)
        } catch {
            return
        }
        let offer: [UInt8]
        do {
            offer = try inviter.receiveJoin(join)
        } catch PairingError.wrongCode {
            await window.recordWrongCode()
            try? await transport.send(PairingProtocol.refusal(.wrongCode))
            return
        } catch {
            return
        }
        if let refusal = await window.claim() {
            try? await transport.send(PairingProtocol.refusal(refusal))
            return
        }
        let outcome: Outcome
        do {
            outcome = try await converse(&inviter, transport, offer: offer, decide: decide)
        } catch {
            outcome = .failed((error as? PairingError)?.description ?? "\(error)")
            // Tell the new device rather than leave it waiting (it may be gone already).
            let denial = inviter.deny(.failed)
            try? await transport.send(denial)
        }
        await window.finish(outcome)
    }

    private func converse(
        _ inviter: inout PairingInviter, _ transport: any PairingTransport, offer: [UInt8], decide: Decide
    ) async throws -> Outcome {
        try await transport.send(offer)
        let reveal = try await transport.receive(within: Self.requestTime)
        let request = try inviter.receiveReveal(reveal)
        var attemptsLeft = PairingProtocol.sasAttempts
        var challenge: [UInt8]?
        while challenge == nil {
            let decision = await decide(request, attemptsLeft)
            guard await window.isOpen else {
                let message = inviter.deny(.windowClosed)
                try? await transport.send(message)
                return .expired
            }
            switch decision {
            case .deny:
                let message = inviter.deny(.denied)
                try? await transport.send(message)
                return .denied
            case .typed(let words):
                let approval: PairingInviter.Approval
                do {
                    approval = try inviter.approve(typed: words)
                } catch {
                    guard error == .sasMismatch else { throw error }
                    let message = inviter.deny(.sasMismatch)
                    try? await transport.send(message)
                    return .sasMismatch
                }
                switch approval {
                case .challenge(let message): challenge = message
                case .retry(let left): attemptsLeft = left
                }
            }
        }
        try await transport.send(challenge ?? [])
        let proofMessage = try await transport.receive(within: Self.requestTime)
        let (device, challengeBytes, proof) = try inviter.receiveProof(proofMessage)
        let link = try await engine.appendLink(
            device: device, challenge: challengeBytes, proof: proof, name: request.name)
        try await afterLink()
        guard let genesis = try await engine.entries(of: engine.root, from: 1, through: 1).first else {
            throw PairingError.unreachable("this device does not hold the identity's genesis entry")
        }
        let welcome = inviter.welcome(link: link, genesis: genesis)
        try await transport.send(welcome)
        if sendsLedger { try await sendLedger(&inviter, transport) }
        return .linked(device: device, name: request.name)
    }

    /// Ledger pages: a thousand entries, or half the largest pairing message, whichever is less.
    static let ledgerPages = DeltaBatcher(
        maxEntries: 1000, maxBytes: PairingProtocol.maxMessage / 2, cost: EntryRuns.cost(of:))

    /// Every entry this device holds, in the order a new replica can count them (approvers'
    /// logs first), in pages under the message limit.
    private func sendLedger(_ inviter: inout PairingInviter, _ transport: any PairingTransport) async throws {
        var page = DeltaBatcher.Batch()
        var total = 0
        for try await read in try await engine.deltaPlan(for: .empty).pages(from: engine) {
            for entry in read where !page.add(entry, Self.ledgerPages) {
                let message = inviter.ledger(page.entries)
                try await transport.send(message)
                total += page.entries.count
                page = DeltaBatcher.Batch()
                _ = page.add(entry, Self.ledgerPages)
            }
        }
        let last = inviter.ledger(page.entries)
        try await transport.send(last)
        total += page.entries.count
        let end = inviter.end(total: total)
        try await transport.send(end)
    }
}

/// The new device's side of linking.
package enum PairingGuest {
    /// What the join produced.
    package struct Joined: Sendable {
        package let engine: MergeEngine
        /// The new device's key (its key file is written).
        package let keyPair: SigningKeyPair
        package let identity: IdentityID
        package let inviter: DevicePublicKey
        /// Entries received over the pairing connection (0 through a store).
        package let received: Int
    }

    /// How long the new device waits for the person on the pairing device.
    package static let approvalTime: Duration = .seconds(900)

    /// Joins over `transport`. `showSAS` is called with the words once the keys are agreed;
    /// `fill` runs after the certificate arrives when the ledger comes another way (a store).
    /// On any failure the data folder is left as it was.
    package static func join(
        code: PairingCode, name: String, home: DataHome, passphrase: [UInt8]?, transport: any PairingTransport,
        showSAS: @Sendable (ShortAuthenticationString) -> Void,
        fill: (@Sendable (MergeEngine, SigningKeyPair) async throws -> Void)? = nil
    ) async throws -> Joined {
        let keyPair = SigningKeyPair.generate()
        var joiner = PairingJoiner(code: code, keyPair: keyPair, name: name)
        var engine: MergeEngine?
        do {
            let join = joiner.join()
            try await transport.send(join)
            let offer = try await transport.receive(within: PairingHost.requestTime)
            let (reveal, sas) = try joiner.receiveOffer(offer)
            try await transport.send(reveal)
            showSAS(sas)
            var received = 0
            while true {
                let wait = engine == nil ? approvalTime : PairingHost.requestTime
                let message = try await transport.receive(within: wait)
                switch try joiner.receive(message) {
                case .proof(let message):
                    try await transport.send(message)
                case .welcome(let link, let genesis):
                    guard let identity = joiner.identity, let inviter = joiner.inviter else {
                        throw PairingError.tampered("a welcome before an offer")
                    }
                    let opened = try await DeviceSetup.beginJoin(
                        home: home, keyPair: keyPair, identity: identity, inviter: inviter, genesis: genesis,
                        link: link)
                    engine = opened
                    if let fill {
                        try await fill(opened, keyPair)
                        return try await finish(home, opened, keyPair, joiner, passphrase, received: 0)
                    }
                case .ledger(let entries):
                    guard let engine else { throw PairingError.tampered("ledger pages before the certificate") }
                    received += try await engine.merge(entries).newlyCounted
                case .end:
                    guard let engine else { throw PairingError.tampered("an end before the certificate") }
                    return try await finish(home, engine, keyPair, joiner, passphrase, received: received)
                }
            }
        } catch {
            if engine != nil { DeviceSetup.abandonJoin(home: home) }
            throw error
        }
    }

    private static func finish(
        _ home: DataHome, _ engine: MergeEngine, _ keyPair: SigningKeyPair, _ joiner: PairingJoiner,
        _ passphrase: [UInt8]?, received: Int
    ) async throws -> Joined {
        guard let identity = joiner.identity, let inviter = joiner.inviter else {
            throw PairingError.tampered("no offer")
        }
        try await DeviceSetup.finishJoin(
            home: home, engine: engine, keyPair: keyPair, inviter: inviter, passphrase: passphrase)
        return Joined(engine: engine, keyPair: keyPair, identity: identity, inviter: inviter, received: received)
    }
}
