import Dispatch
import Foundation

/// Maps a pure function over an array on every core, keeping order. Small inputs run inline.
public enum ParallelMap {
    public static func map<T: Sendable, R: Sendable>(
        _ input: [T], minimumChunk: Int = 1024, _ transform: @escaping @Sendable (T) -> R
    ) -> [R] {
        BackgroundMap(input, minimumChunk: minimumChunk, transform).values()
    }
}

/// A map over an array started on other threads at once and collected later, so the caller
/// can do other work meanwhile (the merge walks one device's log while the sealed bodies of
/// the next are being opened). Small inputs are mapped inline.
final class BackgroundMap<R: Sendable>: Sendable {
    private let results: ResultBuffer<R>
    private let group = DispatchGroup()

    init<T: Sendable>(_ input: [T], minimumChunk: Int = 1024, _ transform: @escaping @Sendable (T) -> R) {
        results = ResultBuffer(count: input.count)
        let cores = max(1, ProcessInfo.activeCores)
        guard input.count >= minimumChunk * 2, cores > 1 else {
            for (i, value) in input.enumerated() { results.set(i, transform(value)) }
            return
        }
        let chunks = min(cores * 4, (input.count + minimumChunk - 1) / minimumChunk)
        let results = self.results
        for chunk in 0..<chunks {
            let start = input.count * chunk / chunks
            let end = input.count * (chunk + 1) / chunks
            DispatchQueue.global(qos: .userInitiated).async(group: group) {
                for i in start..<end { results.set(i, transform(input[i])) }
            }
        }
    }

    /// Waits for every chunk and returns the results in input order.
    func values() -> [R] {
        group.wait()
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
