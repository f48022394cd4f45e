import Foundation

/// The store's pairing mailbox (docs/PROTOCOL.md, "Pairing mailbox"): where a new device and a
/// linked one exchange pairing messages when they are not on one network. A mailbox is named
/// by a hash of the pairing code's secret, opened by a device of the identity with its token,
/// holds a few messages per side, and expires with the pairing window. The messages protect
/// themselves; the store only relays them.
package enum PairingAPI {
    /// Largest message, in bytes before base64.
    package static let maxMessage = 256 << 10
    /// Most messages each side may leave in one mailbox.
    package static let maxMessagesPerSide = 16
    /// Longest a mailbox may stay open, in seconds.
    package static let maxLifetime = 3600
    /// Longest a receive waits for a message, in seconds (under the server's idle timeout).
    package static let maxWait = 10
    /// Most mailboxes one identity may have open at once.
    package static let maxOpenPerIdentity = 4
    /// Length of a mailbox id in bytes (64 hex digits).
    package static let mailboxLength = 32
}

/// Which end of a pairing wrote a message.
package enum MailboxSide: String, Codable, Sendable {
    /// The new device.
    case joiner
    /// The linked device that opened the window.
    case inviter

    /// The side that reads this side's messages.
    package var other: MailboxSide { self == .joiner ? .inviter : .joiner }

    /// How a store numbers the side: 0 the joiner, 1 the inviter.
    package var number: Int { self == .joiner ? 0 : 1 }
}

/// `POST /v1/identities/{identity}/pairing/open`, with a token.
package struct MailboxOpenRequest: Codable, Sendable {
    /// The mailbox id (hex).
    package var mailbox: String
    /// Seconds until it expires (at most `PairingAPI.maxLifetime`).
    package var expiresIn: Int
    package init(mailbox: String, expiresIn: Int) {
        self.mailbox = mailbox
        self.expiresIn = expiresIn
    }
}

package struct MailboxOpenResponse: Codable, Sendable {
    /// Unix time in seconds when the mailbox expires.
    package var expires: Int64
    package init(expires: Int64) { self.expires = expires }
}

/// `POST /v1/identities/{identity}/pairing/close`, with a token.
package struct MailboxCloseRequest: Codable, Sendable {
    package var mailbox: String
    package init(mailbox: String) { self.mailbox = mailbox }
}

/// `POST /v1/pairing/{mailbox}/send`: leaves message number `index` of `side`. The inviter
/// side needs a token of the mailbox's identity; the joiner side needs only the mailbox id.
package struct MailboxSendRequest: Codable, Sendable {
    package var side: MailboxSide
    package var index: Int
    /// The message, base64.
    package var message: String
    package init(side: MailboxSide, index: Int, message: String) {
        self.side = side
        self.index = index
        self.message = message
    }
}

/// `POST /v1/pairing/{mailbox}/receive`: asks for message number `index` of `side`, waiting up
/// to `wait` seconds for it to arrive.
package struct MailboxReceiveRequest: Codable, Sendable {
    package var side: MailboxSide
    package var index: Int
    package var wait: Int
    package init(side: MailboxSide, index: Int, wait: Int) {
        self.side = side
        self.index = index
        self.wait = wait
    }
}

package struct MailboxReceiveResponse: Codable, Sendable {
    /// The message (base64), or nil when it has not arrived within the wait.
    package var message: String?
    package init(message: String?) { self.message = message }
}

/// An empty JSON object, the answer of requests that only succeed or fail.
package struct EmptyResponse: Codable, Sendable {
    package init() {}
}
