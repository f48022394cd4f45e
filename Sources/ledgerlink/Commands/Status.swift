import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerSync

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this device, the ledger's state and its vector clock.")
    @OptionGroup var homeOptions: HomeOptions
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await userFacing {
            let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
            let engine = context.engine
            let status = try await engine.status()
            let clock = try await engine.clock()
            let names = try await context.deviceNames()
            let name = names[engine.device] ?? "(unnamed)"
            let peers = PeerStatus.read(from: context.home.peerStatusFile).flatMap { $0.isLive ? $0 : nil }
            let record = SyncRecord.load(context.home)
            let lastPeerSync = [record.peer, peers?.lastSync].compactMap { $0 }.max()
            let storeURL = (try? DeviceConfig.load(context.home))?.store
            let poller = StoreStatus.read(from: context.home.storeStatusFile).flatMap { $0.isLive ? $0 : nil }
            let lastStoreSync = [record.store, poller?.lastSuccess].compactMap { $0 }.max()
            let forks = try await engine.provenForks()
            let storeProblems = try engine.store.storeProblems()
            let possession = try engine.store.possessionProofs()
            // A held fork, or a store caught misbehaving, is a problem for scripts too: the exit
            // code says so after the report.
            let outcome: ExitCode =
                !storeProblems.isEmpty
                ? ExitCode(ExitStatus.storeMisbehaved) : forks.isEmpty ? .success : ExitCode(ExitStatus.fork)
            if json {
                printJSON(
                    .object([
                        ("identity", .string(engine.identity.hex)), ("device", .string(engine.device.hex)),
                        ("device_name", .string(name)), ("home", .string(context.home.url.path)),
                        ("entries", .integer(Int128(status.entries))), ("held", .integer(Int128(status.held))),
                        ("uncounted", .integer(Int128(status.uncounted))), ("forks", .integer(Int128(status.forks))),
                        ("devices", .integer(Int128(status.devices))), ("clock_digest", .string(clock.digest.hex)),
                        (
                            "forked_devices",
                            .array(
                                forks.sorted { $0.key < $1.key }.map { key, seq in
                                    .object([
                                        ("device", .string(key.hex)), ("name", .string(names[key] ?? "(unnamed)")),
                                        ("seq", .integer(Int128(seq))), ("this_device", .bool(key == engine.device)),
                                    ])
                                })
                        ),
                        (
                            "clock",
                            .array(
                                clock.entries.map {
                                    .object([
                                        ("device", .string($0.author.hex)), ("seq", .integer(Int128($0.seq))),
                                        ("head", .string($0.head.hex)), ("fork_seq", .integer(Int128($0.forkSeq))),
                                    ])
                                })
                        ),
                        ("peer", peerJSON(peers, lastSync: lastPeerSync)),
                        ("store", storeJSON(storeURL, poller, lastSync: lastStoreSync)),
                        ("store_problems", .array(storeProblems.map(storeProblemJSON))),
                        (
                            "store_possession",
                            .array(
                                possession.map {
                                    .object([
                                        ("store", .string($0.origin)), ("sampled", .integer(Int128($0.sampled))),
                                        ("through_seq", .integer(Int128($0.through))),
                                        (
                                            "proven",
                                            .string(TimeText.iso($0.time))
                                        ),
                                    ])
                                })
                        ),
                    ]))
                if outcome != .success { throw outcome }
                return
            }
            print("Identity:  \(engine.identity.hex)")
            print("Device:    \(name) (\(engine.device.fingerprint))")
            print("Data:      \(context.home.url.path)")
            print("Entries:   \(status.entries) counted, \(status.held) waiting, \(status.uncounted) not counted")
            print("Devices:   \(status.devices) active")
            for line in try await context.forkLines(forks) { print(line) }
            print("Clock:     \(clock.digest.hex)")
            for entry in clock.entries {
                print("  \(names[entry.author] ?? entry.author.fingerprint): seq \(entry.seq)")
            }
            if let peers {
                let discovery = peers.discovery ? "discovery on" : "discovery off"
                print(
                    "Peers:     listening on \(peers.listening ?? "-"), \(discovery), \(peers.connections.count) connected"
                )
                for connection in peers.connections {
                    print(
                        "  \(TextSafety.sanitised(connection.name)) at \(connection.address) (\(connection.direction)),"
                            + " since \(TimeText.short(connection.since)), last seen \(TimeText.short(connection.lastSeen))"
                    )
                }
                if let error = peers.lastError { print("  last problem: \(TextSafety.sanitised(error))") }
            } else {
                print("Peers:     not listening (run `ledgerlink listen`)")
            }
            if let storeURL {
                let state =
                    poller.map { p in
                        p.consecutiveFailures == 0
                            ? "polled, next \(p.nextDue.map(TimeText.short) ?? "soon")"
                            : "failing (\(p.consecutiveFailures) in a row: \(TextSafety.sanitised(p.lastError ?? "")))"
                    } ?? "not polled now (run `ledgerlink listen` or the TUI)"
                print("Store:     \(TextSafety.sanitised(storeURL)), \(state)")
            }
            print(
                "Last sync: peer \(lastPeerSync.map(TimeText.short) ?? "never"), store "
                    + "\(lastStoreSync.map(TimeText.short) ?? "never")")
            for proof in possession {
                let when = TimeText.short(proof.time)
                print(
                    "Store proof: \(TextSafety.sanitised(proof.origin)) proved it holds this device's entries "
                        + "(\(proof.sampled) picked at random up to #\(proof.through)) at \(when)")
            }
            // One line per kind of problem per store (the first found), with how many more.
            let groups = Dictionary(grouping: storeProblems) { $0.origin + "\u{0}" + $0.kind }
            var shown: Set<String> = []
            for problem in storeProblems where shown.insert(problem.origin + "\u{0}" + problem.kind).inserted {
                let more = (groups[problem.origin + "\u{0}" + problem.kind]?.count ?? 1) - 1
                print(
                    "Store problem (\(TimeText.short(problem.time))): \(TextSafety.sanitised(problem.message))"
                        + (more > 0 ? " (and \(more) more like it)" : ""))
            }
            if !storeProblems.isEmpty {
                print("  (`ledgerlink stores` shows each with its proof; README, \"A store that lies is caught\")")
            }
            if outcome != .success { throw outcome }
        }
    }
}

