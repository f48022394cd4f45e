import LedgerCore
import LedgerRemote

/// The decisions of a peer conversation once the handshake is done, with no I/O and no time of
/// its own: the driver (`PeerSession`) hands it events (a message read, entries merged, a local
/// change, a heartbeat tick) with this device's clock as it is now, and does the actions it
/// returns, in order (send, send a delta, merge, tell the hub the two are level, finish, fail).
/// Every rule of docs/PROTOCOL.md's "Peer sync" is here, and tested message by message in
/// every state without sockets or clocks (PeerSessionStateMachineTests).
package struct PeerSessionStateMachine: Sendable {
    package enum Event: Sendable {
        /// The handshake is done; `local` is this device's clock, `heads` the newest signed head
        /// it holds of each store.
        case started(local: VectorClock, heads: [StoreHead] = [])
        /// A message arrived (ENTRIES as `receivedEntries`).
        case received(PeerMessage, local: VectorClock)
        /// Entries arrived (several messages queued together may come as one list).
        case receivedEntries([Entry])
        /// The driver merged what a `.merge` asked; `accepted` entries were new here.
        case merged(accepted: Int)
        /// The driver sent one page of entries.
        case sent([Entry])
        /// Something was written to this device's ledger.
        case localChange(local: VectorClock)
        /// The person asked to sync now.
        case syncRequested(local: VectorClock)
        /// A heartbeat interval passed.
        case tick(local: VectorClock)
        /// This end is leaving.
        case stopRequested
        /// Reading from the peer failed (the connection closed, a frame did not decrypt).
        case readFailed(any Error)
        /// Writing to the peer failed.
        case writeFailed(any Error)
    }

    package enum Action: Sendable {
        case send(PeerMessage)
        /// Send, page by page, what the peer lacks by `clock` (reporting each page as `.sent`),
        /// then `then`.
        case sendDelta(since: VectorClock, then: PeerMessage?)
        /// Merge these entries, then report `.merged`.
        case merge([Entry])
        /// Compare the peer's store heads with this device's (and keep any proof).
        case compareHeads([StoreHead])
        /// Both ends hold the same ledger now.
        case level
        /// The session is over: send BYE (when `goodbye`, ignoring a failure) and return `report`.
        case finish(PeerSyncReport, goodbye: Bool)
        /// The session failed for this reason.
        case fail(any Error)
    }

    private enum State {
        case idle
        case syncing
        /// A write failed: waiting for the reader to say whether the peer refused this device
        /// (a peer that refuses says why and closes) before failing with `error`.
        case closing(any Error)
        case closed
    }

    package let options: PeerSessionOptions
    package private(set) var report: PeerSyncReport
    /// What the peer is known to hold: its last clock, advanced by what moved since. Nil
    /// until the peer's clock is known (it sent CLOCK, or both were level).
    package private(set) var estimate: VectorClock?
    /// A CLOCK was sent and its DONE has not come back.
    package private(set) var awaitingDone = false
    /// Heartbeat ticks since the peer last sent anything.
    private var silentTicks = 0
    private var state = State.idle

    package init(peer: DevicePublicKey, options: PeerSessionOptions) {
        self.options = options
        self.report = PeerSyncReport(peer: peer)
    }

    /// True once the machine has returned `.finish` or `.fail`.
    package var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    package mutating func handle(_ event: Event) -> [Action] {
        switch state {
        case .closed:
            return []
        case .closing(let error):
            return whileClosing(event, error: error)
        case .idle:
            guard case .started(let local, let heads) = event else { return fail(PeerChannelError.closed) }
            state = .syncing
            // Digests first: when nothing differs, that is the whole conversation. Store heads
            // go before, so a peer that ends at the PING has read them.
            report.rounds = 1
            return (heads.isEmpty ? [] : [.send(.heads(heads))]) + [.send(.ping(local.digest))]
        case .syncing:
            return whileSyncing(event)
        }
    }

    private mutating func whileSyncing(_ event: Event) -> [Action] {
        switch event {
        case .started:
            return fail(PeerChannelError.protocolViolation("started twice"))
        case .received(.entries(let entries), _), .receivedEntries(let entries):
            silentTicks = 0
            advanceEstimate(with: entries)
            return [.merge(entries)]
        case .received(let message, let local):
            silentTicks = 0
            return received(message, local: local)
        case .merged(let accepted):
            report.accepted += accepted
            return []
        case .sent(let page):
            report.sent += page.count
            advanceEstimate(with: page)
            return []
        case .localChange(let local):
            guard let estimate else {
                // Not yet known what the peer holds: a ping makes it ask with its clock.
                return awaitingDone ? [] : [.send(.ping(local.digest))]
            }
            return [.sendDelta(since: estimate, then: nil)]
        case .syncRequested(let local):
            return awaitingDone ? [] : requestClock(local)
        case .tick(let local):
            silentTicks += 1
            guard silentTicks <= PeerSessionOptions.missedHeartbeats else { return fail(PeerChannelError.timedOut) }
            return options.live ? [.send(.ping(local.digest))] : []
        case .stopRequested:
            return finish(goodbye: true)
        case .readFailed(let error):
            return fail(error)
        case .writeFailed(let error):
            state = .closing(error)
            return []
        }
    }

    private mutating func received(_ message: PeerMessage, local: VectorClock) -> [Action] {
        switch message {
        case .clock(let theirs):
            // After the answer the peer holds both clocks' entries.
            var known = Dictionary(uniqueKeysWithValues: theirs.entries.map { ($0.author, $0) })
            for entry in local.entries where entry.seq > known[entry.author]?.seq ?? 0 {
                known[entry.author] = entry
            }
            estimate = VectorClock(Array(known.values))
            return [.sendDelta(since: theirs, then: .done(local.digest))]
        case .entries(let entries):
            return whileSyncing(.receivedEntries(entries))
        case .done(let digest):
            awaitingDone = false
            if digest == local.digest {
                // Level: the peer holds exactly this clock, so what is written next can be
                // pushed at once.
                estimate = local
                report.converged = true
                return options.live ? [.level] : [.level] + finish(goodbye: true)
            }
            if !options.live {
                return report.rounds < options.maxRounds ? requestClock(local) : finish(goodbye: true)
            }
            // The peer sent what this device lacked but still lacks something of this
            // device's (written while the answer was on its way), and its clock is unknown
            // here: a ping makes it ask with its clock.
            return estimate == nil ? [.send(.ping(local.digest))] : []
        case .ping(let digest):
            guard !awaitingDone else { return [] }
            if digest != local.digest {
                return report.rounds < options.maxRounds || options.live ? requestClock(local) : finish(goodbye: true)
            }
            let wasConverged = report.converged
            report.converged = true
            guard options.live else { return [.level] + finish(goodbye: true) }
            // Level from the start: without this, an entry written before the peer next sent
            // its clock waited for the heartbeat (4.7 s late).
            estimate = local
            return wasConverged ? [] : [.level]
        case .bye:
            return finish(goodbye: false)
        case .refused(let reason):
            return fail(PeerChannelError.refusedByPeer(reason))
        case .heads(let heads):
            return [.compareHeads(heads)]
        }
    }

    /// After a failed write: the peer's refusal, if it sent one before closing, is the reason;
    /// otherwise the write's error, once the reader ends or a heartbeat passes.
    private mutating func whileClosing(_ event: Event, error: any Error) -> [Action] {
        switch event {
        case .received(.refused(let reason), _):
            return fail(PeerChannelError.refusedByPeer(reason))
        case .received(.bye, _), .readFailed, .tick, .stopRequested:
            return fail(error)
        default:
            return []
        }
    }

    private mutating func requestClock(_ local: VectorClock) -> [Action] {
        report.rounds += 1
        awaitingDone = true
        return [.send(.clock(local))]
    }

    private mutating func finish(goodbye: Bool) -> [Action] {
        state = .closed
        return [.finish(report, goodbye: goodbye)]
    }

    private mutating func fail(_ error: any Error) -> [Action] {
        state = .closed
        return [.fail(error)]
    }

    /// Moves the estimate of the peer's clock over entries it now holds (sent or received), so
    /// they are not pushed back to it.
    private mutating func advanceEstimate(with entries: [Entry]) {
        estimate = estimate?.advanced(by: entries)
    }
}
