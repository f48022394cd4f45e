import Dispatch
import Foundation

/// Maps a pure function over an array on every core, keeping order. Small inputs run inline.
public enum ParallelMap {
    public static func map<T: Sendable, R: Sendable>(
        _ input: [T], minimumChunk: Int = 1024, _ transform: @Sendable (T) -> R
    ) -> [R] {
        let cores = max(1, ProcessInfo.activeCores)
        guard input.count >= minimumChunk * 2, cores > 1 else { return input.map(transform) }
        let chunks = min(cores * 4, (input.count + minimumChunk - 1) / minimumChunk)
        let results = ResultBuffer<R>(count: input.count)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = input.count * chunk / chunks
            let end = input.count * (chunk + 1) / chunks
            for i in start..<end { results.set(i, transform(input[i])) }
        }
        return results.values()
    }
}

/// Slots written by disjoint indices from several threads, then read once all are done.
/// The slots are raw memory allocated once: writing through an array property from several
/// threads would be a simultaneous access (and could trigger a copy on write).
private final class ResultBuffer<R>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<R?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func set(_ index: Int, _ value: R) { slots[index] = value }
    func values() -> [R] { slots.compactMap { $0 } }
}

extension ProcessInfo {
    static var activeCores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
