import Foundation
import LedgerCrypto

/// One signed entry of one device's log (docs/PROTOCOL.md, "Entry").
///
/// The wire form is `body || signature`, where `body` is the canonical encoding of the fields
/// below and the signature is Ed25519 over `"ledgerlink-entry-v1" || body`.
///
/// An entry is its encoding and the few fields a merge reads most, inline: the identity, the
/// author, `prev` and the signature are read from the encoding when asked for. Decoding
/// allocates nothing (the bytes are the caller's), so a page of entries is one allocation an
/// entry, not two (a first sync decodes hundreds of thousands of these).
public struct Entry: Sendable, Hashable {
    /// The only entry version this build writes and reads.
    public static let currentVersion: UInt8 = 1
    /// Largest public body or sealed part, in bytes.
    public static let maxPartLength = 64 * 1024
    /// Fixed part of the encoding: version .. time, the two length prefixes, the signature.
    public static let fixedLength = 1 + 32 + 32 + 8 + 32 + 1 + 8 + 4 + 4 + Signature.length
    /// Largest encoded entry.
    public static let maxEncodedLength = fixedLength + 2 * maxPartLength

    /// The canonical wire bytes (`body || signature`), checked as decoding checks them.
    public let encoded: [UInt8]
    /// BLAKE2b-256 of `"ledgerlink-entry-hash-v1" || encoded`.
    public let hash: EntryHash
    public let seq: Seq
    /// Author's wall clock in milliseconds since 1970 UTC; shown, never used for ordering.
    public let time: Int64
    public let kind: EntryKind
    /// Lengths of the public body and the sealed part (each at most `maxPartLength`).
    private let publicLength: UInt32
    private let sealedLength: UInt32

    public var identity: IdentityID { IdentityID(unchecked: inline32(at: 1)) }
    public var author: DevicePublicKey { DevicePublicKey(storage: inline32(at: 33)) }
    public var prev: EntryHash { EntryHash(storage: inline32(at: 73)) }
    public var signature: Signature {
        encoded.withUnsafeBytes {
            Signature(
                storage: InlineBytes64(copying: UnsafeRawBufferPointer(rebasing: $0[($0.count - Signature.length)...])))
        }
    }

    /// Where each stretch of one author's consecutive entries lies in `entries`, in order. A
    /// push, a page and an import are a log at a time: work per author (its authority, its list)
    /// is done once a stretch, and each entry's author is compared in place, not copied out.
    package static func authorStretches(_ entries: [Entry]) -> [Range<Int>] {
        var stretches: [Range<Int>] = []
        var start = 0
        for index in entries.indices.dropFirst() where !entries[index].hasSameAuthor(as: entries[index - 1]) {
            stretches.append(start..<index)
            start = index
        }
        if !entries.isEmpty { stretches.append(start..<entries.count) }
        return stretches
    }

    /// Whether no two of `entries` share an author and a seq (and so no two are the same entry):
    /// each author's entries make one stretch, in increasing seq order, as a push's and a
    /// page's do. False when that is not so, whether or not two share a place.
    package static func distinctPositions(_ entries: [Entry]) -> Bool {
        var authors = Set<DevicePublicKey>()
        for stretch in authorStretches(entries) {
            guard authors.insert(entries[stretch.lowerBound].author).inserted, entries[stretch].seqsIncrease
            else { return false }
        }
        return true
    }

    /// Whether `other` has the same author, compared in place.
    package func hasSameAuthor(as other: Entry) -> Bool {
        encoded.withUnsafeBytes { a in
            other.encoded.withUnsafeBytes { b in
                // Every entry is at least its fixed fields long: both pointers exist.
                guard let p = a.baseAddress, let q = b.baseAddress else { return false }
                return memcmp(p + 33, q + 33, 32) == 0
            }
        }
    }

