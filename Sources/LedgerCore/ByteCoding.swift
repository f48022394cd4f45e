/// Appends big-endian fields to a byte buffer: the canonical encoding of docs/PROTOCOL.md.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { append(v) }
    public mutating func u32(_ v: UInt32) { append(v) }
    public mutating func u64(_ v: UInt64) { append(v) }
    public mutating func i64(_ v: Int64) { append(UInt64(bitPattern: v)) }
    /// Raw bytes with no length prefix (fixed-size fields).
    public mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    /// Raw bytes from part of a buffer, without copying them into an array of their own first.
    public mutating func raw(_ v: ArraySlice<UInt8>) { bytes.append(contentsOf: v) }
    /// Bytes with a u32 length prefix.
    public mutating func lengthPrefixed32(_ v: [UInt8]) {
        u32(UInt32(v.count))
        bytes.append(contentsOf: v)
    }
    /// Bytes with a u16 length prefix.
    public mutating func lengthPrefixed16(_ v: [UInt8]) {
        u16(UInt16(v.count))
        bytes.append(contentsOf: v)
    }
    /// Bytes with a u8 length prefix.
    public mutating func lengthPrefixed8(_ v: [UInt8]) {
        u8(UInt8(v.count))
        bytes.append(contentsOf: v)
    }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        var be = v.bigEndian
        withUnsafeBytes(of: &be) { bytes.append(contentsOf: $0) }
    }
}

/// Reads the canonical big-endian encoding, failing on truncation rather than trapping.
public struct ByteReader {
    /// Raised when the input ends early or a length is out of bounds.
    public struct Truncated: Error {}

    /// The whole input (read in place by decoders that rebuild from it, as `EntryRuns`).
    let bytes: [UInt8]
    /// Offset of the next unread byte.
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// True when every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }
    /// Bytes left.
    public var remaining: Int { bytes.count - offset }

    public mutating func u8() throws(Truncated) -> UInt8 {
        guard remaining >= 1 else { throw Truncated() }
        defer { offset += 1 }
        return bytes[offset]
    }
    public mutating func u16() throws(Truncated) -> UInt16 { try integer() }
    public mutating func u32() throws(Truncated) -> UInt32 { try integer() }
    public mutating func u64() throws(Truncated) -> UInt64 { try integer() }
    public mutating func i64() throws(Truncated) -> Int64 { Int64(bitPattern: try integer()) }

    /// Steps over `count` bytes.
    public mutating func skip(_ count: Int) throws(Truncated) {
        guard count >= 0, remaining >= count else { throw Truncated() }
        offset += count
    }

    /// `count` raw bytes.
    public mutating func raw(_ count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
    /// Bytes with a u32 length prefix, refusing lengths above `limit`.
    public mutating func lengthPrefixed32(limit: Int) throws(Truncated) -> [UInt8] {
        let n = Int(try u32())
        guard n <= limit else { throw Truncated() }
        return try raw(n)
    }
    /// Bytes with a u16 length prefix.
    public mutating func lengthPrefixed16() throws(Truncated) -> [UInt8] { try raw(Int(try u16())) }
    /// Bytes with a u8 length prefix.
    public mutating func lengthPrefixed8() throws(Truncated) -> [UInt8] { try raw(Int(try u8())) }

    private mutating func integer<T: FixedWidthInteger>() throws(Truncated) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw Truncated() }
        var v: T = 0
        for i in 0..<size { v = v << 8 | T(bytes[offset + i]) }
        offset += size
        return v
    }
}

/// Writes big-endian fields front to back into memory already sized for them: a record
/// packed in place on a hot path. The offset is the struct's own, so no closure captures a
/// variable whose every access the runtime would have to check.
struct RawCursor {
    let out: UnsafeMutableRawBufferPointer
    private(set) var offset: Int

    init(_ out: UnsafeMutableRawBufferPointer, at offset: Int = 0) {
        self.out = out
        self.offset = offset
    }

    mutating func put<T: FixedWidthInteger>(_ value: T) {
        out.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        UnsafeMutableRawBufferPointer(rebasing: out[offset..<offset + bytes.count]).copyMemory(from: bytes)
        offset += bytes.count
    }
}

/// Reads big-endian fields front to back from memory, in place: nil where the input ends
/// early (the caller names what was truncated, only when it is).
struct RawReader {
    let raw: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    var isAtEnd: Bool { offset == raw.count }

    mutating func u8() -> UInt8? {
        guard offset < raw.count else { return nil }
        defer { offset += 1 }
        return raw[offset]
    }

    mutating func u16() -> UInt16? {
        guard raw.count - offset >= 2 else { return nil }
        defer { offset += 2 }
        return UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    mutating func u64() -> UInt64? {
        guard raw.count - offset >= 8 else { return nil }
        defer { offset += 8 }
        return UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The next `count` bytes, in place.
    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, raw.count - offset >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: raw[offset..<offset + count])
    }
}
