import Foundation
import LedgerTestSupport
import Testing

@Suite("Device log")
struct DeviceLogTests {
    @Test("devices --log lists every change in order: made, linked, forked, revoked, recovery key, quarantined")
    func log() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let phone = try await laptop.linkNewDevice(name: "phone")
        try await laptop.send(to: phone)
        // The phone's folder is restored from a backup and writes again offline: a fork.
        let backup = phone.home.deletingLastPathComponent().appendingPathComponent("phone-backup")
        try FileManager.default.copyItem(at: phone.home, to: backup)
        try await phone.ok("earn", "3")
        try await phone.send(to: laptop)
        try FileManager.default.removeItem(at: phone.home)
        try FileManager.default.copyItem(at: backup, to: phone.home)
        try await phone.ok("earn", "4", "--offline")
        let file = phone.home.deletingLastPathComponent().appendingPathComponent("phone.export")
        try await phone.ok("export").write(to: file, atomically: true, encoding: .utf8)
        #expect(try await laptop.run("import", file.path).status == 5)
        try await laptop.ok("revoke", "phone", "--yes")
        let (_, created) = try await laptop.createRecoveryWords()
        #expect(created.status == 0)
        // A tablet, revoked while offline, writes on; the laptop keeps that as evidence.
        let tablet = try await laptop.linkNewDevice(name: "tablet")
        let whole = laptop.home.deletingLastPathComponent().appendingPathComponent("laptop.export")
        try await laptop.ok("export").write(to: whole, atomically: true, encoding: .utf8)
        #expect(try await tablet.run("import", whole.path).status == 5)  // it learns of the phone's fork
        try await laptop.ok("revoke", "tablet", "--yes")
        try await tablet.ok("earn", "2", "--offline")
        let late = laptop.home.deletingLastPathComponent().appendingPathComponent("tablet.export")
        try await tablet.ok("export").write(to: late, atomically: true, encoding: .utf8)
        try await laptop.run("import", late.path)

        let text = try await laptop.ok("devices", "--log")
        let lines = text.split(separator: "\n").map(String.init)
        let order = [
            "created the identity", "linked phone", "signed two different entries", "revoked phone",
            "linked recovery key", "linked tablet", "revoked tablet", "written after its revocation",
        ]
        var at = -1
        for step in order {
            let found = try #require(lines.firstIndex { $0.contains(step) }, "\(step) in \(text)")
            #expect(found > at, "\(step) comes after the step before it")
            at = found
        }
        #expect(text.contains("after its entry #"))
        let events = try #require(try await laptop.json("devices", "--log") as? [[String: Any]])
        #expect(
            events.map { $0["event"] as? String } == [
                "created", "linked", "forked", "revoked", "linked", "linked", "revoked", "quarantined",
            ])
        #expect(events[4]["recovery_key"] as? Bool == true)
        #expect(events[3]["rotated_to"] as? Int == 1)  // the phone's revoke: the laptop alone remained
        #expect(events[6]["rotated_to"] as? Int == 2)  // the tablet's: the laptop and the recovery key
        #expect(events[7]["count"] as? Int == 1)
        #expect(events[7]["time"] is NSNull)
    }
}
