import Foundation
import LedgerTestSupport
import Testing

@Suite("Revoke")
struct RevokeTests {
    @Test("a revoked device's later entries are quarantined, it cannot write, and it cannot read new entries")
    func revokeAndQuarantine() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        try await phone.ok("spend", "1", "--memo", "before")
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 900)

        let refusal = try await laptop.run("revoke", "phone")  // no terminal, no --yes
        #expect(refusal.status == 1)
        #expect(refusal.stderr.contains("--yes"))
        #expect(try await laptop.run("revoke", "nobody", "--yes").stderr.contains("no device \"nobody\""))
        #expect(try await laptop.run("revoke", "laptop", "--yes").stderr.contains("the device you are on"))
        let revoked = try await laptop.ok("revoke", "phone", "--yes")
        #expect(revoked.contains("Revoked phone"))
        #expect(revoked.contains("after its seq 1"))
        try await laptop.ok("earn", "5", "--memo", "secret after revoke")

        // The phone, still offline, writes again; the laptop quarantines it.
        try await phone.ok("spend", "100", "--memo", "after", "--allow-negative")
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 1400)
        let devices = try #require(try await laptop.json("devices") as? [[String: Any]])
        let phoneRow = try #require(devices.first { $0["name"] as? String == "phone" })
        #expect(phoneRow["state"] as? String == "revoked")
        #expect(phoneRow["revoked_after_seq"] as? Int == 1)
        #expect(phoneRow["quarantined"] as? Int == 1)

        // The phone learns of its revocation: it can no longer write, nor read what followed.
        try await laptop.send(to: phone)
        let write = try await phone.run("earn", "1")
        #expect(write.status == 1)
        #expect(write.stderr.contains("revoked"))
        let balance = try #require(try await phone.json("balance") as? [String: Any])
        #expect(balance["unreadable_entries"] as? Int == 1)
        #expect(try await laptop.run("revoke", "phone", "--yes").stderr.contains("already revoked"))
    }

    @Test(
        "a revoked device that wrote while offline is refused by the store and by the peer channel when it reconnects; its late entries are quarantined and listed"
    )
    func revokedDeviceReconnects() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        let store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        try await phone.ok("sync", "--store", store.url)
        try await phone.ok("spend", "1", "--memo", "before")
        try await phone.ok("sync")
        try await laptop.ok("sync")
        #expect(try await laptop.balanceMinor() == 900)

        // The laptop revokes the phone and tells the store; the phone is offline and writes on.
        try await laptop.ok("revoke", "phone", "--yes")
        try await laptop.ok("sync")
        try await phone.ok("spend", "100", "--memo", "after the revoke", "--allow-negative")

        let refusedByStore = try await phone.run("sync")
        #expect(refusedByStore.status != 0)
        #expect(refusedByStore.stderr.contains("not a linked, unrevoked device"), "\(refusedByStore.stderr)")
        let listener = try await Listener.start(laptop)
        defer { listener.stopNow() }
        let refusedByPeer = try await phone.run("sync", "--peer", listener.address)
        #expect(refusedByPeer.status != 0)
        #expect(try await laptop.balanceMinor() == 900)

        // Handed over by file, its late entry is kept as evidence and shown, never counted.
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 900)
        let devices = try await laptop.ok("devices")
        #expect(devices.contains("1 quarantined entry"))
        let quarantined = try await laptop.ok("history", "--quarantined")
        #expect(quarantined.contains("after the revoke"))
        #expect(quarantined.contains("-100.00"))
        #expect(!quarantined.contains("before"))
        #expect(try await laptop.ok("history").contains("after the revoke") == false)
    }
}
