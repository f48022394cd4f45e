import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import Testing

@Suite("Pairing code addresses")
struct PairingCodeAddressTests {
    static let words: String = {
        let identity = IdentityID.derive(rootDevice: SigningKeyPair.generate().publicKey, nonce: [1])
        let code = PairingCode.generate(identity: identity, rendezvous: .peer(host: "h", port: 1))
        return code.words.joined(separator: "-")
    }()

    @Test(
        "an address that is not a host, an IPv6 address or a store URL is refused",
        arguments: [
            "[https:P]act@h.example.org]:8787", "https:P]act@h.example.org]:8787", "a:b:8788", "host name:8788",
            "-host:8788", "host-.lan:8788", "ho\u{1B}st:8788", "host:+80", "host:08788", "host:65536", "host:0",
            "[zz::1]:8788", "[]:1", "http://user:pw@store.lan", "https://store.lan/?q=1", "https://store.lan/#x",
            "https://", String(repeating: "a", count: 64) + ".lan:1",
        ])
    func refused(_ address: String) {
        #expect(throws: PairingError.self) { try PairingCode(parsing: Self.words + "@" + address) }
    }

    @Test(
        "a valid address reads back to itself",
        arguments: [
            "192.168.1.20:8788", "laptop.local:8788", "[fe80::1]:8788", "[::ffff:10.0.0.1]:1",
            "https://store.example.org", "http://127.0.0.1:8787", "https://store.example.org:8443/ledger",
        ])
    func roundTrip(_ address: String) throws {
        let code = try PairingCode(parsing: Self.words + "@" + address)
        #expect(code.description == Self.words + "@" + address)
        #expect(try PairingCode(parsing: code.description) == code)
    }

    @Test("the address a person types for a code (TUI, pair --advertise, pair_address) is checked before use")
    func hostProblem() throws {
        for host in ["192.168.1.20", "vpn.home.example", "fe80::1"] { #expect(PairingCode.hostProblem(host) == nil) }
        for host in ["", "host name", "-x", "a/b", "ho\u{1B}st"] { #expect(PairingCode.hostProblem(host) != nil) }
        // Each accepted host makes a code that reads back with that host.
        let identity = IdentityID.derive(rootDevice: SigningKeyPair.generate().publicKey, nonce: [2])
        for host in ["192.168.1.20", "vpn.home.example", "fe80::1"] {
            let code = PairingCode.generate(identity: identity, rendezvous: .peer(host: host, port: 4242))
            let read = try PairingCode(parsing: code.description)
            #expect(read.rendezvous == .peer(host: host, port: 4242))
        }
    }
}
