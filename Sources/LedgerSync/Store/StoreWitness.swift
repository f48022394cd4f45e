import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote

/// A problem a store's own signed answers prove, or that this device found in them.
package struct StoreProblem: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable {
        /// A head of a lower version than one the device holds, or a clock without entries an
        /// earlier head of the store included.
        case rollback
        /// Two heads of one store that cannot both be true.
        case contradiction
        /// Entries this device sent that the store's answer does not include.
        case dropped
        /// The store answered with another key than the one pinned for its address.
        case keyChanged = "key_changed"
        /// The store could not prove it holds entries of this device it said it held.
        case unproven
    }

    package var kind: Kind
    package var message: String
    package var description: String { message }
}

/// The signed heads (and the clocks they state) that prove a problem, as kept and shown.
package struct StoreProof: Codable, Sendable, Equatable {
    package var heads: [StoreHead]
    /// Base64 clock encodings, one per head (nil when the answer did not carry it).
    package var clocks: [String?]
}

/// Holds a store to what it signs (docs/PROTOCOL.md, "Store heads"): checks every answer's
/// head, pins the store's key to its address the first time (as SSH does), keeps the newest
/// head of each store key in the device's database, and finds rollbacks and contradictions,
/// keeping their proof. The key check refuses the sync; the others let it go on (pushing heals
/// a store restored from a backup) and are reported.
package struct StoreWitness: Sendable {
    let ledger: LedgerStore
    let identity: IdentityID
    /// The store's address as this device addresses it.
    let origin: String
    /// A key the person accepted in place of the pinned one.
    let acceptedKey: PublicSigningKey?
    let nowMilliseconds: @Sendable () -> Int64

    package init(
        ledger: LedgerStore, identity: IdentityID, origin: String, acceptedKey: PublicSigningKey? = nil,
        nowMilliseconds: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
    ) {
        self.ledger = ledger
        self.identity = identity
        self.origin = origin
        self.acceptedKey = acceptedKey
        self.nowMilliseconds = nowMilliseconds
    }

    /// Checks one answer's head against its digest and what the device kept; `clock` is the
    /// store's clock when the answer carried it. Returns the problems it proves (already
    /// recorded); throws when the answer cannot be believed at all.
    package func witness(_ answer: SyncResponse, clock: VectorClock?) throws -> [StoreProblem] {
        guard let wire = answer.head else {
            throw StoreClientError.protocolViolation(
                "it did not sign its answer (every answer carries a signed head; is it an older ledgerlink serve?)")
        }
        guard let head = wire.head(identity: identity, digest: answer.digest),
            clock.map({ $0.digest == head.digest }) ?? true, head.isValid
        else { throw StoreClientError.protocolViolation("its signed head does not verify") }
        try checkKey(head.store)
        let clockText = clock.map { Data.base64(VectorClock.encode($0.entries)) }
        guard let (keptHead, keptClock) = try kept(head.store) else {
            try keep(head, clock: clockText)
            return []
        }
        let proof = StoreProof(
            heads: [keptHead, head], clocks: [keptClock.map { Data.base64(VectorClock.encode($0.entries)) }, clockText])
        if head.version < keptHead.version {
            // Signed later than the higher version: the two heads prove it. Signed earlier: an
            // old answer replayed, which the device refuses all the same.
            let proven = StoreHead.contradiction(keptHead, head) != nil ? "proof kept" : "an old answer replayed?"
            return try record(
                .rollback,
                "the store at \(origin) went back to an older state: version \(head.version) after version "
                    + "\(keptHead.version) (\(proven))", proof)
        }
        if let why = StoreHead.contradiction(keptHead, head) {
            return try record(
                .contradiction,
                "the store at \(origin) signed two states that cannot both be true: \(why) (proof kept)", proof)
        }
        if let keptClock, let clock, let lost = Self.lost(from: keptClock, in: clock) {
            return try record(
                .rollback,
                "the store at \(origin) no longer holds entries it held before: device \(lost.author.fingerprint) "
                    + "up to #\(lost.seq), now #\(clock[lost.author]) (proof kept)", proof)
        }
        if head.version > keptHead.version || (keptClock == nil && clock != nil) {
            try keep(head, clock: clockText)
        }
        return []
    }

    /// Entries this device sent that `clock` (the store's answer) does not include.
    package func dropped(_ pushed: [Entry], by answer: SyncResponse, clock: VectorClock) throws -> [StoreProblem] {
        let head = answer.head?.head(identity: identity, digest: answer.digest)
        let missing = pushed.filter { entry in
            let stated = clock.entries.first { $0.author == entry.author }
            return (stated?.seq ?? 0) < entry.seq && (stated?.forkSeq ?? 0) == 0
        }
        guard !missing.isEmpty else { return [] }
        let proof = StoreProof(
            heads: head.map { [$0] } ?? [], clocks: [Data.base64(VectorClock.encode(clock.entries))])
        return try record(
            .dropped,
            "the store at \(origin) did not keep \(missing.count) of the \(pushed.count) entries this device "
                + "sent it (its signed answer lacks them; proof kept)", proof)
    }

    /// Entries of this device (`missing` seqs, of `asked`) the store's signed head includes but
    /// it could not prove it holds.
    package func unproven(_ missing: [UInt64], of asked: Int, head: StoreHead) throws -> [StoreProblem] {
        let which = missing.prefix(5).map { "#\($0)" }.joined(separator: ", ")
        return try record(
            .unproven,
            "the store at \(origin) did not prove it holds \(missing.count) of this device's entries "
                + "(\(which)\(missing.count > 5 ? ", …" : ""); \(asked) asked; its signed head says it holds them)",
            StoreProof(heads: [head], clocks: [nil]))
    }

    /// The newest entry of `kept` that `now` lacks, when the store's log of that device was
    /// not cut by a proven fork.
    static func lost(from kept: VectorClock, in now: VectorClock) -> ClockEntry? {
        for entry in kept.entries where now[entry.author] < entry.seq {
            let stated = now.entries.first { $0.author == entry.author }
            if (stated?.forkSeq ?? 0) == 0, entry.forkSeq == 0 { return entry }
        }
        return nil
    }

    private func checkKey(_ key: PublicSigningKey) throws {
        guard let pinned = try ledger.pinnedStoreKey(origin: origin) else {
            try ledger.pinStoreKey(origin: origin, key: key.bytes)
            return
        }
        guard pinned != key.bytes else { return }
        if key == acceptedKey {
            try ledger.pinStoreKey(origin: origin, key: key.bytes)
            return
        }
        let problem = StoreProblem(
            kind: .keyChanged,
            message:
                "the store at \(origin) answered with another key (pinned \(Hex.encode(pinned).prefix(16))…, now "
                + "\(key.hex)); nothing was sent. If the store was moved or its key replaced on purpose, accept it "
                + "with --accept-store-key \(key.hex)")
        _ = try record(problem.kind, problem.message, StoreProof(heads: [], clocks: []), key: key.bytes)
        throw StoreClientError.misbehaved(problem)
    }

    /// The clock the store at this origin answered last, as kept with its signed head.
    package func lastClock() throws -> VectorClock? {
        guard let key = try ledger.pinnedStoreKey(origin: origin), let (_, clock) = try ledger.storeHead(key: key),
            let clock
        else { return nil }
        return try? VectorClock(decoding: clock)
    }

    private func kept(_ key: PublicSigningKey) throws -> (StoreHead, VectorClock?)? {
        guard let (json, clock) = try ledger.storeHead(key: key.bytes),
            let head = try? JSONDecoder().decode(StoreHead.self, from: Data(json))
        else { return nil }
        return (head, clock.flatMap { try? VectorClock(decoding: $0) })
    }

    private func keep(_ head: StoreHead, clock: String?) throws {
        try ledger.keepStoreHead(
            key: head.store.bytes, origin: origin, head: Array(try JSONEncoder().encode(head)),
            clock: clock.flatMap(base64Bytes))
    }

    /// Records a problem once: the same problem found again (of the same kind, against the same
    /// kept head, or in the same words when there is no head) is not recorded again, so a store
    /// that stays behind a head the device holds is one problem, not one per poll.
    func record(_ kind: StoreProblem.Kind, _ message: String, _ proof: StoreProof, key: [UInt8]? = nil) throws
        -> [StoreProblem]
    {
        let storeKey = key ?? proof.heads.last?.store.bytes ?? []
        let known = try ledger.storeProblems().contains { kept in
            guard kept.origin == origin, kept.kind == kind.rawValue else { return false }
            guard let first = proof.heads.first else { return kept.message == message }
            guard let keptHeads = try? JSONDecoder().decode(StoreProof.self, from: Data(kept.proof)).heads else {
                return false
            }
            // A contradiction is the same whichever device found it first, in either order.
            if kind == .contradiction, proof.heads.allSatisfy(keptHeads.contains) { return true }
            return keptHeads.first == first
        }
        if !known {
            try ledger.recordStoreProblem(
                StoreProblemRecord(
                    kind: kind.rawValue, origin: origin, storeKey: storeKey, message: message,
                    proof: Array(try JSONEncoder().encode(proof)), time: nowMilliseconds()))
        }
        return [StoreProblem(kind: kind, message: message)]
    }
}

