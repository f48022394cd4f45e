import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerSync
import LedgerTestSupport
import Testing

/// Resources/vectors/channels-v1.json fixes every input and output byte of a store login, a
/// peer handshake and a LAN announcement (docs/PROTOCOL.md), so an independent implementation
/// can check itself. This test rebuilds each output from the inputs and compares byte for byte.
/// Run with LEDGERLINK_WRITE_VECTORS=1 to write the file anew (only when the format changes).
@Suite("Channel test vectors")
struct ChannelVectorTests {
    static let vectors = VectorFile("channels-v1.json")
    static var file: URL { vectors.url }

    static func range(_ start: UInt8, _ count: Int) -> [UInt8] { VectorFile.range(start, count) }
    static func hex(_ bytes: [UInt8]) -> JSONValue { .string(Hex.encode(bytes)) }

    static func build() throws -> JSONValue {
        let laptop = try SigningKeyPair(seed: SecureBytes(range(0x00, 32)))
        let phone = try SigningKeyPair(seed: SecureBytes(range(0x20, 32)))
        let identity = IdentityID.derive(rootDevice: laptop.publicKey, nonce: range(0xA0, 16))

        // Store login: the transcript a device signs for a challenge, and its signature.
        let origin = "https://store.example.org"
        let challenge = range(0x80, 32)
        let expires: Int64 = 1_800_000_060
        let login = StoreAPI.authTranscript(
            origin: origin, identity: identity, device: phone.publicKey, challenge: challenge, expires: expires)

        // Peer handshake: fixed ephemeral keys for the initiator (laptop) and responder (phone).
        let initiatorEphemeral = try KeyExchangeKeyPair(seed: range(0x40, 32))
        let responderEphemeral = try KeyExchangeKeyPair(seed: range(0x60, 32))
        let initiatorHello = PeerHandshake.hello(identity: identity, ephemeral: initiatorEphemeral.publicKey)
        let responderHello = PeerHandshake.hello(
            identity: identity, ephemeral: responderEphemeral.publicKey, answering: initiatorEphemeral.publicKey)
        let transcript = PeerHandshake.transcript(
            identity: identity, initiator: initiatorEphemeral.publicKey, responder: responderEphemeral.publicKey)
        let initiatorKeys = try initiatorEphemeral.sessionKeys(peer: responderEphemeral.publicKey, isClient: true)
        let initiatorAuth = PeerHandshake.auth(keyPair: laptop, transcript: transcript, role: .initiator)
        let responderAuth = PeerHandshake.auth(keyPair: phone, transcript: transcript, role: .responder)

        // LAN announcement of port 8788 at a fixed time and nonce.
        let now: UInt64 = 1_800_000_000
        let announcement = PeerAnnouncement.make(identity: identity, port: 8788, now: now, nonce: range(0xE0, 16))

        return .object([
            ("description", .string("ledgerlink protocol v1 channel vectors; see docs/PROTOCOL.md")),
            ("laptop_seed", hex(range(0x00, 32))), ("laptop_public_key", hex(laptop.publicKey.bytes)),
            ("phone_seed", hex(range(0x20, 32))), ("phone_public_key", hex(phone.publicKey.bytes)),
            ("identity", hex(identity.bytes)),
            (
                "store_login",
                .object([
                    ("origin", .string(origin)), ("device", hex(phone.publicKey.bytes)), ("challenge", hex(challenge)),
                    ("expires", .integer(Int128(expires))), ("transcript", hex(login)),
                    ("signature", hex(phone.sign(login).bytes)),
                ])
            ),
            (
                "peer_handshake",
                .object([
                    ("initiator_ephemeral_seed", hex(range(0x40, 32))),
                    ("initiator_ephemeral_public", hex(initiatorEphemeral.publicKey)),
                    ("responder_ephemeral_seed", hex(range(0x60, 32))),
                    ("responder_ephemeral_public", hex(responderEphemeral.publicKey)),
                    ("initiator_hello", hex(initiatorHello)), ("responder_hello", hex(responderHello)),
                    ("transcript_hash", hex(transcript.bytes)),
                    ("initiator_send_key", hex(initiatorKeys.send.copyBytes())),
                    ("initiator_receive_key", hex(initiatorKeys.receive.copyBytes())),
                    ("initiator_auth", hex(initiatorAuth)), ("responder_auth", hex(responderAuth)),
                ])
            ),
            (
                "lan_announcement",
                .object([
                    ("port", .integer(8788)), ("now", .integer(Int128(now))), ("nonce", hex(range(0xE0, 16))),
                    ("bytes", hex(announcement)),
                ])
            ),
        ])
    }

    @Test("the channel vectors file reproduces byte for byte, and each value checks as the protocol says")
    func vectors() throws {
        let document = try Self.build()
        let stored = try Self.vectors.text(writingIfAsked: { document.prettyText + "\n" })
        #expect(document.prettyText + "\n" == stored)

        // The values do what the protocol says they do.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: Any])
        let identity = try IdentityID(bytes: Hex.decode(json["identity"] as? String ?? "") ?? [])
        let handshake = try #require(json["peer_handshake"] as? [String: String])
        let initiatorHello = Hex.decode(handshake["initiator_hello"] ?? "") ?? []
        #expect(
            try PeerHandshake.openHello(initiatorHello, identity: identity)
                == Hex.decode(handshake["initiator_ephemeral_public"] ?? ""))
        let transcript = try Digest32(bytes: Hex.decode(handshake["transcript_hash"] ?? "") ?? [])
        let phone = try DevicePublicKey(bytes: Hex.decode(json["phone_public_key"] as? String ?? "") ?? [])
        #expect(
            try PeerHandshake.openAuth(
                Hex.decode(handshake["responder_auth"] ?? "") ?? [], transcript: transcript, role: .responder,
                isAuthorised: { $0 == phone }) == phone)
        let lan = try #require(json["lan_announcement"] as? [String: Any])
        #expect(
            PeerAnnouncement.open(
                Hex.decode(lan["bytes"] as? String ?? "") ?? [], identity: identity,
                now: UInt64(lan["now"] as? Int ?? 0)) == 8788)
    }

    @Test("an independent implementation (PyNaCl, from docs/PROTOCOL.md) reproduces every channel vector")
    func independentImplementation() async throws {
        let root = Self.vectors.packageRoot
        let script = root.appendingPathComponent("Tests/interop/verify_channels.py").path
        let (status, text) = try await runPython([script, Self.file.path])
        #expect(status == 0, "\(text)")
        #expect(text.contains("15 passed, 0 failed"), "\(text)")
    }
}
