import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

/// A transport in front of a real store that never lets pushed entries reach it, yet answers
/// that it took them: a black hole.
struct BlackHoleTransport: StoreTransport {
    let inner = HTTPStoreTransport()

    func post(_ url: URL, body: Data, bearer: String?, contentType: String) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        guard url.lastPathComponent == "sync", contentType == SyncBody.contentType,
            let (request, pushed) = try? SyncBody.decode(Array(body), as: SyncRequest.self, maxEntries: .max)
        else { return try await inner.post(url, body: body, bearer: bearer, contentType: contentType) }
        var (status, headers, data) = try await inner.post(
            url, body: Data(try SyncBody.encode(request, entries: [])), bearer: bearer, contentType: contentType)
        guard status == 200, var answer = jsonObject(answer: data, headers: headers) else {
            return (status, headers, data)
        }
        if answer["accepted"] != nil { answer["accepted"] = pushed.count }
        headers["content-type"] = "application/json"
        return (status, headers, try JSONSerialization.data(withJSONObject: answer))
    }
}

@Suite("A store is held to what it signs")
struct StoreAccountabilityTests {
    @Test("a store that says it took pushed entries but kept none is caught by its own signed answer")
    func blackHole() async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        try await TestStore.live { url in
            let engine = try await fixture.replica()
            try await engine.merge(fixture.allEntries)
            _ = try await StoreClient(url: url, engine: engine, keyPair: fixture.root).sync()
            try await engine.appendRecord(.credit, amount: 7, memo: "kept?")
            let report = try await StoreClient(
                url: url, engine: engine, keyPair: fixture.root, transport: BlackHoleTransport()
            ).sync()
            #expect(report.storeProblems.map(\.kind) == [.dropped])
            #expect(report.storeProblems.first?.message.contains("did not keep 1 of the 1 entries") == true)
            #expect(!report.converged)
            let kept = try engine.store.storeProblems()
            #expect(kept.map(\.kind) == ["dropped"])
            let proof = try JSONDecoder().decode(StoreProof.self, from: Data(try #require(kept.first).proof))
            #expect(proof.heads.count == 1 && proof.heads[0].isValid)
        }
    }

    @Test("an old answer replayed is refused as going back, and an honest sync after it is believed again")
    func replayedAnswer() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        try built.record(device: 0, .credit, amount: 5)
        let fixture = built
        try await TestStore.live { url in
            let engine = try await fixture.replica()
            try await engine.merge(Array(fixture.allEntries.prefix(1)))
            // Record the store's first full answer...
            let recorded = Locked<Data?>(nil)
            let recorder = LyingTransport(inner: HTTPStoreTransport()) { action, answer in
                if action == "sync", answer["clock"] != nil, recorded.value == nil {
                    recorded.set(try? JSONSerialization.data(withJSONObject: answer))
                }
            }
            _ = try await StoreClient(url: url, engine: engine, keyPair: fixture.root, transport: recorder).sync()
            try await engine.merge(fixture.allEntries)
            _ = try await StoreClient(url: url, engine: engine, keyPair: fixture.root).sync()
            // ...and play it back later.
            let replaying = LyingTransport(inner: HTTPStoreTransport()) { action, answer in
                if action == "sync", let old = recorded.value,
                    let replayed = (try? JSONSerialization.jsonObject(with: old)) as? [String: Any]
                {
                    answer = replayed
                }
            }
            let report = try await StoreClient(url: url, engine: engine, keyPair: fixture.root, transport: replaying)
                .sync()
            // Going back, and (as the replay also answers the push) not keeping what was sent.
            #expect(report.storeProblems.first?.kind == .rollback)
            #expect(report.storeProblems.first?.message.contains("went back to an older state") == true)
            let honest = try await StoreClient(url: url, engine: engine, keyPair: fixture.root).sync()
            #expect(honest.storeProblems.isEmpty)
            #expect(honest.converged)
        }
    }

