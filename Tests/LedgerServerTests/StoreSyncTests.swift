import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

@Suite("Devices syncing through a live store")
struct StoreSyncTests {
    /// Three devices append and sync through the store in a seeded random order; at the end
    /// every device and the store hold the same ledger.
    @Test(
        "two and three devices converge through the store under random interleavings of appends and syncs",
        arguments: BackendKind.testable, [(2, UInt64(1)), (3, 2), (3, 3)])
    func converge(_ kind: BackendKind, _ shape: (devices: Int, seed: UInt64)) async throws {
        let (count, seed) = shape
        let fixture = try LedgerFixture(deviceCount: count)
        let store = try await TestStore(kind, realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            var engines: [MergeEngine] = []
            var clients: [StoreClient] = []
            for index in 0..<count {
                let engine = try await fixture.replica(device: index)
                // The genesis device holds the identity; the others start with what linking
                // gave them (their certificates reach the store through the genesis device).
                try await engine.merge(index == 0 ? fixture.allEntries : [])
                engines.append(engine)
                clients.append(StoreClient(url: url, engine: engine, keyPair: fixture.devices[index]))
            }
            // Every device's first sync: the others learn their link certificates from the store.
            for client in clients { _ = try await client.sync() }
            var random = SeededRandom(seed: seed)
            var expected: Int128 = 0
            for step in 0..<60 {
                let device = Int(random.next() % UInt64(count))
                if random.next() % 3 == 0 {
                    _ = try await clients[device].sync()
                } else {
                    let amount = Int64(1 + random.next() % 1000)
                    try await engines[device].appendRecord(.credit, amount: amount, memo: "step \(step)")
                    expected += Int128(amount)
                }
            }
            // Two rounds bring everyone level: the first pushes, the second pulls.
            for _ in 0..<2 {
                for client in clients { _ = try await client.sync() }
            }
            var digests: Set<Digest32> = []
            for engine in engines {
                digests.insert(try await engine.clock().digest)
                #expect(try await engine.totals().credits == expected)
                // An honest store, however the syncs interleave, raises no alarm.
                #expect(try engine.store.storeProblems().isEmpty)
            }
            #expect(digests.count == 1)
            let again = try await clients[0].sync()
            #expect(again.unchanged)
            #expect(again.requests == 1)
        }
    }

    @Test("a new device's first sync pulls a large ledger in pages, with progress, and ends level")
    func firstSync() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<12_000 { try built.record(device: 0, .credit, amount: Int64(1 + i % 7), memo: "bulk \(i)") }
        let fixture = built
        // Answers of at most 2,500 entries: the pull takes five pages, each asked for while the
        // one before merges.
        let store = try await TestStore(
            backend: try await BackendKind.sqlite.make(), realTime: true, pageEntries: 2_500)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let pushed = try await StoreClient(url: url, engine: laptop, keyPair: fixture.devices[0]).sync()
            // Every entry: the genesis one introduced the identity with the token request.
            #expect(pushed.sent == fixture.allEntries.count)
            #expect(pushed.requests >= 2)  // the clock, then pushes of at most 20,000
            let phone = try await fixture.replica(device: 1)
            let seen = ProgressLog()
            let pulled = try await StoreClient(url: url, engine: phone, keyPair: fixture.devices[1]).sync {
                seen.add($0)
            }
            #expect(pulled.received == fixture.allEntries.count)
            #expect(pulled.converged)
            #expect(pulled.requests >= 5)
            #expect(try await phone.totals() == (try await laptop.totals()))
            let steps = seen.all
            #expect(steps.count >= 3)
            #expect(steps.last?.received == steps.last?.total)
            #expect(steps.map(\.received) == steps.map(\.received).sorted())
        }
    }
}

