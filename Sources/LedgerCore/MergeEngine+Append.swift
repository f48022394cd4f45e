import Foundation
import LedgerCrypto

/// Writing this device's own entries. Every local entry is validated by the same merge path
/// as a received one and committed before these methods return.
extension MergeEngine {
    /// Milliseconds since 1970 UTC, for the informational `time` field.
    public static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Creates a new identity whose first device is `keyPair`: returns its id and genesis entry.
    public static func makeGenesis(
        keyPair: SigningKeyPair, deviceName: String, decimals: UInt8, time: Int64 = now(),
        nonce: [UInt8] = SecureRandom.bytes(PublicBody.nonceLength), dataKey: DataKey = .generate(generation: 0)
    ) throws(LedgerError) -> (identity: IdentityID, genesis: Entry) {
        guard decimals <= PrivateBody.maxDecimals else {
            throw .invalidState("decimals must be between 0 and \(PrivateBody.maxDecimals)")
        }
        let identity = IdentityID.derive(rootDevice: keyPair.publicKey, nonce: nonce)
        let keyring = try Keyring.seal([dataKey], to: keyPair.publicKey)
        let sealed = try BodySeal.seal(
            .genesis(decimals: decimals, deviceName: deviceName), key: dataKey, identity: identity,
            author: keyPair.publicKey, seq: 1, kind: .genesis)
        let genesis = Entry(
            identity: identity, keyPair: keyPair, seq: 1, prev: .zero, kind: .genesis, time: time,
            publicBody: PublicBody.genesis(nonce: nonce, keyring: keyring).encoded, sealed: sealed)
        return (identity, genesis)
    }

    /// Appends a credit or debit of `amount` minor units.
    @discardableResult
    public func appendRecord(_ kind: EntryKind, amount: Int64, memo: String, time: Int64 = now()) throws(LedgerError)
        -> Entry
    {
        guard kind == .credit || kind == .debit else { throw .invalidState("records are credits or debits") }
        guard amount > 0 else { throw .invalidState("amount must be greater than zero") }
        if let problem = TextSafety.problem(with: memo, what: "memo", maxBytes: PrivateBody.maxMemoBytes) {
            throw .invalidState(problem)
        }
        return try appendLocal(
            kind: kind, publicBody: .record, privateBody: .record(amount: amount, memo: memo), time: time)
    }

    /// Appends a correction of the credit or debit `entry` (or of the correction deciding it,
    /// named by either): from now on it counts `amount` (0 voids it), with `memo` when given.
    /// The correction names the one deciding today, so it replaces what the person saw.
    @discardableResult
    public func appendCorrection(of entry: EntryRef, amount: Int64, memo: String?, time: Int64 = now())
        throws(LedgerError) -> Entry
    {
        guard amount >= 0 else { throw .invalidState("a corrected amount cannot be negative") }
        if let memo, let problem = TextSafety.problem(with: memo, what: "memo", maxBytes: PrivateBody.maxMemoBytes) {
            throw .invalidState(problem)
        }
        let corrections = try corrections()
        guard let rootHash = corrections.root(of: entry.hash) else {
            throw .invalidState("that correction does not reach a credit or debit yet; nothing to correct")
        }
        let root: EntryRef
        if rootHash == entry.hash {
            guard
                let row = try store.read({ db in
                    try LogSegments.row(db, author: try authorRowID(db, entry.author), seq: entry.seq)
                }), row.kind.isRecord, entry.seq <= effectiveSeq(entry.author)
            else {
                throw .invalidState("only a counted credit or debit can be corrected")
            }
            root = entry
        } else {
            guard let effect = corrections.effects[rootHash] else {
                throw .invalidState("that correction does not count; correct the entry it names instead")
            }
            root = effect.original.ref
        }
        let effect = corrections.effects[root.hash]
        if amount == 0, effect?.isVoid == true { throw .invalidState("that entry is already void") }
        let target = corrections.currentTarget(of: root)
        return try appendLocal(
            kind: .correction, publicBody: .record,
            privateBody: .correction(target: target, amount: amount, memo: memo), time: time)
    }

    /// The counted credit, debit or correction whose id (hex digits of its hash, at least
    /// eight, as `history` shows them) is `id`; nil when none, an error when several match.
    public func entry(id: String) throws(LedgerError) -> EntryRef? {
        let prefix = id.lowercased()
        guard prefix.count >= 8, prefix.count <= 64, prefix.allSatisfy({ $0.isHexDigit }) else {
            throw .invalidState("an entry id is 8 to 64 hex digits, as `history` shows it (16)")
        }
        try refresh()
        var found: [EntryRef] = []
        try store.read { db in
            for (author, state) in cache.authors {
                let through = min(state.seq, effectiveSeq(author))
                guard through > 0, let authorID = cache.authorIDs[author] else { continue }
                try LogSegments.forEach(db, author: authorID, from: 1, through: through) { row in
                    guard row.kind.isRecord || row.kind == .correction else { return true }
                    let hash = try row.entry(identity: identity, author: author).hash
                    if hash.hex.hasPrefix(prefix) { found.append(EntryRef(author: author, seq: row.seq, hash: hash)) }
                    return found.count < 2
                }
            }
        }
        guard found.count <= 1 else {
            throw .invalidState("several entries have ids starting \(prefix); give more digits")
        }
        return found.first
    }

