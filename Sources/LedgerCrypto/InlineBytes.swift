/// 32 bytes held inline, without a heap allocation: keys, digests and ids.
///
/// A merge handles several of these per entry; as arrays each would be an allocation, a
/// reference count and a pointer chase, which cost more than the cryptography on short entries.
public struct InlineBytes32: Hashable, Sendable, Comparable {
    /// Length in bytes.
    public static let count = 32
    /// The bytes in order, four to a word (words in memory order, not numeric order).
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// All zeros.
    public init() {}

    /// Copies exactly 32 bytes.
    public init(copying source: UnsafeRawBufferPointer) {
        precondition(source.count == Self.count, "InlineBytes32 needs exactly 32 bytes")
        Swift.withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: source) }
    }

    /// Copies exactly 32 bytes from a collection of bytes.
    public init<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        precondition(bytes.count == Self.count, "InlineBytes32 needs exactly 32 bytes")
        Swift.withUnsafeMutableBytes(of: &words) { out in
            for (i, byte) in bytes.enumerated() { out[i] = byte }
        }
    }

    /// Fills the 32 bytes through `body` (for C functions that write their output).
    public init(filling body: (UnsafeMutablePointer<UInt8>) -> Void) {
        withUnsafeMutablePointer(to: &words) { $0.withMemoryRebound(to: UInt8.self, capacity: Self.count, body) }
    }

    /// The bytes as an array.
    public var array: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 bytes.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var copy = words
        return try Swift.withUnsafeBytes(of: &copy) { raw throws(E) in try body(raw) }
    }

    /// Calls `body` with a pointer to the 32 bytes (for C functions).
    public func withBytePointer<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        var copy = words
        return withUnsafePointer(to: &copy) { $0.withMemoryRebound(to: UInt8.self, capacity: Self.count, body) }
    }

    /// The first eight bytes as a word: a good hash when the bytes are uniformly random.
    public var leadingWord: UInt64 { words.0 }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// Byte-wise lexicographic order: words compared in big-endian (byte) order.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        let l = (lhs.words.0.bigEndian, lhs.words.1.bigEndian, lhs.words.2.bigEndian, lhs.words.3.bigEndian)
        let r = (rhs.words.0.bigEndian, rhs.words.1.bigEndian, rhs.words.2.bigEndian, rhs.words.3.bigEndian)
        return l < r
    }
}

/// 64 bytes held inline: Ed25519 signatures.
public struct InlineBytes64: Hashable, Sendable {
    /// Length in bytes.
    public static let count = 64
    private var low = InlineBytes32()
    private var high = InlineBytes32()

    /// Copies exactly 64 bytes.
    public init(copying source: UnsafeRawBufferPointer) {
        precondition(source.count == Self.count, "InlineBytes64 needs exactly 64 bytes")
        low = InlineBytes32(copying: UnsafeRawBufferPointer(rebasing: source[0..<32]))
        high = InlineBytes32(copying: UnsafeRawBufferPointer(rebasing: source[32..<64]))
    }

    /// Copies exactly 64 bytes from a collection of bytes.
    public init<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        precondition(bytes.count == Self.count, "InlineBytes64 needs exactly 64 bytes")
        low = InlineBytes32(bytes.prefix(32))
        high = InlineBytes32(bytes.dropFirst(32))
    }

    /// Fills the 64 bytes through `body`.
    public init(filling body: (UnsafeMutablePointer<UInt8>) -> Void) {
        var storage = (InlineBytes32(), InlineBytes32())
        withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: UInt8.self, capacity: Self.count, body) }
        (low, high) = storage
    }

    /// Calls `body` with a pointer to the 64 bytes (for C functions).
    public func withBytePointer<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R {
        var copy = (low, high)
        return withUnsafePointer(to: &copy) { $0.withMemoryRebound(to: UInt8.self, capacity: Self.count, body) }
    }

    /// The bytes as an array.
    public var array: [UInt8] { low.array + high.array }

}
