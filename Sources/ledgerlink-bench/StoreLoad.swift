import Foundation
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerSync
import LedgerTestSupport
import NIOCore
import NIOPosix

/// `ledgerlink-bench store --url URL[,URL…]`: the load generator against a real deployment (one
/// or several `ledgerlink serve` on loopback, over SQLite or one PostgreSQL). It creates
/// identities over the protocol, spreads their devices over the servers and over client
/// addresses (127.0.0.2 and up, with `--addresses`), has every device poll for `seconds`, then
/// checks that a sample of identities lost and duplicated nothing. With `--server-pids` it reads
/// the servers' resident memory before and after, per identity, and their CPU time while the
/// devices poll, per poll answered; with `--database-pids` (PostgreSQL's postmaster: it and
/// the backends it started) the database's CPU time per poll too.
enum StoreLoad {
    static func run(
        urls: [URL], identities: Int, devicesEach: Int, seconds duration: Double, addresses: Int, pollers wanted: Int,
        serverPIDs: [Int32], databasePIDs: [Int32] = []
    ) async throws {
        let ports = urls.compactMap(\.port)
        guard ports.count == urls.count, urls.allSatisfy({ $0.host == "127.0.0.1" }) else {
            throw LedgerError.invalidState(
                "--url takes http://127.0.0.1:PORT addresses (the generator runs beside the servers)")
        }
        let rssBefore = serverPIDs.map(residentMiB)
        print("setting up \(identities) identities x \(devicesEach) devices over \(urls.count) server(s) ...")
        struct Poller: Sendable {
            var identity: IdentityID
            var keyPair: SigningKeyPair
            var token: String
            var digest: String
            var port: Int
            var source: String
        }
        var pollers: [Poller] = []
        var sample: [(fixture: LedgerFixture, count: Int)] = []
        let started = ContinuousClock.now
        for index in 0..<identities {
            var fixture = try LedgerFixture(deviceCount: devicesEach)
            for i in 0..<20 { try fixture.record(device: 0, .credit, amount: Int64(i + 1)) }
            let root = try await fixture.replica(device: 0)
            try await root.merge(fixture.allEntries)
            let home = urls[index % urls.count]
            let report = try await StoreClient(url: home, engine: root, keyPair: fixture.devices[0]).sync()
            guard report.converged else { throw LedgerError.invalidState("identity \(index) did not reach the store") }
            let digest = try await root.clock().digest.hex
            for (d, device) in fixture.devices.enumerated() {
                let port = ports[(index + d) % ports.count]
                pollers.append(
                    Poller(
                        identity: fixture.identity, keyPair: device, token: "", digest: digest, port: port,
                        source: "127.0.0.2"))
            }
            if index % max(1, identities / 20) == 0 { sample.append((fixture, fixture.allEntries.count)) }
        }
        print(String(format: "  %.1f s", StoreBench.seconds(started.duration(to: .now))))

        // At most `wanted` devices poll at once (one connection each), picked evenly.
        let step = max(1, pollers.count / max(1, wanted))
        pollers = stride(from: 0, to: pollers.count, by: step).prefix(wanted).map { pollers[$0] }
        // Spread over the client addresses by their place among the pollers (picking every
        // `step`-th device would put them all on a few addresses, past the server's cap of
        // connections per address, and measure that cap instead).
        for index in pollers.indices { pollers[index].source = "127.0.0.\(2 + index % max(1, addresses))" }
        // Each poller logs in now, not during the set-up: a set-up longer than a token's 15
        // minutes would otherwise leave the first identities' devices polling with expired ones.
        for index in pollers.indices {
            let poller = pollers[index]
            pollers[index].token = try await RawHTTP.withConnection(port: poller.port, from: poller.source) {
                connection in
                try await connection.token(identity: poller.identity, keyPair: poller.keyPair, port: poller.port)
            }
        }
        print("polling for \(duration) s with \(pollers.count) devices ...")
        let cpuBefore = (serverPIDs.map(cpuSeconds), databasePIDs.map(treeCPUSeconds))
        let deadline = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
        let outcome = try await withThrowingTaskGroup(of: ([Double], [String: Int]).self) { group in
            for poller in pollers {
                group.addTask {
                    var times: [Double] = []
                    var errors: [String: Int] = [:]
                    // A connection the server closed (its header deadline, while the generator
                    // was busy opening a thousand others) counts as an error and is opened again.
                    while ContinuousClock.now < deadline {
                        do {
                            try await RawHTTP.withConnection(port: poller.port, from: poller.source) { connection in
                                let body = Data(#"{"digest":"\#(poller.digest)"}"#.utf8)
                                while ContinuousClock.now < deadline {
                                    let start = ContinuousClock.now
                                    let (status, answer) = try await connection.post(
                                        "/v1/identities/\(poller.identity.hex)/sync", body: body, bearer: poller.token,
                                        port: poller.port)
                                    if status == 200, answer.contains(poller.digest) {
                                        times.append(StoreBench.seconds(start.duration(to: .now)))
                                    } else {
                                        errors["HTTP \(status)", default: 0] += 1
                                    }
                                }
                            }
                        } catch {
                            errors["connection: \(error)".prefix(80).description, default: 0] += 1
                        }
                    }
                    return (times, errors)
                }
            }
            var all: [Double] = []
            var errors: [String: Int] = [:]
            for try await (times, failed) in group {
                all += times
                errors.merge(failed, uniquingKeysWith: +)
            }
            return (all.sorted(), errors)
        }
        let cpuAfter = (serverPIDs.map(cpuSeconds), databasePIDs.map(treeCPUSeconds))
        let latencies = outcome.0
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }

        // Nothing lost, nothing twice: a new device of each sampled identity pulls it from the
        // last server and must hold exactly what was pushed.
        var checked = 0
        for (fixture, count) in sample {
            let fresh = try await fixture.replica(device: devicesEach - 1)
            let url = urls[urls.count - 1]
            let report = try await StoreClient(url: url, engine: fresh, keyPair: fixture.devices[devicesEach - 1])
                .sync()
            let stored = try await fresh.storedEntryCount()
            guard report.converged, stored == count else {
                throw LedgerError.invalidState("identity \(fixture.identity.hex.prefix(8)) holds \(stored) of \(count)")
            }
            checked += 1
        }
        let rate = Double(latencies.count) / duration
        print(
            "nothing-changed polls, \(pollers.count) devices polling of \(identities) identities, \(urls.count) server(s), "
                + "\(addresses) client address(es):")
        print(
            String(
                format: "  %.0f polls/s; latency p50 %.2f ms, p99 %.2f ms; %d errors", rate, percentile(0.5) * 1000,
                percentile(0.99) * 1000, outcome.1.values.reduce(0, +)))
        // Which errors, so a run says what went wrong (limits, deadlines, a server closing).
        for (what, count) in outcome.1.sorted(by: { $0.value > $1.value }).prefix(4) {
            print("    \(count) x \(what)")
        }
        print("  \(checked) sampled identities pulled back whole: 0 lost, 0 duplicated")
        // CPU while the devices polled, per poll answered (every process's share summed).
        let answered = Double(max(1, latencies.count))
        let serverCPU = zip(cpuAfter.0, cpuBefore.0).reduce(0) { $0 + $1.0 - $1.1 }
        let databaseCPU = zip(cpuAfter.1, cpuBefore.1).reduce(0) { $0 + $1.0 - $1.1 }
        if !serverPIDs.isEmpty {
            let database =
                databasePIDs.isEmpty
                ? "" : String(format: ", database %.2f s (%.0f µs a poll)", databaseCPU, databaseCPU / answered * 1e6)
            print(
                String(
                    format: "  CPU while polling: servers %.2f s (%.0f µs a poll)", serverCPU,
                    serverCPU / answered * 1e6)
                    + database)
        }
        for (pid, before) in zip(serverPIDs, rssBefore) {
            let after = residentMiB(pid)
            let per = identities > 0 ? Double(after - before) * 1024 / Double(identities) : 0
            print(String(format: "  server %d: RSS %d -> %d MiB (%.1f KiB per identity)", pid, before, after, per))
        }
    }

    /// User and system CPU time a process has used, in seconds (`/proc/PID/stat`); 0 when it
    /// cannot be read.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name, which may hold spaces: utime and stime are the 12th
        // and 13th of them, in clock ticks.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU time of `pid` and of its children (PostgreSQL runs a process per connection under
    /// its postmaster).
    static func treeCPUSeconds(_ pid: Int32) -> Double {
        let children = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            Int32(name).flatMap { child -> Int32? in
                guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return nil }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
            }
        }
        return children.reduce(cpuSeconds(pid)) { $0 + cpuSeconds($1) }
    }

    static func residentMiB(_ pid: Int32) -> Int { ProcStatus.kib(pid, "VmRSS").map { $0 >> 10 } ?? -1 }
}

/// Fields of a process's /proc/PID/status.
enum ProcStatus {
    /// The field `name` (a size in kB, such as VmRSS, VmHWM or RssAnon) of process `pid`; nil
    /// when the process is gone or the field missing.
    static func kib(_ pid: Int32, _ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") })
        else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }
}
