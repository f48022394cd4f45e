import LedgerCrypto

/// The public, kind-specific fields of an entry (docs/PROTOCOL.md, "Public bodies").
public enum PublicBody: Sendable, Equatable {
    /// Genesis: the nonce that, with the author's key, derives the identity id; and the
    /// keyring sealed to the genesis device.
    case genesis(nonce: [UInt8], keyring: [UInt8])
    /// Link: the admitted device, the approver's challenge, the device's proof of possession
    /// over that challenge, and the keyring sealed to the new device.
    case link(device: DevicePublicKey, challenge: [UInt8], proof: Signature, keyring: [UInt8])
    /// Revoke: the device whose authority ends after `boundary`, and the new data key sealed to
    /// each device that remains.
    case revoke(device: DevicePublicKey, boundary: Seq, keyrings: [KeyringGrant])
    /// Settle: the forked `device` counts, from `forkSeq` on, the branch whose entry at
    /// `forkSeq` hashes to `chosen`, through `through`; nothing of it after that.
    case settle(device: DevicePublicKey, forkSeq: Seq, chosen: EntryHash, through: Seq)
    /// Credit and debit carry everything in the sealed part.
    case record

    /// Length of the genesis nonce.
    public static let nonceLength = 16
    /// Length of a link challenge.
    public static let challengeLength = 32
    /// Most devices one revoke may re-key.
    public static let maxGrants = 1024

    /// A keyring sealed to one device.
    public struct KeyringGrant: Sendable, Equatable {
        public let recipient: DevicePublicKey
        public let box: [UInt8]
        public init(recipient: DevicePublicKey, box: [UInt8]) {
            self.recipient = recipient
            self.box = box
        }
    }

    /// Canonical bytes.
    public var encoded: [UInt8] {
        var w = ByteWriter()
        switch self {
        case .genesis(let nonce, let keyring):
            w.raw(nonce)
            w.lengthPrefixed32(keyring)
        case .link(let device, let challenge, let proof, let keyring):
            w.raw(device.bytes)
            w.raw(challenge)
            w.raw(proof.bytes)
            w.lengthPrefixed32(keyring)
        case .revoke(let device, let boundary, let keyrings):
            w.raw(device.bytes)
            w.u64(boundary)
            w.u32(UInt32(keyrings.count))
            for grant in keyrings {
                w.raw(grant.recipient.bytes)
                w.lengthPrefixed32(grant.box)
            }
        case .settle(let device, let forkSeq, let chosen, let through):
            w.raw(device.bytes)
            w.u64(forkSeq)
            w.raw(chosen.bytes)
            w.u64(through)
        case .record:
            break
        }
        return w.bytes
    }

    /// Parses the public body of an entry of `kind`.
    public init(decoding bytes: [UInt8], kind: EntryKind) throws(LedgerError) {
        var r = ByteReader(bytes)
        do {
            switch kind {
            case .genesis:
                self = .genesis(nonce: try r.raw(Self.nonceLength), keyring: try r.lengthPrefixed32(limit: bytes.count))
            case .link:
                let device = try DevicePublicKey(bytes: try r.raw(32))
                let challenge = try r.raw(Self.challengeLength)
                let proof = try Signature(bytes: try r.raw(Signature.length))
                self = .link(
                    device: device, challenge: challenge, proof: proof,
                    keyring: try r.lengthPrefixed32(limit: bytes.count))
            case .revoke:
                let device = try DevicePublicKey(bytes: try r.raw(32))
                let boundary = try r.u64()
                let count = Int(try r.u32())
                guard count <= Self.maxGrants else { throw LedgerError.malformed("too many keyrings in a revoke") }
                var grants: [KeyringGrant] = []
                for _ in 0..<count {
                    let recipient = try DevicePublicKey(bytes: try r.raw(32))
                    grants.append(KeyringGrant(recipient: recipient, box: try r.lengthPrefixed32(limit: bytes.count)))
                }
                self = .revoke(device: device, boundary: boundary, keyrings: grants)
            case .settle:
                let device = try DevicePublicKey(bytes: try r.raw(32))
                let forkSeq = try r.u64()
                let chosen = try EntryHash(bytes: try r.raw(32))
                let through = try r.u64()
                guard forkSeq >= 1, through >= forkSeq, through <= Seq(Int64.max) else {
                    throw LedgerError.malformed("a settle names seqs out of order")
                }
                self = .settle(device: device, forkSeq: forkSeq, chosen: chosen, through: through)
            case .credit, .debit, .correction:
                self = .record
            }
        } catch let e as LedgerError {
            throw e
        } catch {
            throw .malformed("the \(kind) body is truncated")
        }
        guard r.isAtEnd else { throw .malformed("trailing bytes in the \(kind) body") }
    }

    /// The challenge of a link that admits a recovery key (docs/PROTOCOL.md, "Recovery keys"):
    /// BLAKE2b-256("ledgerlink-recovery-mark-v1" || identity || key). Anyone can check it, so the
    /// mark is public and signed (the link entry signs its challenge, the key's proof signs it too).
    public static func recoveryChallenge(identity: IdentityID, device: DevicePublicKey) -> [UInt8] {
        Blake2b.hash(prefix: Array(Labels.recoveryMark.utf8), identity.bytes + device.bytes).bytes
    }

