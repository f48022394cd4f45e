/// Why linking a device stopped. Each case reads as a message for the person.
package enum PairingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The typed code could not be read.
    case badCode(String)
    /// The code does not match the pairing window (a typo, or a code from an older window).
    case wrongCode
    /// The pairing window is closed or expired.
    case windowClosed
    /// No pairing window at the store answers to this code.
    case noWindow
    /// The window already serves another new device.
    case busy
    /// The person denied the request on the pairing device.
    case denied
    /// The short authentication string was typed wrong too often.
    case sasMismatch
    /// A message was malformed, replayed, reordered or altered in transit.
    case tampered(String)
    /// The pairing device offered a certificate that does not chain to the code's identity.
    case foreignIdentity
    /// The other side stopped answering or went away.
    case unreachable(String)

    package var description: String {
        switch self {
        case .badCode(let why): "that is not a pairing code: \(why)"
        case .wrongCode:
            "the pairing code is wrong (check the words against the pairing device's screen; "
                + "each window has a new code)"
        case .windowClosed:
            "the pairing window is closed or expired; open a new one with `ledgerlink pair` on a linked device"
        case .noWindow:
            "no pairing window at the store matches this code: check the words, or open a new window "
                + "(the last one may have expired)"
        case .busy: "this pairing window already has a request from another device; open a new window"
        case .denied: "the request was denied on the pairing device; nothing was linked"
        case .sasMismatch:
            "the words typed on the pairing device did not match this device's words; the window was closed "
                + "(someone may be in the middle: start again, and compare the words carefully)"
        case .tampered(let why): "the pairing exchange was altered or replayed (\(why)); nothing was linked"
        case .foreignIdentity:
            "the pairing device offered a certificate for another identity than the code names; nothing was saved"
        case .unreachable(let why): why
        }
    }
}
