import LedgerCore
import LedgerCrypto
import NIOCore
import NIOPosix

/// Why a peer connection ended early. The socket is always closed.
public enum PeerChannelError: Error, Equatable, Sendable, CustomStringConvertible {
    case handshake(HandshakeError)
    /// The peer announced a frame larger than `PeerSession.maxFrame`.
    case frameTooLarge(Int)
    /// The connection closed in the middle of the conversation.
    case closed
    /// A frame did not decrypt, or a message made no sense.
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .handshake(.wrongIdentity): "the peer is not a device of this identity"
        case .handshake(.unauthorised(let key)):
            "device \(key.fingerprint) is not authorised (never linked, or revoked)"
        case .handshake(let e): "the handshake failed: \(e)"
        case .frameTooLarge(let n): "the peer sent a frame of \(n) bytes (the limit is \(PeerSession.maxFrame))"
        case .closed: "the peer closed the connection"
        case .protocolViolation(let why): "the peer broke the protocol: \(why)"
        }
    }
}

/// What one sync session moved.
public struct PeerSyncReport: Sendable, Equatable {
    /// The other device.
    public var peer: DevicePublicKey?
    public var sent = 0
    public var accepted = 0
    public var rounds = 0
    /// True when both ended with the same clock digest.
    public var converged = false
}

/// One sync session over a connected socket: handshake, then rounds of clocks and deltas
/// until both ends hold the same ledger (docs/PROTOCOL.md, "Peer sync").
public enum PeerSession {
    /// Largest frame either end accepts (bytes after the length prefix).
    public static let maxFrame = 1 << 20
    /// Most rounds before giving up on converging (entries held back can take a few).
    public static let maxRounds = 6
    /// Most entries in one ENTRIES message.
    static let batch = 1000

    enum Message: UInt8 {
        case clock = 1
        case entries = 2
        case done = 3
    }

    /// Runs a session on `channel` as `role`, merging into `engine`.
    public static func run(
        _ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, role: PeerHandshake.Role, engine: MergeEngine,
        keyPair: SigningKeyPair
    ) async throws -> PeerSyncReport {
        try await channel.executeThenClose { inbound, outbound in
            var reader = FrameReader(inbound.makeAsyncIterator())
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
            var receiver: SecretStream.Receiver
            do {
                receiver = try SecretStream.Receiver(header: try await reader.next(), key: keys.receive)
            } catch {
                throw PeerChannelError.protocolViolation("bad stream header")
            }
            let roster = try await engine.currentRoster()
            let peer: DevicePublicKey
            do {
                let proof = try open(&receiver, try await reader.next())
                peer = try PeerHandshake.openAuth(
                    proof, transcript: transcript, role: role == .initiator ? .responder : .initiator,
                    isAuthorised: { roster.authorises($0, seq: 1) && roster.devices[$0]?.boundary == nil })
            } catch let error as HandshakeError {
                throw PeerChannelError.handshake(error)
            }

            // 2. Rounds: both ends send their clock; equal digests end the session on both.
            var report = PeerSyncReport(peer: peer)
            for round in 1...maxRounds {
                report.rounds = round
                let mine = try await engine.clock()
                try await write(outbound, sender.seal([Message.clock.rawValue] + VectorClock.encode(mine.entries)))
                let theirs = try clock(from: try open(&receiver, try await reader.next()))
                if mine.digest == theirs.digest {
                    report.converged = true
                    break
                }
                // Send what they lack and read what we lack; the two directions must not wait
                // on each other, or large deltas would fill both sockets and stall.
                let delta = try await engine.delta(for: theirs)
                report.sent += delta.count
                var frames: [[UInt8]] = []
                for start in stride(from: 0, to: delta.count, by: batch) {
                    frames.append(sender.seal(encode(Array(delta[start..<min(start + batch, delta.count)]))))
                }
                frames.append(sender.seal([Message.done.rawValue]))
                async let sending: Void = {
                    for frame in frames { try await write(outbound, frame) }
                }()
                var received: [Entry] = []
                while true {
                    let message = try open(&receiver, try await reader.next())
                    guard let kind = message.first.flatMap(Message.init(rawValue:)) else {
                        throw PeerChannelError.protocolViolation("unknown message")
                    }
                    if kind == .done { break }
                    guard kind == .entries else { throw PeerChannelError.protocolViolation("expected entries") }
                    received += try decode(message)
                }
                try await sending
                report.accepted += try await engine.merge(received).accepted.count
            }
            return report
        }
    }

    private static func open(_ receiver: inout SecretStream.Receiver, _ frame: [UInt8]) throws -> [UInt8] {
        do {
            return try receiver.open(frame)
        } catch {
            throw PeerChannelError.protocolViolation("a frame did not decrypt")
        }
    }

    private static func clock(from message: [UInt8]) throws -> VectorClock {
        guard message.first == Message.clock.rawValue else {
            throw PeerChannelError.protocolViolation("expected a clock")
        }
        do {
            return try VectorClock(decoding: Array(message.dropFirst()))
        } catch {
            throw PeerChannelError.protocolViolation("bad clock")
        }
    }

    static func encode(_ entries: [Entry]) -> [UInt8] {
        var w = ByteWriter(capacity: entries.reduce(5) { $0 + $1.encoded.count + 4 })
        w.u8(Message.entries.rawValue)
        w.u32(UInt32(entries.count))
        for entry in entries { w.lengthPrefixed32(entry.encoded) }
        return w.bytes
    }

    static func decode(_ message: [UInt8]) throws -> [Entry] {
        var r = ByteReader(message, offset: 1)
        do {
            let count = Int(try r.u32())
            guard count <= batch else { throw PeerChannelError.protocolViolation("too many entries in one message") }
            return try (0..<count).map { _ in try Entry(decoding: try r.lengthPrefixed32(limit: Entry.maxEncodedLength))
            }
        } catch let error as PeerChannelError {
            throw error
        } catch {
            throw PeerChannelError.protocolViolation("bad entries message")
        }
    }

    private static func write(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ frame: [UInt8]) async throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(frame.count))
        buffer.writeBytes(frame)
        try await outbound.write(buffer)
    }
}

/// Reads length-prefixed frames (u32 big-endian length, then that many bytes).
struct FrameReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var buffer = ByteBuffer()

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }

    mutating func next() async throws -> [UInt8] {
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
