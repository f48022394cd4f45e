/// Why the ledger refused something. Each validation failure has its own case.
public enum LedgerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes do not parse as an entry (or a field is out of range).
    case malformed(String)
    /// The entry belongs to another identity.
    case foreignIdentity
    /// The signature does not verify against the author's key.
    case invalidSignature
    /// The `prev` hash does not match the author's previous entry.
    case brokenChain(seq: Seq)
    /// The entry's author was never linked to this identity.
    case unknownAuthor
    /// The author was revoked before this seq.
    case revokedAuthor(boundary: Seq)
    /// The author signed two different entries at one seq; nothing past the fork is accepted.
    case forkedAuthor(seq: Seq)
    /// The sealed body could not be opened or did not parse.
    case unreadableBody(String)
    /// A link certificate's proof of possession does not verify.
    case invalidLinkProof
    /// The device's running totals would overflow.
    case overflow
    /// Too many entries are already held waiting for gaps or certificates.
    case holdLimitReached
    /// The ledger database cannot be used.
    case database(String)
    /// Something the caller asked for is not allowed in the current state.
    case invalidState(String)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed entry: \(why)"
        case .foreignIdentity: "the entry belongs to another identity"
        case .invalidSignature: "the signature does not verify"
        case .brokenChain(let seq): "the prev hash of seq \(seq) does not match the previous entry"
        case .unknownAuthor: "the author is not a linked device of this identity"
        case .revokedAuthor(let b): "the author was revoked after seq \(b)"
        case .forkedAuthor(let seq): "the author forked its log at seq \(seq)"
        case .unreadableBody(let why): "the sealed body cannot be read: \(why)"
        case .invalidLinkProof: "the link certificate's proof of possession does not verify"
        case .overflow: "the device's totals would overflow"
        case .holdLimitReached: "too many entries are waiting for earlier entries or certificates"
        case .database(let why): why
        case .invalidState(let why): why
        }
    }

    /// The reason alone, for messages about something other than an entry (a clock, a file).
    public var reason: String {
        if case .malformed(let why) = self { return why }
        return description
    }
}
