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
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
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
            host: "127.0.0.1", port: listener.port, engine: a, keyPair: fixture.devices[0], options: .patient)
        #expect(report.peer == fixture.devices[1].publicKey)
        #expect(report.sent > 1_000)
        #expect(report.accepted > 1_000)
        #expect(report.converged)
        #expect(try await a.clock() == (try await b.clock()))
        #expect(try await a.totals() == (try await b.totals()))
        let again = try await PeerDialer.sync(
            host: "127.0.0.1", port: listener.port, engine: a, keyPair: fixture.devices[0], options: .patient)
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
                host: "127.0.0.1", port: listener.port, engine: stranger, keyPair: other.devices[0], options: .patient)
        }
        #expect(try await b.totals().credits == 0)
    }

    @Test("a revoked device is refused by name, and told it was revoked")
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
        // The revoked device hears why, not that the connection broke.
        await #expect(throws: PeerChannelError.refusedByPeer(.revoked)) {
            try await PeerDialer.sync(
                host: "127.0.0.1", port: listener.port, engine: c, keyPair: fixture.devices[2], options: .patient)
        }
        #expect(
            PeerChannelError.refusedByPeer(.revoked).description
                == "the other device refused this one: this device was revoked and may no longer sync")
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
        let bKey = fixture.devices[1]
        let task = Task { try await listener.run(engine: b, keyPair: bKey) { failures.record($0) } }
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
        #expect(await syncs(with: listener.port, engine: a, keyPair: fixture.devices[0]))
    }

    @Test("heartbeats run on the session's clock: pings keep a live session, a peer silent for four is dropped")
    func heartbeatsOnInjectedClock() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        try await a.merge(fixture.allEntries)
        try await b.merge(fixture.allEntries)
        let (clockA, clockB) = (ManualClock(), ManualClock())
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
        let bKey = fixture.devices[1]
        let serving = Task {
            try await listener.run(
                engine: b, keyPair: bKey, options: PeerSessionOptions(live: true, heartbeat: .seconds(1), clock: clockB)
            )
        }
        defer { serving.cancel() }
        let aKey = fixture.devices[0]
        let ended = Locked(false)
        let session = Task {
            defer { ended.set(true) }
            return try await PeerDialer.sync(
                host: "127.0.0.1", port: listener.port, engine: a, keyPair: aKey,
                options: PeerSessionOptions(live: true, heartbeat: .seconds(1), clock: clockA))
        }
        // Each side's heartbeat is armed from now when its earliest wake is one interval away
        // and nothing else sleeps on its clock: a write still going out has a deadline three
        // intervals away, and advancing past it would end the session (on a busy machine a
        // ping can take longer than the test takes to tick three times).
        func armed(_ clock: ManualClock, sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
            let ready = await eventually { clock.nextWake == .seconds(1) && clock.sleepers == 1 }
            #expect(
                ready, "sleepers: \(clock.sleepers), next wake \(String(describing: clock.nextWake))",
                sourceLocation: sourceLocation)
            return ready
        }
        _ = await armed(clockA)
        _ = await armed(clockB)
        for _ in 0..<6 {
            clockA.advance(by: .seconds(1))
            clockB.advance(by: .seconds(1))
            _ = await armed(clockA)
            _ = await armed(clockB)
        }
        #expect(!ended.value)
        // Only this side's time passes now: the other sends nothing, and a silent tick beyond
        // the third ends the session. (Pings the other sent before may still arrive first, late
        // on a busy machine, each starting the count again: it sent seven.)
        var ticks = 0
        while !ended.value, ticks < 40 {
            #expect(await eventually { (clockA.nextWake == .seconds(1) && clockA.sleepers == 1) || ended.value })
            if ended.value { break }
            clockA.advance(by: .seconds(1))
            ticks += 1
        }
        let over = await eventually { ended.value }
        #expect(over, "sleepers on A's clock: \(clockA.sleepers), next wake \(String(describing: clockA.nextWake))")
        #expect(ticks > PeerSessionOptions.missedHeartbeats)
        guard over else {
            session.cancel()  // a failure, not a hang
            return
        }
        await #expect(throws: PeerChannelError.timedOut) { try await session.value }
    }

}

