import Foundation
import LedgerCore
import LedgerCrypto
import LedgerSync
import LedgerTestSupport
import NIOCore
import NIOPosix
import Testing

/// Replicas of every device of a fixture, each holding the whole ledger so far.
func replicas(_ fixture: LedgerFixture) async throws -> [MergeEngine] {
    var engines: [MergeEngine] = []
    for index in fixture.devices.indices {
        let engine = try await fixture.replica(device: index)
        try await engine.merge(fixture.allEntries)
        engines.append(engine)
    }
    return engines
}

func sameLedger(_ engines: [MergeEngine]) async throws -> Bool {
    var digests: Set<Digest32> = []
    for engine in engines { digests.insert(try await engine.clock().digest) }
    return digests.count == 1
}

@Suite("Live peer service")
struct PeerServiceTests {
    @Test("three devices stay in step live: an entry written on one reaches the others with no manual sync")
    func threeDevicesLive() async throws {
        let fixture = try LedgerFixture(deviceCount: 3)
        let engines = try await replicas(fixture)
        let hubDevice = try await RunningService.start(engines[1], fixture.devices[1])
        let a = try await RunningService.start(engines[0], fixture.devices[0], peers: [hubDevice.endpoint])
        let c = try await RunningService.start(engines[2], fixture.devices[2], peers: [hubDevice.endpoint])
        #expect(await eventually { await hubDevice.connected() == 2 })

        try await engines[0].appendRecord(.credit, amount: 500, memo: "written on a")
        #expect(await eventually { try await engines[2].totals().credits == 500 })
        try await engines[2].appendRecord(.debit, amount: 120, memo: "written on c")
        #expect(await eventually { try await engines[0].totals().debits == 120 })
        #expect(await eventually { try await sameLedger(engines) })
        #expect(try await engines[1].totals().balance == 380)

        for service in [a, c, hubDevice] { await service.stop() }
    }