    /// The 32 bytes of the encoding at `offset` (within the fixed fields, which every entry has).
    private func inline32(at offset: Int) -> InlineBytes32 {
        encoded.withUnsafeBytes { InlineBytes32(copying: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 32])) }
    }

    /// Where the public body and the sealed part lie in `encoded`.
    var publicRange: Range<Int> { Self.publicStart..<Self.publicStart + Int(publicLength) }
    var sealedRange: Range<Int> {
        let start = Self.publicStart + Int(publicLength) + 4
        return start..<start + Int(sealedLength)
    }
    private static let publicStart = headerLength + 4

    /// Kind-specific public fields (keys, certificates), readable by the store.
    public var publicBody: [UInt8] { Array(encoded[publicRange]) }
    /// Kind-specific private fields sealed with the identity's data key, or empty.
    public var sealed: [UInt8] { Array(encoded[sealedRange]) }
    /// Length of the sealed part, without copying it.
    public var sealedCount: Int { Int(sealedLength) }

    /// Calls `body` with the sealed part, without copying it.
    func withSealed<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try encoded.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[sealedRange])) }
    }

    /// Offset of the public body's length prefix: version, identity, author, seq, prev, kind, time.
    static let headerLength = 1 + 32 + 32 + 8 + 32 + 1 + 8

    /// Builds and signs an entry with `keyPair`, which must be the author's.
    public init(
        identity: IdentityID, keyPair: SigningKeyPair, seq: Seq, prev: EntryHash, kind: EntryKind,
        time: Int64, publicBody: [UInt8], sealed: [UInt8]
    ) {
        let body = Self.encodeBody(
            identity: identity, author: keyPair.publicKey, seq: seq, prev: prev, kind: kind, time: time,
            publicBody: publicBody, sealed: sealed)
        let signature = keyPair.sign(Self.signingMessage(body: body[...]))
        let encoded = body + signature.bytes
        self.init(
            encoded: encoded, hash: Self.hash(encoded: encoded), seq: seq, time: time, kind: kind,
            publicLength: UInt32(publicBody.count), sealedLength: UInt32(sealed.count))
    }

    private init(
        encoded: [UInt8], hash: EntryHash, seq: Seq, time: Int64, kind: EntryKind, publicLength: UInt32,
        sealedLength: UInt32
    ) {
        self.encoded = encoded
        self.hash = hash
        self.seq = seq
        self.time = time
        self.kind = kind
        self.publicLength = publicLength
        self.sealedLength = sealedLength
    }

    /// Parses wire bytes, checking structure only (not the signature, chain or authority).
    ///
    /// Fixed-size fields are read in place, so decoding allocates nothing: the entry keeps
    /// `bytes` as its encoding.
    public init(decoding bytes: [UInt8]) throws(LedgerError) {
        try self.init(decoding: bytes, knownHash: nil)
    }

    /// The entry of a checked encoding, with the hash it was given.
    public init(checked: CheckedEncoding) throws(LedgerError) {
        try self.init(decoding: checked.encoded, knownHash: checked.hash)
    }

    /// Parses bytes whose hash is already known (`knownHash`, when not nil, is taken as it is).
    private init(decoding bytes: [UInt8], knownHash: EntryHash?) throws(LedgerError) {
        let fields = try Self.fields(of: bytes)
        self.init(
            encoded: bytes, hash: knownHash ?? Self.hash(encoded: bytes), seq: fields.seq, time: fields.time,
            kind: fields.kind, publicLength: fields.publicLength, sealedLength: fields.sealedLength)
    }

    /// What decoding reads and keeps of an encoding's fixed fields.
    private struct Fields {
        var seq: Seq
        var kind: EntryKind
        var time: Int64
        var publicLength: UInt32
        var sealedLength: UInt32
    }

    /// Reads the fields of an encoding, checking everything decoding checks.
    private static func fields(of bytes: [UInt8]) throws(LedgerError) -> Fields {
        guard bytes.count >= fixedLength else { throw .malformed("entry is shorter than its fixed fields") }
        guard bytes.count <= maxEncodedLength else {
            throw .malformed("entry is larger than \(maxEncodedLength) bytes")
        }
        return try bytes.withUnsafeBytes { raw in Result { () throws(LedgerError) in try fields(of: raw) } }.get()
    }

    /// Reads the fields of an encoding whose length is within the fixed and maximum lengths.
    private static func fields(of raw: UnsafeRawBufferPointer) throws(LedgerError) -> Fields {
        func word(_ offset: Int) -> UInt64 {
            UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        func length(_ offset: Int) -> Int {
            Int(UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        let version = raw[0]
        guard version == currentVersion else { throw .malformed("unsupported entry version \(version)") }
        let seq = word(65)
        guard seq >= 1, seq <= UInt64(Int64.max) else { throw .malformed("seq out of range") }
        let kindCode = raw[105]
        guard let kind = EntryKind(rawValue: kindCode) else { throw .malformed("unknown kind \(kindCode)") }
        // The fixed length covers both length prefixes and the signature, so each read below is
        // in bounds once the previous part's length has been checked against what remains.
        let publicLength = length(headerLength)
        let publicStart = headerLength + 4
        guard publicLength <= maxPartLength, publicStart + publicLength + 4 + Signature.length <= raw.count else {
            throw .malformed("entry is truncated")
        }
        let sealedLength = length(publicStart + publicLength)
        let sealedStart = publicStart + publicLength + 4
        guard sealedLength <= maxPartLength, sealedStart + sealedLength + Signature.length <= raw.count else {
            throw .malformed("entry is truncated")
        }
        guard sealedStart + sealedLength + Signature.length == raw.count else {
            throw .malformed("trailing bytes after the signature")
        }
        // `prev` is zero exactly when its four words are (read in place, not copied out).
        let zeroPrev = word(73) | word(81) | word(89) | word(97) == 0
        if seq == 1, !zeroPrev { throw .malformed("the first entry must have a zero prev") }
        if seq > 1, zeroPrev { throw .malformed("only the first entry may have a zero prev") }
        return Fields(
            seq: seq, kind: kind, time: Int64(bitPattern: word(106)), publicLength: UInt32(publicLength),
            sealedLength: UInt32(sealedLength))
    }

    /// Bytes of the encoding before the stored form: version, identity id and author.
    static let storedFormOffset = 65

    /// The form kept in a device's database: the encoding after the version, the identity id
    /// and the author, which the database holds once per identity, per schema and per row.
    public var storedForm: ArraySlice<UInt8> { encoded[Self.storedFormOffset...] }

    /// Rebuilds an entry from its stored form (always of the current version).
    public init<Bytes: Collection<UInt8>>(stored: Bytes, identity: IdentityID, author: DevicePublicKey)
        throws(LedgerError)
    {
        try self.init(stored: stored, identity: identity, author: author, hash: nil)
    }

    /// Rebuilds an entry from its stored form; `hash`, when known (the `prev` of the entry after
    /// it in a log this device verified and stored), is taken instead of computed again.
    init<Bytes: Collection<UInt8>>(
        stored: Bytes, identity: IdentityID, author: DevicePublicKey, hash: EntryHash?
    ) throws(LedgerError) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(stored.count + Self.storedFormOffset)
        bytes.append(Self.currentVersion)
        bytes.append(contentsOf: identity.bytes)
        bytes.append(contentsOf: author.bytes)
        bytes.append(contentsOf: stored)
        try self.init(decoding: bytes, knownHash: hash)
    }

    /// Decodes many wire entries, spreading the work over every core; fails on the first bad one.
    ///
    /// - Parameter linksChecked: the bytes are ones this process stored after checking each
    ///   entry's link to the one before it: an entry followed by its successor in the same log
    ///   takes its hash from that successor's `prev` instead of hashing its bytes again (a store
    ///   answering a pull; whoever receives the entries hashes them).
    public static func decodeAll(_ wires: [[UInt8]], linksChecked: Bool) throws(LedgerError) -> [Entry] {
        guard linksChecked else { return try decodeAll(wires) }
        return try decodeAll(wires, known: knownHashes(wires))
    }

    /// Each encoding's hash where the one after it is its successor in the same log (its `prev`),
    /// nil elsewhere: the hashes a store takes from links it checked when it stored them.
    private static func knownHashes(_ wires: [[UInt8]]) -> [EntryHash?] {
        var known = [EntryHash?](repeating: nil, count: wires.count)
        for index in wires.indices.dropLast() {
            let (this, next) = (wires[index], wires[index + 1])
            guard this.count >= headerLength, next.count >= headerLength,
                // A seq read in place is at most Int64.max: the next one is checked, not computed blindly.
                let a = position(in: this), let b = position(in: next), a.seq < Int64.max, b.seq == a.seq + 1,
                sameIdentityAndAuthor(this, next)
            else { continue }
            known[index] = next.withUnsafeBytes {
                EntryHash(storage: InlineBytes32(copying: UnsafeRawBufferPointer(rebasing: $0[73..<105])))
            }
        }
        return known
    }

    /// Checks stored encodings as `decodeAll(_:linksChecked: true)` does, and gives each with its
    /// hash, without building entries: what a store answering a pull writes into runs from its
    /// rows (an entry object per row was a third of the store's work for a pull).
    public static func checkedAll(_ wires: [[UInt8]]) throws(LedgerError) -> [CheckedEncoding] {
        let known = knownHashes(wires)
        var out: [CheckedEncoding] = []
        out.reserveCapacity(wires.count)
        for (index, wire) in wires.enumerated() {
            let fields = try Self.fields(of: wire)
            let author = wire.withUnsafeBytes {
                DevicePublicKey(storage: InlineBytes32(copying: UnsafeRawBufferPointer(rebasing: $0[33..<65])))
            }
            out.append(
                CheckedEncoding(
                    encoded: wire, author: author, seq: fields.seq,
                    hash: known[index] ?? hash(encoded: wire)))
        }
        return out
    }

    public static func decodeAll(_ wires: [[UInt8]]) throws(LedgerError) -> [Entry] {
        try decodeAll(wires, known: nil)
    }

    /// Where each of `count` entries written one after another lies in `bytes` (a store's row
    /// holding a run), found from the two length prefixes inside each encoding; nil unless the
    /// bytes are exactly `count` encodings' worth, each within the fixed and maximum lengths.
    /// Whether each is an entry is for decoding to say.
    public static func ranges(in bytes: UnsafeRawBufferPointer, count: Int) -> [Range<Int>]? {
        guard count >= 1, count <= bytes.count / fixedLength else { return nil }
        func length(_ at: Int) -> Int? {
            guard at >= 0, at <= bytes.count - 4 else { return nil }
            let value = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            return value <= maxPartLength ? value : nil
        }
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(count)
        var offset = 0
        for _ in 0..<count {
            // Each part is at most 64 KiB and the offset within the bytes: no sum can overflow.
            guard let publicLength = length(offset + headerLength),
                let sealedLength = length(offset + headerLength + 4 + publicLength)
            else { return nil }
            let total = fixedLength + publicLength + sealedLength
            guard total <= bytes.count - offset else { return nil }
            ranges.append(offset..<offset + total)
            offset += total
        }
        return offset == bytes.count ? ranges : nil
    }

    /// Whether two encodings (each at least a header long) name the same identity and author,
    /// compared as memory.
    private static func sameIdentityAndAuthor(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard let p = x.baseAddress, let q = y.baseAddress else { return false }
                return memcmp(p + 1, q + 1, 64) == 0
            }
        }
    }

    private static func decodeAll(_ wires: [[UInt8]], known: [EntryHash?]?) throws(LedgerError) -> [Entry] {
        // Each part decodes into its own array (no per-entry wrapping); the first error by
        // position wins, as in a serial decode.
        let parts = max(1, min(ProcessInfo.activeCores * 4, wires.count / 1024))
        let decoded = BackgroundMap(Array(0..<parts), minimumChunk: 1) { part in
            var entries: [Entry] = []
            for i in (wires.count * part / parts)..<(wires.count * (part + 1) / parts) {
                do throws(LedgerError) {
                    entries.append(try Entry(decoding: wires[i], knownHash: known?[i]))
                } catch {
                    return Result<[Entry], LedgerError>.failure(error)
                }
            }
            return .success(entries)
        }.values()
        var all: [Entry] = []
        all.reserveCapacity(wires.count)
        for part in decoded { all.append(contentsOf: try part.get()) }
        return all
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

/// An entry's encoding, checked as decoding checks it, with its author, seq and hash: what
/// writing it into runs needs, without the parsed entry.
public struct CheckedEncoding: Sendable {
    public let encoded: [UInt8]
    public let author: DevicePublicKey
    public let seq: Seq
    public let hash: EntryHash
}

extension RandomAccessCollection where Element == Entry, Index == Int {
    /// Whether each entry's seq is above the one before it (read in place: no entry copied),
    /// as in a push's, a page's or a log's stretch.
    @inlinable package var seqsIncrease: Bool { indices.dropFirst().allSatisfy { self[$0 - 1].seq < self[$0].seq } }
}