    /// True for the link of a recovery key.
    public func isRecoveryLink(identity: IdentityID) -> Bool {
        guard case .link(let device, let challenge, _, _) = self else { return false }
        return challenge == Self.recoveryChallenge(identity: identity, device: device)
    }

    /// The transcript a new device signs to prove it holds its key (docs/PROTOCOL.md, "Link proof").
    public static func linkProofMessage(
        identity: IdentityID, device: DevicePublicKey, approver: DevicePublicKey, challenge: [UInt8]
    ) -> [UInt8] {
        var w = ByteWriter()
        w.raw(Array(Labels.linkProof.utf8))
        w.raw(identity.bytes)
        w.raw(device.bytes)
        w.raw(approver.bytes)
        w.raw(challenge)
        return w.bytes
    }
}

/// The private, sealed fields of an entry.
public enum PrivateBody: Sendable, Equatable {
    /// Genesis: decimals of the ledger's unit and the first device's name.
    case genesis(decimals: UInt8, deviceName: String)
    /// Link: the new device's name (as the new device gave it; unverified).
    case link(deviceName: String)
    /// Revoke: nothing private.
    case revoke
    /// Settle: nothing private.
    case settle
    /// Credit or debit: a positive amount in minor units and a memo.
    case record(amount: Int64, memo: String)
    /// Correction: the entry it corrects (a credit, a debit or another correction), the amount
    /// that counts from now on (0 voids the credit or debit), and a new memo, or nil to keep it.
    case correction(target: EntryRef, amount: Int64, memo: String?)

    /// Longest device name in UTF-8 bytes.
    public static let maxNameBytes = 64
    /// Longest memo in UTF-8 bytes.
    public static let maxMemoBytes = 280
    /// Most decimals a ledger may use.
    public static let maxDecimals: UInt8 = 8

    /// Canonical bytes (before sealing).
    public var encoded: [UInt8] {
        var w = ByteWriter()
        switch self {
        case .genesis(let decimals, let name):
            w.u8(decimals)
            w.lengthPrefixed8(Array(name.utf8))
        case .link(let name):
            w.lengthPrefixed8(Array(name.utf8))
        case .revoke, .settle:
            break
        case .record(let amount, let memo):
            w.u64(UInt64(amount))
            w.lengthPrefixed16(Array(memo.utf8))
        case .correction(let target, let amount, let memo):
            w.raw(target.author.bytes)
            w.u64(target.seq)
            w.raw(target.hash.bytes)
            w.u64(UInt64(amount))
            w.u8(memo == nil ? 0 : 1)
            w.lengthPrefixed16(Array((memo ?? "").utf8))
        }
        return w.bytes
    }

    /// Parses opened bytes of an entry of `kind`, enforcing every documented limit.
    public init(decoding bytes: [UInt8], kind: EntryKind) throws(LedgerError) {
        self = try bytes.withUnsafeBytes { raw in
            Result { () throws(LedgerError) in try Self(decoding: raw, kind: kind) }
        }
        .get()
    }

    /// Parses opened bytes in a buffer (the merge's path: no copy of the plaintext, and no
    /// allocation for a short memo: this runs for every entry a first sync brings).
    public init(decoding raw: UnsafeRawBufferPointer, kind: EntryKind) throws(LedgerError) {
        var r = RawReader(raw)
        func truncated() -> LedgerError { .malformed("the sealed \(kind) body is truncated") }
        func text(length: Int?, limit: Int, _ r: inout RawReader) throws(LedgerError) -> String {
            guard let length, let units = r.bytes(length) else { throw truncated() }
            guard length <= limit else { throw .malformed("text longer than \(limit) bytes") }
            guard let text = Self.text(units) else { throw .malformed("text is not UTF-8") }
            return text
        }
        switch kind {
        case .genesis:
            guard let decimals = r.u8() else { throw truncated() }
            guard decimals <= Self.maxDecimals else { throw .malformed("too many decimals") }
            self = .genesis(
                decimals: decimals, deviceName: try text(length: r.u8().map(Int.init), limit: Self.maxNameBytes, &r))
        case .link:
            self = .link(deviceName: try text(length: r.u8().map(Int.init), limit: Self.maxNameBytes, &r))
        case .revoke:
            self = .revoke
        case .settle:
            self = .settle
        case .credit, .debit:
            guard let amount = r.u64() else { throw truncated() }
            guard amount >= 1, amount <= UInt64(Int64.max) else { throw .malformed("amount out of range") }
            self = .record(
                amount: Int64(amount), memo: try text(length: r.u16().map(Int.init), limit: Self.maxMemoBytes, &r))
        case .correction:
            guard let author = r.bytes(32), let seq = r.u64(), let hash = r.bytes(32) else { throw truncated() }
            guard seq >= 1, let key = try? DevicePublicKey(bytes: Array(author)),
                let entryHash = try? EntryHash(bytes: Array(hash))
            else { throw .malformed("a correction names no entry") }
            guard let amount = r.u64() else { throw truncated() }
            guard amount <= UInt64(Int64.max) else { throw .malformed("amount out of range") }
            guard let flag = r.u8() else { throw truncated() }
            guard flag <= 1 else { throw .malformed("a correction's memo flag is \(flag)") }
            let memo = try text(length: r.u16().map(Int.init), limit: Self.maxMemoBytes, &r)
            guard flag == 1 || memo.isEmpty else { throw .malformed("a correction keeps its memo but carries one") }
            self = .correction(
                target: EntryRef(author: key, seq: seq, hash: entryHash), amount: Int64(amount),
                memo: flag == 1 ? memo : nil)
        }
        guard r.isAtEnd else { throw .malformed("trailing bytes in the sealed \(kind) body") }
    }