    @Test("two devices level when they connect push an entry at once, not at the next heartbeat")
    func pushWhenLevelFromTheStart() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let engines = try await replicas(fixture)
        // A heartbeat that never comes during the test: only the push can carry the entry.
        let quiet: (inout PeerServiceConfiguration) -> Void = { $0.heartbeat = .seconds(3_600) }
        let b = try await RunningService.start(engines[1], fixture.devices[1], configure: quiet)
        let a = try await RunningService.start(
            engines[0], fixture.devices[0], peers: [b.endpoint], configure: quiet)
        #expect(
            await eventually {
                let (outbound, inbound) = (await a.connected(), await b.connected())
                return outbound == 1 && inbound == 1
            })
        try await engines[0].appendRecord(.credit, amount: 42, memo: "first second")
        #expect(await eventually(timeout: 30) { try await engines[1].totals().credits == 42 })
        try await engines[1].appendRecord(.debit, amount: 2, memo: "and back")
        #expect(await eventually(timeout: 30) { try await engines[0].totals().debits == 2 })
        await a.stop()
        await b.stop()
    }

    @Test("devices of one identity find each other by announcement and sync; others' announcements are ignored")
    func discovery() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 0, .credit, amount: 7)
        try fixture.record(device: 1, .credit, amount: 11)
        let a = try await fixture.replica(device: 0)
        try await a.merge(fixture.logs[0] + fixture.logs[1].prefix(2))
        let b = try await fixture.replica(device: 1)
        try await b.merge(fixture.logs[0].prefix(2) + fixture.logs[1])
        let stranger = try LedgerFixture(deviceCount: 1)
        let strangerEngine = try await stranger.replica(device: 0)
        try await strangerEngine.merge(stranger.allEntries)
        let ports = try (0..<3).map { _ in try freePort(udp: true) }
        func discovering(_ own: Int, _ others: [Int]) -> (inout PeerServiceConfiguration) -> Void {
            { configuration in
                configuration.discovery = true
                configuration.discoveryPort = own
                configuration.announceTargets = others.map { PeerEndpoint(host: "127.0.0.1", port: $0) }
                configuration.announceInterval = .milliseconds(100)
            }
        }
        let first = try await RunningService.start(a, fixture.devices[0], configure: discovering(ports[0], ports))
        let second = try await RunningService.start(b, fixture.devices[1], configure: discovering(ports[1], ports))
        let third = try await RunningService.start(
            strangerEngine, stranger.devices[0], configure: discovering(ports[2], ports))
        #expect(
            await eventually { try await sameLedger([a, b]) },
            "first: \(first.log.all.joined(separator: "\n"))\nsecond: \(second.log.all.joined(separator: "\n"))")
        #expect(try await a.totals().credits == 18)
        #expect(
            await eventually {
                let (one, two) = (await first.connected(), await second.connected())
                return one == 1 && two == 1
            })
        // The stranger hears both devices but cannot read their announcements, and theirs are
        // noise to them: nobody dials anybody across identities.
        #expect(await third.connected() == 0)
        #expect(await third.hub.snapshot().lastError == nil)
        #expect(try await strangerEngine.totals().credits == 0)
        for service in [first, second, third] { await service.stop() }
    }

    @Test("a peer that stops answering is dropped after missed heartbeats, and the dialler reconnects")
    func heartbeats() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let engines = try await replicas(fixture)
        let b = try await RunningService.start(engines[1], fixture.devices[1])
        let proxy = try await FaultProxy.start(targetPort: b.port) { _ in .pass }
        let proxyTask = Task { try await proxy.run() }
        let a = try await RunningService.start(
            engines[0], fixture.devices[0], peers: [PeerEndpoint(host: "127.0.0.1", port: proxy.port)])
        #expect(
            await eventually {
                let (inbound, outbound) = (await b.connected(), await a.connected())
                return inbound == 1 && outbound == 1
            })
        // The live connection goes silent; both ends notice and a new connection takes over.
        // (On a busy machine a session of 500 ms heartbeats may already have been replaced
        // once: the newest connection is the live one.)
        let live = proxy.connections - 1
        proxy.silence(connection: live)
        #expect(
            await eventually {
                let (inbound, outbound) = (await b.connected(), await a.connected())
                return proxy.connections > live + 1 && inbound == 1 && outbound == 1
            })
        // Whichever end noticed first closed; the other may see only the close.
        #expect(a.log.contains("missed heartbeats") || b.log.contains("missed heartbeats"))
        try await engines[0].appendRecord(.credit, amount: 3, memo: "after the reconnect")
        #expect(await eventually { try await engines[1].totals().credits == 3 })
        await a.stop()
        await b.stop()
        proxyTask.cancel()
    }

    @Test("through a proxy that drops, cuts mid-frame, duplicates and delays, both devices still converge")
    func faultyNetwork() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<400 { try fixture.record(device: i % 2, .credit, amount: Int64(i + 1)) }
        let a = try await fixture.replica(device: 0)
        try await a.merge(fixture.logs[0] + fixture.logs[1].prefix(2))
        let b = try await fixture.replica(device: 1)
        try await b.merge(fixture.logs[0].prefix(2) + fixture.logs[1])
        let plan: [FaultProxy.Fault] = [
            .drop, .cut(afterBytes: 100), .duplicate, .cut(afterBytes: 9_000), .delay(maxMilliseconds: 3),
        ]
        let second = try await RunningService.start(b, fixture.devices[1])
        let proxy = try await FaultProxy.start(targetPort: second.port) { n in n < plan.count ? plan[n] : .pass }
        let proxyTask = Task { try await proxy.run() }
        let first = try await RunningService.start(
            a, fixture.devices[0], peers: [PeerEndpoint(host: "127.0.0.1", port: proxy.port)])
        // Both keep writing while the network misbehaves.
        for i in 0..<20 {
            try await a.appendRecord(.credit, amount: 1, memo: "a\(i)")
            try await b.appendRecord(.debit, amount: 1, memo: "b\(i)")
        }
        #expect(
            await eventually { try await sameLedger([a, b]) },
            "first: \(first.log.all.joined(separator: "\n"))\nsecond: \(second.log.all.joined(separator: "\n"))")
        #expect(proxy.connections >= plan.count)
        let expected = Int128((1...400).reduce(0, +) + 20)
        #expect(try await a.totals().credits == expected)
        #expect(try await b.totals() == (try await a.totals()))
        await first.stop()
        await second.stop()
        proxyTask.cancel()
    }

    @Test("the status file lists connected devices by name while they are connected")
    func statusFile() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let engines = try await replicas(fixture)
        let folder = TestFolder.url("ll-status")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("peer-status.json")
        let b = try await RunningService.start(engines[1], fixture.devices[1], statusFile: file)
        let a = try await RunningService.start(engines[0], fixture.devices[0], peers: [b.endpoint])
        #expect(await eventually { PeerStatus.read(from: file)?.connections.count == 1 })
        let status = try #require(PeerStatus.read(from: file))
        #expect(status.isLive)
        #expect(status.listening == b.endpoint.description)
        #expect(status.connections.first?.name == "device-0")
        #expect(status.connections.first?.direction == "in")
        #expect(status.connections.first?.device == fixture.devices[0].publicKey.hex)
        #expect(await eventually { PeerStatus.read(from: file)?.lastSync != nil })
        await a.stop()
        #expect(await eventually { PeerStatus.read(from: file)?.connections.isEmpty == true })
        await b.stop()
    }
}

@Suite("Reconnect backoff")
struct BackoffTests {
    @Test("delays double from the initial one to the cap, spread by the jitter")
    func schedule() {
        let backoff = Backoff(initial: .seconds(1), cap: .seconds(60))
        #expect(
            (1...8).map { backoff.delay(failures: $0, jitter: 0.5) }
                == [1, 2, 4, 8, 16, 32, 60, 60].map(Duration.seconds))
        #expect(backoff.delay(failures: 3, jitter: 0) == .milliseconds(3_200))
        #expect(backoff.delay(failures: 3, jitter: 1) == .milliseconds(4_800))
        #expect(backoff.delay(failures: 1_000, jitter: 1) == .seconds(72))
        #expect(backoff.delay(failures: 0, jitter: 0.5) == .seconds(1))
    }

    @Test("peer addresses parse as HOST:PORT and [IPv6]:PORT; anything else is refused")
    func endpoints() {
        #expect(PeerEndpoint(parsing: "192.168.1.20:8788") == PeerEndpoint(host: "192.168.1.20", port: 8788))
        #expect(PeerEndpoint(parsing: "laptop.local:9000")?.host == "laptop.local")
        #expect(PeerEndpoint(parsing: "[fe80::1]:8788") == PeerEndpoint(host: "fe80::1", port: 8788))
        #expect(PeerEndpoint(parsing: "[fe80::1]:8788")?.description == "[fe80::1]:8788")
        for bad in ["", "host", "host:", ":8788", "host:0", "host:70000", "host:port", "a b:1", "http://x:1"] {
            #expect(PeerEndpoint(parsing: bad) == nil, "\(bad)")
        }
    }
}