    @Test("an honest store under pushes and polls at the same moment never signs two states as one version")
    func concurrentHonesty() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        try await TestStore.live(configure: TestStore.unlimited) { url in
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let phone = try await fixture.replica(device: 1)
            let laptopClient = StoreClient(url: url, engine: laptop, keyPair: fixture.devices[0])
            let phoneClient = StoreClient(url: url, engine: phone, keyPair: fixture.devices[1])
            _ = try await laptopClient.sync()
            _ = try await phoneClient.sync()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for i in 0..<30 {
                        try await laptop.appendRecord(.credit, amount: Int64(i + 1), memo: "push \(i)")
                        _ = try await laptopClient.sync()
                    }
                }
                group.addTask {
                    for _ in 0..<60 { _ = try await phoneClient.sync() }
                }
                try await group.waitForAll()
            }
            #expect(try laptop.store.storeProblems().isEmpty)
            #expect(try phone.store.storeProblems().isEmpty)
        }
    }

    @Test("two heads of one version with different digests, or a clock that lost entries, are proofs kept on disk")
    func contradictionsSurviveRestart() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let folder = TestFolder.url("witness")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("ledger.sqlite").path
        _ = try LedgerStore.create(
            at: path, identity: fixture.identity, root: fixture.root.publicKey, device: fixture.root.publicKey)
        let key = SigningKeyPair.generate()
        func answer(version: UInt64, clock: VectorClock, time: Int64) -> SyncResponse {
            var response = SyncResponse(digest: clock.digest.hex)
            response.clock = Data.base64(VectorClock.encode(clock.entries))
            response.head = StoreHeadWire(
                StoreHead(signing: key, identity: fixture.identity, version: version, digest: clock.digest, time: time))
            return response
        }
        let log = fixture.logs[0]
        let two = VectorClock([ClockEntry(author: log[0].author, seq: 2, head: log[1].hash)])
        let one = VectorClock([ClockEntry(author: log[0].author, seq: 1, head: log[0].hash)])
        let witness = StoreWitness(
            ledger: try LedgerStore.open(at: path), identity: fixture.identity, origin: "http://store")
        #expect(try witness.witness(answer(version: 2, clock: two, time: 10), clock: two).isEmpty)
        // The same version, another state.
        let split = try witness.witness(answer(version: 2, clock: one, time: 11), clock: one)
        #expect(split.map(\.kind) == [.contradiction])
        // A later version whose clock lacks what version 2 held.
        let lost = try witness.witness(answer(version: 3, clock: one, time: 12), clock: one)
        #expect(lost.map(\.kind) == [.rollback])
        #expect(lost.first?.message.contains("no longer holds entries it held before") == true)
        // Another process, another day: the proofs are still there, and each head in them verifies.
        let reopened = try LedgerStore.open(at: path)
        let problems = try reopened.storeProblems()
        #expect(problems.map(\.kind) == ["contradiction", "rollback"])
        for problem in problems {
            let proof = try JSONDecoder().decode(StoreProof.self, from: Data(problem.proof))
            #expect(proof.heads.count == 2)
            #expect(proof.heads.allSatisfy { $0.isValid })
        }
        // A head that is not the store's signature is not read at all.
        var forged = answer(version: 4, clock: two, time: 13)
        forged.head?.version = 5
        #expect(throws: StoreClientError.self) {
            _ = try StoreWitness(ledger: reopened, identity: fixture.identity, origin: "http://store")
                .witness(forged, clock: two)
        }
    }
}

@Suite("Devices compare their store heads when they meet")
struct StoreGossipTests {
    /// A device's ledger on disk, with `heads` kept as if its own syncs with the store at
    /// http://store had brought them.
    func device(_ fixture: LedgerFixture, _ index: Int, folder: URL, heads: [StoreHead]) async throws -> MergeEngine {
        let path = folder.appendingPathComponent("device\(index).sqlite").path
        let store = try LedgerStore.create(
            at: path, identity: fixture.identity, root: fixture.root.publicKey, device: fixture.devices[index].publicKey
        )
        for head in heads {
            try store.pinStoreKey(origin: "http://store", key: head.store.bytes)
            try store.keepStoreHead(
                key: head.store.bytes, origin: "http://store", head: Array(try JSONEncoder().encode(head)), clock: nil)
        }
        let engine = try await MergeEngine(store: store, keyPair: fixture.devices[index])
        try await engine.merge(fixture.allEntries)
        return engine
    }

