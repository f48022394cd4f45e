import LedgerCrypto

/// One signed entry of one device's log (docs/PROTOCOL.md, "Entry").
///
/// The wire form is `body || signature`, where `body` is the canonical encoding of the fields
/// below and the signature is Ed25519 over `"ledgerlink-entry-v1" || body`.
public final class Entry: Sendable, Hashable {
    /// The only entry version this build writes and reads.
    public static let currentVersion: UInt8 = 1
    /// Largest public body or sealed part, in bytes.
    public static let maxPartLength = 64 * 1024
    /// Fixed part of the encoding: version .. time, the two length prefixes, the signature.
    public static let fixedLength = 1 + 32 + 32 + 8 + 32 + 1 + 8 + 4 + 4 + Signature.length
    /// Largest encoded entry.
    public static let maxEncodedLength = fixedLength + 2 * maxPartLength

    public let identity: IdentityID
    public let author: DevicePublicKey
    public let seq: Seq
    public let prev: EntryHash
    public let kind: EntryKind
    /// Author's wall clock in milliseconds since 1970 UTC; shown, never used for ordering.
    public let time: Int64
    /// Kind-specific public fields (keys, certificates), readable by the store.
    public let publicBody: [UInt8]
    /// Kind-specific private fields sealed with the identity's data key, or empty.
    public let sealed: [UInt8]
    public let signature: Signature
    /// The canonical wire bytes (`body || signature`).
    public let encoded: [UInt8]
    /// BLAKE2b-256 of `"ledgerlink-entry-hash-v1" || encoded`.
    public let hash: EntryHash

    /// Builds and signs an entry with `keyPair`, which must be the author's.
    public convenience init(
        identity: IdentityID, keyPair: SigningKeyPair, seq: Seq, prev: EntryHash, kind: EntryKind,
        time: Int64, publicBody: [UInt8], sealed: [UInt8]
    ) {
        let body = Self.encodeBody(
            identity: identity, author: keyPair.publicKey, seq: seq, prev: prev, kind: kind, time: time,
            publicBody: publicBody, sealed: sealed)
        let signature = keyPair.sign(Self.signingMessage(body: body[...]))
        self.init(
            identity: identity, author: keyPair.publicKey, seq: seq, prev: prev, kind: kind, time: time,
            publicBody: publicBody, sealed: sealed, signature: signature, encoded: body + signature.bytes)
    }

    private init(
        identity: IdentityID, author: DevicePublicKey, seq: Seq, prev: EntryHash, kind: EntryKind, time: Int64,
        publicBody: [UInt8], sealed: [UInt8], signature: Signature, encoded: [UInt8]
    ) {
        self.identity = identity
        self.author = author
        self.seq = seq
        self.prev = prev
        self.kind = kind
        self.time = time
        self.publicBody = publicBody
        self.sealed = sealed
        self.signature = signature
        self.encoded = encoded
        self.hash = Self.hash(encoded: encoded)
    }

    /// Parses wire bytes, checking structure only (not the signature, chain or authority).
    public convenience init(decoding bytes: [UInt8]) throws(LedgerError) {
        guard bytes.count >= Self.fixedLength else { throw .malformed("entry is shorter than its fixed fields") }
        guard bytes.count <= Self.maxEncodedLength else {
            throw .malformed("entry is larger than \(Self.maxEncodedLength) bytes")
        }
        var r = ByteReader(bytes)
        do {
            let version = try r.u8()
            guard version == Self.currentVersion else {
                throw LedgerError.malformed("unsupported entry version \(version)")
            }
            let identity = IdentityID(unchecked: try r.raw(32))
            let author = try DevicePublicKey(bytes: try r.raw(32))
            let seq = try r.u64()
            guard seq >= 1, seq <= UInt64(Int64.max) else { throw LedgerError.malformed("seq out of range") }
            let prev = try EntryHash(bytes: try r.raw(32))
            let kindCode = try r.u8()
            guard let kind = EntryKind(rawValue: kindCode) else {
                throw LedgerError.malformed("unknown kind \(kindCode)")
            }
            let time = try r.i64()
            let publicBody = try r.lengthPrefixed32(limit: Self.maxPartLength)
            let sealed = try r.lengthPrefixed32(limit: Self.maxPartLength)
            let signature = try Signature(bytes: try r.raw(Signature.length))
            guard r.isAtEnd else { throw LedgerError.malformed("trailing bytes after the signature") }
            if seq == 1, prev != .zero { throw LedgerError.malformed("the first entry must have a zero prev") }
            if seq > 1, prev == .zero { throw LedgerError.malformed("only the first entry may have a zero prev") }
            self.init(
                identity: identity, author: author, seq: seq, prev: prev, kind: kind, time: time,
                publicBody: publicBody, sealed: sealed, signature: signature, encoded: bytes)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .malformed("entry is truncated")
        }
    }

    /// Bytes of the encoding before the stored form: version, identity id and author.
    static let storedFormOffset = 65

    /// The form kept in a device's database: the encoding after the version, the identity id
    /// and the author, which the database holds once per identity, per schema and per row.
    public var storedForm: ArraySlice<UInt8> { encoded[Self.storedFormOffset...] }

    /// Rebuilds an entry from its stored form (always of the current version).
    public convenience init(stored: [UInt8], identity: IdentityID, author: DevicePublicKey) throws(LedgerError) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(stored.count + Self.storedFormOffset)
        bytes.append(Self.currentVersion)
        bytes.append(contentsOf: identity.bytes)
        bytes.append(contentsOf: author.bytes)
        bytes.append(contentsOf: stored)
        try self.init(decoding: bytes)
    }

    /// Decodes many wire entries, spreading the work over every core; fails on the first bad one.
    public static func decodeAll(_ wires: [[UInt8]]) throws(LedgerError) -> [Entry] {
        let results = ParallelMap.map(wires) { wire -> Result<Entry, LedgerError> in
            do throws(LedgerError) { return .success(try Entry(decoding: wire)) } catch { return .failure(error) }
        }
        return try results.map { result throws(LedgerError) in try result.get() }
    }

    /// The bytes the author signs: the label followed by the body (everything but the signature).
    public var signingMessage: [UInt8] { Self.signingMessage(body: encoded[..<(encoded.count - Signature.length)]) }

    /// True when the signature verifies against the author's key.
    public var hasValidSignature: Bool { author.isValidSignature(signature, for: signingMessage) }

    static func signingMessage(body: ArraySlice<UInt8>) -> [UInt8] {
        var message = Array(Labels.entry.utf8)
        message.append(contentsOf: body)
        return message
    }

    static func hash(encoded: [UInt8]) -> EntryHash {
        Blake2b.hash(prefix: hashLabel, encoded)
    }

    private static let hashLabel = Array(Labels.entryHash.utf8)

    static func encodeBody(
        identity: IdentityID, author: DevicePublicKey, seq: Seq, prev: EntryHash, kind: EntryKind, time: Int64,
        publicBody: [UInt8], sealed: [UInt8]
    ) -> [UInt8] {
        var w = ByteWriter(capacity: fixedLength + publicBody.count + sealed.count)
        w.u8(currentVersion)
        w.raw(identity.bytes)
        w.raw(author.bytes)
        w.u64(seq)
        w.raw(prev.bytes)
        w.u8(kind.rawValue)
        w.i64(time)
        w.lengthPrefixed32(publicBody)
        w.lengthPrefixed32(sealed)
        return w.bytes
    }

    public static func == (lhs: Entry, rhs: Entry) -> Bool { lhs.encoded == rhs.encoded }
    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}
