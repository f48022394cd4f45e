import LedgerCore
import LedgerCrypto
import LedgerRemote

/// One message of the peer conversation after the handshake: a type byte, then its body
/// (docs/PROTOCOL.md, "Peer sync"). Every message a session sends is built by `encoded`, and
/// every message it reads goes through `init(decoding:)`, which checks every count and length.
package enum PeerMessage: Sendable, Equatable {
    /// Two messages are equal when their bytes are.
    package static func == (a: PeerMessage, b: PeerMessage) -> Bool { a.encoded == b.encoded }

    /// "Here is my clock: send what I lack, then DONE."
    case clock(VectorClock)
    /// At most `PeerMessage.maxEntries` entries, in an order the receiver can merge.
    case entries([Entry])
    /// The end of an answer to CLOCK, with the sender's digest when it started answering.
    case done(Digest32)
    /// The sender's digest: a heartbeat, and "ask me if we differ".
    case ping(Digest32)
    /// The session ends.
    case bye
    /// The sender refuses the other device after the handshake, and says why.
    case refused(PeerRefusal)
    /// The newest signed head the sender holds of each store (docs/PROTOCOL.md, "Store heads"):
    /// two devices that compare them find a store that showed them different histories.
    case heads([StoreHead])

    package enum Kind: UInt8, Sendable {
        case clock = 1
        case entries = 2
        case done = 3
        case ping = 4
        case bye = 5
        case refused = 6
        case heads = 7
        /// Entries as runs (`EntryRuns`): what `.entries` is sent as. ENTRIES (2), the list of
        /// whole encodings earlier versions send, is still read.
        case runs = 8
    }

    /// Most heads in one HEADS message, and the bytes of each.
    package static let maxHeads = 32
    static let headLength = 32 + 32 + 8 + 32 + 8 + 64

    /// Most entries in one ENTRIES message.
    package static let maxEntries = 1000

    /// RUNS messages: at most `maxEntries` entries, and small enough that the sealed frame
    /// stays within `PeerFraming.maxFrame` (a type byte and two counts, each entry's item with
    /// room for a run header of its own, the stream's 17-byte tag). Counting entries alone let
    /// a thousand large ones (revokes carrying many keyrings) make a frame the other end
    /// refuses, and the sync never finished.
    package static let batcher = DeltaBatcher(
        maxEntries: maxEntries,
        maxBytes: PeerFraming.maxFrame - 1 - EntryRuns.listHeaderLength - SecretStream.overhead,
        cost: EntryRuns.cost(of:))

    package var kind: Kind {
        switch self {
        case .clock: .clock
        case .entries: .runs
        case .done: .done
        case .ping: .ping
        case .bye: .bye
        case .refused: .refused
        case .heads: .heads
        }
    }

    /// The message's bytes: its kind, then its body.
    package var encoded: [UInt8] {
        switch self {
        case .clock(let clock):
            return [Kind.clock.rawValue] + VectorClock.encode(clock.entries)
        case .entries(let entries):
            var w = ByteWriter(capacity: 1 + EntryRuns.size(of: entries))
            w.u8(Kind.runs.rawValue)
            EntryRuns.encode(entries, into: &w)
            return w.bytes
        case .done(let digest), .ping(let digest):
            return [kind.rawValue] + digest.bytes
        case .bye:
            return [Kind.bye.rawValue]
        case .refused(let reason):
            return [Kind.refused.rawValue, reason.rawValue]
        case .heads(let heads):
            var w = ByteWriter(capacity: 2 + heads.count * Self.headLength)
            w.u8(Kind.heads.rawValue)
            w.u8(UInt8(min(heads.count, Self.maxHeads)))
            for head in heads.prefix(Self.maxHeads) {
                w.raw(head.store.bytes)
                w.raw(head.identity.bytes)
                w.u64(head.version)
                w.raw(head.digest.bytes)
                w.i64(head.time)
                w.raw(head.signature.bytes)
            }
            return w.bytes
        }
    }

    /// Reads a message, refusing anything malformed with the reason.
    package init(decoding message: [UInt8]) throws(PeerChannelError) {
        guard let kind = message.first.flatMap(Kind.init(rawValue:)) else {
            throw .protocolViolation("unknown message")
        }
        let body = Array(message.dropFirst())
        switch kind {
        case .clock:
            do {
                self = .clock(try VectorClock(decoding: body))
            } catch {
                throw .protocolViolation("bad clock: \(error.reason)")
            }
        case .entries, .runs:
            var r = ByteReader(message, offset: 1)
            let entries: [Entry]
            do {
                entries =
                    kind == .runs
                    ? try EntryRuns.decode(&r, maxCount: Self.maxEntries)
                    : try EntryList.decode(&r, maxCount: Self.maxEntries)
            } catch .tooMany {
                throw .protocolViolation("too many entries in one message")
            } catch {
                throw .protocolViolation("bad entries message")
            }
            guard r.isAtEnd else { throw .protocolViolation("trailing bytes after entries") }
            self = .entries(entries)
        case .done, .ping:
            guard let digest = try? Digest32(bytes: body) else { throw .protocolViolation("bad digest") }
            self = kind == .done ? .done(digest) : .ping(digest)
        case .bye:
            guard body.isEmpty else { throw .protocolViolation("bad goodbye") }
            self = .bye
        case .refused:
            guard body.count == 1, let reason = PeerRefusal(rawValue: body[0]) else {
                throw .protocolViolation("bad refusal")
            }
            self = .refused(reason)
        case .heads:
            guard let count = body.first.map(Int.init), count <= Self.maxHeads,
                body.count == 1 + count * Self.headLength
            else { throw .protocolViolation("bad store heads") }
            var r = ByteReader(body, offset: 1)
            do {
                self = .heads(
                    try (0..<count).map { _ in
                        StoreHead(
                            store: try PublicSigningKey(bytes: try r.raw(32)),
                            identity: try IdentityID(bytes: try r.raw(32)),
                            version: try r.u64(), digest: try Digest32(bytes: try r.raw(32)), time: try r.i64(),
                            signature: try Signature(bytes: try r.raw(64)))
                    })
            } catch {
                throw .protocolViolation("bad store heads")
            }
        }
    }
}
