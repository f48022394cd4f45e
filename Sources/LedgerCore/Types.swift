import LedgerCrypto

/// A device's Ed25519 public key: its identity on the ledger.
public typealias DevicePublicKey = PublicSigningKey

/// The BLAKE2b-256 hash of an entry, used for `prev` links.
public typealias EntryHash = Digest32

/// The 32-byte id of an identity: a hash of its first device's key and a random nonce.
public struct IdentityID: Hashable, Sendable, CustomStringConvertible {
    /// Length in bytes.
    public static let length = 32
    /// The id, inline.
    public let storage: InlineBytes32
    /// The raw id.
    public var bytes: [UInt8] { storage.array }

    /// Wraps 32 raw bytes.
    public init(bytes: [UInt8]) throws(LedgerError) {
        guard bytes.count == Self.length else { throw .malformed("identity id must be 32 bytes") }
        storage = InlineBytes32(bytes)
    }

    init(unchecked storage: InlineBytes32) { self.storage = storage }

    public func hash(into hasher: inout Hasher) { hasher.combine(storage.leadingWord) }

    /// Derives the id from the genesis device key and the genesis nonce (docs/PROTOCOL.md, Identity id).
    public static func derive(rootDevice: DevicePublicKey, nonce: [UInt8]) -> IdentityID {
        var hasher = Blake2b.Hasher()
        hasher.update(Array(Labels.identity.utf8))
        hasher.update(rootDevice.bytes)
        hasher.update(nonce)
        return IdentityID(unchecked: hasher.finalize().storage)
    }

    /// Lowercase hex.
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
}

/// A position in one device's log: 1 for its first entry.
public typealias Seq = UInt64

/// What an entry does.
public enum EntryKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Creates the identity; the first entry of its first device.
    case genesis = 1
    /// Admits a new device (a certificate carrying the device's proof of possession).
    case link = 2
    /// Ends a device's authority after a given seq and rotates the data key.
    case revoke = 3
    /// Money in.
    case credit = 4
    /// Money out.
    case debit = 5
    /// Changes the amount (or memo) of an earlier credit or debit, or voids it
    /// (docs/PROTOCOL.md, "Corrections").
    case correction = 6
    /// Settles a forked device's log: which branch counts, up to where (docs/PROTOCOL.md,
    /// "Settling a fork").
    case settle = 7

    /// True for the kinds that change who may write or what a log holds (genesis, link,
    /// revoke, settle).
    public var isControl: Bool { rawValue <= 3 || self == .settle }

    /// True for credits and debits: the entries whose amounts count.
    public var isRecord: Bool { self == .credit || self == .debit }

    /// The lowercase name used in JSON and the CLI.
    public var name: String {
        switch self {
        case .genesis: "genesis"
        case .link: "link"
        case .revoke: "revoke"
        case .credit: "credit"
        case .debit: "debit"
        case .correction: "correction"
        case .settle: "settle"
        }
    }

    public var description: String { name }
}

/// Domain-separation labels: every signed, hashed or sealed byte string starts with one.
public enum Labels {
    public static let entry = "ledgerlink-entry-v1"
    public static let entryHash = "ledgerlink-entry-hash-v1"
    public static let identity = "ledgerlink-identity-v1"
    public static let seal = "ledgerlink-seal-v1"
    public static let keyID = "ledgerlink-key-id-v1"
    public static let linkProof = "ledgerlink-link-proof-v1"
    public static let recoveryMark = "ledgerlink-recovery-mark-v1"
    public static let clock = "ledgerlink-clock-v1"
}