    /// Appends a link certificate admitting `newDevice`, which proved possession of its key by
    /// signing the link transcript over `challenge`; seals every data key to it.
    @discardableResult
    public func appendLink(
        device newDevice: DevicePublicKey, challenge: [UInt8], proof: Signature, name: String, time: Int64 = now()
    ) throws(LedgerError) -> Entry {
        guard challenge.count == PublicBody.challengeLength else {
            throw .invalidState("the challenge must be 32 bytes")
        }
        if let problem = TextSafety.problem(with: name, what: "device name", maxBytes: PrivateBody.maxNameBytes) {
            throw .invalidState(problem)
        }
        guard cache.roster.devices[newDevice] == nil else { throw .invalidState("that device is already linked") }
        let keyring = try Keyring.seal(cache.keys.values.sorted { $0.generation < $1.generation }, to: newDevice)
        return try appendLocal(
            kind: .link, publicBody: .link(device: newDevice, challenge: challenge, proof: proof, keyring: keyring),
            privateBody: .link(deviceName: name), time: time)
    }

    /// Links `recovery` as a recovery key (docs/PROTOCOL.md, "Recovery keys"): a link whose
    /// challenge is the recovery mark, with the key's own proof of possession; it is sealed every
    /// data key, and every later rotation includes it like any linked key. The caller forgets
    /// the key afterwards.
    @discardableResult
    public func appendRecoveryKey(_ recovery: SigningKeyPair, name: String, time: Int64 = now()) throws(LedgerError)
        -> Entry
    {
        let challenge = PublicBody.recoveryChallenge(identity: identity, device: recovery.publicKey)
        let proof = recovery.sign(
            PublicBody.linkProofMessage(
                identity: identity, device: recovery.publicKey, approver: device, challenge: challenge))
        return try appendLink(device: recovery.publicKey, challenge: challenge, proof: proof, name: name, time: time)
    }

    /// Revokes `target` after the latest of its entries this device holds, and rotates the data
    /// key to every device that remains.
    @discardableResult
    public func appendRevoke(device target: DevicePublicKey, time: Int64 = now()) throws(LedgerError) -> Entry {
        guard let record = cache.roster.devices[target] else {
            throw .invalidState("that device is not linked to this identity")
        }
        guard record.boundary == nil else { throw .invalidState("that device is already revoked") }
        let boundary = cache.authors[target]?.seq ?? 0
        let generation = (cache.keys.values.map(\.generation).max() ?? 0) + 1
        let newKey = DataKey.generate(generation: generation)
        var grants: [PublicBody.KeyringGrant] = []
        for remaining in cache.roster.devices.values.filter({ $0.boundary == nil && $0.key != target }).map(\.key)
            .sorted()
        {
            grants.append(.init(recipient: remaining, box: try Keyring.seal([newKey], to: remaining)))
        }
        return try appendLocal(
            kind: .revoke, publicBody: .revoke(device: target, boundary: boundary, keyrings: grants),
            privateBody: .revoke, time: time)
    }

    /// Builds, signs and merges one entry of this device, all in one write transaction so that
    /// another process writing to the same ledger can never make this device fork itself.
    func appendLocal(
        kind: EntryKind, publicBody: @autoclosure () throws(LedgerError) -> PublicBody, privateBody: PrivateBody,
        time: Int64
    ) throws(LedgerError) -> Entry {
        guard let keyPair else { throw .invalidState("the device key is needed to write entries") }
        var written: Entry?
        let report = try transaction { db, report in
            let entry = try buildLocal(
                keyPair: keyPair, kind: kind, publicBody: try publicBody(), privateBody: privateBody, time: time)
            written = entry
            try mergeBatch(db, [entry], &report)
        }
        guard let entry = written, report.accepted.contains(entry.hash) else {
            throw report.rejected.first?.reason ?? report.held.first?.reason
                ?? .invalidState("the entry was not accepted")
        }
        return entry
    }

    private func buildLocal(
        keyPair: SigningKeyPair, kind: EntryKind, publicBody: PublicBody, privateBody: PrivateBody, time: Int64
    ) throws(LedgerError) -> Entry {
        let state = cache.authors[device] ?? .empty
        let seq = state.seq + 1
        if let fork = cache.forkSeqs[device] {
            throw .invalidState(
                "this device's log is forked at seq \(fork) (its folder restored from a backup, or its key "
                    + "copied); it can no longer write: join again with a new key (`ledgerlink join`, in a new folder)")
        }
        guard let limit = cache.roster.limit(of: device) else {
            throw .invalidState("this device is not linked to the identity yet")
        }
        guard seq <= limit else {
            throw .invalidState("this device was revoked after seq \(limit); it can no longer write")
        }
        let sealed: [UInt8]
        if kind == .revoke || kind == .settle {
            sealed = []
        } else {
            sealed = try BodySeal.seal(
                privateBody, key: try sealingKey(), identity: identity, author: device, seq: seq, kind: kind)
        }
        return Entry(
            identity: identity, keyPair: keyPair, seq: seq, prev: state.head, kind: kind, time: time,
            publicBody: publicBody.encoded, sealed: sealed)
    }
}
