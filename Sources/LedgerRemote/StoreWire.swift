import Foundation
import LedgerCore
import LedgerCrypto

/// The store's HTTP API, shared by the server and the client (docs/PROTOCOL.md, "Store").
/// Bodies are JSON; byte strings are base64 (standard alphabet, padded); keys and ids are
/// lowercase hex as everywhere else.
package enum StoreAPI {
    /// Seconds a challenge may be answered in.
    package static let challengeLifetime: Int64 = 60
    /// Seconds a token lasts.
    package static let tokenLifetime: Int64 = 15 * 60
    /// Most entries in one response, and most bytes of entries in it.
    package static let maxResponseEntries = 20_000
    package static let maxResponseBytes = 4 << 20
    /// Most entries a client sends in one request (the body limit is what the server enforces).
    package static let maxRequestEntries = 20_000
    /// Largest request body the server reads.
    package static let maxRequestBody = 8 << 20
    /// Largest answer body a device reads: a full page of entries in base64 with its JSON fits
    /// well within it; a store that sends more is refused unread.
    package static let maxResponseBody = 8 << 20

    static let authLabel = Array("ledgerlink-store-auth-v1".utf8)

    /// The message of the 400 a store answers a body it cannot read as JSON with (a store of an
    /// earlier version answers a binary sync body so).
    package static let notJSONMessage = "the body is not the JSON this endpoint takes"

    /// The bytes a device signs to get a token: label, the server's origin as the device
    /// addressed it, identity, device, challenge and its expiry.
    package static func authTranscript(
        origin: String, identity: IdentityID, device: DevicePublicKey, challenge: [UInt8], expires: Int64
    ) -> [UInt8] {
        var w = ByteWriter()
        w.raw(authLabel)
        let originBytes = Array(origin.utf8)
        w.u16(UInt16(min(originBytes.count, Int(UInt16.max))))
        w.raw(Array(originBytes.prefix(Int(UInt16.max))))
        w.raw(identity.bytes)
        w.raw(device.bytes)
        w.raw(challenge)
        w.u64(UInt64(bitPattern: expires))
        return w.bytes
    }

    /// `scheme://host[:port]` of a URL, lowercased, default ports dropped: what both ends sign.
    package static func origin(of url: URL) -> String? {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let bracketed = host.contains(":") ? "[\(host)]" : host
        if let port = url.port, port != defaultPort { return "\(scheme)://\(bracketed):\(port)" }
        return "\(scheme)://\(bracketed)"
    }
}

/// `POST /v1/identities/{identity}/challenge`
package struct ChallengeRequest: Codable, Sendable {
    package var device: String
    package init(device: String) { self.device = device }
}

package struct ChallengeResponse: Codable, Sendable {
    /// 32 random bytes, base64.
    package var challenge: String
    /// Unix time in seconds after which the challenge is refused.
    package var expires: Int64
    package init(challenge: String, expires: Int64) {
        self.challenge = challenge
        self.expires = expires
    }
}

/// `POST /v1/identities/{identity}/token`
package struct TokenRequest: Codable, Sendable {
    package var device: String
    package var challenge: String
    /// Ed25519 signature (base64) over `StoreAPI.authTranscript`.
    package var signature: String
    /// The identity's genesis entry (base64), when the store does not know the identity yet:
    /// only its genesis device can introduce it.
    package var genesis: String?
    package init(device: String, challenge: String, signature: String, genesis: String? = nil) {
        self.device = device
        self.challenge = challenge
        self.signature = signature
        self.genesis = genesis
    }
}

package struct TokenResponse: Codable, Sendable {
    /// Bearer token (base64 of 32 random bytes).
    package var token: String
    package var expires: Int64
    package init(token: String, expires: Int64) {
        self.token = token
        self.expires = expires
    }
}

