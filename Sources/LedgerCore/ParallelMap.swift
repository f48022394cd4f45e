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
private final class ResultBuffer<R>: @unchecked Sendable {
    private var slots: [R?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: R) { slots.withUnsafeMutableBufferPointer { $0[index] = value } }
    func values() -> [R] { slots.compactMap { $0 } }
}

extension ProcessInfo {
    static var activeCores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
