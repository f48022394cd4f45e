import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import PropertyBased
import Testing

/// The ledger is a CRDT: replicas that hold the same entries are in the same state, whatever
/// order, grouping or repetition the entries arrived in.
@Suite("CRDT laws")
struct CRDTPropertyTests {
    /// A random history of three devices: records, sometimes a revocation, sometimes a fork.
    static func history(ops: [Int], rng: inout Xoshiro) throws -> [Entry] {
        var fixture = try LedgerFixture(deviceCount: 3)
        var rival: LedgerFixture?
        var revoked = false
        for op in ops {
            switch op {
            case 0...5:
                let device = op % 3
                if revoked, device == 2, Bool.random(using: &rng) { continue }
                try fixture.record(
                    device: device, op < 3 ? .credit : .debit, amount: Int64.random(in: 1...10_000, using: &rng),
                    memo: "op \(op)")
            case 6 where !revoked:
                try fixture.revoke(device: 2, by: Int.random(in: 0...1, using: &rng))
                revoked = true
            case 8...10:
                // A correction of an earlier credit, debit or correction (sometimes voiding it),
                // by any device: concurrent ones come from devices that had not seen each other's.
                let candidates = fixture.allEntries.filter { $0.kind.isRecord || $0.kind == .correction }
                guard let target = candidates.randomElement(using: &rng) else { continue }
                let device = op % 3
                if revoked, device == 2 { continue }
                try fixture.correct(
                    device: device, target, amount: op == 10 ? 0 : Int64.random(in: 1...10_000, using: &rng),
                    memo: Bool.random(using: &rng) ? "fixed \(op)" : nil)
            case 7 where rival == nil:
                // Device 1's key is used on two machines: its log splits here.
                var copy = fixture
                try copy.record(device: 1, .credit, amount: 777, memo: "rival")
                rival = copy
            case 11:
                // Someone settles device 1's fork (if its log has split by now): either branch,
                // through a seq that may lie beyond what either holds yet.
                guard let rival, let split = rival.logs[1].last, fixture.logs[1].count >= split.seq,
                    !(revoked && Bool.random(using: &rng))
                else { continue }
                let main = fixture.logs[1][Int(split.seq) - 1]
                try fixture.settle(
                    device: 0, target: 1, forkSeq: split.seq, chosen: Bool.random(using: &rng) ? main.hash : split.hash,
                    through: split.seq + Seq.random(in: 0...3, using: &rng))
            default:
                break
            }
        }
        return fixture.allEntries + (rival?.logs[1] ?? [])
    }

    static func deliver(_ entries: [Entry], to replica: MergeEngine, rng: inout Xoshiro) async throws {
        var pending = entries.shuffled(using: &rng)
        // Replay some entries and cut the stream into batches of random size.
        pending += pending.prefix(Int.random(in: 0...pending.count / 3, using: &rng))
        pending.shuffle(using: &rng)
        while !pending.isEmpty {
            let size = Int.random(in: 1...max(1, pending.count), using: &rng)
            try await replica.merge(Array(pending.prefix(size)))
            pending.removeFirst(size)
        }
    }

    /// What every replica must agree on. (How many quarantined entries of a revoked device a
    /// replica happens to have seen is its own knowledge, so it is left out.)
    static func state(_ replica: MergeEngine) async throws -> (VectorClock, Totals, [String]) {
        let devices = try await replica.devices().map {
            "\($0.key) \($0.name ?? "-") \($0.state) \($0.boundary ?? 0) \($0.forkSeq ?? 0) \($0.entries)"
        }
        // Every correction stays visible, standing the same way on every replica.
        let corrections = try await replica.corrections()
        let standing = corrections.items.keys.map { "\($0) \(corrections.states[$0].map { "\($0)" } ?? "-")" }.sorted()
        let effects = corrections.effects.map { "\($0.key) \($0.value.amount ?? -1) \($0.value.memo ?? "-")" }.sorted()
        return (try await replica.clock(), try await replica.totals(), devices + standing + effects)
    }

    static let ops = Gen.int(in: 0...11).array(of: 4...24)
    static let seed = Gen.uint64()