/// `POST /v1/identities/{identity}/sync`, with `Authorization: Bearer TOKEN`.
///
/// With only `digest`: "has anything changed?". Otherwise the device's clock and the entries
/// the store lacks as far as the device knows; the store merges them and answers with what
/// the device lacks.
package struct SyncRequest: Codable, Sendable {
    /// Hex clock digest (the poll form).
    package var digest: String?
    /// Base64 clock encoding.
    package var clock: String?
    /// Base64 encoded entries.
    package var entries: [String]?
    package init(digest: String? = nil, clock: String? = nil, entries: [String]? = nil) {
        self.digest = digest
        self.clock = clock
        self.entries = entries
    }
}

package struct SyncResponse: Codable, Sendable {
    /// The store's clock digest after this request.
    package var digest: String
    /// The store's clock (base64 encoding), in a full sync.
    package var clock: String?
    /// Entries the device lacks, in order to merge (base64).
    package var entries: [String]?
    /// True when the store holds more for the device than fitted: ask again with the new clock.
    package var more: Bool?
    /// Entries of the request that were new to the store.
    package var accepted: Int?
    /// Entries the device lacks in all, and their bytes (for progress).
    package var remaining: Int?
    package var remainingBytes: Int?
    /// Devices the store holds fork proofs for (hex keys).
    package var forks: [String]?
    /// The store's signed statement of this state (its identity is the URL's, its digest is
    /// `digest`).
    package var head: StoreHeadWire?
    package init(digest: String) { self.digest = digest }
}

/// `POST /v1/identities/{identity}/prove`: "show that you hold these entries". The store
/// answers each with BLAKE2b-256(label || nonce || entry encoding), which it can only compute
/// if it holds the entry's bytes.
package struct ProveRequest: Codable, Sendable {
    /// 32 fresh random bytes (base64).
    package var nonce: String
    /// The entries asked for: a device (hex) and a seq of its log, at most `maxEntries`.
    package var entries: [ProveItem]
    package static let maxEntries = 16
    package init(nonce: String, entries: [ProveItem]) {
        self.nonce = nonce
        self.entries = entries
    }
}

package struct ProveItem: Codable, Sendable, Equatable {
    package var device: String
    package var seq: UInt64
    package init(device: String, seq: UInt64) {
        self.device = device
        self.seq = seq
    }
}

/// `POST /v1/recovery/lookup`: which identities linked a recovery key (docs/PROTOCOL.md,
/// "Recovery keys"), so words alone find their ledger.
package struct RecoveryLookupRequest: Codable, Sendable {
    /// The recovery key (hex).
    package var key: String
    package init(key: String) { self.key = key }
}

package struct RecoveryLookupResponse: Codable, Sendable {
    /// At most 16: each identity (hex) with its genesis entry (base64), from which the device
    /// checks that the identity is what the genesis derives.
    package var identities: [RecoveryIdentity]
    package static let maxIdentities = 16
    package init(identities: [RecoveryIdentity]) { self.identities = identities }
}

package struct RecoveryIdentity: Codable, Sendable, Equatable {
    package var identity: String
    package var genesis: String
    package init(identity: String, genesis: String) {
        self.identity = identity
        self.genesis = genesis
    }
}

package struct ProveResponse: Codable, Sendable {
    /// One per asked entry, in order: the proof (hex), or null when the store does not hold it.
    package var proofs: [String?]
    package init(proofs: [String?]) { self.proofs = proofs }
}

extension StoreAPI {
    static let possessionLabel = Array("ledgerlink-store-possession-v1".utf8)

    /// The proof that the holder of `entry`'s bytes answers `nonce` with.
    package static func possessionProof(nonce: [UInt8], entry: [UInt8]) -> Digest32 {
        Blake2b.hash(possessionLabel + nonce + entry)
    }
}