    /// UTF-8 text, or nil when the bytes are not UTF-8. ASCII, as nearly every memo is, is
    /// taken without the general validation (which looks up generic metadata on every call).
    static func text(_ units: UnsafeRawBufferPointer) -> String? {
        let bytes = units.bindMemory(to: UInt8.self)
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// Sealing of private bodies (docs/PROTOCOL.md, "Sealed part").
public enum BodySeal {
    /// keyID (8) + nonce (24) + tag (16).
    public static let overhead = 8 + XChaCha20Poly1305.nonceLength + XChaCha20Poly1305.tagLength

    /// The associated data that binds a sealed part to its entry's position.
    static func associatedData(identity: IdentityID, author: DevicePublicKey, seq: Seq, kind: EntryKind) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: associatedDataLength) { buffer, count in
            writeAssociatedData(
                UnsafeMutableRawBufferPointer(buffer), identity: identity, author: author, seq: seq, kind: kind)
            count = associatedDataLength
        }
    }

    private static let sealLabel = Array(Labels.seal.utf8)
    static let associatedDataLength = Labels.seal.utf8.count + 32 + 32 + 8 + 1

    /// Writes the associated data into `out` (exactly `associatedDataLength` bytes).
    private static func writeAssociatedData(
        _ out: UnsafeMutableRawBufferPointer, identity: IdentityID, author: DevicePublicKey, seq: Seq, kind: EntryKind
    ) {
        var cursor = RawCursor(out)
        sealLabel.withUnsafeBytes { cursor.put($0) }
        identity.storage.withUnsafeBytes { cursor.put($0) }
        author.storage.withUnsafeBytes { cursor.put($0) }
        cursor.put(seq)
        cursor.put(kind.rawValue)
    }

    /// Seals `body` for the entry at (`author`, `seq`) with `key`.
    public static func seal(
        _ body: PrivateBody, key: DataKey, identity: IdentityID, author: DevicePublicKey, seq: Seq, kind: EntryKind,
        nonce: [UInt8] = SecureRandom.bytes(XChaCha20Poly1305.nonceLength)
    ) throws(LedgerError) -> [UInt8] {
        let aad = associatedData(identity: identity, author: author, seq: seq, kind: kind)
        do {
            let ct = try XChaCha20Poly1305.seal(body.encoded, associatedData: aad, nonce: nonce, key: key.key)
            return key.id.bytes + nonce + ct
        } catch {
            throw .invalidState("sealing failed: \(error)")
        }
    }

    /// The id of the key that sealed `entry`'s sealed part, or nil when it is too short to carry one.
    public static func keyID(of entry: Entry) -> DataKeyID? {
        entry.sealedCount >= overhead ? entry.withSealed { DataKeyID(leading: $0) } : nil
    }

    /// Opens the sealed part of `entry` with `key`.
    ///
    /// The merge opens every entry it accepts, so this reads the entry's bytes in place and
    /// decrypts into scratch memory: no copies, and no allocation for short memos.
    public static func open(_ entry: Entry, key: DataKey) throws(LedgerError) -> PrivateBody {
        guard entry.sealedCount >= overhead else { throw .malformed("sealed part too short") }
        let result = entry.withSealed { sealed in
            withUnsafeTemporaryAllocation(byteCount: associatedDataLength + sealed.count - overhead, alignment: 8) {
                scratch in
                let aad = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<associatedDataLength])
                let plain = UnsafeMutableRawBufferPointer(rebasing: scratch[associatedDataLength...])
                writeAssociatedData(
                    aad, identity: entry.identity, author: entry.author, seq: entry.seq, kind: entry.kind)
                guard
                    XChaCha20Poly1305.open(
                        UnsafeRawBufferPointer(rebasing: sealed[32...]), associatedData: UnsafeRawBufferPointer(aad),
                        nonce: UnsafeRawBufferPointer(rebasing: sealed[8..<32]), key: key.key, into: plain)
                else { return Result<PrivateBody, LedgerError>.failure(.unreadableBody("authentication failed")) }
                return Result { () throws(LedgerError) in
                    try PrivateBody(decoding: UnsafeRawBufferPointer(plain), kind: entry.kind)
                }
            }
        }
        return try result.get()
    }
}
