/// The entries of a `DeltaPlan` in order, read from the engine a page at a time: each run of a
/// device's log in pages of at most `size` entries, then the plan's single entries as a last
/// page. Stopping early (a full response, a closed connection) reads no further.
public struct DeltaPages: AsyncSequence, Sendable {
    public typealias Element = [Entry]

    let plan: DeltaPlan
    let engine: MergeEngine
    let size: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let plan: DeltaPlan
        let engine: MergeEngine
        let size: Int
        var run = 0
        var start: Seq?
        var extrasSent = false

        public mutating func next() async throws -> [Entry]? {
            while run < plan.runs.count {
                let current = plan.runs[run]
                let from = start ?? current.from
                guard from <= current.through else {
                    run += 1
                    start = nil
                    continue
                }
                let through = Swift.min(from + Seq(size) - 1, current.through)
                start = through + 1
                let page = try await engine.entries(of: current.author, from: from, through: through)
                if !page.isEmpty { return page }
            }
            guard !extrasSent else { return nil }
            extrasSent = true
            return plan.extra.isEmpty ? nil : plan.extra
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(plan: plan, engine: engine, size: size) }
}

extension DeltaPlan {
    /// This plan's entries read from `engine` in pages of at most `size` entries.
    public func pages(from engine: MergeEngine, size: Int = 1000) -> DeltaPages {
        DeltaPages(plan: self, engine: engine, size: max(1, size))
    }
}