    /// A folder for the devices' ledgers, removed by the caller.
    func folder() throws -> URL {
        let folder = TestFolder.url("gossip")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A head `key` signs for the identity: `version`, the digest of `text`, at `time`.
    func head(_ key: SigningKeyPair, _ fixture: LedgerFixture, _ version: UInt64, _ text: String, _ time: Int64)
        -> StoreHead
    {
        StoreHead(
            signing: key, identity: fixture.identity, version: version, digest: Blake2b.hash(Array(text.utf8)),
            time: time)
    }

    /// Device `index` (`dialer`) syncs with device `otherIndex` (`other`) over the peer channel.
    @discardableResult
    func meet(
        _ fixture: LedgerFixture, _ dialer: MergeEngine, _ index: Int, _ other: MergeEngine, _ otherIndex: Int
    ) async throws -> PeerSyncReport {
        let listener = try await PeerListener.bind(host: "127.0.0.1", port: 0, readTimeout: .seconds(90))
        let otherKey = fixture.devices[otherIndex]
        let serving = Task { try await listener.run(engine: other, keyPair: otherKey) }
        defer { serving.cancel() }
        return try await PeerDialer.sync(
            host: "127.0.0.1", port: listener.port, engine: dialer, keyPair: fixture.devices[index], options: .patient)
    }

    @Test("a store that showed two devices different histories is caught by both when they meet")
    func splitView() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let folder = try folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = SigningKeyPair.generate()
        func head(_ version: UInt64, _ text: String, _ time: Int64) -> StoreHead {
            self.head(key, fixture, version, text, time)
        }
        // The store signed version 5 for the laptop, and later version 3 for the phone: it hid
        // two entries from the phone.
        let laptop = try await device(fixture, 0, folder: folder, heads: [head(5, "five", 100)])
        let phone = try await device(fixture, 1, folder: folder, heads: [head(3, "three", 200)])
        #expect(try await meet(fixture, laptop, 0, phone, 1).converged)
        let onLaptop = try laptop.store.storeProblems()
        #expect(onLaptop.map(\.kind) == ["contradiction"])
        #expect(onLaptop.first?.message.contains("showed this device and") == true)
        #expect(onLaptop.first?.message.contains("version 3 after version 5") == true)
        #expect(await eventually { (try? phone.store.storeProblems().map(\.kind)) == ["contradiction"] })
    }

    @Test("a proof two devices found reaches a third that meets one of them, and is kept once")
    func proofTravels() async throws {
        let fixture = try LedgerFixture(deviceCount: 3)
        let folder = try folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = SigningKeyPair.generate()
        func head(_ version: UInt64, _ text: String, _ time: Int64) -> StoreHead {
            self.head(key, fixture, version, text, time)
        }
        let laptop = try await device(fixture, 0, folder: folder, heads: [head(5, "five", 100)])
        let phone = try await device(fixture, 1, folder: folder, heads: [head(3, "three", 200)])
        // The tablet saw the store early, before it split its history.
        let tablet = try await device(fixture, 2, folder: folder, heads: [head(2, "two", 50)])
        try await meet(fixture, laptop, 0, phone, 1)
        #expect(await eventually { (try? phone.store.storeProblems().count) == 1 })
        try await meet(fixture, tablet, 2, laptop, 0)
        let onTablet = try tablet.store.storeProblems()
        #expect(onTablet.map(\.kind) == ["contradiction"])
        #expect(onTablet.first?.message.contains("version 3 after version 5") == true)
        #expect(onTablet.first?.message.contains("(proof from") == true)
        // The newest head it learned is the higher version, not the last one it read.
        let kept = try #require(try tablet.store.storeHead(key: key.publicKey.bytes))
        #expect(try JSONDecoder().decode(StoreHead.self, from: Data(kept.head)).version == 5)
        // Meeting again, or meeting the phone, finds the same proof: it is not kept twice.
        try await meet(fixture, tablet, 2, laptop, 0)
        try await meet(fixture, tablet, 2, phone, 1)
        #expect(try tablet.store.storeProblems().count == 1)
        #expect(try laptop.store.storeProblems().count == 1)
    }

    @Test("a device learns the newest version a store signed for another, and is not shown less after")
    func learnNewest() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let folder = try folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = SigningKeyPair.generate()
        let older = StoreHead(
            signing: key, identity: fixture.identity, version: 3, digest: Blake2b.hash([3]), time: 100)
        let newer = StoreHead(
            signing: key, identity: fixture.identity, version: 5, digest: Blake2b.hash([5]), time: 200)
        let laptop = try await device(fixture, 0, folder: folder, heads: [older])
        let phone = try await device(fixture, 1, folder: folder, heads: [newer])
        try await meet(fixture, laptop, 0, phone, 1)
        #expect(try laptop.store.storeProblems().isEmpty)
        let kept = try #require(try laptop.store.storeHead(key: key.publicKey.bytes))
        #expect(try JSONDecoder().decode(StoreHead.self, from: Data(kept.head)) == newer)
        // The store now shows the laptop its old state again: that is going back.
        var answer = SyncResponse(digest: older.digest.hex)
        answer.head = StoreHeadWire(
            StoreHead(signing: key, identity: fixture.identity, version: 3, digest: older.digest, time: 300))
        let witness = StoreWitness(ledger: laptop.store, identity: fixture.identity, origin: "http://store")
        let problems = try witness.witness(answer, clock: nil)
        #expect(problems.map(\.kind) == [.rollback])
        // A store that stays behind is one problem, not one per poll.
        for time in 301...310 as ClosedRange<Int64> {
            answer.head = StoreHeadWire(
                StoreHead(signing: key, identity: fixture.identity, version: 3, digest: older.digest, time: time))
            #expect(try witness.witness(answer, clock: nil).map(\.kind) == [.rollback])
        }
        #expect(try laptop.store.storeProblems().count == 1)
        // Once cleared, its answer is the new starting point.
        #expect(try laptop.store.clearStoreProblems(origin: "http://store") == 1)
        #expect(try witness.witness(answer, clock: nil).isEmpty)
        #expect(try laptop.store.storeProblems().isEmpty)
    }
}

