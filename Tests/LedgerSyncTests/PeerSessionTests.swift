import Foundation
import LedgerCore
import LedgerCrypto
import LedgerSync
import LedgerTestSupport
import NIOCore
import NIOPosix
import Testing

@Suite("Peer sync over TCP on loopback")
struct PeerSessionTests {
    /// A listener serving `engine` in the background; cancelled when the test ends.
    func listen(_ engine: MergeEngine, _ keyPair: SigningKeyPair, failures: FailureLog = FailureLog()) async throws
        -> (PeerListener, Task<Void, any Error>)
    {
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0)
        let task = Task { try await listener.run(engine: engine, keyPair: keyPair) { failures.record($0) } }
        return (listener, task)
    }

    @Test("two devices converge in one session, both ways, and a second session moves nothing")
    func converge() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let base = fixture.allEntries
        for i in 0..<2_500 { try fixture.record(device: i % 2, .credit, amount: Int64(i + 1), memo: "e\(i)") }
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        try await a.merge(base + fixture.logs[0])
        try await b.merge(base + fixture.logs[1])
        let (listener, task) = try await listen(b, fixture.devices[1])
        defer { task.cancel() }
        let report = try await PeerDialer.sync(
            host: "127.0.0.1", port: listener.port, engine: a, keyPair: fixture.devices[0])
        #expect(report.peer == fixture.devices[1].publicKey)
        #expect(report.sent > 1_000)
        #expect(report.accepted > 1_000)
        #expect(report.converged)
        #expect(try await a.clock() == (try await b.clock()))
        #expect(try await a.totals() == (try await b.totals()))
        let again = try await PeerDialer.sync(
            host: "127.0.0.1", port: listener.port, engine: a, keyPair: fixture.devices[0])
        #expect(again.sent == 0)
        #expect(again.rounds == 1)
        #expect(again.converged)
    }

    @Test("a device of another identity is turned away and nothing is merged")
    func stranger() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let b = try await fixture.replica(device: 1)
        try await b.merge(fixture.allEntries)
        let failures = FailureLog()
        let (listener, task) = try await listen(b, fixture.devices[1], failures: failures)
        defer { task.cancel() }
        var other = try LedgerFixture(deviceCount: 1)
        try other.record(device: 0, .credit, amount: 5)
        let stranger = try await other.replica(device: 0)
        try await stranger.merge(other.allEntries)
        await #expect(throws: PeerChannelError.self) {
            try await PeerDialer.sync(
                host: "127.0.0.1", port: listener.port, engine: stranger, keyPair: other.devices[0])
        }
        #expect(try await b.totals().credits == 0)
    }

    @Test("a revoked device is refused by name")
    func revoked() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.revoke(device: 2, by: 0)
        let b = try await fixture.replica(device: 1)
        try await b.merge(fixture.allEntries)
        let c = try await fixture.replica(device: 2)
        try await c.merge(fixture.allEntries)
        let failures = FailureLog()
        let (listener, task) = try await listen(b, fixture.devices[1], failures: failures)
        defer { task.cancel() }
        await #expect(throws: (any Error).self) {
            try await PeerDialer.sync(host: "127.0.0.1", port: listener.port, engine: c, keyPair: fixture.devices[2])
        }
        #expect(await failures.waitFor(count: 1, timeout: 10))
        #expect(failures.contains(.handshake(.unauthorised(fixture.devices[2].publicKey))))
    }

    @Test("an oversized frame, garbage or a truncated frame closes the connection; the listener keeps serving")
    func hostileBytes() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        try await a.merge(fixture.allEntries)
        try await b.merge(fixture.allEntries)
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(2))
        let failures = FailureLog()
        let task = Task { try await listener.run(engine: b, keyPair: fixture.devices[1]) { failures.record($0) } }
        defer { task.cancel() }
        for payload: [UInt8] in [[0x7f, 0xff, 0xff, 0xff], Array("GET / HTTP/1.1\r\n\r\n".utf8), [0, 0, 0, 64, 1, 2]] {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: listener.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            // The listener may close first (that is the point); the client only has to see it go.
            try? await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(bytes: payload))
                outbound.finish()
                for try await _ in inbound {}
            }
        }
        #expect(await failures.waitFor(count: 3, timeout: 10))
        let report = try await PeerDialer.sync(
            host: "127.0.0.1", port: listener.port, engine: a, keyPair: fixture.devices[0])
        #expect(report.converged)
    }
}

/// Failures reported by a listener, waited for with a deadline.
final class FailureLog: @unchecked Sendable {
    private let condition = NSCondition()
    private var failures: [any Error] = []

    func record(_ result: Result<PeerSyncReport, any Error>) {
        guard case .failure(let error) = result else { return }
        condition.lock()
        failures.append(error)
        condition.broadcast()
        condition.unlock()
    }

    func contains(_ expected: PeerChannelError) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return failures.contains { ($0 as? PeerChannelError) == expected }
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return failures.count
    }

    /// Polls (without blocking a thread of the cooperative pool) until `count` failures have
    /// been recorded, or the deadline passes.
    func waitFor(count expected: Int, timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while count < expected, Date() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return count >= expected
    }
}
