import Dispatch
import Foundation
import Synchronization

/// A map over an array started on other threads at once and collected later, so the caller
/// can do other work meanwhile (the merge walks one device's log while the sealed bodies of
/// the next are being opened). Small inputs are mapped inline.
///
/// Chunks are claimed from a counter, and `values()` claims whatever no other thread has
/// started: the caller never waits on threads that have not run yet, so a busy machine (or a
/// pool with no thread to spare) delays the map but cannot stall it.
final class BackgroundMap<R: Sendable>: Sendable {
    private let results: ResultBuffer<R>
    private let chunkCount: Int
    private let nextChunk = Atomic<Int>(0)
    /// Entered once per chunk up front, left as each chunk finishes.
    private let finished = DispatchGroup()
    private let runChunk: @Sendable (Int) -> Void

    init<T: Sendable>(_ input: [T], minimumChunk: Int = 1024, _ transform: @escaping @Sendable (T) -> R) {
        let results = ResultBuffer<R>(count: input.count)
        self.results = results
        let cores = max(1, ProcessInfo.activeCores)
        let parallel = input.count >= minimumChunk * 2 && cores > 1
        let chunks = parallel ? min(cores * 4, (input.count + minimumChunk - 1) / minimumChunk) : 1
        chunkCount = chunks
        runChunk = { chunk in
            let start = input.count * chunk / chunks
            let end = input.count * (chunk + 1) / chunks
            for i in start..<end { results.set(i, transform(input[i])) }
        }
        for _ in 0..<chunks { finished.enter() }
        guard parallel else {
            drain()
            return
        }
        for _ in 0..<cores { DispatchQueue.global().async { self.drain() } }
    }

    /// Runs chunks nobody has claimed yet until none are left.
    private func drain() {
        while true {
            let chunk = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
            guard chunk < chunkCount else { return }
            runChunk(chunk)
            finished.leave()
        }
    }

    /// Runs what is left of the map here, waits for chunks other threads are still running,
    /// and returns the results in input order.
    func values() -> [R] {
        drain()
        finished.wait()
        return results.values()
    }
}

/// Slots written by disjoint indices from several threads, then read once all are done.
/// The slots are raw memory allocated once: writing through an array property from several
/// threads would be a simultaneous access (and could trigger a copy on write).
final class ResultBuffer<R>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<R?>
    /// Set once `values()` moved the results out (the slots are then uninitialised).
    private var taken = false

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        if !taken { slots.deinitialize() }
        slots.deallocate()
    }

    func set(_ index: Int, _ value: consuming R) { slots[index] = value }

    /// The results, moved out in order (a copy would retain and release each one); called
    /// once, when every slot is set.
    func values() -> [R] {
        precondition(!taken, "a map's results are taken once")
        taken = true
        guard let base = slots.baseAddress else { return [] }
        return [R](unsafeUninitializedCapacity: slots.count) { out, count in
            for index in 0..<slots.count {
                guard let value = (base + index).move() else { preconditionFailure("a slot of the map was never set") }
                (out.baseAddress! + index).initialize(to: value)
                count = index + 1
            }
        }
    }
}

extension ProcessInfo {
    static var activeCores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
