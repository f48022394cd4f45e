import LedgerCore
import LedgerCrypto

/// The UDP announcement a device broadcasts on its network so that the identity's other
/// devices find it (docs/PROTOCOL.md, "LAN announcement"). To anyone without the identity id
/// it is random bytes: no identity, no device, nothing that links two announcements.
package enum PeerAnnouncement {
    /// Bytes on the wire: magic (4), nonce (16), port (2), tag (16).
    package static let length = 38
    /// Seconds per tag window; a tag is accepted in its own window and the ones beside it.
    package static let window: UInt64 = 60

    static let magic = Array("LLA1".utf8)
    static let label = Array("ledgerlink-peer-announce-v1".utf8)

    /// An announcement that a peer listener of the identity accepts on `port`, made at `now`
    /// (seconds since 1970). Each carries a fresh random nonce, so no two look alike.
    package static func make(
        identity: IdentityID, port: UInt16, now: UInt64, nonce: [UInt8] = SecureRandom.bytes(16)
    ) -> [UInt8] {
        let portBytes = [UInt8(port >> 8), UInt8(port & 0xff)]
        return magic + nonce + portBytes + tag(identity: identity, nonce: nonce, port: portBytes, window: now / window)
    }

    /// The announced port when `bytes` is an announcement of this identity made within a
    /// window of `now`; nil otherwise (a stranger's, another identity's, tampered or stale).
    package static func open(_ bytes: [UInt8], identity: IdentityID, now: UInt64) -> UInt16? {
        guard bytes.count == length, Array(bytes[0..<4]) == magic else { return nil }
        let nonce = Array(bytes[4..<20])
        let portBytes = Array(bytes[20..<22])
        let given = Array(bytes[22...])
        let current = now / window
        for w in [current, current &- 1, current &+ 1]
        where constantTimeEqual(given, tag(identity: identity, nonce: nonce, port: portBytes, window: w)) {
            return UInt16(portBytes[0]) << 8 | UInt16(portBytes[1])
        }
        return nil
    }

    private static func tag(identity: IdentityID, nonce: [UInt8], port: [UInt8], window: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.raw(label)
        w.u64(window)
        w.raw(nonce)
        w.raw(port)
        return Blake2b.keyedHash(w.bytes, key: identity.bytes, length: 16)
    }
}
