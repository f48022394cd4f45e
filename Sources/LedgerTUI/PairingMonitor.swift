/// A new device waiting for the person's answer, as the TUI shows it (text already sanitised).
package struct LinkRequestRow: Sendable, Equatable {
    /// Names the request in answers.
    package var id: Int
    /// The name the new device gave: unverified.
    package var name: String
    package var fingerprint: String
    /// Tries left at typing the new device's words. The words themselves never reach this
    /// screen: a person who could read them here could approve without looking at the new device.
    package var attemptsLeft: Int

    package init(id: Int, name: String, fingerprint: String, attemptsLeft: Int) {
        (self.id, self.name, self.fingerprint, self.attemptsLeft) = (id, name, fingerprint, attemptsLeft)
    }
}

/// An open pairing window: its code, time left, and the request waiting in it.
package struct PairingPanel: Sendable, Equatable {
    /// The code to type on the new device (words, `@`, address).
    package var code: String
    package var secondsLeft: Int
    package var requests: [LinkRequestRow]

    package init(code: String, secondsLeft: Int, requests: [LinkRequestRow] = []) {
        (self.code, self.secondsLeft, self.requests) = (code, secondsLeft, requests)
    }

    /// `9:41`.
    package var timeLeft: String {
        let seconds = secondsLeft % 60
        return "\(secondsLeft / 60):\(seconds < 10 ? "0" : "")\(seconds)"
    }
}

/// What the TUI asks of the pairing service running beside it (the front-end provides it, so
/// this module needs no network code).
package protocol PairingMonitor: Sendable {
    /// The address a pairing code names by default (this machine's LAN address).
    func suggestedAddress() async -> String
    /// Opens a pairing window whose code tells the new device to dial `address`; returns the
    /// line to show.
    func open(address: String) async -> String
    /// The open window, or nil when none is open.
    func panel() async -> PairingPanel?
    /// Approves request `id` with the words the person typed (checked by the service).
    func answer(_ id: Int, typed: String) async
    /// Denies request `id`; the window closes.
    func deny(_ id: Int) async
    /// What happened since the last call (a mismatch, a link, a denial, an expiry), once.
    func takeNotice() async -> String?
}
