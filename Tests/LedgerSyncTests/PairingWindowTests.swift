import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerSync
import LedgerTestSupport
import Testing

@Suite("Pairing over the peer channel")
struct PairingWindowTests {
    static func home() -> DataHome {
        DataHome(url: TestFolder.url("ll-pair"))
    }

    /// A pairing device with `entries` credits, listening on loopback with a window of `length`.
    /// A window of ten minutes unless a test is about its end: the length is a deadline, and a
    /// full run on two cores once kept a first attempt from being answered for over a minute.
    static func open(entries: Int = 0, length: Duration = .seconds(600)) async throws -> (
        LedgerFixture, MergeEngine, PairingListener, PairingWindow
    ) {
        var fixture = try LedgerFixture(deviceCount: 1)
        for i in 0..<entries { try fixture.record(device: 0, .credit, amount: Int64(i % 100 + 1)) }
        let engine = try await fixture.replica(device: 0)
        try await engine.merge(fixture.allEntries)
        let listener = try await PairingListener.bind(host: "127.0.0.1", port: 0)
        let window = PairingWindow(
            code: .generate(identity: fixture.identity, rendezvous: .peer(host: "127.0.0.1", port: listener.port)),
            length: length)
        return (fixture, engine, listener, window)
    }

    /// Serves the window the way a person would answer: by typing the words the new device
    /// shows, once `words` holds them.
    static func serve(_ listener: PairingListener, _ host: PairingHost) -> (
        Task<PairingHost.Outcome, any Error>, Locked<String?>
    ) {
        let words = Locked<String?>(nil)
        let serving = Task {
            try await listener.run(host) { _, _ in
                _ = await eventually { words.value != nil }
                return .typed(words.value ?? "")
            }
        }
        return (serving, words)
    }

    @Test("a link in process: the ledger arrives in pages and the replicas end equal")
    func pagedLink() async throws {
        let (fixture, engine, listener, window) = try await Self.open(entries: 2_500)
        let (serving, words) = Self.serve(listener, PairingHost(engine: engine, keyPair: fixture.root, window: window))
        let joined = try await PairingGuest.joinDirectly(
            code: window.code, host: "127.0.0.1", port: listener.port, name: "tablet", home: Self.home(),
            passphrase: nil, showSAS: { words.set($0.description) })
        #expect(try await serving.value == .linked(device: joined.engine.device, name: "tablet"))
        #expect(joined.received == 2_501)  // 2,500 credits and the link; genesis came with the certificate
        #expect(try await joined.engine.clock().digest == engine.clock().digest)
        #expect(try await joined.engine.totals() == engine.totals())
    }

    @Test("a window that expires ends as expired, and then nobody can reach it")
    func expiry() async throws {
        let (fixture, engine, listener, window) = try await Self.open(length: .milliseconds(300))
        let host = PairingHost(engine: engine, keyPair: fixture.root, window: window)
        let outcome = try await listener.run(host) { _, _ in .deny }
        #expect(outcome == .expired)
        await #expect(throws: PairingError.self) {
            _ = try await PairingGuest.joinDirectly(
                code: window.code, host: "127.0.0.1", port: listener.port, name: "late", home: Self.home(),
                passphrase: nil, showSAS: { _ in })
        }
    }

    @Test("wrong codes are refused and counted; too many close the window")
    func guessing() async throws {
        let (fixture, engine, listener, window) = try await Self.open()
        let host = PairingHost(engine: engine, keyPair: fixture.root, window: window)
        let serving = Task { try await listener.run(host) { _, _ in .deny } }
        for attempt in 0..<PairingWindow.maxWrongCodes {
            let guess = PairingCode.generate(
                identity: fixture.identity, rendezvous: .peer(host: "127.0.0.1", port: listener.port))
            let home = Self.home()
            await #expect(throws: PairingError.wrongCode, "attempt \(attempt)") {
                _ = try await PairingGuest.joinDirectly(
                    code: guess, host: "127.0.0.1", port: listener.port, name: "guess", home: home, passphrase: nil,
                    showSAS: { _ in })
            }
            #expect(!FileManager.default.fileExists(atPath: home.database.path))
        }
        #expect(try await serving.value == .tooManyWrongCodes)
    }

    @Test("silent, oversized and garbage connections do not take the window from the real device")
    func hostileConnections() async throws {
        let (fixture, engine, listener, window) = try await Self.open(entries: 3)
        let (serving, words) = Self.serve(listener, PairingHost(engine: engine, keyPair: fixture.root, window: window))
        // One connects and says nothing; one announces a frame over the limit; one sends noise;
        // one sends a well-formed JOIN of another window.
        let port = listener.port
        let silent = Task { try await sendRaw([], to: port, halfClose: false) }
        defer { silent.cancel() }
        try await sendRaw([0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3], to: port)
        try await sendRaw([0, 0, 0, 8] + SecureRandom.bytes(8), to: port)
        var stranger = PairingJoiner(
            code: .generate(identity: fixture.identity, rendezvous: .peer(host: "127.0.0.1", port: port)),
            keyPair: .generate(), name: "x")
        let join = stranger.join()
        try await sendRaw([0, 0, 0, UInt8(join.count)] + join, to: port)

        let joined = try await PairingGuest.joinDirectly(
            code: window.code, host: "127.0.0.1", port: listener.port, name: "real", home: Self.home(),
            passphrase: nil, showSAS: { words.set($0.description) })
        #expect(try await serving.value == .linked(device: joined.engine.device, name: "real"))
        #expect(try await joined.engine.totals().balance == 6)
    }
}

