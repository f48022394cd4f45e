import LedgerCore
import LedgerCrypto
import LedgerSync
import LedgerTestSupport
import Testing

@Suite("LAN announcement")
struct PeerAnnouncementTests {
    let identity: IdentityID
    let now: UInt64 = 1_800_000_000

    init() throws { identity = try LedgerFixture(deviceCount: 1).identity }

    @Test("a device of the identity reads the port, within a minute either side")
    func roundTrip() {
        let bytes = PeerAnnouncement.make(identity: identity, port: 8788, now: now)
        #expect(bytes.count == PeerAnnouncement.length)
        for later: UInt64 in [0, 30, 59, 100] {
            #expect(PeerAnnouncement.open(bytes, identity: identity, now: now + later) == 8788)
        }
    }

    @Test("another identity, a stale copy, a changed port or garbage is not recognised")
    func refusals() throws {
        let bytes = PeerAnnouncement.make(identity: identity, port: 8788, now: now)
        let other = try LedgerFixture(deviceCount: 1).identity
        #expect(PeerAnnouncement.open(bytes, identity: other, now: now) == nil)
        #expect(PeerAnnouncement.open(bytes, identity: identity, now: now + 3 * PeerAnnouncement.window) == nil)
        var moved = bytes
        moved[21] ^= 1
        #expect(PeerAnnouncement.open(moved, identity: identity, now: now) == nil)
        #expect(PeerAnnouncement.open(Array(bytes.dropLast()), identity: identity, now: now) == nil)
        #expect(PeerAnnouncement.open(SecureRandom.bytes(38), identity: identity, now: now) == nil)
    }

    @Test("to a stranger, two announcements of one listener share only the magic and the port")
    func unlinkable() {
        let a = PeerAnnouncement.make(identity: identity, port: 8788, now: now)
        let b = PeerAnnouncement.make(identity: identity, port: 8788, now: now)
        #expect(a[0..<4] == b[0..<4])
        #expect(a[20..<22] == b[20..<22])
        #expect(a[4..<20] != b[4..<20])
        #expect(a[22...] != b[22...])
    }
}
