import Foundation

/// The store's pairing mailbox (docs/PROTOCOL.md, "Pairing mailbox"): where a new device and a
/// linked one exchange pairing messages when they are not on one network. A mailbox is named
/// by a hash of the pairing code's secret, opened by a device of the identity with its token,
/// holds a few messages per side, and expires with the pairing window. The messages protect
/// themselves; the store only relays them.
public enum PairingAPI {
    /// Largest message, in bytes before base64.
    public static let maxMessage = 256 << 10
    /// Most messages each side may leave in one mailbox.
    public static let maxMessagesPerSide = 16
    /// Longest a mailbox may stay open, in seconds.
    public static let maxLifetime = 3600
    /// Longest a receive waits for a message, in seconds (under the server's idle timeout).
    public static let maxWait = 10
    /// Most mailboxes one identity may have open at once.
    public static let maxOpenPerIdentity = 4
    /// Length of a mailbox id in bytes (64 hex digits).
    public static let mailboxLength = 32
}

/// Which end of a pairing wrote a message.
public enum MailboxSide: String, Codable, Sendable {
    /// The new device.
    case joiner
    /// The linked device that opened the window.
    case inviter

    /// The side that reads this side's messages.
    public var other: MailboxSide { self == .joiner ? .inviter : .joiner }

    /// How a store numbers the side: 0 the joiner, 1 the inviter.
    public var number: Int { self == .joiner ? 0 : 1 }
}

/// `POST /v1/identities/{identity}/pairing/open`, with a token.
public struct MailboxOpenRequest: Codable, Sendable {
    /// The mailbox id (hex).
    public var mailbox: String
    /// Seconds until it expires (at most `PairingAPI.maxLifetime`).
    public var expiresIn: Int
    public init(mailbox: String, expiresIn: Int) {
        self.mailbox = mailbox
        self.expiresIn = expiresIn
    }
}

public struct MailboxOpenResponse: Codable, Sendable {
    /// Unix time in seconds when the mailbox expires.
    public var expires: Int64
    public init(expires: Int64) { self.expires = expires }
}

/// `POST /v1/identities/{identity}/pairing/close`, with a token.
public struct MailboxCloseRequest: Codable, Sendable {
    public var mailbox: String
    public init(mailbox: String) { self.mailbox = mailbox }
}

/// `POST /v1/pairing/{mailbox}/send`: leaves message number `index` of `side`. The inviter
/// side needs a token of the mailbox's identity; the joiner side needs only the mailbox id.
public struct MailboxSendRequest: Codable, Sendable {
    public var side: MailboxSide
    public var index: Int
    /// The message, base64.
    public var message: String
    public init(side: MailboxSide, index: Int, message: String) {
        self.side = side
        self.index = index
        self.message = message
    }
}

/// `POST /v1/pairing/{mailbox}/receive`: asks for message number `index` of `side`, waiting up
/// to `wait` seconds for it to arrive.
public struct MailboxReceiveRequest: Codable, Sendable {
    public var side: MailboxSide
    public var index: Int
    public var wait: Int
    public init(side: MailboxSide, index: Int, wait: Int) {
        self.side = side
        self.index = index
        self.wait = wait
    }
}

public struct MailboxReceiveResponse: Codable, Sendable {
    /// The message (base64), or nil when it has not arrived within the wait.
    public var message: String?
    public init(message: String?) { self.message = message }
}

/// An empty JSON object, the answer of requests that only succeed or fail.
public struct EmptyResponse: Codable, Sendable {
    public init() {}
}
