import LedgerCore
import LedgerCrypto
import LedgerSync
import LedgerTestSupport
import Testing

/// One end of a handshake run in memory, as the peer channel will run it over TCP.
struct End {
    let keyPair: SigningKeyPair
    let identity: IdentityID
    let ephemeral = KeyExchangeKeyPair()
}

/// Runs the whole handshake; `tamper` may replace any message in flight.
func handshake(
    _ a: End, _ b: End, authorised: Set<DevicePublicKey>,
    tamper: (String, [UInt8]) -> [UInt8] = { $1 }
) throws -> (atB: DevicePublicKey, atA: DevicePublicKey) {
    let hello1 = tamper("hello1", PeerHandshake.hello(identity: a.identity, ephemeral: a.ephemeral.publicKey))
    let aEph = try PeerHandshake.openHello(hello1, identity: b.identity)
    let hello2 = tamper(
        "hello2", PeerHandshake.hello(identity: b.identity, ephemeral: b.ephemeral.publicKey, answering: aEph))
    let bEph = try PeerHandshake.openHello(hello2, identity: a.identity, answering: a.ephemeral.publicKey)
    let aKeys = try a.ephemeral.sessionKeys(peer: bEph, isClient: true)
    let bKeys = try b.ephemeral.sessionKeys(peer: aEph, isClient: false)
    let aTranscript = PeerHandshake.transcript(identity: a.identity, initiator: a.ephemeral.publicKey, responder: bEph)
    let bTranscript = PeerHandshake.transcript(identity: b.identity, initiator: aEph, responder: b.ephemeral.publicKey)

    var aSender = SecretStream.Sender(key: aKeys.send)
    var bReceiver = try SecretStream.Receiver(header: aSender.header, key: bKeys.receive)
    let auth1 = tamper(
        "auth1", aSender.seal(PeerHandshake.auth(keyPair: a.keyPair, transcript: aTranscript, role: .initiator)))
    let initiator = try PeerHandshake.openAuth(
        try bReceiver.open(auth1), transcript: bTranscript, role: .initiator, isAuthorised: authorised.contains)

    var bSender = SecretStream.Sender(key: bKeys.send)
    var aReceiver = try SecretStream.Receiver(header: bSender.header, key: aKeys.receive)
    let auth2 = tamper(
        "auth2", bSender.seal(PeerHandshake.auth(keyPair: b.keyPair, transcript: bTranscript, role: .responder)))
    let responder = try PeerHandshake.openAuth(
        try aReceiver.open(auth2), transcript: aTranscript, role: .responder, isAuthorised: authorised.contains)
    return (initiator, responder)
}

@Suite("Peer handshake")
struct PeerHandshakeTests {
    let fixture: LedgerFixture
    let authorised: Set<DevicePublicKey>

    init() throws {
        fixture = try LedgerFixture(deviceCount: 2)
        authorised = Set(fixture.devices.map(\.publicKey))
    }

    @Test("two devices of one identity authenticate each other and share session keys")
    func success() throws {
        let a = End(keyPair: fixture.devices[0], identity: fixture.identity)
        let b = End(keyPair: fixture.devices[1], identity: fixture.identity)
        let (atB, atA) = try handshake(a, b, authorised: authorised)
        #expect(atB == fixture.devices[0].publicKey)
        #expect(atA == fixture.devices[1].publicKey)
    }

    @Test("a stranger without the identity id fails at the first message, in either role")
    func stranger() throws {
        let other = try LedgerFixture(deviceCount: 1)
        let stranger = End(keyPair: other.devices[0], identity: other.identity)
        let b = End(keyPair: fixture.devices[1], identity: fixture.identity)
        #expect(throws: HandshakeError.wrongIdentity) { try handshake(stranger, b, authorised: authorised) }
        #expect(throws: HandshakeError.wrongIdentity) { try handshake(b, stranger, authorised: authorised) }
    }

    @Test("a recorded answer cannot be replayed into another session")
    func replayedHello() throws {
        let a = End(keyPair: fixture.devices[0], identity: fixture.identity)
        let b = End(keyPair: fixture.devices[1], identity: fixture.identity)
        var recorded: [UInt8] = []
        _ = try handshake(a, b, authorised: authorised) { name, message in
            if name == "hello2" { recorded = message }
            return message
        }
        let a2 = End(keyPair: fixture.devices[0], identity: fixture.identity)
        #expect(throws: HandshakeError.wrongIdentity) {
            try handshake(a2, b, authorised: authorised) { name, message in name == "hello2" ? recorded : message }
        }
    }

    @Test("an authentication from another session, or reflected back, does not verify")
    func replayedOrReflectedAuth() throws {
        let a = End(keyPair: fixture.devices[0], identity: fixture.identity)
        let b = End(keyPair: fixture.devices[1], identity: fixture.identity)
        // The proofs are bound to the transcript and the role: a device's own proof sent back
        // to it, re-sealed for its stream, is refused.
        let transcript = PeerHandshake.transcript(identity: fixture.identity, initiator: [1], responder: [2])
        let proof = PeerHandshake.auth(keyPair: fixture.devices[0], transcript: transcript, role: .initiator)
        #expect(throws: HandshakeError.badSignature) {
            try PeerHandshake.openAuth(proof, transcript: transcript, role: .responder, isAuthorised: { _ in true })
        }
        let otherTranscript = PeerHandshake.transcript(identity: fixture.identity, initiator: [1], responder: [3])
        #expect(throws: HandshakeError.badSignature) {
            try PeerHandshake.openAuth(
                proof, transcript: otherTranscript, role: .initiator, isAuthorised: { _ in true })
        }
        // And a changed encrypted frame is refused by the stream before anything is believed.
        #expect(throws: CryptoError.decryptionFailed) {
            try handshake(a, b, authorised: authorised) { name, message in
                name == "auth1" ? [message[0] ^ 1] + message.dropFirst() : message
            }
        }
    }

    @Test("a device the roster does not admit (never linked, or revoked) is refused by name")
    func unauthorised() throws {
        let outsider = SigningKeyPair.generate()  // knows the identity id but holds no certificate
        let a = End(keyPair: outsider, identity: fixture.identity)
        let b = End(keyPair: fixture.devices[1], identity: fixture.identity)
        #expect(throws: HandshakeError.unauthorised(outsider.publicKey)) { try handshake(a, b, authorised: authorised) }
    }

    @Test("messages of the wrong length are refused")
    func malformed() {
        #expect(throws: HandshakeError.malformed) {
            try PeerHandshake.openHello([1, 2, 3], identity: fixture.identity)
        }
        let transcript = PeerHandshake.transcript(identity: fixture.identity, initiator: [], responder: [])
        #expect(throws: HandshakeError.malformed) {
            try PeerHandshake.openAuth([UInt8](repeating: 0, count: 95), transcript: transcript, role: .initiator) {
                _ in true
            }
        }
    }
}