/// A signed head as a sync answer carries it: the identity and digest it signs are the
/// request's identity and the answer's `digest`, so they are not repeated.
package struct StoreHeadWire: Codable, Sendable, Equatable {
    /// The store's key (hex).
    package var store: String
    package var version: UInt64
    /// Unix milliseconds.
    package var time: Int64
    /// Ed25519 signature (base64) over the head's signed bytes.
    package var signature: String

    package init(_ head: StoreHead) {
        store = head.store.hex
        version = head.version
        time = head.time
        signature = Data(head.signature.bytes).base64EncodedString()
    }

    /// The whole head, given what the answer leaves out; nil when a field is malformed.
    package func head(identity: IdentityID, digest: String) -> StoreHead? {
        guard store.utf8.count == 64, let key = Hex.decode(store).flatMap({ try? PublicSigningKey(bytes: $0) }),
            digest.utf8.count == 64, let digest = Hex.decode(digest).flatMap({ try? Digest32(bytes: $0) }),
            signature.utf8.count <= 100, let raw = base64Bytes(signature), let signature = try? Signature(bytes: raw)
        else { return nil }
        return StoreHead(
            store: key, identity: identity, version: version, digest: digest, time: time, signature: signature)
    }
}

/// Every error body: a stable code and a sentence for people.
package struct StoreErrorBody: Codable, Sendable, Error {
    package var error: String
    package var message: String
    package init(error: String, message: String) {
        self.error = error
        self.message = message
    }
}

extension Data {
    /// Base64 of bytes.
    package static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}

/// Decodes base64 into bytes; nil when it is not base64.
package func base64Bytes(_ text: String) -> [UInt8]? { Data(base64Encoded: text).map { Array($0) } }

