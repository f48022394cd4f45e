import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("Roster")
struct RosterTests {
    @Test("a link written by a device after its revocation boundary admits nobody")
    func linkAfterRevocation() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.revoke(device: 2, by: 0)  // device 2 has no entries: boundary 0
        let intruder = SigningKeyPair.generate()
        try fixture.link(device: intruder, name: "intruder", by: 2)
        let replica = try await fixture.replica(device: 1)
        try await replica.merge(fixture.allEntries)
        let roster = try await replica.currentRoster()
        #expect(roster.devices[intruder.publicKey] == nil)
        #expect(roster.devices[fixture.devices[2].publicKey]?.boundary == 0)
    }

    @Test("a new device that receives the genesis before its own link shows every name once the key arrives")
    func namesAfterTheKeyArrives() async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let replica = try await fixture.replica(device: 1)
        // The genesis names its device under a key this device does not hold yet.
        try await replica.merge([fixture.logs[0][0]])
        try await replica.merge(Array(fixture.logs[0].dropFirst()))
        let names = try await replica.devices().map(\.name)
        #expect(names == ["device-0", "device-1"])
    }

    @Test("concurrent mutual revocations resolve the same way everywhere: the earlier-linked device wins")
    func mutualRevocation() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.record(device: 1, .credit, amount: 1)
        try fixture.record(device: 2, .credit, amount: 1)
        // Device 1 (linked first) and device 2 revoke each other without seeing the other's revoke.
        try fixture.revoke(device: 2, by: 1, boundary: 1)
        try fixture.revoke(device: 1, by: 2, boundary: 1)
        for order in [fixture.allEntries, fixture.allEntries.reversed()] {
            let replica = try await fixture.replica(device: 0)
            for entry in order { try await replica.merge([entry]) }
            let roster = try await replica.currentRoster()
            #expect(roster.devices[fixture.devices[1].publicKey]?.boundary == nil)
            #expect(roster.devices[fixture.devices[2].publicKey]?.boundary == 1)
        }
    }

    @Test("a revoked device can no longer write, and the data key rotates to the others")
    func revokeRotatesKey() async throws {
        let fixture = try LedgerFixture(deviceCount: 3)
        let a = try await fixture.replica(device: 0)
        let b = try await fixture.replica(device: 1)
        let c = try await fixture.replica(device: 2)
        for replica in [a, b, c] { try await replica.merge(fixture.allEntries) }
        try await a.appendRevoke(device: fixture.devices[2].publicKey)
        let secret = try await a.appendRecord(.credit, amount: 99, memo: "after the revoke")
        try await b.merge(try await a.delta(for: try await b.clock()))
        try await c.merge(try await a.delta(for: try await c.clock()))
        #expect(try await b.totals().credits == 99)
        // The revoked device holds the entry but cannot read it.
        #expect(try await c.totals().unreadable == 1)
        #expect(try await c.totals().credits == 0)
        await #expect(throws: LedgerError.self) { try await c.appendRecord(.credit, amount: 1, memo: "") }
        #expect(secret.sealed.count > 0)
    }
}
