import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ledgerlink listen` running in the background of a test.
struct Listener {
    let process: Process
    let output: PipeCollector
    let port: Int

    static func start(_ device: Device, _ extra: String...) async throws -> Listener {
        let (process, out, err) = try device.cli.start(
            ["listen", "--host", "127.0.0.1", "--port", "0", "--no-discovery", "--home", device.home.path] + extra)
        let output = PipeCollector(out: out, err: err)
        // Polled with suspensions, not a blocking wait: the cooperative pool has two threads here.
        guard await eventually(timeout: 30, { output.waitForData(upTo: 0).contains("Ctrl-C stops") }) else {
            process.terminate()
            let (stdout, stderr) = output.finish()
            throw CommandRunner.CommandError("listen did not start: \(stdout) \(stderr)")
        }
        let line = output.waitForData(upTo: 0)
        guard let match = line.firstMatch(of: /127\.0\.0\.1:(\d+)/), let port = Int(match.1) else {
            throw CommandRunner.CommandError("listen did not say its port: \(line)")
        }
        return Listener(process: process, output: output, port: port)
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Stops it the way a service manager does and returns its exit status and standard error.
    func stop() async -> (Int32, String) {
        let (process, output) = (self.process, self.output)
        return (try? await offThePool { stopNow(process, output) }) ?? (-1, "")
    }

    /// The same, blocking (for `defer`).
    func stopNow() { _ = stopNow(process, output) }

    /// A listener that does not stop within 30 s of SIGTERM is killed and reported (status
    /// -9): a hang fails the test instead of hanging the run.
    private func stopNow(_ process: Process, _ output: PipeCollector) -> (Int32, String) {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return (-9, output.finish().1 + "\nlisten did not stop within 30 s of SIGTERM")
        }
        let (_, stderr) = output.finish()
        process.waitUntilExit()
        return (process.terminationStatus, stderr)
    }
}

@Suite("Peer channel from the command line")
struct PeerCLITests {
    @Test("sync --peer moves entries once; listen keeps devices in step live as other commands write")
    func listenAndSync() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "salary")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let phoneListener = try await Listener.start(phone)
        defer { phoneListener.stopNow() }  // on a failure before the stop below

        let once = try await laptop.ok("sync", "--peer", phoneListener.address)
        #expect(once.contains("Synced with phone"))
        #expect(once.contains("sent 3 entries, received 0 new"))
        #expect(once.contains("Both devices now hold the same ledger."))
        #expect(try await phone.balanceMinor() == 1000)
        let again = try #require(try await laptop.json("sync", "--peer", phoneListener.address) as? [String: Any])
        #expect(again["sent"] as? Int == 0)
        #expect(again["converged"] as? Bool == true)

        // Live: the laptop dials the phone and stays connected; entries written by separate
        // `earn` / `spend` processes reach the other device without a manual sync.
        let laptopListener = try await Listener.start(laptop, "--peer", phoneListener.address)
        defer { laptopListener.stopNow() }
        #expect(
            await eventually {
                let status = try await laptop.json("status") as? [String: Any]
                let peer = status?["peer"] as? [String: Any]
                return (peer?["connections"] as? [[String: Any]])?.first?["name"] as? String == "phone"
            })
        try await phone.ok("earn", "5", "--memo", "from the phone")
        #expect(await eventually { try await laptop.balanceMinor() == 1500 })
        try await laptop.ok("spend", "2.50", "--memo", "from the laptop")
        #expect(await eventually { try await phone.balanceMinor() == 1250 })
        #expect(try await laptop.ok("history").contains("from the phone"))

        let phoneStatus = try #require(try await phone.json("status") as? [String: Any])
        let peer = try #require(phoneStatus["peer"] as? [String: Any])
        #expect(peer["running"] as? Bool == true)
        #expect(peer["listening"] as? String == phoneListener.address)
        #expect((peer["connections"] as? [[String: Any]])?.first?["direction"] as? String == "in")
        #expect(peer["last_sync"] is String)

        let (laptopExit, laptopLog) = await laptopListener.stop()
        let (phoneExit, _) = await phoneListener.stop()
        #expect(laptopExit == 0, "\(laptopLog)")
        #expect(phoneExit == 0)
        let after = try #require((try await phone.json("status") as? [String: Any])?["peer"] as? [String: Any])
        #expect(after["running"] as? Bool == false)
        #expect(after["last_sync"] is String)
        #expect(try await phone.ok("status").contains("not listening"))
    }

    @Test("bad addresses, unreachable peers, busy ports and broken settings get a clear message and exit 1")
    func refusals() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        for bad in ["nonsense", "host:0", "10.0.0.1:99999", "\u{1b}[31m:1"] {
            let result = try await laptop.run("sync", "--peer", bad)
            #expect(result.status == 1)
            #expect(result.stderr.contains("is not HOST:PORT"), "\(result.stderr)")
            #expect(!result.stderr.contains("\u{1b}"))
        }
        let listener = try await Listener.start(laptop)
        let busy = try await laptop.run("listen", "--host", "127.0.0.1", "--port", "\(listener.port)", "--no-discovery")
        #expect(busy.status == 1)
        #expect(busy.stderr.contains("in use"), "\(busy.stderr)")
        _ = await listener.stop()
        let refused = try await laptop.run("sync", "--peer", listener.address)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot sync with \(listener.address)"), "\(refused.stderr)")

        let stranger = try Device(name: "stranger")
        try await stranger.ok("init", "--name", "stranger")
        let strangerListener = try await Listener.start(stranger)
        defer { strangerListener.stopNow() }
        let foreign = try await laptop.run("sync", "--peer", strangerListener.address)
        #expect(foreign.status == 1)
        #expect(try await laptop.balanceMinor() == 0)
        let (_, strangerLog) = await strangerListener.stop()
        #expect(strangerLog.contains("not a device of this identity"), "\(strangerLog)")

        try FileManager.default.createDirectory(at: laptop.home, withIntermediateDirectories: true)
        try "{\"peers\": 12}".write(
            to: laptop.home.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let broken = try await laptop.run("listen", "--port", "0")
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("config.json is not valid"), "\(broken.stderr)")
    }

    @Test("peers add, remove and discovery change the settings that listen reads")
    func peerSettings() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        #expect(try await laptop.ok("peers").contains("No static peers."))
        try await laptop.ok("peers", "add", "192.168.1.20:8788")
        try await laptop.ok("peers", "add", "[fe80::1]:9000")
        #expect(try await laptop.ok("peers", "add", "192.168.1.20:8788").contains("already"))
        try await laptop.ok("peers", "discovery", "off")
        let listed = try #require(try await laptop.json("peers", "list") as? [String: Any])
        #expect(listed["peers"] as? [String] == ["192.168.1.20:8788", "[fe80::1]:9000"])
        #expect(listed["discovery"] as? Bool == false)
        try await laptop.ok("peers", "remove", "192.168.1.20:8788")
        #expect(try await laptop.run("peers", "remove", "192.168.1.20:8788").status == 1)
        #expect(try await laptop.run("peers", "add", "not-an-address").status == 1)
        #expect(try await laptop.run("peers", "discovery", "maybe").status == 1)
        let final = try #require(try await laptop.json("peers", "list") as? [String: Any])
        #expect(final["peers"] as? [String] == ["[fe80::1]:9000"])
    }
}
