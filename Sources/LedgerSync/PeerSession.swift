import Foundation
import LedgerCore
import LedgerCrypto
import NIOCore
import NIOPosix
import Synchronization

/// Why a peer connection ended early. The socket is always closed.
package enum PeerChannelError: Error, Equatable, Sendable, CustomStringConvertible {
    case handshake(HandshakeError)
    /// The peer announced a frame larger than `PeerFraming.maxFrame`.
    case frameTooLarge(Int)
    /// The connection closed in the middle of the conversation.
    case closed
    /// A frame did not decrypt, or a message made no sense.
    case protocolViolation(String)
    /// The peer sent nothing for longer than the read timeout (missed heartbeats).
    case timedOut
    /// The connection stayed silent before the handshake was done (its own deadline).
    case handshakeTimedOut
    /// Another session with this device is already running and wins.
    case duplicate(DevicePublicKey)
    /// The other device refused this one after the handshake, and said why.
    case refusedByPeer(PeerRefusal)

    package var description: String {
        switch self {
        case .handshake(.wrongIdentity): "the peer is not a device of this identity"
        case .handshake(.unauthorised(let key)):
            "device \(key.fingerprint) is not authorised (never linked, or revoked)"
        case .handshake(let e): "the handshake failed: \(e)"
        case .frameTooLarge(let n): "the peer sent a frame of \(n) bytes (the limit is \(PeerFraming.maxFrame))"
        case .closed: "the peer closed the connection"
        case .protocolViolation(let why): "the peer broke the protocol: \(why)"
        case .timedOut: "the peer went silent (missed heartbeats)"
        case .handshakeTimedOut: "the peer did not finish the handshake in time"
        case .duplicate(let key): "already connected to device \(key.fingerprint)"
        case .refusedByPeer(.revoked):
            "the other device refused this one: this device was revoked and may no longer sync"
        case .refusedByPeer(.unknown):
            "the other device refused this one: its ledger does not list this device as linked "
                + "(sync the link certificate to it first, through another device or the store)"
        }
    }
}

/// Why a device refused its peer after the handshake (sent sealed, then the connection closes).
package enum PeerRefusal: UInt8, Sendable, Equatable {
    /// The peer's ledger has no link certificate for this device.
    case unknown = 1
    /// This device was revoked.
    case revoked = 2
}

/// What one sync session moved.
package struct PeerSyncReport: Sendable, Equatable {
    /// The other device.
    package var peer: DevicePublicKey?
    /// Entries sent, and entries received that were new here.
    package var sent = 0
    package var accepted = 0
    /// Exchanges this end started: the first comparison of digests, then one per clock request.
    package var rounds = 0
    /// True when both ended with the same clock digest.
    package var converged = false

    package init(peer: DevicePublicKey? = nil) { self.peer = peer }
}

/// How a session behaves once the handshake is done.
package struct PeerSessionOptions: Sendable {
    /// Stay connected, pushing new entries as they appear, until either end leaves; otherwise
    /// sync until both ledgers are equal and say goodbye.
    package var live: Bool
    /// Interval of heartbeats. A live session pings at each; a peer that sends nothing for
    /// more than `missedHeartbeats` intervals is dropped, and a write that takes longer than
    /// `missedHeartbeats` intervals fails.
    package var heartbeat: Duration
    package static let missedHeartbeats = 3
    /// Most clock requests of a one-shot sync before giving up on converging.
    package var maxRounds: Int
    /// The clock heartbeats and write deadlines run on (tests drive a manual one).
    package var clock: any Clock<Duration>

    package init(
        live: Bool = false, heartbeat: Duration = .seconds(5), maxRounds: Int = 6,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.live = live
        self.heartbeat = heartbeat
        self.maxRounds = maxRounds
        self.clock = clock
    }

    /// Silence after which a peer is dropped, and the longest a write may take.
    package var silenceLimit: Duration { heartbeat * Self.missedHeartbeats }

    /// Longest the socket may stay silent before the handshake is done (real time: the session's
    /// clock starts with the conversation).
    package var handshakeTimeout: TimeAmount = .seconds(15)
}

