import ArgumentParser
import LedgerCore
import LedgerCrypto

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List the devices linked to this identity.")
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Flag(name: .long, help: "Every change to the devices in order: linked, revoked, forked, quarantined.")
    var log = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            if log { return try await printLog(context) }
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
                                (
                                    "settled",
                                    d.settlement.map { s in
                                        .object([
                                            ("by", .string(s.author.hex)), ("chosen", .string(s.chosen.hex)),
                                            ("through_seq", .integer(Int128(s.through))),
                                        ])
                                    } ?? .null
                                ),
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
                if let s = d.settlement {
                    state +=
                        ", settled by \(names[s.author] ?? s.author.fingerprint): its branch counts through seq \(s.through)"
                } else if d.forkSeq != nil {
                    state += " (`ledgerlink fork settle` chooses the branch that counts)"
                }
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

    /// `devices --log`: one line (or JSON object) per change, oldest first.
    private func printLog(_ context: DeviceContext) async throws {
        let events = try await context.engine.deviceLog()
        let names = try await context.deviceNames()
        func name(_ key: DevicePublicKey) -> String { "\(names[key] ?? "(unnamed)") (\(key.fingerprint))" }
        if json {
            printJSON(
                .array(
                    events.map { event in
                        .object([
                            ("time", event.time == .max ? .null : .string(TimeText.iso(event.time))),
                            ("event", .string(event.kind.rawValue)), ("by", .string(event.by.hex)),
                            ("by_name", .string(names[event.by] ?? "")), ("device", .string(event.device.hex)),
                            ("device_name", .string(names[event.device] ?? "")),
                            ("recovery_key", .bool(event.isRecovery)), ("seq", .optional(event.seq)),
                            ("rotated_to", .optional(event.rotatedTo)), ("count", .optional(event.count)),
                        ])
                    }))
            return
        }
        if events.isEmpty { print("No device changes yet.") }
        for event in events {
            let when = event.time == .max ? "now            " : TimeText.short(event.time)
            let what = event.isRecovery ? "recovery key " : ""
            let line: String
            switch event.kind {
            case .created:
                line = "\(name(event.by)) created the identity"
            case .linked:
                line = "\(name(event.by)) linked \(what)\(name(event.device))"
            case .revoked:
                line =
                    "\(name(event.by)) revoked \(what)\(name(event.device)) after its entry #\(event.seq ?? 0); the new "
                    + "data key was sealed to \(event.rotatedTo ?? 0) key\(event.rotatedTo == 1 ? "" : "s")"
            case .forked:
                line =
                    "\(name(event.device)) signed two different entries at seq \(event.seq ?? 0) (a fork): its entries "
                    + "from there on do not count"
            case .quarantined:
                let count = event.count ?? 0
                line =
                    "\(name(event.device)) has \(count) entr\(count == 1 ? "y" : "ies") from #\(event.seq ?? 0) written "
                    + "after its revocation: kept, never counted (`history --quarantined`)"
            }
            print("\(when)  \(line)")
        }
    }
}