func storeProblemJSON(_ problem: StoreProblemRecord) -> JSONValue {
    return .object([
        ("kind", .string(problem.kind)), ("store", .string(problem.origin)),
        ("store_key", .string(Hex.encode(problem.storeKey))),
        ("message", .string(TextSafety.sanitised(problem.message))), ("found", .string(TimeText.iso(problem.time))),
        ("proof", .string(String(decoding: problem.proof, as: UTF8.self))),
    ])
}

private func peerJSON(_ status: PeerStatus?, lastSync: Date?) -> JSONValue {
    .object([
        ("running", .bool(status != nil)),
        ("listening", status?.listening.map { .string($0) } ?? .null),
        ("discovery", .bool(status?.discovery ?? false)),
        (
            "connections",
            .array(
                (status?.connections ?? []).map {
                    .object([
                        ("device", .string($0.device)), ("name", .string(TextSafety.sanitised($0.name))),
                        ("address", .string($0.address)), ("direction", .string($0.direction)),
                        ("since", .string(TimeText.iso($0.since))), ("last_seen", .string(TimeText.iso($0.lastSeen))),
                        ("sent", .integer(Int128($0.sent))), ("received", .integer(Int128($0.received))),
                    ])
                })
        ),
        ("last_sync", lastSync.map { .string(TimeText.iso($0)) } ?? .null),
        ("last_error", status?.lastError.map { .string(TextSafety.sanitised($0)) } ?? .null),
    ])
}

private func storeJSON(_ url: String?, _ status: StoreStatus?, lastSync: Date?) -> JSONValue {
    .object([
        ("url", url.map { .string(TextSafety.sanitised($0)) } ?? .null),
        ("running", .bool(status != nil)),
        ("last_success", status?.lastSuccess.map { .string(TimeText.iso($0)) } ?? .null),
        ("next_due", status?.nextDue.map { .string(TimeText.iso($0)) } ?? .null),
        ("consecutive_failures", .integer(Int128(status?.consecutiveFailures ?? 0))),
        ("last_error", status?.lastError.map { .string(TextSafety.sanitised($0)) } ?? .null),
        ("receiving", status?.receiving.map { .integer(Int128($0)) } ?? .null),
        ("total", status?.total.map { .integer(Int128($0)) } ?? .null),
        ("last_sync", lastSync.map { .string(TimeText.iso($0)) } ?? .null),
    ])
}
