import LedgerCore
import LedgerCrypto

/// Builds the logs of an identity with several devices directly from the library, the way
/// linked devices would write them, for tests and benchmarks.
package struct LedgerFixture: Sendable {
    package let identity: IdentityID
    /// Device key pairs; index 0 is the genesis device.
    package let devices: [SigningKeyPair]
    package let dataKey: DataKey
    /// Each device's log, in seq order.
    package private(set) var logs: [[Entry]]
    /// Author time for the next entry; advances by one millisecond per entry.
    /// The author time of the next entry (ms); each entry is one millisecond after the one before.
    package var clock: Int64 = 1_700_000_000_000

    /// An identity whose genesis device links `deviceCount - 1` more devices.
    package init(deviceCount: Int, decimals: UInt8 = 2) throws {
        let keys = (0..<deviceCount).map { _ in SigningKeyPair.generate() }
        let dataKey = DataKey.generate(generation: 0)
        let (identity, genesis) = try MergeEngine.makeGenesis(
            keyPair: keys[0], deviceName: "device-0", decimals: decimals, time: clock, dataKey: dataKey)
        self.identity = identity
        self.devices = keys
        self.dataKey = dataKey
        self.logs = Array(repeating: [], count: deviceCount)
        logs[0].append(genesis)
        for index in 1..<max(deviceCount, 1) {
            _ = try link(device: keys[index], name: "device-\(index)", by: 0)
        }
    }

    /// The genesis device's key.
    package var root: SigningKeyPair { devices[0] }

    /// Moves the author time of the next entries forward (to spread entries over months).
    package mutating func advanceClock(milliseconds: Int64) { clock += max(0, milliseconds) }

    /// Appends a link certificate for `newDevice`, written by device `approver`.
    @discardableResult
    package mutating func link(device newDevice: SigningKeyPair, name: String, by approver: Int) throws -> Entry {
        let challenge = SecureRandom.bytes(PublicBody.challengeLength)
        let proof = newDevice.sign(
            PublicBody.linkProofMessage(
                identity: identity, device: newDevice.publicKey, approver: devices[approver].publicKey,
                challenge: challenge))
        let keyring = try Keyring.seal([dataKey], to: newDevice.publicKey)
        return try append(
            device: approver, kind: .link,
            publicBody: .link(device: newDevice.publicKey, challenge: challenge, proof: proof, keyring: keyring),
            privateBody: .link(deviceName: name))
    }

    /// Appends a credit or debit to device `index`'s log.
    @discardableResult
    package mutating func record(device index: Int, _ kind: EntryKind, amount: Int64, memo: String = "") throws -> Entry
    {
        try append(device: index, kind: kind, publicBody: .record, privateBody: .record(amount: amount, memo: memo))
    }

    /// Appends a correction by device `index` of `target` (a credit, debit or correction):
    /// `amount` counts from then on (0 voids), with `memo` when given.
    @discardableResult
    package mutating func correct(device index: Int, _ target: Entry, amount: Int64, memo: String? = nil) throws
        -> Entry
    {
        try append(
            device: index, kind: .correction, publicBody: .record,
            privateBody: .correction(
                target: EntryRef(author: target.author, seq: target.seq, hash: target.hash), amount: amount, memo: memo)
        )
    }

    /// Appends a settlement by device `index` of device `target`'s fork at `forkSeq`: the
    /// branch whose entry there is `chosen` counts through `through`.
    @discardableResult
    package mutating func settle(device index: Int, target: Int, forkSeq: Seq, chosen: EntryHash, through: Seq)
        throws -> Entry
    {
        try append(
            device: index, kind: .settle,
            publicBody: .settle(device: devices[target].publicKey, forkSeq: forkSeq, chosen: chosen, through: through),
            privateBody: .settle)
    }

    /// Appends a credit whose sealed part names the data key but does not open with it, as a
    /// faulty or hostile linked device could write.
    @discardableResult
    package mutating func recordUnreadable(device index: Int) throws -> Entry {
        let author = devices[index]
        let seq = Seq(logs[index].count + 1)
        var sealed = try BodySeal.seal(
            .record(amount: 1, memo: "garbled"), key: dataKey, identity: identity, author: author.publicKey, seq: seq,
            kind: .credit)
        sealed[sealed.count - 1] ^= 0x5A
        clock += 1
        let entry = Entry(
            identity: identity, keyPair: author, seq: seq, prev: logs[index].last?.hash ?? .zero, kind: .credit,
            time: clock, publicBody: PublicBody.record.encoded, sealed: sealed)
        logs[index].append(entry)
        return entry
    }

    /// Appends a revoke of device `target` (after the last entry of its log so far) by `index`.
    @discardableResult
    package mutating func revoke(device target: Int, by index: Int, boundary: Seq? = nil) throws -> Entry {
        let remaining = devices.indices.filter { $0 != target }.map { devices[$0].publicKey }
        let newKey = DataKey.generate(generation: 1)
        let grants = try remaining.map {
            PublicBody.KeyringGrant(recipient: $0, box: try Keyring.seal([newKey], to: $0))
        }
        return try append(
            device: index, kind: .revoke,
            publicBody: .revoke(
                device: devices[target].publicKey, boundary: boundary ?? Seq(logs[target].count), keyrings: grants),
            privateBody: .revoke)
    }

    /// Appends any entry, signed by device `index`, sealed with the fixture's data key.
    @discardableResult
    package mutating func append(device index: Int, kind: EntryKind, publicBody: PublicBody, privateBody: PrivateBody)
        throws -> Entry
    {
        let author = devices[index]
        let seq = Seq(logs[index].count + 1)
        let sealed: [UInt8] =
            kind == .revoke || kind == .settle
            ? []
            : try BodySeal.seal(
                privateBody, key: dataKey, identity: identity, author: author.publicKey, seq: seq, kind: kind)
        clock += 1
        let entry = Entry(
            identity: identity, keyPair: author, seq: seq, prev: logs[index].last?.hash ?? .zero, kind: kind,
            time: clock, publicBody: publicBody.encoded, sealed: sealed)
        logs[index].append(entry)
        return entry
    }

    /// Every entry of every log.
    package var allEntries: [Entry] { logs.flatMap { $0 } }

    /// A fresh in-memory replica belonging to device `index`.
    package func replica(device index: Int = 0) async throws -> MergeEngine {
        let store = try LedgerStore.inMemory(
            identity: identity, root: root.publicKey, device: devices[index].publicKey)
        return try await MergeEngine(store: store, keyPair: devices[index])
    }
}

extension LedgerFixture {
    /// A well-formed, correctly signed first entry of `identity` by a key that was never linked.
    package static func strangerEntry(identity: IdentityID, dataKey: DataKey) throws -> Entry {
        let stranger = SigningKeyPair.generate()
        let sealed = try BodySeal.seal(
            .record(amount: 100, memo: "intrusion"), key: dataKey, identity: identity, author: stranger.publicKey,
            seq: 1, kind: .credit)
        return Entry(
            identity: identity, keyPair: stranger, seq: 1, prev: .zero, kind: .credit, time: 1_700_000_000_000,
            publicBody: PublicBody.record.encoded, sealed: sealed)
    }
}
