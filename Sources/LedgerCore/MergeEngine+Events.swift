/// Events: what the engine committed, for the UI and the sync services.
extension MergeEngine {
    /// Changes as this engine commits them (merges and local appends), for the UI and the sync
    /// services; each caller gets its own stream. Writes by other processes are not seen here:
    /// compare `clock().digest` for those.
    public func subscribe() -> AsyncStream<LedgerEvent> {
        nextSubscriber += 1
        let id = nextSubscriber
        let (stream, continuation) = AsyncStream.makeStream(
            of: LedgerEvent.self, bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        subscribers[id] = continuation
        return stream
    }

    func unsubscribe(_ id: UInt64) { subscribers[id] = nil }

    func publish(_ event: LedgerEvent) {
        for continuation in subscribers.values { continuation.yield(event) }
    }
}
