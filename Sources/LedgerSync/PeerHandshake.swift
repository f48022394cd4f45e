import LedgerCore
import LedgerCrypto

/// Why a peer handshake was abandoned. Every failure closes the connection.
package enum HandshakeError: Error, Equatable, Sendable {
    /// The hello was not made with this identity's id (a stranger, or another identity).
    case wrongIdentity
    /// A message had the wrong length or shape.
    case malformed
    /// The peer's device signature over the transcript does not verify.
    case badSignature
    /// The peer is not an authorised device of the identity (unknown or revoked).
    case unauthorised(DevicePublicKey)
}

/// The peer-channel handshake (docs/PROTOCOL.md, "Peer handshake"), as pure functions over
/// bytes so it is tested without sockets.
///
/// 1. Each end sends a hello: an ephemeral X25519 key and a BLAKE2b tag keyed with the
///    identity id. A stranger who lacks the id can neither make nor check one, and learns
///    nothing but random bytes; the responder's tag also covers the initiator's key, so a
///    recorded hello cannot be replayed as an answer.
/// 2. Both derive session keys (crypto_kx, the initiator as client) and a transcript hash.
/// 3. Each proves it is a device of the identity: its device key and an Ed25519 signature over
///    the transcript and its role, sent as the first message of its secretstream. The receiver
///    checks the signature and asks the roster whether that device may take part.
package enum PeerHandshake {
    /// Bytes of a hello: ephemeral key (32) and tag (32).
    package static let helloLength = 64
    /// Bytes of an authentication message: device key (32) and signature (64).
    package static let authLength = 96

    package enum Role: UInt8, Sendable {
        case initiator = 1
        case responder = 2
    }

    static let helloLabel = Array("ledgerlink-peer-hello-v1".utf8)
    static let transcriptLabel = Array("ledgerlink-peer-transcript-v1".utf8)
    static let authLabel = Array("ledgerlink-peer-auth-v1".utf8)

    /// A hello for `ephemeral`; the responder passes the initiator's key as `answering`.
    package static func hello(identity: IdentityID, ephemeral: [UInt8], answering: [UInt8]? = nil) -> [UInt8] {
        ephemeral + tag(identity: identity, ephemeral: ephemeral, answering: answering)
    }

    /// Checks a hello and returns the peer's ephemeral key.
    package static func openHello(_ message: [UInt8], identity: IdentityID, answering: [UInt8]? = nil)
        throws(HandshakeError) -> [UInt8]
    {
        guard message.count == helloLength else { throw .malformed }
        let ephemeral = Array(message[0..<32])
        let expected = tag(identity: identity, ephemeral: ephemeral, answering: answering)
        guard constantTimeEqual(Array(message[32...]), expected) else { throw .wrongIdentity }
        return ephemeral
    }

    private static func tag(identity: IdentityID, ephemeral: [UInt8], answering: [UInt8]?) -> [UInt8] {
        Blake2b.keyedHash(helloLabel + ephemeral + (answering ?? []), key: identity.bytes)
    }

    /// The hash both ends sign: identity, then the initiator's and the responder's ephemeral keys.
    package static func transcript(identity: IdentityID, initiator: [UInt8], responder: [UInt8]) -> Digest32 {
        Blake2b.hash(transcriptLabel + identity.bytes + initiator + responder)
    }

    /// This device's proof for the given role.
    package static func auth(keyPair: SigningKeyPair, transcript: Digest32, role: Role) -> [UInt8] {
        keyPair.publicKey.bytes + keyPair.sign(authLabel + transcript.bytes + [role.rawValue]).bytes
    }

    /// Checks the peer's proof (made in `role`) and that the roster admits its device.
    package static func openAuth(
        _ message: [UInt8], transcript: Digest32, role: Role, isAuthorised: (DevicePublicKey) -> Bool
    ) throws(HandshakeError) -> DevicePublicKey {
        guard message.count == authLength,
            let device = try? DevicePublicKey(bytes: Array(message[0..<32])),
            let signature = try? Signature(bytes: Array(message[32...]))
        else { throw .malformed }
        guard device.isValidSignature(signature, for: authLabel + transcript.bytes + [role.rawValue]) else {
            throw .badSignature
        }
        guard isAuthorised(device) else { throw .unauthorised(device) }
        return device
    }
}