/// A transport that records how long each receive may wait, and has nothing to give.
final class SilentTransport: PairingTransport, @unchecked Sendable {
    let waits = Locked<[Duration]>([])

    func send(_ message: [UInt8]) async throws {}

    func receive(within: Duration) async throws -> [UInt8] {
        waits.set(waits.value + [within])
        throw PairingError.unreachable("nothing arrives")
    }
}

extension PairingWindowTests {
    @Test("a connection gets 30 s to ask; a mailbox is read for as long as the window stays open")
    func requestWait() async throws {
        let (fixture, engine, _, window) = try await Self.open()
        let host = PairingHost(engine: engine, keyPair: fixture.root, window: window)
        let transport = SilentTransport()
        await host.serve(transport) { _, _ in .deny }
        await host.serve(transport, waitForRequest: window.remaining) { _, _ in .deny }
        let waits = transport.waits.value
        #expect(waits.count == 2)
        #expect(waits.first == PairingHost.requestTime)
        #expect((waits.last ?? .zero) > .seconds(50))
        // Neither took the window.
        #expect(await window.isOpen)
    }
}

/// Two ends of an in-memory pairing conversation.
final class MemoryTransport: PairingTransport, @unchecked Sendable {
    private let inbox: AsyncStream<[UInt8]>
    private let outbox: AsyncStream<[UInt8]>.Continuation
    private let lock = NSLock()
    private var iterator: AsyncStream<[UInt8]>.AsyncIterator

    private init(inbox: AsyncStream<[UInt8]>, outbox: AsyncStream<[UInt8]>.Continuation) {
        self.inbox = inbox
        self.outbox = outbox
        self.iterator = inbox.makeAsyncIterator()
    }

    static func pair() -> (MemoryTransport, MemoryTransport) {
        let (a, aIn) = AsyncStream<[UInt8]>.makeStream()
        let (b, bIn) = AsyncStream<[UInt8]>.makeStream()
        return (MemoryTransport(inbox: a, outbox: bIn), MemoryTransport(inbox: b, outbox: aIn))
    }

    func send(_ message: [UInt8]) async throws { outbox.yield(message) }

    func receive(within: Duration) async throws -> [UInt8] {
        var copy = iterator
        guard let message = await copy.next() else { throw PairingError.unreachable("closed") }
        iterator = copy
        return message
    }
}

extension PairingWindowTests {
    @Test("when the pairing device fails after approval, the new device hears so at once and keeps nothing")
    func failureAfterApproval() async throws {
        let (fixture, engine, _, window) = try await Self.open(entries: 2)
        struct StoreDown: Error {}
        let host = PairingHost(
            engine: engine, keyPair: fixture.root, window: window, sendsLedger: false,
            afterLink: { throw StoreDown() })
        let (inviterSide, joinerSide) = MemoryTransport.pair()
        let words = Locked<String?>(nil)
        let serving = Task {
            await host.serve(inviterSide) { _, _ in
                _ = await eventually { words.value != nil }
                return .typed(words.value ?? "")
            }
        }
        let home = Self.home()
        await #expect {
            _ = try await PairingGuest.join(
                code: window.code, name: "tablet", home: home, passphrase: nil, transport: joinerSide,
                showSAS: { words.set($0.description) })
        } throws: { error in
            (error as? PairingError)?.description.contains("could not finish the link") == true
        }
        await serving.value
        guard case .failed = await window.outcome() else {
            Issue.record("the window should end as failed")
            return
        }
        #expect(!home.hasDevice)
    }
}

extension PairingWindowTests {
    @Test("the code carries the address another device can dial: private LAN over bridges, tunnels and loopback")
    func advertisedAddress() {
        #expect(
            preferredLANAddress([
                ("lo", "127.0.0.1"), ("docker0", "172.17.0.1"), ("wlan0", "192.168.1.31"), ("tun0", "10.8.0.2"),
            ]) == "192.168.1.31")
        #expect(preferredLANAddress([("docker0", "172.17.0.1"), ("eth0", "203.0.113.9")]) == "203.0.113.9")
        #expect(preferredLANAddress([("br-1234", "172.18.0.1"), ("eth0", "10.0.0.5")]) == "10.0.0.5")
        #expect(preferredLANAddress([("lo", "127.0.0.1")]) == nil)
    }
}