@Suite("Peer channel under attack")
struct PeerAttackTests {
    @Test("a key of the identity that was never linked is refused by name, and nothing is merged")
    func unlinkedKey() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let b = try await fixture.replica(device: 1)
        try await b.merge(fixture.allEntries)
        try fixture.record(device: 0, .credit, amount: 1)
        let failures = FailureLog()
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
        let bKey = fixture.devices[1]
        let task = Task { try await listener.run(engine: b, keyPair: bKey) { failures.record($0) } }
        defer { task.cancel() }
        // A key that knows the identity id (say, from a stolen export) but was never linked.
        let intruder = SigningKeyPair.generate()
        let store = try LedgerStore.inMemory(
            identity: fixture.identity, root: fixture.root.publicKey, device: intruder.publicKey)
        let engine = try await MergeEngine(store: store, keyPair: intruder)
        try await engine.merge(fixture.allEntries)
        await #expect(throws: (any Error).self) {
            try await PeerDialer.sync(
                host: "127.0.0.1", port: listener.port, engine: engine, keyPair: intruder, options: .patient)
        }
        #expect(await failures.waitFor(count: 1, timeout: 10))
        #expect(failures.contains(.handshake(.unauthorised(intruder.publicKey))))
        #expect(try await b.totals().credits == 0)
    }

    @Test("a recorded session replayed byte for byte is refused: its proofs belong to the old session")
    func replayedSession() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 0, .credit, amount: 40)
        let a = try await fixture.replica(device: 0)
        try await a.merge(fixture.allEntries)
        let b = try await fixture.replica(device: 1)
        try await b.merge(Array(fixture.logs[0].prefix(2)))
        let failures = FailureLog()
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
        let bKey = fixture.devices[1]
        let patient = PeerSessionOptions(live: true, heartbeat: .seconds(30))
        let task = Task { try await listener.run(engine: b, keyPair: bKey, options: patient) { failures.record($0) } }
        defer { task.cancel() }
        let proxy = try await FaultProxy.start(targetPort: listener.port) { _ in .pass }
        let proxyTask = Task { try await proxy.run() }
        defer { proxyTask.cancel() }
        // What this test needs is a whole session to record, not heartbeats: a long silence
        // limit keeps a full run (every test at once on two cores) from cutting it short.
        var patientDialer = PeerSessionOptions(heartbeat: .seconds(30))
        patientDialer.handshakeTimeout = .seconds(90)
        _ = try await PeerDialer.sync(
            host: "127.0.0.1", port: proxy.port, engine: a, keyPair: fixture.devices[0], options: patientDialer)
        let recording = proxy.recorded(0)
        #expect(recording.count > 200)

        // A fresh ledger on b's side, so anything the replay got merged would show.
        let fresh = try await fixture.replica(device: 1)
        try await fresh.merge(Array(fixture.logs[0].prefix(2)))
        let before = try await fresh.clock()
        let second = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
        let replayFailures = FailureLog()
        let secondTask = Task {
            try await second.run(engine: fresh, keyPair: bKey) { replayFailures.record($0) }
        }
        defer { secondTask.cancel() }
        try await sendRaw(recording, to: second.port)
        #expect(await replayFailures.waitFor(count: 1, timeout: 10))
        #expect(replayFailures.successes == 0)
        #expect(try await fresh.clock() == before)
    }

    @Test("1,000 hostile connections leave no descriptor open, and the listener still serves")
    func noDescriptorLeak() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        try await a.merge(fixture.allEntries)
        try await b.merge(fixture.allEntries)
        let failures = FailureLog()
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(2))
        let bKey = fixture.devices[1]
        let task = Task { try await listener.run(engine: b, keyPair: bKey) { failures.record($0) } }
        defer { task.cancel() }
        let stranger = PeerHandshake.hello(
            identity: try IdentityID(bytes: SecureRandom.bytes(32)), ephemeral: SecureRandom.bytes(32))
        let payloads: [[UInt8]] = [
            [],  // connect and leave
            [0x7f, 0xff, 0xff, 0xff],  // a frame of 2 GiB
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),  // somebody else's protocol
            [0, 0, 0, 64] + stranger,  // a hello of another identity
            [0, 0, 0, 64] + stranger.prefix(20),  // half a hello
        ]
        // Warm up, so descriptors the event loops open once are counted before.
        for payload in payloads { try await sendRaw(payload, to: listener.port) }
        #expect(await failures.waitFor(count: payloads.count, timeout: 10))
        let before = try openSockets(port: listener.port)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in stride(from: worker, to: 1_000, by: 8) {
                        try await sendRaw(payloads[i % payloads.count], to: listener.port)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(await failures.waitFor(count: payloads.count + 1_000, timeout: 30))
        #expect(failures.successes == 0)
        #expect(await eventually { (try? openSockets(port: listener.port)).map { $0 <= before } == true })
        #expect(await syncs(with: listener.port, engine: a, keyPair: fixture.devices[0]))
    }
}