/// One session over a connected socket: the handshake, then the conversation of
/// `PeerSessionStateMachine` (docs/PROTOCOL.md, "Peer sync"). This is the driver: it does the
/// crypto and the I/O, reads this device's clock for each event, and carries out the
/// machine's actions; every protocol decision is the machine's.
package enum PeerSession {
    enum Input: Sendable {
        case message(PeerMessage)
        case readFailed(any Error)
        case changed
        case tick
        case stop
        case syncNow
    }

    /// Runs a session on `channel` as `role`, merging into `engine`. With a `hub`, the session
    /// registers there, hears of local changes (a live session pushes them) and reports status.
    package static func run(
        _ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, role: PeerHandshake.Role, engine: MergeEngine,
        keyPair: SigningKeyPair, options: PeerSessionOptions = PeerSessionOptions(), hub: PeerHub? = nil
    ) async throws -> PeerSyncReport {
        let address = channel.channel.remoteAddress.map(describe) ?? "?"
        return try await channel.executeThenClose { inbound, outbound in
            let connection = FramedConnection(inbound, outbound)
            let identity = engine.identity
            // 1. Handshake.
            let ephemeral = KeyExchangeKeyPair()
            let initiatorKey: [UInt8]
            let responderKey: [UInt8]
            do {
                if role == .initiator {
                    try await connection.write(PeerHandshake.hello(identity: identity, ephemeral: ephemeral.publicKey))
                    responderKey = try PeerHandshake.openHello(
                        try await connection.next(), identity: identity, answering: ephemeral.publicKey)
                    initiatorKey = ephemeral.publicKey
                } else {
                    initiatorKey = try PeerHandshake.openHello(try await connection.next(), identity: identity)
                    try await connection.write(
                        PeerHandshake.hello(identity: identity, ephemeral: ephemeral.publicKey, answering: initiatorKey)
                    )
                    responderKey = ephemeral.publicKey
                }
            } catch let error as HandshakeError {
                throw PeerChannelError.handshake(error)
            }
            let keys = try ephemeral.sessionKeys(
                peer: role == .initiator ? responderKey : initiatorKey, isClient: role == .initiator)
            let transcript = PeerHandshake.transcript(
                identity: identity, initiator: initiatorKey, responder: responderKey)
            let writer = SealedWriter(connection, key: keys.send, options: options)
            try await connection.write(writer.header)
            try await connection.write(
                writer.seal(PeerHandshake.auth(keyPair: keyPair, transcript: transcript, role: role)))
            let receiver: ReceiverBox
            do {
                receiver = ReceiverBox(
                    try SecretStream.Receiver(header: try await connection.next(), key: keys.receive))
            } catch let error as PeerChannelError {
                throw error
            } catch {
                throw PeerChannelError.protocolViolation("bad stream header")
            }
            let roster = try await engine.currentRoster()
            // A device whose ledger does not yet hold its own link certificate (just linked, never
            // synced) cannot judge authority and has nothing to protect: it accepts any device
            // that proves the identity id. Its peer still checks it against a full roster.
            let newcomer = roster.devices[engine.device] == nil
            let peer: DevicePublicKey
            do {
                let proof = try receiver.open(try await connection.next())
                peer = try PeerHandshake.openAuth(
                    proof, transcript: transcript, role: role == .initiator ? .responder : .initiator,
                    isAuthorised: {
                        newcomer || (roster.authorises($0, seq: 1) && roster.devices[$0]?.boundary == nil)
                    })
            } catch let error as HandshakeError {
                if case .unauthorised(let device) = error {
                    // Say why before closing: the other end learns it was refused, not that the
                    // connection broke.
                    let reason: PeerRefusal = roster.devices[device]?.boundary != nil ? .revoked : .unknown
                    _ = await writer.send(.refused(reason))
                }
                throw PeerChannelError.handshake(error)
            }
            // From here the session keeps time itself (heartbeats on `options.clock`).
            await PeerFraming.removeReadTimeout(channel.channel)

            // 2. Sync.
            let inbox = Inbox()
            var subscription: (id: UInt64, changes: AsyncStream<Void>)?
            if let hub {
                let (id, changes) = await hub.subscribe()
                subscription = (id, changes)
                let initiator = role == .initiator ? keyPair.publicKey : peer
                let name = TextSafety.sanitised(roster.devices[peer]?.name ?? "(unnamed)")
                guard
                    await hub.register(
                        id: id, device: peer, initiator: initiator, name: name, address: address,
                        direction: role == .initiator ? "out" : "in",
                        control: { inbox.push($0 == .stop ? .stop : .syncNow) })
                else {
                    await hub.unsubscribe(id: id)
                    throw PeerChannelError.duplicate(peer)
                }
            }
            let id = subscription?.id
            var driver = Driver(
                machine: PeerSessionStateMachine(peer: peer, options: options), writer: writer, engine: engine,
                hub: hub, id: id, peerName: TextSafety.sanitised(roster.devices[peer]?.name ?? peer.fingerprint))
            do {
                let report = try await converse(
                    connection: connection, receiver: receiver, inbox: inbox, changes: subscription?.changes,
                    options: options, driver: &driver)
                if let hub, let id { await hub.unsubscribe(id: id) }
                return report
            } catch {
                if let hub, let id { await hub.unsubscribe(id: id) }
                throw error
            }
        }
    }

    /// Runs the conversation: a reader task turns frames into inputs, so the driver never
    /// waits on the network while the other end waits on it; heartbeat ticks on
    /// `options.clock` and, on a live session, local changes join in.
    private static func converse(
        connection: FramedConnection, receiver: ReceiverBox, inbox: Inbox, changes: AsyncStream<Void>?,
        options: PeerSessionOptions, driver: inout Driver
    ) async throws -> PeerSyncReport {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    while true {
                        let message = try PeerMessage(decoding: try receiver.open(try await connection.next()))
                        await inbox.pushWhenRoom(.message(message))
                        if case .bye = message { break }
                    }
                } catch {
                    inbox.push(.readFailed(error))
                }
            }
            if options.live, let changes {
                group.addTask {
                    for await _ in changes { inbox.push(.changed) }
                }
            }
            let clock = options.clock
            group.addTask {
                while true {
                    try await clock.sleep(for: options.heartbeat)
                    inbox.push(.tick)
                }
            }
            defer { group.cancelAll() }
            return try await withTaskCancellationHandler {
                try await driver.run(inbox: inbox)
            } onCancel: {
                inbox.push(.stop)
            }
        }
    }

    /// Carries out the state machine's actions and feeds it what they caused.
    struct Driver {
        var machine: PeerSessionStateMachine
        let writer: SealedWriter
        let engine: MergeEngine
        let hub: PeerHub?
        let id: UInt64?
        /// The peer as people know it, for what its store heads prove.
        let peerName: String
        var gossip: StoreGossip { StoreGossip(ledger: engine.store, identity: engine.identity) }

        /// Most entries merged in one transaction when several messages are queued.
        static let mergeBatch = 50_000

        mutating func run(inbox: Inbox) async throws -> PeerSyncReport {
            let started = PeerSessionStateMachine.Event.started(local: try await engine.clock(), heads: gossip.heads())
            if let report = try await perform(machine.handle(started)) {
                return report
            }
            while true {
                var inputs = await inbox.takeAll()[...]
                while let input = inputs.popFirst() {
                    let event: PeerSessionStateMachine.Event
                    switch input {
                    case .message(.entries(var entries)):
                        // Entries queued behind these are merged with them: one transaction, not many.
                        while entries.count < Self.mergeBatch, case .message(.entries(let more))? = inputs.first {
                            entries += more
                            inputs.removeFirst()
                        }
                        event = .receivedEntries(entries)
                    case .message(let message):
                        if let hub, let id { await hub.seen(id: id) }
                        event = .received(message, local: try await engine.clock())
                    case .readFailed(let error): event = .readFailed(error)
                    case .changed: event = .localChange(local: try await engine.clock())
                    case .tick: event = .tick(local: try await engine.clock())
                    case .stop: event = .stopRequested
                    case .syncNow: event = .syncRequested(local: try await engine.clock())
                    }
                    if let report = try await perform(machine.handle(event)) { return report }
                }
            }
        }

        /// Does `actions` in order, with the actions the events they cause bring; the report
        /// when the session is over.
        private mutating func perform(_ actions: [PeerSessionStateMachine.Action]) async throws -> PeerSyncReport? {
            var queue = actions[...]
            while let action = queue.popFirst() {
                switch action {
                case .send(let message):
                    if let failure = await writer.send(message) { queue += machine.handle(.writeFailed(failure)) }
                case .sendDelta(let since, let then):
                    let plan = try await engine.deltaPlan(for: since)
                    var failure: (any Error)?
                    // Page by page: the peer merges the first page while later ones are read.
                    pages: for try await page in plan.pages(from: engine, size: PeerMessage.maxEntries) {
                        for batch in PeerMessage.batcher.batches(page) {
                            failure = await writer.send(.entries(batch))
                            if failure != nil { break pages }
                            queue += machine.handle(.sent(batch))
                            if let hub, let id { await hub.seen(id: id, sent: batch.count) }
                        }
                    }
                    if failure == nil, let then { failure = await writer.send(then) }
                    if let failure { queue += machine.handle(.writeFailed(failure)) }
                case .merge(let entries):
                    let accepted = try await engine.merge(entries).newlyCounted
                    queue += machine.handle(.merged(accepted: accepted))
                    if let hub, let id {
                        await hub.seen(id: id, received: accepted)
                        if accepted > 0 { await hub.poke() }
                    }
                case .compareHeads(let heads):
                    // What the heads prove is kept on disk and shown by `status`; the session goes on.
                    _ = try? gossip.compare(heads, from: peerName)
                case .level:
                    await hub?.synced(id: id)
                case .finish(let report, let goodbye):
                    if goodbye { _ = await writer.send(.bye) }
                    return report
                case .fail(let error):
                    throw error
                }
            }
            return nil
        }
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// The sending half of a session: seals each message and writes it within a deadline on the
/// session's clock (a peer that stops reading cannot hold a write, and so the session, forever).
/// Used by one task at a time: the handshake, then the driver.
final class SealedWriter: @unchecked Sendable {
    private var sender: SecretStream.Sender
    private let connection: FramedConnection
    private let options: PeerSessionOptions
    let header: [UInt8]

    init(_ connection: FramedConnection, key: SymmetricKey, options: PeerSessionOptions) {
        let sender = SecretStream.Sender(key: key)
        self.header = sender.header
        self.sender = sender
        self.connection = connection
        self.options = options
    }

    func seal(_ message: [UInt8]) -> [UInt8] { sender.seal(message) }

    /// Sends `message`; the error when it could not be written in time.
    func send(_ message: PeerMessage) async -> (any Error)? {
        let frame = sender.seal(message.encoded)
        let connection = self.connection
        do {
            try await withDeadline(options.silenceLimit, clock: options.clock) {
                try await connection.write(frame)
            }
            return nil
        } catch is DeadlineExceeded {
            return PeerChannelError.timedOut
        } catch {
            return error
        }
    }
}

/// Inputs of a session's conversation: messages read from the peer, local changes, heartbeat
/// ticks, a stop. The conversation takes everything queued at once, so entries that arrived
/// while it was busy merge in one transaction; the reader waits while too many entries are
/// queued, so a fast peer cannot fill memory.
final class Inbox: Sendable {
    /// Entries queued before the reader waits.
    static let maxQueuedEntries = 100_000

    private struct State {
        var items: [PeerSession.Input] = []
        var queuedEntries = 0
        var taker: CheckedContinuation<Void, Never>?
        var pusher: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func push(_ input: PeerSession.Input) {
        let waiting = state.withLock { state in
            state.items.append(input)
            if case .message(.entries(let entries)) = input { state.queuedEntries += entries.count }
            defer { state.taker = nil }
            return state.taker
        }
        waiting?.resume()
    }

    /// Pushes, first waiting while the queue holds too many entries.
    func pushWhenRoom(_ input: PeerSession.Input) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let hasRoom = state.withLock { state in
                guard state.queuedEntries >= Self.maxQueuedEntries else { return true }
                state.pusher = continuation
                return false
            }
            if hasRoom { continuation.resume() }
        }
        push(input)
    }

    /// Everything queued, waiting until there is something.
    func takeAll() async -> [PeerSession.Input] {
        while true {
            if let taken = takeNow() { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let hasItems = state.withLock { state in
                    guard state.items.isEmpty else { return true }
                    state.taker = continuation
                    return false
                }
                if hasItems { continuation.resume() }
            }
        }
    }

    func takeNow() -> [PeerSession.Input]? {
        let (taken, waiting) = state.withLock { state -> ([PeerSession.Input]?, CheckedContinuation<Void, Never>?) in
            guard !state.items.isEmpty else { return (nil, nil) }
            let taken = state.items
            state.items = []
            state.queuedEntries = 0
            defer { state.pusher = nil }
            return (taken, state.pusher)
        }
        waiting?.resume()
        return taken
    }
}

/// The receiving half of the secretstream, owned by the reader task once the handshake is over.
final class ReceiverBox: @unchecked Sendable {
    private var receiver: SecretStream.Receiver

    init(_ receiver: consuming SecretStream.Receiver) { self.receiver = receiver }

    func open(_ frame: [UInt8]) throws -> [UInt8] {
        do {
            return try receiver.open(frame)
        } catch {
            throw PeerChannelError.protocolViolation("a frame did not decrypt")
        }
    }
}
