import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 or IPv6 network, as `ADDRESS/PREFIX` (or one address).
package struct CIDR: Sendable, Equatable, CustomStringConvertible {
    let network: [UInt8]
    let prefix: Int
    package let description: String

    /// Parses `192.168.0.0/16`, `10.0.0.1`, `fd00::/8`, `::1`; nil when it is none of those.
    package init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = Self.bytes(String(parts[0])) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...bits).contains(prefix), parts[1].allSatisfy(\.isNumber) else {
                return nil
            }
            self.prefix = prefix
        } else {
            prefix = bits
        }
        network = address
        description = text
    }

    /// True when `address` (text, as a socket gives it) lies in this network.
    package func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address), bytes.count == network.count else { return false }
        var left = prefix
        for (a, b) in zip(bytes, network) where left > 0 {
            let mask: UInt8 = left >= 8 ? 0xFF : ~(0xFF >> UInt8(left))
            if a & mask != b & mask { return false }
            left -= 8
        }
        return true
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address (an IPv4-mapped IPv6 address reads as IPv4).
    static func bytes(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, trimmed, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, trimmed, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }
}

/// The proxies whose `X-Forwarded-For` header the server believes (`serve --trusted-proxy`):
/// behind them, limits key on the client's address rather than the proxy's.
package struct TrustedProxies: Sendable {
    package let networks: [CIDR]

    package init(_ networks: [CIDR] = []) { self.networks = networks }

    package func trusts(_ address: String) -> Bool { networks.contains { $0.contains(address) } }

    /// The client's address: the TCP peer, unless it is a trusted proxy, in which case the
    /// nearest address in `X-Forwarded-For` (read from the right) that is not a trusted proxy
    /// itself. A header that names nothing usable leaves the peer's address.
    package func client(peer: String, forwardedFor headers: [String]) -> String {
        guard trusts(peer) else { return peer }
        // Each proxy appends the address it saw: the rightmost entries are the most trusted.
        let hops = headers.joined(separator: ",").split(separator: ",").suffix(32).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        for hop in hops.reversed() {
            guard let bytes = CIDR.bytes(hop) else { return peer }
            let canonical = Self.text(bytes)
            if !trusts(canonical) { return canonical }
        }
        return peer
    }

    /// An address's usual text (so one client is one key however the header spells it).
    static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var copy = bytes
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard inet_ntop(family, &copy, &buffer, socklen_t(buffer.count)) != nil else { return "unknown" }
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
