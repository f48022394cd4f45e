import Foundation
import LedgerCore
import LedgerCrypto

/// The one-time code a linked device shows and the new device's person types
/// (docs/PROTOCOL.md, "Pairing code").
///
/// Twelve words carry 132 bits: the first 44 bits of the identity id, then an 88-bit secret
/// that keys the whole exchange. After the words, `@` and where to meet: the pairing device's
/// peer address (`host:port`) or a store's URL (whose pairing mailbox the secret names).
package struct PairingCode: Sendable, Equatable, CustomStringConvertible {
    /// Where the new device reaches the pairing device.
    package enum Rendezvous: Sendable, Equatable, CustomStringConvertible {
        /// Directly, over TCP on the same network.
        case peer(host: String, port: Int)
        /// Through a store's pairing mailbox, given by the store's base URL.
        case store(URL)

        package var description: String {
            switch self {
            case .peer(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .store(let url): url.absoluteString
            }
        }
    }

    /// Words in a code.
    package static let wordCount = 12
    /// Bits of the identity id a code carries.
    package static let identityBits = 44
    /// Bytes of the one-time secret (88 bits).
    package static let secretLength = 11

    /// The first 44 bits of the identity id, in 6 bytes (the low 4 bits of the last are 0).
    package let identityTag: [UInt8]
    /// The one-time secret.
    package let secret: [UInt8]
    package let rendezvous: Rendezvous

    /// A fresh code for `identity`, met at `rendezvous`.
    package static func generate(identity: IdentityID, rendezvous: Rendezvous) -> PairingCode {
        PairingCode(
            identityTag: tag(of: identity), secret: SecureRandom.bytes(secretLength), rendezvous: rendezvous)
    }

    init(identityTag: [UInt8], secret: [UInt8], rendezvous: Rendezvous) {
        self.identityTag = identityTag
        self.secret = secret
        self.rendezvous = rendezvous
    }

    static func tag(of identity: IdentityID) -> [UInt8] {
        var tag = Array(identity.bytes.prefix(6))
        tag[5] &= 0xF0
        return tag
    }

    /// True when `identity` is the identity this code names.
    package func names(_ identity: IdentityID) -> Bool {
        constantTimeEqual(Self.tag(of: identity), identityTag)
    }

    /// The twelve words.
    package var words: [String] {
        var bits = BitString()
        bits.append(identityTag, bits: Self.identityBits)
        bits.append(secret, bits: Self.secretLength * 8)
        return bits.groups(of: Wordlist.bitsPerWord).map { Wordlist.words[$0] }
    }

    /// The code as a person types it: words joined by dashes, `@`, then where to meet.
    package var description: String { words.joined(separator: "-") + "@" + rendezvous.description }

    /// Reads a typed code. Words may be separated by dashes or spaces and shortened to their
    /// first four letters.
    package init(parsing text: String) throws(PairingError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let at = trimmed.firstIndex(of: "@") else {
            throw .badCode("a pairing code is twelve words, then @ and an address, as `ledgerlink pair` shows it")
        }
        let typed = trimmed[..<at].split(whereSeparator: { $0 == "-" || $0 == " " }).map(String.init)
        guard typed.count == Self.wordCount else {
            throw .badCode("a pairing code has \(Self.wordCount) words; this one has \(typed.count)")
        }
        var bits = BitString()
        for (position, word) in typed.enumerated() {
            guard let value = Wordlist.index(of: word) else {
                throw .badCode(
                    "word \(position + 1) (\"\(TextSafety.sanitised(word))\") is not a pairing word; check the spelling"
                )
            }
            bits.append(value: value, bits: Wordlist.bitsPerWord)
        }
        let bytes = bits.bytes
        var tag = Array(bytes[0..<6])
        tag[5] &= 0xF0
        var secret: [UInt8] = []
        for index in 0..<Self.secretLength {
            // The secret starts 4 bits into byte 5.
            secret.append((bytes[5 + index] << 4) | (bytes[6 + index] >> 4))
        }
        self.identityTag = tag
        self.secret = secret
        self.rendezvous = try Self.rendezvous(String(trimmed[trimmed.index(after: at)...]))
    }

    /// The address after the @: a store's http(s) URL, `HOST:PORT` or `[IPv6]:PORT`. Only what
    /// `description` would print is accepted, so a code read back prints as it was typed.
    private static func rendezvous(_ text: String) throws(PairingError) -> Rendezvous {
        if text.hasPrefix("http://") || text.hasPrefix("https://") {
            guard let url = URL(string: text), let host = url.host, isHost(host) || isBracketedIPv6(host),
                url.user == nil, url.password == nil, url.query == nil, url.fragment == nil,
                url.absoluteString == text
            else {
                throw .badCode("\"\(TextSafety.sanitised(text))\" is not a store URL (http(s)://HOST[:PORT][/PATH])")
            }
            return .store(url)
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw .badCode("the address after @ should be [IPv6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard isIPv6(host) else {
                throw .badCode("\"\(TextSafety.sanitised(text))\" is not an [IPv6]:PORT address")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .badCode("the address after @ should be HOST:PORT or a store's https:// URL")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard isHost(host) else { throw .badCode("\"\(TextSafety.sanitised(text))\" is not a HOST:PORT address") }
        }
        // Digits only, no sign and no leading zero: the port prints back as typed.
        guard portText.first != "0", portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
            (1...65535).contains(port)
        else {
            throw .badCode("\"\(TextSafety.sanitised(String(portText)))\" is not a port (1-65535)")
        }
        return .peer(host: String(host), port: port)
    }

    /// Why `host` cannot be the address a code tells the new device to dial, or nil when it
    /// can: a DNS name, an IPv4 address or an IPv6 address (without brackets).
    package static func hostProblem(_ host: String) -> String? {
        isHost(host) || isIPv6(host)
            ? nil
            : "\"\(TextSafety.sanitised(host))\" is not a host name or an IP address (such as 192.168.1.20)"
    }

    /// A DNS name or an IPv4 address: dot-separated labels of ASCII letters, digits and inner
    /// hyphens, 1-63 bytes each, 253 in all.
    static func isHost<S: StringProtocol>(_ host: S) -> Bool {
        guard (1...253).contains(host.utf8.count) else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    /// An IPv6 address as written inside brackets: hex groups and colons (an IPv4 tail allowed).
    static func isIPv6<S: StringProtocol>(_ host: S) -> Bool {
        (2...45).contains(host.utf8.count) && host.contains(":")
            && host.allSatisfy { $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }
    }

    static func isBracketedIPv6(_ host: String) -> Bool {
        // Foundation gives a URL's IPv6 host without its brackets.
        isIPv6(host.hasPrefix("[") && host.hasSuffix("]") ? host.dropFirst().dropLast() : host[...])
    }
}

/// Bits appended most significant first, read back in fixed-width groups.
struct BitString {
    private(set) var bytes: [UInt8] = []
    private var count = 0

    mutating func append(value: Int, bits: Int) {
        for shift in stride(from: bits - 1, through: 0, by: -1) { appendBit((value >> shift) & 1 == 1) }
    }

    mutating func append(_ data: [UInt8], bits: Int) {
        for index in 0..<bits { appendBit(data[index / 8] & (0x80 >> UInt8(index % 8)) != 0) }
    }

    private mutating func appendBit(_ bit: Bool) {
        if count % 8 == 0 { bytes.append(0) }
        if bit { bytes[count / 8] |= 0x80 >> UInt8(count % 8) }
        count += 1
    }

    func groups(of width: Int) -> [Int] {
        stride(from: 0, to: count, by: width).map { start in
            (start..<min(start + width, count)).reduce(0) { value, index in
                (value << 1) | (bytes[index / 8] & (0x80 >> UInt8(index % 8)) != 0 ? 1 : 0)
            }
        }
    }
}