@Suite("A store proves it holds a device's entries")
struct StorePossessionTests {
    @Test("an honest store proves a random sample of this device's entries; a hollow one is caught")
    func possession() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        for i in 0..<20 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        let fixture = built
        try await TestStore.live { url in
            let engine = try await fixture.replica()
            try await engine.merge(fixture.allEntries)
            let honest = try await StoreClient(url: url, engine: engine, keyPair: fixture.root).sync()
            #expect(honest.possession == StoreSyncReport.Possession(asked: 8, proven: 8))
            let proofs = try engine.store.possessionProofs()
            #expect(proofs.first?.sampled == 8)
            #expect(proofs.first?.through == UInt64(fixture.logs[0].count))
            // Another process (each `ledgerlink sync` is one) with nothing to push asks once a
            // day, as the proof kept in the database says, not every time it starts.
            let later = try await StoreClient(url: url, engine: engine, keyPair: fixture.root).sync()
            #expect(later.possession == nil)
            let dayLater: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) + 25 * 3600 }
            let nextDay = try await StoreClient(url: url, engine: engine, keyPair: fixture.root, now: dayLater).sync()
            #expect(nextDay.possession == StoreSyncReport.Possession(asked: 8, proven: 8))
            // A store that answers every challenge without the entries (it kept only the clock).
            let hollow = LyingTransport(inner: HTTPStoreTransport()) { action, answer in
                if action == "prove" { answer["proofs"] = (answer["proofs"] as? [Any])?.map { _ in NSNull() } }
            }
            try await engine.appendRecord(.debit, amount: 3, memo: "asks again")
            let caught = try await StoreClient(url: url, engine: engine, keyPair: fixture.root, transport: hollow)
                .sync()
            #expect(caught.possession == StoreSyncReport.Possession(asked: 8, proven: 0))
            #expect(caught.storeProblems.map(\.kind) == [.unproven])
            #expect(
                caught.storeProblems.first?.message.contains("did not prove it holds 8 of this device's entries")
                    == true)
            #expect(try engine.store.storeProblems().map(\.kind) == ["unproven"])
        }
    }
}

@Suite("An honest store on a bad network raises no alarm")
struct HonestStoreFaultTests {
    @Test("dropped and cut connections between two devices and a store: errors, never a store problem")
    func faultsAreNotLies() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        try await TestStore.live(configure: TestStore.unlimited) { url in
            let proxy = try await FaultProxy.start(targetPort: url.port ?? 0) { _ in
                switch Int.random(in: 0..<10) {
                case 0..<7: .pass
                case 7..<8: .drop
                default: .cut(afterBytes: Int.random(in: 1...600))
                }
            }
            let faulty = try #require(URL(string: "http://127.0.0.1:\(proxy.port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let phone = try await fixture.replica(device: 1)
            let engines = [laptop, phone]
            // A cut connection can leave a request waiting for an answer: a short total deadline.
            let clients = zip(engines, fixture.devices).map { engine, key in
                StoreClient(
                    url: faulty, engine: engine, keyPair: key, transport: HTTPStoreTransport(deadline: .seconds(1)))
            }
            var failures = 0
            for step in 0..<20 {
                let device = Int.random(in: 0..<2)
                if Int.random(in: 0..<3) == 0 {
                    _ = try? await engines[device].appendRecord(.credit, amount: Int64(step + 1), memo: "step \(step)")
                }
                do {
                    _ = try await clients[device].sync()
                } catch {
                    failures += 1  // the network's fault, said as such; never a store problem
                }
            }
            // Then straight to the store until both are level.
            for (engine, key) in zip(engines, fixture.devices) {
                _ = try await StoreClient(url: url, engine: engine, keyPair: key).sync()
            }
            _ = try await StoreClient(url: url, engine: laptop, keyPair: fixture.devices[0]).sync()
            #expect(try await laptop.clock().digest == (try await phone.clock().digest))
            for engine in engines { #expect(try engine.store.storeProblems().isEmpty) }
            #expect(failures > 0, "the proxy broke nothing: the test tested nothing")
        }
    }
}
