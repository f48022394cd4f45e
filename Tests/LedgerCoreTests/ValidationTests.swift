import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

/// Every way an entry can be invalid has its own error and its own test.
@Suite("Validation")
struct ValidationTests {
    /// A replica of device 1 that has merged the fixture so far.
    func replica(_ fixture: LedgerFixture) async throws -> MergeEngine {
        let replica = try await fixture.replica(device: 1)
        let report = try await replica.merge(fixture.allEntries)
        #expect(report.rejected.isEmpty)
        return replica
    }

    /// Rebuilds `entry` with some bytes changed after signing.
    func tampered(_ entry: Entry, at offset: Int) throws -> Entry {
        var bytes = entry.encoded
        bytes[offset] ^= 0x01
        return try Entry(decoding: bytes)
    }

    @Test("a body changed after signing is refused as an invalid signature and not stored")
    func tamperedBody() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let entry = try fixture.record(device: 0, .credit, amount: 500)
        // Flip a bit inside the sealed part (the last bytes before the signature).
        let forged = try tampered(entry, at: entry.encoded.count - 64 - 3)
        let report = try await replica.merge([forged])
        #expect(report.rejected.map(\.reason) == [.invalidSignature])
        #expect(try await replica.totals().credits == 0)
        #expect(try await replica.clock()[fixture.root.publicKey] == 2)
    }

    @Test("a changed signature is refused")
    func tamperedSignature() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let entry = try fixture.record(device: 0, .credit, amount: 500)
        let forged = try tampered(entry, at: entry.encoded.count - 5)
        #expect(try await replica.merge([forged]).rejected.map(\.reason) == [.invalidSignature])
        // The genuine entry is still accepted afterwards.
        #expect(try await replica.merge([entry]).accepted == [entry.hash])
    }

    @Test("a correctly signed entry whose sealed part does not open is counted as unreadable, as without the key")
    func unreadableBody() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let holder = try await replica(fixture)
        let keyless = try await LedgerFixtureReplica.make(fixture.allEntries)
        try await keyless.merge(fixture.allEntries)
        var sealed = try BodySeal.seal(
            .record(amount: 5, memo: ""), key: fixture.dataKey, identity: fixture.identity,
            author: fixture.root.publicKey, seq: 3, kind: .credit)
        sealed[sealed.count - 1] ^= 1
        let entry = Entry(
            identity: fixture.identity, keyPair: fixture.root, seq: 3, prev: fixture.logs[0][1].hash, kind: .credit,
            time: 1, publicBody: [], sealed: sealed)
        #expect(try await holder.merge([entry]).accepted == [entry.hash])
        #expect(try await keyless.merge([entry]).accepted == [entry.hash])
        #expect(try await holder.clock().digest == keyless.clock().digest)
        #expect(try await holder.totals().unreadable == 1)
        #expect(try await holder.totals().credits == 0)
        #expect(try await holder.verifyAll().isEmpty)
    }

    @Test("an entry whose prev hash does not match its predecessor is refused")
    func brokenChain() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let sealed = try BodySeal.seal(
            .record(amount: 5, memo: ""), key: fixture.dataKey, identity: fixture.identity,
            author: fixture.root.publicKey, seq: 3, kind: .credit)
        let entry = Entry(
            identity: fixture.identity, keyPair: fixture.root, seq: 3, prev: Blake2b.hash([9]), kind: .credit, time: 1,
            publicBody: [], sealed: sealed)
        #expect(try await replica.merge([entry]).rejected.map(\.reason) == [.brokenChain(seq: 3)])
    }

    @Test("an entry after a gap is held, not counted, until the gap is filled")
    func seqGap() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let first = try fixture.record(device: 1, .credit, amount: 100)
        let second = try fixture.record(device: 1, .credit, amount: 20)
        let held = try await replica.merge([second])
        #expect(held.held.map(\.reason) == [.brokenChain(seq: 1)])
        #expect(held.accepted.isEmpty)
        #expect(try await replica.totals().credits == 0)
        #expect(try await replica.status().held == 1)
        let filled = try await replica.merge([first])
        #expect(Set(filled.accepted) == [first.hash, second.hash])
        #expect(try await replica.totals().credits == 120)
        #expect(try await replica.status().held == 0)
    }

    @Test("an entry from a device that was never linked is held until its certificate arrives")
    func unknownAuthor() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let stranger = SigningKeyPair.generate()
        var other = fixture
        let link = try other.link(device: stranger, name: "late", by: 0)
        let sealed = try BodySeal.seal(
            .record(amount: 7, memo: ""), key: fixture.dataKey, identity: fixture.identity, author: stranger.publicKey,
            seq: 1, kind: .credit)
        let entry = Entry(
            identity: fixture.identity, keyPair: stranger, seq: 1, prev: .zero, kind: .credit, time: 1, publicBody: [],
            sealed: sealed)
        let report = try await replica.merge([entry])
        #expect(report.held.map(\.reason) == [.unknownAuthor])
        #expect(try await replica.totals().credits == 0)
        #expect(try await replica.clock()[stranger.publicKey] == 0)
        // The certificate arrives: the held entry now counts, with nothing re-sent.
        try await replica.merge([link])
        #expect(try await replica.totals().credits == 7)
        #expect(try await replica.clock()[stranger.publicKey] == 1)
        fixture = other
    }

    @Test("entries of a revoked device past its boundary are quarantined, not counted, wherever they arrive")
    func revokedAuthor() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.record(device: 2, .credit, amount: 10)
        let revoke = try fixture.revoke(device: 2, by: 0)  // boundary: seq 1 of device 2
        let late = try fixture.record(device: 2, .credit, amount: 1000)
        // Order 1: the revoke first, then the late entry.
        let a = try await fixture.replica(device: 1)
        try await a.merge(fixture.allEntries.filter { $0 != late })
        let report = try await a.merge([late])
        #expect(report.held.map(\.reason) == [.revokedAuthor(boundary: 1)])
        // Order 2: the late entry first; it counts until the revoke arrives.
        let b = try await fixture.replica(device: 1)
        try await b.merge(fixture.allEntries.filter { $0 != revoke })
        #expect(try await b.totals().credits == 1010)
        try await b.merge([revoke])
        #expect(try await a.totals().credits == 10)
        #expect(try await b.totals().credits == 10)
        #expect(try await a.clock() == (try await b.clock()))
        let device = try #require(try await b.devices().first { $0.key == fixture.devices[2].publicKey })
        #expect(device.state == "revoked")
        #expect(device.quarantined == 1)
    }

    @Test("a replayed entry changes nothing")
    func replay() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 0, .credit, amount: 42)
        let replica = try await replica(fixture)
        let before = try await replica.clock()
        let report = try await replica.merge(fixture.allEntries + fixture.allEntries)
        #expect(report.accepted.isEmpty)
        #expect(report.rejected.isEmpty)
        #expect(report.duplicates == fixture.allEntries.count * 2)
        #expect(try await replica.clock() == before)
        #expect(try await replica.totals().credits == 42)
    }

    @Test("two entries at one seq prove a fork: both are kept, the author is frozen before it, and the person is told")
    func fork() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 1, .credit, amount: 5)
        let replica = try await replica(fixture)
        var rival = fixture
        let honest = try fixture.record(device: 1, .credit, amount: 100)
        let forked = try rival.record(device: 1, .credit, amount: 999)
        try await replica.merge([honest])
        #expect(try await replica.totals().credits == 105)
        let report = try await replica.merge([forked])
        #expect(report.forks.map(\.seq) == [2])
        #expect(try await replica.totals().credits == 5)
        let device = try #require(try await replica.devices().first { $0.key == fixture.devices[1].publicKey })
        #expect(device.forkSeq == 2)
        #expect(try await replica.status().forks == 2)
        // Nothing past the fork is accepted, from either branch.
        let after = try fixture.record(device: 1, .credit, amount: 1)
        #expect(try await replica.merge([after]).rejected.map(\.reason) == [.forkedAuthor(seq: 2)])
        // Another replica that sees the branches in the other order ends in the same state.
        let other = try await fixture.replica(device: 0)
        try await other.merge(rival.allEntries)
        try await other.merge(fixture.allEntries)
        #expect(try await other.clock() == (try await replica.clock()))
        #expect(try await other.totals() == (try await replica.totals()))
    }

    @Test("an entry of another identity is refused")
    func foreignIdentity() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        var stranger = try LedgerFixture(deviceCount: 1)
        let entry = try stranger.record(device: 0, .credit, amount: 1)
        #expect(try await replica.merge([entry]).rejected.map(\.reason) == [.foreignIdentity])
    }

    @Test(
        "a batch of logs in stretches, an author's log split and another identity's entry among them: each log whole, the stranger refused"
    )
    func stretchesWithAStranger() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let laptop = try (0..<4).map { try fixture.record(device: 0, .credit, amount: Int64($0 + 1)) }
        let phone = try (0..<3).map { try fixture.record(device: 1, .debit, amount: Int64($0 + 1)) }
        var stranger = try LedgerFixture(deviceCount: 1)
        let foreign = try stranger.record(device: 0, .credit, amount: 99)
        // The laptop's log in two stretches, the stranger's entry between two of the phone's.
        let batch = laptop.prefix(2) + phone.prefix(1) + [foreign] + phone.dropFirst() + laptop.dropFirst(2)
        let report = try await replica.merge(Array(batch))
        #expect(report.rejected.map(\.hash) == [foreign.hash])
        #expect(report.rejected.map(\.reason) == [.foreignIdentity])
        #expect(Set(report.accepted) == Set((laptop + phone).map(\.hash)))
        let totals = try await replica.totals()
        #expect(totals.credits == 1 + 2 + 3 + 4)
        #expect(totals.debits == 1 + 2 + 3)
    }

    @Test("a link certificate whose proof of possession does not verify is refused")
    func badLinkProof() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let newcomer = SigningKeyPair.generate()
        let challenge = SecureRandom.bytes(32)
        // Signed over a different challenge than the one in the certificate.
        let proof = newcomer.sign(
            PublicBody.linkProofMessage(
                identity: fixture.identity, device: newcomer.publicKey, approver: fixture.root.publicKey,
                challenge: SecureRandom.bytes(32)))
        let entry = try fixture.append(
            device: 0, kind: .link,
            publicBody: .link(
                device: newcomer.publicKey, challenge: challenge, proof: proof,
                keyring: try Keyring.seal([fixture.dataKey], to: newcomer.publicKey)),
            privateBody: .link(deviceName: "evil"))
        #expect(try await replica.merge([entry]).rejected.map(\.reason) == [.invalidLinkProof])
        #expect(try await replica.devices().count == 2)
    }

    @Test("amounts whose sum passes Int64.max are counted, and totals stay exact")
    func overflow() async throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        try fixture.record(device: 0, .credit, amount: Int64.max)
        let last = try fixture.record(device: 0, .credit, amount: 1)
        try fixture.record(device: 0, .debit, amount: Int64.max)
        let replica = try await fixture.replica(device: 0)
        let report = try await replica.merge(fixture.allEntries)
        #expect(report.rejected.isEmpty)
        #expect(report.accepted.contains(last.hash))
        #expect(try await replica.totals().credits == Int128(Int64.max) + 1)
        #expect(try await replica.totals().balance == 1)
        #expect(try await replica.verifyAll().isEmpty)
    }

    @Test("genesis written by anyone but the identity's first device is refused")
    func foreignGenesis() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await replica(fixture)
        let (_, genesis) = try MergeEngine.makeGenesis(keyPair: fixture.devices[1], deviceName: "x", decimals: 2)
        let entry = Entry(
            identity: fixture.identity, keyPair: fixture.devices[1], seq: 1, prev: .zero, kind: .genesis, time: 1,
            publicBody: genesis.publicBody, sealed: genesis.sealed)
        let report = try await replica.merge([entry])
        #expect(
            report.rejected.map(\.reason) == [
                .malformed("only the identity's first device may write genesis, as its first entry")
            ])
    }

    @Test("a decoded entry reads back every field it was signed with, for parts empty, short and of the largest size")
    func fieldsReadBack() throws {
        let identity = IdentityID.derive(rootDevice: SigningKeyPair.generate().publicKey, nonce: [7])
        let key = SigningKeyPair.generate()
        let prev = EntryHash(storage: InlineBytes32([UInt8](repeating: 0xab, count: 32)))
        for (publicLength, sealedLength) in [
            (0, 0), (3, 0), (0, 5), (17, 41), (Entry.maxPartLength, Entry.maxPartLength),
        ] {
            let publicBody = (0..<publicLength).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let sealed = (0..<sealedLength).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
            let written = Entry(
                identity: identity, keyPair: key, seq: 42, prev: prev, kind: .debit, time: -5, publicBody: publicBody,
                sealed: sealed)
            for entry in [written, try Entry(decoding: written.encoded)] {
                #expect(entry.identity == identity)
                #expect(entry.author == key.publicKey)
                #expect(entry.seq == 42)
                #expect(entry.prev == prev)
                #expect(entry.kind == .debit)
                #expect(entry.time == -5)
                #expect(entry.publicBody == publicBody)
                #expect(entry.sealed == sealed)
                #expect(entry.sealedCount == sealedLength)
                #expect(entry.hasValidSignature)
                #expect(entry.signature.bytes == Array(written.encoded.suffix(Signature.length)))
                #expect(entry.hash == written.hash)
            }
            let stored = try Entry(stored: written.storedForm, identity: identity, author: key.publicKey)
            #expect(stored == written)
            #expect(stored.hash == written.hash)
        }
    }

    @Test("truncated, oversized and garbage bytes do not decode")
    func malformedBytes() throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        let entry = try fixture.record(device: 0, .credit, amount: 1)
        #expect(throws: LedgerError.self) { try Entry(decoding: Array(entry.encoded.dropLast())) }
        #expect(throws: LedgerError.self) { try Entry(decoding: entry.encoded + [0]) }
        #expect(throws: LedgerError.self) { try Entry(decoding: [UInt8](repeating: 0xff, count: 300)) }
        #expect(throws: LedgerError.self) {
            try Entry(decoding: [UInt8](repeating: 1, count: Entry.maxEncodedLength + 1))
        }
        var badKind = entry.encoded
        badKind[1 + 32 + 32 + 8 + 32] = 99
        #expect(throws: LedgerError.malformed("unknown kind 99")) { try Entry(decoding: badKind) }
        // `prev` (bytes 73..<105) is zero exactly for the first entry of a log.
        let prevRange = 1 + 32 + 32 + 8..<1 + 32 + 32 + 8 + 32
        var zeroPrev = entry.encoded
        #expect(entry.seq > 1)
        zeroPrev.replaceSubrange(prevRange, with: [UInt8](repeating: 0, count: 32))
        #expect(throws: LedgerError.malformed("only the first entry may have a zero prev")) {
            try Entry(decoding: zeroPrev)
        }
        var firstWithPrev = try #require(fixture.allEntries.first).encoded
        firstWithPrev[prevRange.upperBound - 1] = 1  // the last byte alone: every word is read
        #expect(throws: LedgerError.malformed("the first entry must have a zero prev")) {
            try Entry(decoding: firstWithPrev)
        }
    }
}

