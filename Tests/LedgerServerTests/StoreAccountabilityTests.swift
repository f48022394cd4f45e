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

    func post(_ url: URL, body: Data, bearer: String?) async throws -> (
        status: Int, headers: [String: String], body: Data
    ) {
        guard url.lastPathComponent == "sync",
            var request = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        else { return try await inner.post(url, body: body, bearer: bearer) }
        let swallowed = (request["entries"] as? [Any])?.count ?? 0
        request["entries"] = []
        let (status, headers, data) = try await inner.post(
            url, body: try JSONSerialization.data(withJSONObject: request), bearer: bearer)
        guard status == 200, var answer = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return (status, headers, data)
        }
        if answer["accepted"] != nil { answer["accepted"] = swallowed }
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
        // Both devices share one identity's rate limit; this is about consistency, not limits.
        let unlimited = RateLimit(perSecond: 10_000, burst: 10_000)
        func unlimit(_ configuration: inout StoreServerConfiguration) {
            configuration.identityRate = unlimited
            configuration.addressRate = unlimited
        }
        try await TestStore.live(configure: unlimit) { url in
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
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("witness-\(UUID().uuidString)")
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
