import Synchronization

/// A value behind a lock, shared between a test and the tasks it starts.
package final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    package init(_ value: Value) { mutex = Mutex(value) }

    package var value: Value { mutex.withLock { $0 } }

    package func set(_ value: Value) { mutex.withLock { $0 = value } }

    /// Reads and changes the value in one step.
    @discardableResult
    package func withLock<R: Sendable, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try mutex.withLock { (value) throws(E) -> R in try body(&value) }
    }
}
