import CSodium

/// A 32-byte BLAKE2b-256 digest.
public struct Digest32: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Length in bytes.
    public static let length = 32
    /// All zeros: the `prev` of a log's first entry.
    public static let zero = Digest32(storage: InlineBytes32())
    /// The digest, inline.
    public let storage: InlineBytes32
    /// The raw digest.
    public var bytes: [UInt8] { storage.array }

    /// Wraps 32 raw bytes.
    public init(bytes: [UInt8]) throws(CryptoError) {
        try requireLength(bytes, Self.length, "BLAKE2b-256 digest")
        storage = InlineBytes32(bytes)
    }

    /// Wraps bytes already held inline (always the right length).
    public init(storage: InlineBytes32) { self.storage = storage }

    /// Hashes the first eight bytes: the bytes are already uniformly random.
    public func hash(into hasher: inout Hasher) { hasher.combine(storage.leadingWord) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.storage == rhs.storage }

    /// Lowercase hex.
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.storage < rhs.storage }
}

/// BLAKE2b (libsodium's crypto_generichash).
public enum Blake2b {
    /// BLAKE2b-256 of `data`.
    public static func hash(_ data: [UInt8]) -> Digest32 {
        Sodium.ensureInitialised()
        return Digest32(
            storage: InlineBytes32(filling: { out in _ = crypto_generichash(out, 32, data, UInt64(data.count), nil, 0) }
            ))
    }

    /// BLAKE2b-256 of `prefix || data` without concatenating them or allocating hash state.
    public static func hash(prefix: [UInt8], _ data: [UInt8]) -> Digest32 {
        data.withUnsafeBytes { hash(prefix: prefix, $0) }
    }

    /// Bytes of libsodium's BLAKE2b state (`crypto_generichash_statebytes()`, 384 in every
    /// release since 1.0.0), which must be 64-byte aligned. `withUnsafeTemporaryAllocation`
    /// puts a size known only at run time, or an alignment above 16, on the heap: an
    /// allocation for every hash (every entry a device decodes). So the state is made on the
    /// stack with a literal size and the usual alignment, 64 bytes larger, and aligned inside.
    static let stateBytes = 384

    /// BLAKE2b-256 of `prefix || data` for bytes in a buffer.
    public static func hash(prefix: [UInt8], _ data: UnsafeRawBufferPointer) -> Digest32 {
        Sodium.ensureInitialised()  // which checks, once, that the state fits `stateBytes`
        let digest = InlineBytes32(filling: { out in
            // Literals (not `stateBytes`): what lets the compiler see the size and keep it on the stack.
            withUnsafeTemporaryAllocation(byteCount: 384 + 64, alignment: 16) { room in
                guard let start = room.baseAddress else { return }
                let base = start.alignedUp(toMultipleOf: 64)
                _ = ll_generichash_init(base, 32)
                _ = ll_generichash_update(base, prefix, UInt64(prefix.count))
                _ = ll_generichash_update(base, data.bindMemory(to: UInt8.self).baseAddress, UInt64(data.count))
                _ = ll_generichash_final(base, out, 32)
            }
        })
        return Digest32(storage: digest)
    }

    /// Keyed BLAKE2b with an output of `length` bytes (16...64); the key is 16...64 bytes.
    public static func keyedHash(_ data: [UInt8], key: [UInt8], length: Int = 32) -> [UInt8] {
        Sodium.ensureInitialised()
        precondition((16...64).contains(length) && (16...64).contains(key.count))
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, data, UInt64(data.count), key, key.count)
        return out
    }

    /// Incremental BLAKE2b-256 over several parts, without concatenating them first.
    public struct Hasher: ~Copyable {
        private let state: UnsafeMutableRawPointer

        /// Starts a new unkeyed 32-byte hash.
        public init() {
            Sodium.ensureInitialised()
            state = UnsafeMutableRawPointer.allocate(byteCount: ll_generichash_statebytes(), alignment: 64)
            _ = ll_generichash_init(state, 32)
        }

        deinit { state.deallocate() }

        /// Absorbs `data`.
        public mutating func update(_ data: [UInt8]) {
            _ = ll_generichash_update(state, data, UInt64(data.count))
        }

        /// Absorbs the bytes of `data`.
        public mutating func update(_ data: ArraySlice<UInt8>) {
            data.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { _ = ll_generichash_update(state, base, UInt64(buffer.count)) }
            }
        }

        /// Ends the hash.
        public consuming func finalize() -> Digest32 {
            let state = self.state
            return Digest32(storage: InlineBytes32(filling: { out in _ = ll_generichash_final(state, out, 32) }))
        }
    }
}