/// The binary form of a sync exchange (docs/PROTOCOL.md, "Binary sync bodies"): the control
/// fields as the JSON object of `SyncRequest` or `SyncResponse` without `entries`, then the
/// entries as runs (`EntryRuns`), not base64 inside JSON.
///
///     body = u32 n || control JSON (n bytes) || entry runs
///
/// A request in this form is answered in it; a JSON request is answered in JSON.
package enum SyncBody {
    package static let contentType = "application/vnd.ledgerlink.sync-v2"
    /// Largest control object: clocks of many devices, head, fork list, with room to spare.
    package static let maxControl = 1 << 20

    /// Why a body did not decode.
    package struct Malformed: Error, CustomStringConvertible {
        package let description: String
        /// More entries than the receiver takes in one body.
        package var tooMany = false
        package init(description: String, tooMany: Bool = false) {
            self.description = description
            self.tooMany = tooMany
        }
    }

    package static func encode<Control: Encodable>(_ control: Control, entries: [Entry]) throws -> [UInt8] {
        let json = Array(try JSONEncoder().encode(control))
        var w = ByteWriter(capacity: 4 + json.count + EntryRuns.size(of: entries))
        w.lengthPrefixed32(json)
        EntryRuns.encode(entries, into: &w)
        return w.bytes
    }

    /// A body whose entries were encoded before (`runs(_:)`), while the control object was
    /// not yet known: a push reads and encodes its next batch while the last one travels.
    package static func encode<Control: Encodable>(_ control: Control, runs: [UInt8]) throws -> [UInt8] {
        try prefix(control) + runs
    }

    /// What comes before a body's runs: the control object, length-prefixed.
    package static func prefix<Control: Encodable>(_ control: Control) throws -> [UInt8] {
        var w = ByteWriter()
        w.lengthPrefixed32(Array(try JSONEncoder().encode(control)))
        return w.bytes
    }

    /// `entries` encoded as the runs a body carries after its control object.
    package static func runs(_ entries: [Entry]) -> [UInt8] {
        var w = ByteWriter(capacity: EntryRuns.size(of: entries))
        EntryRuns.encode(entries, into: &w)
        return w.bytes
    }

    /// The control object and the entries of a body with at most `maxEntries` entries.
    package static func decode<Control: Decodable>(_ bytes: [UInt8], as type: Control.Type, maxEntries: Int)
        throws(Malformed) -> (Control, [Entry])
    {
        let (json, entries) = try split(bytes, maxEntries: maxEntries)
        return (try control(json, as: Control.self), entries)
    }

    /// A body's control object from its JSON bytes.
    static func control<Control: Decodable>(_ json: [UInt8], as type: Control.Type) throws(Malformed) -> Control {
        do { return try JSONDecoder().decode(Control.self, from: Data(json)) } catch {
            throw Malformed(description: "the control object is not the JSON this endpoint takes")
        }
    }

    /// Why a body's entries did not decode, `context` before the reason; more entries than the
    /// receiver takes are said as such.
    static func entriesMalformed(_ error: EntryList.Malformed, _ context: String) -> Malformed {
        if case .tooMany = error { return Malformed(description: "\(error)", tooMany: true) }
        return Malformed(description: "\(context): \(error)")
    }

    /// The control object's JSON bytes, and the entries.
    package static func split(_ bytes: [UInt8], maxEntries: Int) throws(Malformed) -> ([UInt8], [Entry]) {
        var r = ByteReader(bytes)
        let json: [UInt8]
        do { json = try r.lengthPrefixed32(limit: maxControl) } catch {
            throw Malformed(description: "the body is shorter than its control object")
        }
        let entries: [Entry]
        do { entries = try EntryRuns.decode(&r, maxCount: maxEntries) } catch {
            throw entriesMalformed(error, "its entries")
        }
        guard r.isAtEnd else { throw Malformed(description: "bytes after the entries") }
        return (json, entries)
    }

    // MARK: Streamed answers

    /// The streamed form of an answer (docs/PROTOCOL.md, "Streamed answers"), asked for with
    /// `Accept`: the entries first, as lists of runs the store sends as it reads them, then
    /// the control object, whose `more` and sizes are known only once the page is read.
    ///
    ///     stream = *(u8 1 || entry runs) || u8 0 || lp32(control)
    package static let streamType = "application/vnd.ledgerlink.sync-v2-stream"
    /// What a device that reads both answer forms sends as `Accept`.
    package static let accept = "\(streamType), \(contentType)"
    static let partTag: UInt8 = 1
    static let endTag: UInt8 = 0

    /// Whether an `Accept` header asks for streamed answers.
    package static func acceptsStream(_ accept: String?) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").contains {
            $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == streamType
        }
    }

    /// The bytes that start a part of a stream, before its list of runs.
    package static let partStart: [UInt8] = [partTag]

    /// The end of a stream: the control object, after its last part.
    package static func streamEnd<Control: Encodable>(_ control: Control) throws -> [UInt8] {
        [endTag] + (try prefix(control))
    }

    /// A whole stream with `parts`, each a list of runs (at least one entry each).
    package static func stream<Control: Encodable>(_ control: Control, parts: [[Entry]]) throws -> [UInt8] {
        var out: [UInt8] = []
        for part in parts where !part.isEmpty { out += partStart + EntryRuns.encoded(part) }
        return out + (try streamEnd(control))
    }

    /// The control object and the entries of a stream of at most `maxEntries` entries in all:
    /// a `StreamReader` given the whole stream at once.
    package static func decodeStream<Control: Decodable>(_ bytes: [UInt8], as type: Control.Type, maxEntries: Int)
        throws(Malformed) -> (Control, [Entry])
    {
        var reader = StreamReader<Control>(maxEntries: maxEntries)
        try reader.read(bytes)
        return try reader.finish()
    }

    /// A streamed answer read as its bytes arrive: each part is found and rebuilt as soon as it
    /// is all here, while the store still reads and sends the next, so a page's entries are
    /// ready when its last byte is rather than a page's decoding later.
    ///
    /// Every part is checked as it is found (each a non-empty list of runs, the count so far
    /// within `maxEntries`). A part or control object that does not read yet may still be
    /// arriving: it is read again once the bytes waiting have doubled, so however a stream is
    /// cut into pieces each byte is read a bounded number of times, and what still does not
    /// read when the stream ends is refused with its reason.
    package struct StreamReader<Control: Decodable> {
        private let maxEntries: Int
        /// Bytes arrived and not yet read: the start of a part, or of the control object.
        private var pending: [UInt8] = []
        /// `pending` is read again once it holds this many bytes.
        private var readAgainAt = 0
        private var entries: [Entry] = []
        /// The control object's JSON, once read: nothing may follow it.
        private var json: [UInt8]?
        /// Bytes that reads of `pending` could look at, in all (the work a stream cost, for tests).
        package private(set) var examined = 0

        package init(maxEntries: Int) { self.maxEntries = max(0, maxEntries) }

        /// Takes the next bytes of the stream, reading every part they complete.
        package mutating func read(_ bytes: some Collection<UInt8>) throws(Malformed) {
            guard json == nil else {
                if bytes.isEmpty { return }
                throw Malformed(description: "bytes after the control object")
            }
            if pending.isEmpty, let whole = bytes as? [UInt8] {
                pending = whole  // the whole stream at once: read where it lies
            } else {
                pending.append(contentsOf: bytes)
            }
            guard pending.count >= readAgainAt else { return }
            try readWhole(final: false)
        }

        /// The control object and the entries, once the stream has ended.
        package mutating func finish() throws(Malformed) -> (Control, [Entry]) {
            try readWhole(final: true)
            guard let json else { throw Malformed(description: "the stream ends before its control object") }
            return (try control(json, as: Control.self), entries)
        }

        /// Reads the parts at the start of `pending`, then the control object, and drops what
        /// was read. Unless `final`, a part that does not read whole is left for more bytes
        /// (a part claiming more entries than may come is refused at once).
        private mutating func readWhole(final: Bool) throws(Malformed) {
            let read = try readParts(final: final)
            pending.removeSubrange(0..<read)
            readAgainAt = pending.isEmpty ? 0 : 2 * pending.count
        }

        /// How many bytes at the start of `pending` were read.
        private mutating func readParts(final: Bool) throws(Malformed) -> Int {
            examined += pending.count
            var r = ByteReader(pending)
            var read = 0
            while json == nil {
                let tag: UInt8
                do { tag = try r.u8() } catch {
                    if final { throw Malformed(description: "the stream ends before its control object") }
                    return read
                }
                switch tag {
                case partTag:
                    let room = maxEntries - entries.count
                    var found = EntryRuns.Found()
                    do { try EntryRuns.find(&r, maxCount: room, into: &found) } catch {
                        let claimed = Self.claimedCount(at: read + 1, in: pending)
                        // Unless it claims more than may come, the rest of the part may be on its way.
                        if !final, claimed.map({ $0 <= room }) ?? true { return read }
                        // Counted with the entries of the parts before it.
                        var error = error
                        if let claimed, claimed > room {
                            error = .tooMany(entries.count + claimed)
                        } else if case .tooMany(let count) = error {
                            error = .tooMany(entries.count + count)
                        }
                        throw entriesMalformed(error, "its entries after the first \(entries.count)")
                    }
                    guard found.count > 0 else { throw Malformed(description: "a part of the stream holds no entries") }
                    let before = entries.count
                    do { try found.rebuild(from: pending, appendingTo: &entries) } catch {
                        throw entriesMalformed(error, "its entries after the first \(before)")
                    }
                case endTag:
                    do { json = try r.lengthPrefixed32(limit: maxControl) } catch {
                        if final { throw Malformed(description: "the stream is shorter than its control object") }
                        return read
                    }
                    guard r.isAtEnd else { throw Malformed(description: "bytes after the control object") }
                default:
                    throw Malformed(description: "a part of unknown kind \(tag)")
                }
                read = r.offset
            }
            return read
        }

        /// The count of the list of runs at `offset` (its first four bytes), once they are here.
        private static func claimedCount(at offset: Int, in bytes: [UInt8]) -> Int? {
            guard bytes.count - offset >= 4 else { return nil }
            return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        }
    }
}