    @Test("replicas converge to the same clock, digest, totals and devices whatever the delivery order")
    func convergence() async throws {
        await propertyCheck(count: 25, input: Self.ops, Self.seed) { ops, seed in
            do {
                var rng = Xoshiro(seed: (seed, seed &* 31, seed ^ 0x9E37_79B9, 7))
                let entries = try Self.history(ops: ops, rng: &rng)
                let reference = try await LedgerFixtureReplica.make(entries)
                try await reference.merge(entries)
                let expected = try await Self.state(reference)
                for _ in 0..<3 {
                    let replica = try await LedgerFixtureReplica.make(entries)
                    try await Self.deliver(entries, to: replica, rng: &rng)
                    let got = try await Self.state(replica)
                    #expect(got.0 == expected.0)
                    #expect(got.0.digest == expected.0.digest)
                    #expect(got.1 == expected.1)
                    #expect(got.2 == expected.2)
                    #expect(try await replica.status().held == 0)
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test("merging is associative and commutative across replicas, and idempotent")
    func joinLaws() async throws {
        await propertyCheck(count: 20, input: Self.ops, Self.seed) { ops, seed in
            do {
                var rng = Xoshiro(seed: (seed, 3, seed >> 3, 11))
                let entries = try Self.history(ops: ops, rng: &rng)
                // Split into three sets X, Y, Z.
                var parts: [[Entry]] = [[], [], []]
                for entry in entries { parts[Int.random(in: 0...2, using: &rng)].append(entry) }
                let (x, y, z) = (parts[0], parts[1], parts[2])
                let left = try await LedgerFixtureReplica.make(entries)  // (X ∪ Y) ∪ Z
                try await left.merge(x + y)
                try await left.merge(z)
                let right = try await LedgerFixtureReplica.make(entries)  // Z ∪ (Y ∪ X)
                try await right.merge(z)
                try await right.merge(y + x)
                #expect(try await Self.state(left) == Self.state(right))

                // Replica to replica: each sends what the other lacks, by clock.
                let a = try await LedgerFixtureReplica.make(entries)
                let b = try await LedgerFixtureReplica.make(entries)
                try await a.merge(x)
                try await b.merge(y + z)
                // Rounds repeat until the clock digests agree, as a sync session does; entries a
                // replica holds back (gaps, missing certificates) can take more than one round.
                for _ in 0..<6 where try await a.clock() != (try await b.clock()) {
                    try await b.merge(try await a.delta(for: try await b.clock()))
                    try await a.merge(try await b.delta(for: try await a.clock()))
                }
                #expect(try await Self.state(a) == Self.state(left))
                #expect(try await Self.state(b) == Self.state(left))
                #expect(try await a.delta(for: try await b.clock()).isEmpty)

                // Idempotent: everything again changes nothing.
                let again = try await left.merge(entries)
                #expect(again.accepted.isEmpty)
                #expect(try await Self.state(left) == Self.state(right))
            } catch {
                Issue.record(error)
            }
        }
    }
}

extension CRDTPropertyTests {
    /// Three devices writing ordinary amounts, amounts near Int64.max (so running totals
    /// overflow) and entries whose sealed part does not open with the data key.
    static func hostileHistory(ops: [Int], rng: inout Xoshiro) throws -> LedgerFixture {
        var fixture = try LedgerFixture(deviceCount: 3)
        for op in ops {
            let device = op % 3
            switch op {
            case 0...2:
                try fixture.record(device: device, .credit, amount: Int64.random(in: 1...10_000, using: &rng))
            case 3...5:
                let huge = Int64.random(in: (Int64.max - 10_000)...Int64.max, using: &rng)
                try fixture.record(device: device, Bool.random(using: &rng) ? .credit : .debit, amount: huge)
            default:
                try fixture.recordUnreadable(device: device)
            }
        }
        return fixture
    }

    @Test("replicas with and without the data key agree on what counts, and key holders on exact totals")
    func convergenceWithUnreadableAndHugeAmounts() async throws {
        await propertyCheck(count: 20, input: Gen.int(in: 0...7).array(of: 4...20), Self.seed) { ops, seed in
            do {
                var rng = Xoshiro(seed: (seed, 5, seed ^ 0x51, 13))
                let fixture = try Self.hostileHistory(ops: ops, rng: &rng)
                let entries = fixture.allEntries
                var expected: (credits: Int128, debits: Int128, unreadable: Int) = (0, 0, 0)
                for entry in entries where entry.kind == .credit || entry.kind == .debit {
                    guard let body = try? BodySeal.open(entry, key: fixture.dataKey),
                        case .record(let amount, _) = body
                    else {
                        expected.unreadable += 1
                        continue
                    }
                    if entry.kind == .credit {
                        expected.credits += Int128(amount)
                    } else {
                        expected.debits += Int128(amount)
                    }
                }
                var digests: Set<Digest32> = []
                for index in 0..<3 {
                    let holder = try await fixture.replica(device: index)
                    try await Self.deliver(entries, to: holder, rng: &rng)
                    let keyless = try await LedgerFixtureReplica.make(entries)
                    try await Self.deliver(entries, to: keyless, rng: &rng)
                    digests.insert(try await holder.clock().digest)
                    digests.insert(try await keyless.clock().digest)
                    let totals = try await holder.totals()
                    #expect(totals.credits == expected.credits)
                    #expect(totals.debits == expected.debits)
                    #expect(totals.unreadable == expected.unreadable)
                    #expect(try await holder.verifyAll().isEmpty)
                    #expect(try await holder.storedEntryCount() == entries.count)
                }
                #expect(digests.count == 1)
            } catch {
                Issue.record(error)
            }
        }
    }
}

/// An empty replica for the identity the entries belong to (genesis is always the first).
enum LedgerFixtureReplica {
    static func make(_ entries: [Entry]) async throws -> MergeEngine {
        let genesis = try #require(entries.first { $0.kind == .genesis })
        let store = try LedgerStore.inMemory(
            identity: genesis.identity, root: genesis.author, device: SigningKeyPair.generate().publicKey)
        return try await MergeEngine(store: store, keyPair: nil)
    }
}