/// Opens a plain TCP connection, writes `bytes`, shuts down its sending side (unless told not
/// to) and waits for the other end to close.
/// Whether a device syncs with the listener at `port` to the end: what "still serving" means
/// after hostile connections. The listener drops a connection silent for 2 s before its
/// handshake, and a full test run can stall this end that long: a sync cut off so is tried
/// again.
func syncs(with port: Int, engine: MergeEngine, keyPair: SigningKeyPair) async -> Bool {
    await eventually {
        try await PeerDialer.sync(host: "127.0.0.1", port: port, engine: engine, keyPair: keyPair, options: .patient)
            .converged
    }
}

func sendRaw(_ bytes: [UInt8], to port: Int, halfClose: Bool = true) async throws {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(isOutboundHalfClosureEnabled: true))
            }
        }
    try? await channel.executeThenClose { inbound, outbound in
        if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
        if halfClose { outbound.finish() }
        for try await _ in inbound {}
    }
}

/// Descriptors this process has open.
/// Descriptors of this process open on TCP sockets to or from `port` on either end (the
/// listener, the connections it accepted, and the test's own ends of them). Only these: the
/// rest of a full test run opens and closes descriptors of its own all the while.
func openSockets(port: Int) throws -> Int {
    var inodes: Set<Substring> = []
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9 else { continue }
            let ports = fields[1...2].compactMap { $0.split(separator: ":").last.flatMap { Int($0, radix: 16) } }
            if ports.contains(port) { inodes.insert(fields[9]) }
        }
    }
    return try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count { fd in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
            target.hasPrefix("socket:[")
        else { return false }
        return inodes.contains(target.dropFirst("socket:[".count).dropLast())
    }
}

/// Failures reported by a listener, waited for with a deadline.
final class FailureLog: @unchecked Sendable {
    private let condition = NSCondition()
    private var failures: [any Error] = []

    private var succeeded = 0

    func record(_ result: Result<PeerSyncReport, any Error>) {
        guard case .failure(let error) = result else {
            condition.lock()
            succeeded += 1
            condition.unlock()
            return
        }
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

    var successes: Int {
        condition.lock()
        defer { condition.unlock() }
        return succeeded
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

    @Test("large entries are sent in frames the other end accepts: a delta over 1 MiB in a few entries still syncs")
    func largeEntries() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        // Links whose keyrings carry a thousand keys: about 37 KB each, 30 of them over 1 MiB.
        for i in 0..<30 {
            let newcomer = SigningKeyPair.generate()
            let challenge = SecureRandom.bytes(PublicBody.challengeLength)
            let proof = newcomer.sign(
                PublicBody.linkProofMessage(
                    identity: fixture.identity, device: newcomer.publicKey, approver: fixture.devices[0].publicKey,
                    challenge: challenge))
            let keys = (1...999).map { DataKey.generate(generation: UInt32($0)) } + [fixture.dataKey]
            try fixture.append(
                device: 0, kind: .link,
                publicBody: .link(
                    device: newcomer.publicKey, challenge: challenge, proof: proof,
                    keyring: try Keyring.seal(keys, to: newcomer.publicKey)),
                privateBody: .link(deviceName: "big \(i)"))
        }
        #expect(fixture.logs[0].suffix(30).reduce(0) { $0 + $1.encoded.count } > PeerFraming.maxFrame)
        for batch in PeerMessage.batcher.batches(fixture.allEntries) {
            #expect(PeerMessage.entries(batch).encoded.count + SecretStream.overhead <= PeerFraming.maxFrame)
        }
        let a = try await fixture.replica(device: 0)
        try await a.merge(fixture.allEntries)
        let b = try await fixture.replica(device: 1)
        try await b.merge(Array(fixture.logs[0].prefix(2)))
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
        let bKey = fixture.devices[1]
        let task = Task { try await listener.run(engine: b, keyPair: bKey) }
        defer { task.cancel() }
        let report = try await PeerDialer.sync(
            host: "127.0.0.1", port: listener.port, engine: a, keyPair: fixture.devices[0], options: .patient)
        #expect(report.converged)
        #expect(try await b.clock() == (try await a.clock()))
    }
}
