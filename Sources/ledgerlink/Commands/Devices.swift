import ArgumentParser
import LedgerCore

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the devices linked to this identity.")
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let devices = try await context.engine.devices()
            let names = try await context.deviceNames()
            if json {
                printJSON(
                    .array(
                        devices.map { d in
                            .object([
                                ("key", .string(d.key.hex)), ("fingerprint", .string(d.key.fingerprint)),
                                ("name", .optional(d.name)), ("this_device", .bool(d.isThisDevice)),
                                ("state", .string(d.state)),
                                ("linked_by", .optional(d.linkedBy?.hex)),
                                ("linked_at", .string(TimeText.iso(d.linkedAt))),
                                ("revoked_after_seq", .optional(d.boundary)),
                                ("revoked_by", .optional(d.revokedBy?.hex)),
                                ("fork_seq", .optional(d.forkSeq)), ("entries", .integer(Int128(d.entries))),
                                ("last_seen", .optional(d.lastSeen.map(TimeText.iso))),
                                ("quarantined", .integer(Int128(d.quarantined))),
                                ("recovery_key", .bool(d.isRecovery)),
                            ])
                        }))
                return
            }
            let keys = devices.filter(\.isRecovery)
            for d in devices where !d.isRecovery {
                let name = TextSafety.sanitised(d.name ?? "(unnamed)") + (d.isThisDevice ? " (this device)" : "")
                var state = d.state
                if let b = d.boundary { state += " after seq \(b)" }
                if let f = d.forkSeq { state = "forked at seq \(f)" }
                let linked = d.linkedBy.map { "linked by \(names[$0] ?? $0.fingerprint)" } ?? "created the identity"
                let seen = d.lastSeen.map { "last entry \(TimeText.short($0))" } ?? "no entries"
                print(
                    "\(name)\n  \(d.key.fingerprint)  \(state)  \(d.entries) entries  \(linked) \(TimeText.short(d.linkedAt))  \(seen)"
                )
                if d.quarantined > 0 {
                    print(
                        "  \(d.quarantined) quarantined entr\(d.quarantined == 1 ? "y" : "ies"): written after the "
                            + "revocation, kept as evidence and never counted (`ledgerlink history --quarantined`)")
                }
            }
            if !keys.isEmpty {
                let active = keys.filter { $0.boundary == nil }.count
                print(
                    "\nRecovery keys: \(active) active\(keys.count > active ? ", \(keys.count - active) revoked" : "") "
                        + "(`ledgerlink recovery list`)")
            }
        }
    }
}
