import Foundation
import LedgerCore
import LedgerCrypto
import NIOCore
import NIOPosix
import Synchronization

/// Why a peer connection ended early. The socket is always closed.
package enum PeerChannelError: Error, Equatable, Sendable, CustomStringConvertible {
    case handshake(HandshakeError)
    /// The peer announced a frame larger than `PeerSession.maxFrame`.
    case frameTooLarge(Int)
    /// The connection closed in the middle of the conversation.
    case closed
    /// A frame did not decrypt, or a message made no sense.
    case protocolViolation(String)
    /// The peer sent nothing for longer than the read timeout (missed heartbeats).
    case timedOut
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
        case .frameTooLarge(let n): "the peer sent a frame of \(n) bytes (the limit is \(PeerSession.maxFrame))"
        case .closed: "the peer closed the connection"
        case .protocolViolation(let why): "the peer broke the protocol: \(why)"
        case .timedOut: "the peer went silent (missed heartbeats)"
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
    /// Interval of heartbeats on a live session. A peer that sends nothing for
    /// `missedHeartbeats` intervals is dropped (the read timeout of the connection).
    package var heartbeat: Duration
    package static let missedHeartbeats = 3
    /// Most clock requests of a one-shot sync before giving up on converging.
    package var maxRounds: Int

    package init(live: Bool = false, heartbeat: Duration = .seconds(5), maxRounds: Int = 6) {
        self.live = live
        self.heartbeat = heartbeat
        self.maxRounds = maxRounds
    }

    /// Silence after which a live peer is dropped.
    package var readTimeout: TimeAmount {
        let (seconds, attoseconds) = (heartbeat * Self.missedHeartbeats).components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// One session over a connected socket: the handshake, then CLOCK / ENTRIES / DONE exchanges
/// until both ends hold the same ledger and, on a live session, pushes of new entries and
/// heartbeats (docs/PROTOCOL.md, "Peer sync").
package enum PeerSession {
    /// Largest frame either end accepts (bytes after the length prefix).
    package static let maxFrame = 1 << 20
    /// Most entries in one ENTRIES message.
    static let batch = 1000

    package enum MessageType: UInt8 {
        case clock = 1
        case entries = 2
        case done = 3
        case ping = 4
        case bye = 5
        case refused = 6
    }

    package enum Message: Sendable {
        case clock(VectorClock)
        case entries([Entry])
        case done(Digest32)
        case ping(Digest32)
        case bye
        case refused(PeerRefusal)
    }

    enum Input: Sendable {
        case message(Message)
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
            let reader = FrameReader(inbound.makeAsyncIterator())
            let identity = engine.identity
            // 1. Handshake.
            let ephemeral = KeyExchangeKeyPair()
            let initiatorKey: [UInt8]
            let responderKey: [UInt8]
            do {
                if role == .initiator {
                    try await write(outbound, PeerHandshake.hello(identity: identity, ephemeral: ephemeral.publicKey))
                    responderKey = try PeerHandshake.openHello(
                        try await reader.next(), identity: identity, answering: ephemeral.publicKey)
                    initiatorKey = ephemeral.publicKey
                } else {
                    initiatorKey = try PeerHandshake.openHello(try await reader.next(), identity: identity)
                    try await write(
                        outbound,
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
            var sender = SecretStream.Sender(key: keys.send)
            try await write(outbound, sender.header)
            try await write(
                outbound, sender.seal(PeerHandshake.auth(keyPair: keyPair, transcript: transcript, role: role)))
            let receiver: ReceiverBox
            do {
                receiver = ReceiverBox(try SecretStream.Receiver(header: try await reader.next(), key: keys.receive))
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
                let proof = try receiver.open(try await reader.next())
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
                    try? await write(outbound, sender.seal([MessageType.refused.rawValue, reason.rawValue]))
                }
                throw PeerChannelError.handshake(error)
            }

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
            do {
                let report = try await converse(
                    reader: reader, receiver: receiver, inbox: inbox, changes: subscription?.changes,
                    sender: &sender, outbound: outbound,
                    conversation: Conversation(engine: engine, peer: peer, options: options, hub: hub, id: id))
                if let hub, let id { await hub.unsubscribe(id: id) }
                return report
            } catch {
                if let hub, let id { await hub.unsubscribe(id: id) }
                throw error
            }
        }
    }

    /// Runs the sync part: a reader task turns frames into inputs, so the conversation never
    /// waits on the network while the other end waits on it; local changes and heartbeats
    /// join in on a live session.
    private static func converse(
        reader: FrameReader, receiver: ReceiverBox, inbox: Inbox,
        changes: AsyncStream<Void>?, sender: inout SecretStream.Sender,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, conversation: Conversation
    ) async throws -> PeerSyncReport {
        let options = conversation.options
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    while true {
                        let message = try parse(try receiver.open(try await reader.next()))
                        await inbox.pushWhenRoom(.message(message))
                        if case .bye = message { break }
                    }
                } catch {
                    inbox.push(.readFailed(error))
                }
            }
            if options.live {
                if let changes {
                    group.addTask {
                        for await _ in changes { inbox.push(.changed) }
                    }
                }
                group.addTask {
                    while true {
                        try await Task.sleep(for: options.heartbeat)
                        inbox.push(.tick)
                    }
                }
            }
            defer { group.cancelAll() }
            var conversation = conversation
            return try await withTaskCancellationHandler {
                try await conversation.run(inbox: inbox, sender: &sender, outbound: outbound)
            } onCancel: {
                inbox.push(.stop)
            }
        }
    }

    /// The state of the sync part of one session.
    struct Conversation {
        let engine: MergeEngine
        let peer: DevicePublicKey
        let options: PeerSessionOptions
        let hub: PeerHub?
        let id: UInt64?
        var report: PeerSyncReport
        /// What the peer is known to hold: its last clock, advanced by what moved since.
        var estimate: VectorClock?
        var awaitingDone = false

        init(engine: MergeEngine, peer: DevicePublicKey, options: PeerSessionOptions, hub: PeerHub?, id: UInt64?) {
            self.engine = engine
            self.peer = peer
            self.options = options
            self.hub = hub
            self.id = id
            self.report = PeerSyncReport(peer: peer)
        }

        mutating func run(
            inbox: Inbox, sender: inout SecretStream.Sender,
            outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        ) async throws -> PeerSyncReport {
            func send(_ message: [UInt8], _ sender: inout SecretStream.Sender) async throws {
                do {
                    try await write(outbound, sender.seal(message))
                } catch {
                    throw await Self.refusal(in: inbox) ?? error
                }
            }
            // Digests first: when nothing differs, that is the whole conversation.
            report.rounds = 1
            try await send([MessageType.ping.rawValue] + (try await engine.clock()).digest.bytes, &sender)
            while true {
                var inputs = await inbox.takeAll()[...]
                while let input = inputs.popFirst() {
                    if case .message(.entries(var entries)) = input {
                        // Entries queued behind these are merged with them: one transaction, not many.
                        while entries.count < Self.mergeBatch, case .message(.entries(let more))? = inputs.first {
                            entries += more
                            inputs.removeFirst()
                        }
                        try await receive(entries)
                        continue
                    }
                    switch input {
                    case .message(.clock(let theirs)):
                        let mine = try await engine.clock()
                        let plan = try await engine.deltaPlan(for: theirs)
                        var known = Dictionary(uniqueKeysWithValues: theirs.entries.map { ($0.author, $0) })
                        for entry in mine.entries where entry.seq > known[entry.author]?.seq ?? 0 {
                            known[entry.author] = entry
                        }
                        estimate = VectorClock(Array(known.values))
                        // Page by page: the peer merges the first page while later ones are read.
                        for try await page in plan.pages(from: engine, size: batch) {
                            try await sendEntries(page, &sender, send)
                        }
                        try await send([MessageType.done.rawValue] + mine.digest.bytes, &sender)
                    case .message(.entries(let entries)):
                        try await receive(entries)
                    case .message(.done(let digest)):
                        awaitingDone = false
                        if let hub, let id { await hub.seen(id: id) }
                        let mine = try await engine.clock()
                        if digest == mine.digest {
                            // Level: the peer holds exactly this clock, so what is written
                            // next can be pushed at once.
                            estimate = mine
                            report.converged = true
                            await hub?.synced(id: id)
                            if !options.live {
                                try await send([MessageType.bye.rawValue], &sender)
                                return report
                            }
                        } else if !options.live {
                            guard report.rounds < options.maxRounds else {
                                try await send([MessageType.bye.rawValue], &sender)
                                return report
                            }
                            try await requestClock(&sender, send)
                        } else if estimate == nil {
                            // The peer sent what this device lacked but still lacks something
                            // of this device's (written while the answer was on its way), and
                            // its clock is unknown here: a ping makes it ask with its clock.
                            try await send([MessageType.ping.rawValue] + mine.digest.bytes, &sender)
                        }
                    case .message(.ping(let digest)):
                        if let hub, let id { await hub.seen(id: id) }
                        guard !awaitingDone else { break }
                        let mine = try await engine.clock()
                        if digest != mine.digest {
                            guard report.rounds < options.maxRounds || options.live else {
                                try await send([MessageType.bye.rawValue], &sender)
                                return report
                            }
                            try await requestClock(&sender, send)
                        } else if options.live {
                            // Level from the start: without this, an entry written before the
                            // peer next sent its clock waited for the heartbeat (4.7 s late).
                            estimate = mine
                            if !report.converged { await hub?.synced(id: id) }
                            report.converged = true
                        } else {
                            report.converged = true
                            await hub?.synced(id: id)
                            try await send([MessageType.bye.rawValue], &sender)
                            return report
                        }
                    case .message(.bye):
                        return report
                    case .message(.refused(let reason)):
                        throw PeerChannelError.refusedByPeer(reason)
                    case .changed:
                        guard let estimate else {
                            // Not yet known what the peer holds: a ping makes it ask with its clock.
                            if !awaitingDone {
                                try await send(
                                    [MessageType.ping.rawValue] + (try await engine.clock()).digest.bytes, &sender)
                            }
                            break
                        }
                        let delta = try await engine.delta(for: estimate)
                        try await sendEntries(delta, &sender, send)
                        advanceEstimate(with: delta)
                    case .syncNow:
                        if !awaitingDone { try await requestClock(&sender, send) }
                    case .tick:
                        try await send([MessageType.ping.rawValue] + (try await engine.clock()).digest.bytes, &sender)
                    case .readFailed(let error):
                        throw error
                    case .stop:
                        try? await send([MessageType.bye.rawValue], &sender)
                        return report
                    }
                }
            }
        }

        /// Most entries merged in one transaction when several messages are queued.
        static let mergeBatch = 50_000

        private mutating func receive(_ entries: [Entry]) async throws {
            let accepted = try await engine.merge(entries).newlyCounted
            report.accepted += accepted
            advanceEstimate(with: entries)
            if let hub, let id {
                await hub.seen(id: id, received: accepted)
                if accepted > 0 { await hub.poke() }
            }
        }

        private mutating func requestClock(
            _ sender: inout SecretStream.Sender,
            _ send: ([UInt8], inout SecretStream.Sender) async throws -> Void
        ) async throws {
            report.rounds += 1
            awaitingDone = true
            try await send([MessageType.clock.rawValue] + VectorClock.encode(try await engine.clock().entries), &sender)
        }

        private mutating func sendEntries(
            _ entries: [Entry], _ sender: inout SecretStream.Sender,
            _ send: ([UInt8], inout SecretStream.Sender) async throws -> Void
        ) async throws {
            guard !entries.isEmpty else { return }
            for message in PeerSession.batcher.batches(entries) { try await send(encode(message), &sender) }
            report.sent += entries.count
            if let hub, let id { await hub.seen(id: id, sent: entries.count) }
        }

        /// After a write failed: the refusal the peer sent before it closed, if one was read.
        /// A peer that refuses this device says why and closes, and the write that finds the
        /// connection closed can come before the reader has queued the refusal: look for it
        /// for a moment (at most 50 short waits), and stop at the end of what the peer sent.
        static func refusal(in inbox: Inbox) async -> PeerChannelError? {
            for _ in 0..<50 {
                for input in inbox.takeNow() ?? [] {
                    switch input {
                    case .message(.refused(let reason)): return .refusedByPeer(reason)
                    case .readFailed, .message(.bye): return nil
                    default: continue
                    }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return nil
        }

        /// Moves the estimate of the peer's clock over entries it now holds (sent or received),
        /// so they are not pushed back to it.
        private mutating func advanceEstimate(with entries: [Entry]) {
            estimate = estimate?.advanced(by: entries)
        }
    }

    package static func parse(_ message: [UInt8]) throws -> Message {
        guard let type = message.first.flatMap(MessageType.init(rawValue:)) else {
            throw PeerChannelError.protocolViolation("unknown message")
        }
        let body = Array(message.dropFirst())
        switch type {
        case .clock:
            do {
                return .clock(try VectorClock(decoding: body))
            } catch {
                throw PeerChannelError.protocolViolation("bad clock: \(error.reason)")
            }
        case .entries: return .entries(try decode(message))
        case .done, .ping:
            guard let digest = try? Digest32(bytes: body) else {
                throw PeerChannelError.protocolViolation("bad digest")
            }
            return type == .done ? .done(digest) : .ping(digest)
        case .bye:
            guard body.isEmpty else { throw PeerChannelError.protocolViolation("bad goodbye") }
            return .bye
        case .refused:
            guard body.count == 1, let reason = PeerRefusal(rawValue: body[0]) else {
                throw PeerChannelError.protocolViolation("bad refusal")
            }
            return .refused(reason)
        }
    }

    /// ENTRIES messages: at most `batch` entries, and small enough that the sealed frame stays
    /// within `maxFrame` (a type byte and a count, a length before each entry, the stream's
    /// 17-byte tag). Counting entries alone let a thousand large ones (revokes carrying many
    /// keyrings) make a frame the other end refuses, and the sync never finished.
    package static let batcher = DeltaBatcher(
        maxEntries: batch, maxBytes: maxFrame - 5 - SecretStream.overhead, cost: { $0.encoded.count + 4 })

    package static func encode(_ entries: [Entry]) -> [UInt8] {
        var w = ByteWriter(capacity: entries.reduce(5) { $0 + $1.encoded.count + 4 })
        w.u8(MessageType.entries.rawValue)
        w.u32(UInt32(entries.count))
        for entry in entries { w.lengthPrefixed32(entry.encoded) }
        return w.bytes
    }

    static func decode(_ message: [UInt8]) throws -> [Entry] {
        var r = ByteReader(message, offset: 1)
        do {
            let count = Int(try r.u32())
            guard count <= batch else { throw PeerChannelError.protocolViolation("too many entries in one message") }
            let entries = try (0..<count).map { _ in
                try Entry(decoding: try r.lengthPrefixed32(limit: Entry.maxEncodedLength))
            }
            guard r.isAtEnd else { throw PeerChannelError.protocolViolation("trailing bytes after entries") }
            return entries
        } catch let error as PeerChannelError {
            throw error
        } catch {
            throw PeerChannelError.protocolViolation("bad entries message")
        }
    }

    static func write(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ frame: [UInt8]) async throws {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(4 + frame.count)
        buffer.writeInteger(UInt32(frame.count))
        buffer.writeBytes(frame)
        try await outbound.write(buffer)
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
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

/// Reads length-prefixed frames (u32 big-endian length, then that many bytes). One task reads
/// at a time: the handshake, then the session's reader task.
final class FrameReader: @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var buffer = ByteBuffer()

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }

    func next() async throws -> [UInt8] {
        while true {
            if let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
                guard Int(length) <= PeerSession.maxFrame else { throw PeerChannelError.frameTooLarge(Int(length)) }
                if buffer.readableBytes >= 4 + Int(length) {
                    buffer.moveReaderIndex(forwardBy: 4)
                    return buffer.readBytes(length: Int(length)) ?? []
                }
            }
            guard var chunk = try await iterator.next() else { throw PeerChannelError.closed }
            buffer.writeBuffer(&chunk)
        }
    }
}