extension StoreSyncTests {
    @Test(
        "two servers on one PostgreSQL serve the same identity consistently",
        .enabled(if: PostgresTestServer.isAvailable))
    func twoServers() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<50 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        let fixture = built
        let first = try await TestStore(.postgres, realTime: true)
        let second = try await TestStore(backend: first.backend, realTime: true)
        try await first.application(configure: { $0.publicURL = nil }).test(.live) { one in
            try await second.application(configure: { $0.publicURL = nil }).test(.live) { two in
                let (portOne, portTwo) = (try #require(one.port), try #require(two.port))
                let urlOne = try #require(URL(string: "http://127.0.0.1:\(portOne)"))
                let urlTwo = try #require(URL(string: "http://127.0.0.1:\(portTwo)"))
                let laptop = try await fixture.replica(device: 0)
                try await laptop.merge(fixture.allEntries)
                let phone = try await fixture.replica(device: 1)
                let laptopClient = StoreClient(url: urlOne, engine: laptop, keyPair: fixture.devices[0])
                let phoneClient = StoreClient(url: urlTwo, engine: phone, keyPair: fixture.devices[1])
                _ = try await laptopClient.sync()
                _ = try await phoneClient.sync()  // through the other server: it reads what the first wrote
                #expect(try await phone.totals().credits == 1275)
                // Both write, each through its own server, at the same time.
                async let a: Void = {
                    for i in 0..<20 {
                        try await laptop.appendRecord(.credit, amount: 1, memo: "laptop \(i)")
                        _ = try await laptopClient.sync()
                    }
                }()
                async let b: Void = {
                    for i in 0..<20 {
                        try await phone.appendRecord(.debit, amount: 1, memo: "phone \(i)")
                        _ = try await phoneClient.sync()
                    }
                }()
                _ = try await (a, b)
                for _ in 0..<2 {
                    _ = try await laptopClient.sync()
                    _ = try await phoneClient.sync()
                }
                #expect(try await laptop.clock() == (try await phone.clock()))
                #expect(try await laptop.totals().balance == 1275)
                #expect(
                    try await first.backend.version(of: fixture.identity.bytes) == Int64(fixture.allEntries.count + 40))
            }
        }
    }
}

/// Progress reports, in order.
final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var steps: [StoreSyncProgress] = []

    func add(_ step: StoreSyncProgress) {
        lock.lock()
        steps.append(step)
        lock.unlock()
    }

    var all: [StoreSyncProgress] {
        lock.lock()
        defer { lock.unlock() }
        return steps
    }
}

/// SplitMix64: the same sequence for the same seed, so a failure can be replayed.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Store poller")
struct StorePollerTests {
    @Test("a poller keeps a device in step on its own, and reports failures while the store is away")
    func polls() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let store = try await TestStore(realTime: true)
        let laptop = try await fixture.replica(device: 0)
        try await laptop.merge(fixture.allEntries)
        let phone = try await fixture.replica(device: 1)
        let schedule = StoreSchedule(interval: .milliseconds(200), cap: .seconds(1), debounce: .milliseconds(50))
        let statusFile = TestFolder.url("ll-poll").appendingPathExtension("json")
        let phonePoller: StorePoller? = try await store.application(configure: { $0.publicURL = nil }).test(.live) {
            client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptopPoller = StorePoller(
                client: StoreClient(url: url, engine: laptop, keyPair: fixture.devices[0]), engine: laptop,
                schedule: schedule)
            let poller = StorePoller(
                client: StoreClient(url: url, engine: phone, keyPair: fixture.devices[1]), engine: phone,
                schedule: schedule, statusFile: statusFile)
            let tasks = [Task { await laptopPoller.run() }, Task { await poller.run() }]
            defer { for task in tasks { task.cancel() } }
            // An entry written on the laptop reaches the phone with no sync called by hand.
            #expect(await eventually { try await phone.storedEntryCount() == fixture.allEntries.count })
            try await laptop.appendRecord(.credit, amount: 42, memo: "polled")
            #expect(await eventually { try await phone.totals().credits == 42 })
            let status = try #require(StoreStatus.read(from: statusFile))
            #expect(status.isLive)
            #expect(status.lastSuccess != nil)
            #expect(status.consecutiveFailures == 0, "\(status.lastError ?? "")")
            return poller
        }
        // The store is gone: the phone's poller counts failures and says why.
        let gone = try #require(phonePoller)
        let task = Task { await gone.run() }
        defer { task.cancel() }
        await gone.syncNow()
        #expect(await eventually { await gone.status().consecutiveFailures >= 2 })
        #expect(await gone.status().lastError?.contains("cannot reach the store") == true)
        try? FileManager.default.removeItem(at: statusFile)
    }
}
