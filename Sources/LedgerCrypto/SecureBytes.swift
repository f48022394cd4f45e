import CSodium

/// Secret bytes in memory that is locked where the system allows and zeroed when released.
public final class SecureBytes: @unchecked Sendable {
    // Written only during init; afterwards read-only, so sharing across threads is safe.
    private let pointer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    /// Number of secret bytes.
    public let count: Int

    /// Copies `bytes` into protected memory.
    public convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count) { $0.update(from: bytes, count: bytes.count) }
    }

    /// Fills protected memory by a closure that writes exactly `count` bytes.
    public init(count: Int, fill: (UnsafeMutablePointer<UInt8>) -> Void) {
        Sodium.ensureInitialised()
        capacity = max(count, 1)
        pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        _ = sodium_mlock(pointer, capacity)
        self.count = count
        fill(pointer)
    }

    deinit {
        sodium_munlock(pointer, capacity)  // also zeroes the memory
        sodium_memzero(pointer, capacity)
        pointer.deallocate()
    }

    /// Gives read access to the secret bytes for the duration of `body`.
    public func withPointer<R, E: Error>(_ body: (UnsafePointer<UInt8>) throws(E) -> R) throws(E) -> R {
        try body(pointer)
    }

    /// A copy of the secret as an ordinary array; use only to write it out (e.g. a key file).
    public func copyBytes() -> [UInt8] {
        Array(UnsafeBufferPointer(start: pointer, count: count))
    }
}
