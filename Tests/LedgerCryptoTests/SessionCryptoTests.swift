import LedgerCrypto
import Testing

@Suite("Session crypto (for the peer channel)")
struct SessionCryptoTests {
    @Test("both ends of a key exchange derive matching send and receive keys; a third party does not")
    func keyExchange() throws {
        let client = KeyExchangeKeyPair()
        let server = KeyExchangeKeyPair()
        let c = try client.sessionKeys(peer: server.publicKey, isClient: true)
        let s = try server.sessionKeys(peer: client.publicKey, isClient: false)
        #expect(c.send.copyBytes() == s.receive.copyBytes())
        #expect(c.receive.copyBytes() == s.send.copyBytes())
        #expect(c.send.copyBytes() != c.receive.copyBytes())
        let eve = try KeyExchangeKeyPair().sessionKeys(peer: server.publicKey, isClient: true)
        #expect(eve.send.copyBytes() != c.send.copyBytes())
        #expect(throws: CryptoError.self) { try client.sessionKeys(peer: [1, 2, 3], isClient: true) }
    }

    @Test("a secret stream delivers messages in order and ends with the final one")
    func roundTrip() throws {
        let key = SymmetricKey.generate()
        var sender = SecretStream.Sender(key: key)
        var receiver = try SecretStream.Receiver(header: sender.header, key: key)
        let frames = (0..<5).map { sender.seal(Array("frame \($0)".utf8), isFinal: $0 == 4) }
        for (i, frame) in frames.enumerated() {
            #expect(try receiver.open(frame) == Array("frame \(i)".utf8))
        }
        let finished = receiver.isFinished
        #expect(finished)
        #expect(throws: CryptoError.decryptionFailed) { try receiver.open(frames[0]) }
    }

    @Test("a changed, dropped, replayed or reordered frame is refused")
    func tampering() throws {
        let key = SymmetricKey.generate()
        var sender = SecretStream.Sender(key: key)
        let frames = (0..<3).map { sender.seal([UInt8]($0..<($0 + 10))) }
        var changed = frames[0]
        changed[3] ^= 1
        for attack in [[changed], [frames[1]], [frames[0], frames[0]], [frames[0], frames[2]]] {
            var receiver = try SecretStream.Receiver(header: sender.header, key: key)
            #expect(throws: CryptoError.decryptionFailed) {
                for frame in attack { _ = try receiver.open(frame) }
            }
        }
        var wrongKey = try SecretStream.Receiver(header: sender.header, key: .generate())
        #expect(throws: CryptoError.decryptionFailed) { try wrongKey.open(frames[0]) }
        #expect(throws: CryptoError.self) { _ = try SecretStream.Receiver(header: [1], key: key) }
    }
}
