import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

@Suite("Store and peer channel together")
struct BothChannelsTests {
    enum Channels: String, CaseIterable, CustomTestStringConvertible {
        case peerOnly, storeOnly, both
        var testDescription: String { rawValue }
        var peer: Bool { self != .storeOnly }
        var store: Bool { self != .peerOnly }
    }

    /// The same writes (entries signed in advance, so every run writes identical bytes) on
    /// three devices; each device writes its share while syncing.
    static let writes: (LedgerFixture, [[Entry]]) = {
        var fixture = try! LedgerFixture(deviceCount: 3)
        let base = fixture.logs.map(\.count)
        for i in 0..<90 { try! fixture.record(device: i % 3, i % 4 == 0 ? .debit : .credit, amount: Int64(i + 1)) }
        let fresh = (0..<3).map { Array(fixture.logs[$0][base[$0]...]) }
        return (fixture, fresh)
    }()

    func run(_ channels: Channels) async throws -> Set<Digest32> {
        let (fixture, fresh) = Self.writes
        let store = try await TestStore(realTime: true)
        return try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            var built: [MergeEngine] = []
            for index in 0..<3 {
                let engine = try await fixture.replica(device: index)
                // Every device starts from the identity as linking left it.
                try await engine.merge(Array(fixture.logs[0].prefix(3)))
                built.append(engine)
            }
            let engines = built
            var services: [RunningService] = []
            if channels.peer {
                let hub = try await RunningService.start(engines[0], fixture.devices[0])
                services.append(hub)
                for index in 1..<3 {
                    services.append(
                        try await RunningService.start(engines[index], fixture.devices[index], peers: [hub.endpoint]))
                }
            }
            let clients = (0..<3).map { StoreClient(url: url, engine: engines[$0], keyPair: fixture.devices[$0]) }
            // The genesis device introduces the identity to the store before the others sync.
            if channels.store { _ = try await clients[0].sync() }
            // Each device writes its entries in small steps, syncing with the store between
            // steps when the store is in use, all three at once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<3 {
                    group.addTask {
                        for start in stride(from: 0, to: fresh[index].count, by: 5) {
                            try await engines[index].merge(
                                Array(fresh[index][start..<min(start + 5, fresh[index].count)]))
                            if channels.store { _ = try await clients[index].sync() }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let everything = fixture.allEntries.count
            #expect(
                await eventually {
                    if channels.store { for client in clients { _ = try await client.sync() } }
                    var counts: [Int] = []
                    for engine in engines { counts.append(try await engine.storedEntryCount()) }
                    return counts.allSatisfy { $0 == everything }
                })
            for service in services { await service.stop() }
            var digests: Set<Digest32> = []
            for engine in engines { digests.insert(try await engine.clock().digest) }
            return digests
        }
    }

    @Test("three devices using the store and the peer channel at once end as with either alone")
    func sameEnd() async throws {
        let both = try await run(.both)
        let peerOnly = try await run(.peerOnly)
        let storeOnly = try await run(.storeOnly)
        #expect(both.count == 1)
        #expect(both == peerOnly)
        #expect(both == storeOnly)
    }
}