/// Devices compare the store heads they hold whenever they meet (the peer channel's HEADS,
/// docs/PROTOCOL.md "Store heads"): a store that showed two devices histories that cannot both
/// be true is caught by the two heads, and a device learns the newest version a store signed
/// for another device, so a store that later shows it less is caught going back.
package struct StoreGossip: Sendable {
    let ledger: LedgerStore
    let identity: IdentityID

    package init(ledger: LedgerStore, identity: IdentityID) {
        self.ledger = ledger
        self.identity = identity
    }

    /// The newest head this device holds of each store, then the pairs of heads that prove a
    /// store signed two states that cannot both be true (newest first), so a proof found by
    /// two devices reaches every device they meet.
    package func heads() -> [StoreHead] {
        let newest = ((try? ledger.storeHeads()) ?? []).compactMap {
            try? JSONDecoder().decode(StoreHead.self, from: Data($0.head))
        }
        let proofs = ((try? ledger.storeProblems()) ?? []).reversed().compactMap { problem -> [StoreHead]? in
            guard let heads = try? JSONDecoder().decode(StoreProof.self, from: Data(problem.proof)).heads,
                heads.count == 2, StoreHead.contradiction(heads[0], heads[1]) != nil
            else { return nil }
            return heads
        }
        var all: [StoreHead] = []
        for head in newest + proofs.joined() where head.identity == identity && !all.contains(head) {
            all.append(head)
        }
        return Array(all.prefix(PeerMessage.maxHeads))
    }

    /// Compares `heads` (from the device `peer`) with the kept ones and with each other;
    /// returns the problems they prove (recorded with their proof). Heads of stores this device
    /// does not use are ignored.
    package func compare(_ heads: [StoreHead], from peer: String) throws -> [StoreProblem] {
        var problems: [StoreProblem] = []
        // This device's own head of each store it uses, as kept before the comparison.
        var own: [[UInt8]: (origin: String, head: StoreHead)] = [:]
        for row in try ledger.storeHeads() {
            if let head = try? JSONDecoder().decode(StoreHead.self, from: Data(row.head)) {
                own[row.key] = (row.origin, head)
            }
        }
        var newest = own.mapValues(\.head)
        let valid = heads.filter { $0.identity == identity && $0.isValid }
        for (index, head) in valid.enumerated() {
            guard let (origin, mine) = own[head.store.bytes] else { continue }
            let witness = StoreWitness(ledger: ledger, identity: identity, origin: origin)
            if let why = StoreHead.contradiction(mine, head) {
                problems += try witness.recordGossip(
                    "the store at \(origin) showed this device and \(peer) histories that cannot both be true: "
                        + "\(why) (proof kept)", StoreProof(heads: [mine, head], clocks: [nil, nil]))
            } else if let kept = newest[head.store.bytes], head.version > kept.version {
                // The store told the other device of a newer state: expect at least that here.
                newest[head.store.bytes] = head
                try ledger.keepStoreHead(
                    key: head.store.bytes, origin: origin, head: Array(try JSONEncoder().encode(head)), clock: nil)
            }
            // A proof the other device holds (two heads it sent that contradict each other).
            for other in valid[..<index] {
                guard let why = StoreHead.contradiction(other, head) else { continue }
                problems += try witness.recordGossip(
                    "the store at \(origin) signed two states that cannot both be true: \(why) (proof from "
                        + "\(peer), kept)", StoreProof(heads: [other, head], clocks: [nil, nil]))
            }
        }
        return problems
    }
}

extension StoreWitness {
    /// Records a contradiction found by comparing heads with another device.
    func recordGossip(_ message: String, _ proof: StoreProof) throws -> [StoreProblem] {
        try record(.contradiction, message, proof)
    }
}