@Suite("Hostile input")
struct HostileInputTests {
    @Test("entries that can never count are refused past the hold limit, and the ledger still works")
    func holdLimit() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        let store = try LedgerStore.inMemory(
            identity: fixture.identity, root: fixture.root.publicKey, device: fixture.devices[1].publicKey)
        let replica = try await MergeEngine(store: store, keyPair: fixture.devices[1], maxHeld: 10)
        try await replica.merge(fixture.allEntries)
        // A stranger who learned the identity id writes a long log of its own.
        let stranger = SigningKeyPair.generate()
        var prev = EntryHash.zero
        var spam: [Entry] = []
        for seq in 1...30 as ClosedRange<Seq> {
            let entry = Entry(
                identity: fixture.identity, keyPair: stranger, seq: seq, prev: prev, kind: .credit, time: 1,
                publicBody: [],
                sealed: try BodySeal.seal(
                    .record(amount: 1, memo: ""), key: fixture.dataKey, identity: fixture.identity,
                    author: stranger.publicKey, seq: seq, kind: .credit))
            spam.append(entry)
            prev = entry.hash
        }
        let first = try await replica.merge(Array(spam.prefix(10)))
        #expect(first.held.count == 10)
        let rest = try await replica.merge(Array(spam.dropFirst(10)))
        #expect(rest.rejected.allSatisfy { $0.reason == .holdLimitReached })
        #expect(rest.rejected.count == 20)
        // Linked devices are not held back by the stranger's entries.
        let genuine = try await replica.merge([try fixture.record(device: 0, .credit, amount: 1)])
        #expect(genuine.accepted.count == 1)
        #expect(try await replica.totals().credits == 1)
    }

    @Test("random corruption of an entry's bytes never crashes and never yields a valid different entry")
    func corruption() async throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        let entry = try fixture.record(device: 0, .credit, amount: 12_345, memo: "original")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var bytes = entry.encoded
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0...2, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                case 1: bytes.removeLast(Int.random(in: 1...min(8, bytes.count), using: &rng))
                default:
                    bytes.insert(
                        UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                }
            }
            guard bytes != entry.encoded, let decoded = try? Entry(decoding: bytes) else { continue }
            #expect(!decoded.hasValidSignature, "a corrupted entry verified")
        }
    }
}
