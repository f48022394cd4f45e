import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerRemote
import LedgerServer
import NIOCore
import Testing

@Suite("Trusted proxies")
struct TrustedProxyTests {
    @Test("networks parse and match, IPv4 and IPv6; anything else is refused")
    func networks() throws {
        let lan = try #require(CIDR(parsing: "10.1.0.0/16"))
        #expect(lan.contains("10.1.200.3"))
        #expect(!lan.contains("10.2.0.1"))
        #expect(lan.contains("::ffff:10.1.0.9"))  // IPv4-mapped, as a dual-stack socket gives it
        let one = try #require(CIDR(parsing: "192.0.2.7"))
        #expect(one.contains("192.0.2.7") && !one.contains("192.0.2.8"))
        let v6 = try #require(CIDR(parsing: "fd00::/8"))
        #expect(v6.contains("fd12:3456::1") && !v6.contains("fe80::1"))
        #expect(CIDR(parsing: "0.0.0.0/0")?.contains("8.8.8.8") == true)
        for bad in ["10.0.0.0/33", "10.0.0/8", "fd00::/129", "proxy", "", "10.0.0.1/", "10.0.0.1/-1", "1.2.3.4/8x"] {
            #expect(CIDR(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("the client is the nearest untrusted hop of X-Forwarded-For, only when the peer is a trusted proxy")
    func client() throws {
        let proxies = TrustedProxies([try #require(CIDR(parsing: "10.0.0.0/8"))])
        // A client that is not a proxy cannot choose its address by sending the header.
        #expect(proxies.client(peer: "198.51.100.9", forwardedFor: ["203.0.113.5"]) == "198.51.100.9")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: ["203.0.113.5"]) == "203.0.113.5")
        // What the client itself put first is not believed: the rightmost untrusted hop is.
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: ["1.1.1.1, 203.0.113.5, 10.0.0.3"]) == "203.0.113.5")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: ["1.1.1.1", "203.0.113.5"]) == "203.0.113.5")
        // Nothing usable: the proxy's own address.
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: []) == "10.0.0.2")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: ["nonsense"]) == "10.0.0.2")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: ["2001:DB8::1"]) == "2001:db8::1")
    }

    @Test("behind a trusted proxy each client has its own rate limit; without one, the header is ignored")
    func limitsPerClient() async throws {
        for trusted in [true, false] {
            let store = try await TestStore(realTime: true)
            let app = store.application {
                $0.publicURL = nil
                $0.addressRate = RateLimit(perSecond: 0.001, burst: 2)
                if trusted { $0.trustedProxies = TrustedProxies([CIDR(parsing: "127.0.0.1")!]) }
            }
            try await app.test(.live) { client in
                /// A request the proxy forwards for the client at `address`: its status.
                func ask(_ address: String) async throws -> Int {
                    let response = try await client.execute(
                        uri: "/v1/identities/\(String(repeating: "ab", count: 32))/challenge", method: .post,
                        headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: address],
                        body: ByteBuffer(string: #"{"device":"\#(String(repeating: "cd", count: 32))"}"#))
                    return Int(response.status.code)
                }
                #expect(try await ask("203.0.113.5") != 429)
                #expect(try await ask("203.0.113.5") != 429)
                #expect(try await ask("203.0.113.5") == 429)
                // Another client behind the proxy: its own bucket only when the proxy is trusted.
                let other = try await ask("203.0.113.6")
                #expect(trusted ? other != 429 : other == 429)
            }
        }
    }
}
