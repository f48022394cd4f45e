import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ledgerlink pair` on a real terminal (tmux), as a person runs it.
struct PairTerminal {
    let tmux: TmuxSession
    let code: String

    static func open(_ device: Device, _ extra: String...) async throws -> PairTerminal {
        let tmux = try TmuxSession(["sh"], width: 220, height: 50, environment: ["PS1": "$ "])
        try tmux.type(
            "\(device.cli.executable.path) pair --home \(device.home.path) --host 127.0.0.1 "
                + extra.joined(separator: " ") + "; echo \"exited with $?\"")
        try tmux.send("Enter")
        guard try await tmux.waitFor("Waiting for the new device"),
            let match = try tmux.screen().firstMatch(of: /Pairing code: (\S+)/)
        else {
            let screen = try tmux.screen()
            tmux.close()
            throw CommandRunner.CommandError("pair did not show a code: \(screen)")
        }
        return PairTerminal(tmux: tmux, code: String(match.1))
    }

    /// True when this screen shows `words` anywhere: it never should, or a person could copy
    /// them instead of reading the new device's.
    func shows(_ words: String) throws -> Bool { try tmux.screen().contains(words) }
}

/// `ledgerlink join` running in the background, as on the new device.
struct JoinProcess {
    let process: Process
    let output: PipeCollector

    static func start(_ device: Device, code: String, name: String) throws -> JoinProcess {
        let (process, out, err) = try device.cli.start(["join", code, "--name", name, "--home", device.home.path])
        return JoinProcess(process: process, output: PipeCollector(out: out, err: err))
    }

    /// The five words the new device shows, once it shows them.
    func words() async -> String? {
        let output = self.output
        guard await eventually({ output.waitForData(upTo: 0).contains("Type them on the pairing device") }) else {
            return nil
        }
        return output.waitForData(upTo: 0).firstMatch(of: /words are:\s+([a-z ]+)\n/).map {
            String($0.1).trimmingCharacters(in: .whitespaces)
        }
    }

    /// Waits for the process to end: its status, stdout and stderr.
    func finish() async throws -> (status: Int32, stdout: String, stderr: String) {
        let (process, output) = (self.process, self.output)
        return try await offThePool {
            let (stdout, stderr) = output.finish()
            process.waitUntilExit()
            return (process.terminationStatus, stdout, stderr)
        }
    }

    func stopNow() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }
}

@Suite("Linking devices from the command line", .enabled(if: TmuxSession.isAvailable))
struct LinkCLITests {
    /// Both devices list both devices and show the same balance and history.
    static func expectSameLedger(_ a: Device, _ b: Device) async throws {
        let devicesA = try #require(try await a.json("devices") as? [[String: Any]])
        let devicesB = try #require(try await b.json("devices") as? [[String: Any]])
        #expect(devicesA.count == 2 && devicesB.count == 2)
        #expect(Set(devicesA.compactMap { $0["key"] as? String }) == Set(devicesB.compactMap { $0["key"] as? String }))
        #expect(try await a.balanceMinor() == b.balanceMinor())
        let historyA = try #require(try await a.json("history") as? [[String: Any]])
        let historyB = try #require(try await b.json("history") as? [[String: Any]])
        #expect(historyA.map { $0["memo"] as? String } == historyB.map { $0["memo"] as? String })
        #expect(!historyA.isEmpty)
    }

    @Test("a new device joins over the peer channel when the person types its words on the pairing device")
    func linkOverPeerChannel() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "salary")
        try await laptop.ok("spend", "2.5", "--memo", "lunch")
        let pairing = try await PairTerminal.open(laptop)
        defer { pairing.tmux.close() }
        #expect(pairing.code.contains("@127.0.0.1:"))

        let phone = try Device(name: "phone")
        let join = try JoinProcess.start(phone, code: pairing.code, name: "phone")
        defer { join.stopNow() }
        let words = try #require(await join.words())
        #expect(words.split(separator: " ").count == 5)
        #expect(try await pairing.tmux.waitFor("A new device asks to join"))
        #expect(try !pairing.shows(words), "the approving screen must not show the words to type")
        #expect(try pairing.tmux.screen().contains("name:        phone   (as the new device gave it; unverified)"))

        // The first four letters of each word, in capitals, are enough.
        try pairing.tmux.type(words.split(separator: " ").map { $0.prefix(4).uppercased() }.joined(separator: " "))
        try pairing.tmux.send("Enter")
        let joined = try await join.finish()
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(joined.stdout.contains("Linked to identity"))
        #expect(joined.stdout.contains("Balance 7.50"))
        #expect(try await pairing.tmux.waitFor("exited with 0"))
        #expect(try pairing.tmux.screen().contains("Linked phone"))

        try await Self.expectSameLedger(laptop, phone)
        // The new device writes, and the pairing device counts it after a sync.
        try await phone.ok("spend", "1", "--memo", "from the phone")
        try await phone.send(to: laptop)
        #expect(try await laptop.balanceMinor() == 650)
    }

    @Test("a new device joins through the store's mailbox, and keeps the store for later syncs")
    func linkThroughStore() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "42", "--memo", "gift")
        let database = laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite")
        let store = try await StoreProcess.start(database: database)
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)

        let pairing = try await PairTerminal.open(laptop, "--store", store.url)
        defer { pairing.tmux.close() }
        #expect(pairing.code.hasSuffix("@\(store.url)"))
        let phone = try Device(name: "phone")
        let join = try JoinProcess.start(phone, code: pairing.code, name: "phone")
        defer { join.stopNow() }
        let words = try #require(await join.words())
        #expect(try await pairing.tmux.waitFor("A new device asks to join"))
        #expect(try !pairing.shows(words), "the approving screen must not show the words to type")
        try pairing.tmux.type(words)
        try pairing.tmux.send("Enter")
        let joined = try await join.finish()
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(joined.stdout.contains("Balance 42.00"))
        #expect(try await pairing.tmux.waitFor("exited with 0"))
        try await Self.expectSameLedger(laptop, phone)

        // The phone kept the store: its entries reach the laptop through it.
        try await phone.ok("spend", "2", "--memo", "via the store")
        try await phone.ok("sync")
        try await laptop.ok("sync")
        #expect(try await laptop.balanceMinor() == 4000)
    }

    @Test(
        "a wrong code is refused, a second device in the window is told it is taken, and a denial reaches the new device"
    )
    func refusals() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let pairing = try await PairTerminal.open(laptop)
        defer { pairing.tmux.close() }

        // One word changed: the code's secret no longer matches.
        let parts = pairing.code.split(separator: "@", maxSplits: 1)
        var words = parts[0].split(separator: "-").map(String.init)
        words[11] = words[11] == "zoo" ? "abandon" : "zoo"
        let wrong = words.joined(separator: "-") + "@" + parts[1]
        let stranger = try Device(name: "stranger")
        let refused = try await stranger.run("join", wrong, "--name", "stranger")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("the pairing code is wrong"))
        #expect(!FileManager.default.fileExists(atPath: stranger.home.appendingPathComponent("device.key").path))
        #expect(!FileManager.default.fileExists(atPath: stranger.home.appendingPathComponent("ledger.sqlite").path))

        // Not a code at all: refused before any connection.
        let typo = try await stranger.run("join", "apple-banana@127.0.0.1:1", "--name", "stranger")
        #expect(typo.status != 0)
        #expect(typo.stderr.contains("a pairing code has 12 words"))
        // A store that does not answer: said so, after a few tries, and nothing is written.
        // (A port held bound but not listening: another test cannot start a store on it meanwhile.)
        let closed = try ClosedPort()
        let closedPort = closed.port
        let noStore = try await stranger.run("join", "\(parts[0])@http://127.0.0.1:\(closedPort)", "--name", "stranger")
        #expect(noStore.status != 0)
        #expect(noStore.stderr.contains("cannot reach the store at http://127.0.0.1:\(closedPort)"))
        withExtendedLifetime(closed) {}
        #expect(!FileManager.default.fileExists(atPath: stranger.home.appendingPathComponent("ledger.sqlite").path))
        // A name with an escape sequence is refused before anything happens.
        let hostile = try await stranger.run("join", pairing.code, "--name", "evil\u{1B}[2J")
        #expect(hostile.status != 0)
        #expect(hostile.stderr.contains("control characters"))

        let phone = try Device(name: "phone")
        let join = try JoinProcess.start(phone, code: pairing.code, name: "phone")
        defer { join.stopNow() }
        _ = try #require(await join.words())
        let second = try Device(name: "second")
        let busy = try await second.run("join", pairing.code, "--name", "second")
        #expect(busy.status != 0)
        #expect(busy.stderr.contains("already has a request from another device"))

        #expect(try await pairing.tmux.waitFor("Words>"))
        try pairing.tmux.type("deny")
        try pairing.tmux.send("Enter")
        let denied = try await join.finish()
        #expect(denied.status != 0)
        #expect(denied.stderr.contains("the request was denied on the pairing device"))
        #expect(!FileManager.default.fileExists(atPath: phone.home.appendingPathComponent("device.key").path))
        #expect(try await pairing.tmux.waitFor("exited with 1"))
        #expect(try pairing.tmux.screen().contains("denied: no device was linked"))
        // The window is closed: a new request finds no one.
        let late = try await phone.run("join", pairing.code, "--name", "phone")
        #expect(late.status != 0)
        #expect(late.stderr.contains("cannot reach the pairing device"))
        #expect((try #require(try await laptop.json("devices") as? [[String: Any]])).count == 1)
    }

    @Test(
        "a relay in the middle that swaps in its own key shows different words; typing the new device's words three times closes the window"
    )
    func relayInTheMiddle() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let pairing = try await PairTerminal.open(laptop)
        defer { pairing.tmux.close() }
        let relay = try await PairingRelay(code: pairing.code)
        defer { relay.stop() }

        let phone = try Device(name: "phone")
        let join = try JoinProcess.start(phone, code: relay.code, name: "phone")
        defer { join.stopNow() }
        let phoneWords = try #require(await join.words())
        #expect(try await pairing.tmux.waitFor("A new device asks to join"))
        #expect(try !pairing.shows(phoneWords))
        #expect(try pairing.tmux.screen().contains(relay.key.fingerprint))

        for left in [2, 1] {
            try pairing.tmux.type(phoneWords)
            try pairing.tmux.send("Enter")
            #expect(try await pairing.tmux.waitFor("\(left) tr\(left == 1 ? "y" : "ies") left"))
        }
        try pairing.tmux.type(phoneWords)
        try pairing.tmux.send("Enter")
        #expect(try await pairing.tmux.waitFor("exited with 1"))
        #expect(try pairing.tmux.screen().contains("did not match"))
        #expect(await eventually { relay.outcome?.contains("did not match") == true })
        let devices = try #require(try await laptop.json("devices") as? [[String: Any]])
        #expect(devices.count == 1, "nothing may be linked")
        let ended = try await join.finish()
        #expect(ended.status != 0)
        #expect(!FileManager.default.fileExists(atPath: phone.home.appendingPathComponent("device.key").path))
    }
}
