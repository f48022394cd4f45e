import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

/// The real binary in a real terminal (tmux), driven by keys as a person would.
@Suite("TUI in a terminal", .enabled(if: TmuxSession.isAvailable))
struct TUIEndToEndTests {
    /// `prefix` goes before the command (`env -u LANG` to run it without a locale).
    func open(_ device: Device, width: Int = 100, height: Int = 30, prefix: String = "") throws -> TmuxSession {
        let tmux = try TmuxSession(["sh"], width: width, height: height, environment: ["PS1": "$ ", "NO_COLOR": "1"])
        try tmux.type(
            "\(prefix)\(device.cli.executable.path) tui --home \(device.home.path); echo \"exited with $?\"")
        try tmux.send("Enter")
        return tmux
    }

    @Test("earn through the dialog, see another process's entry live, resize, and quit with the terminal restored")
    func session() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        try await device.ok("earn", "10", "--memo", "start")
        let tmux = try open(device)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 10.00"))
        #expect(try tmux.screen().contains("e earn · x spend"))

        try tmux.send("e")
        #expect(try await tmux.waitFor("Enter saves"))
        try tmux.type("2.5")
        try tmux.send("Tab")
        try tmux.type("tip 🍜")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 12.50"))
        #expect(try await tmux.waitFor("tip 🍜"))
        #expect(try await device.balanceMinor() == 1250)

        // Another process writes; the open TUI shows it within a second or so.
        try await device.ok("spend", "1", "--memo", "from the CLI")
        #expect(try await tmux.waitFor("Balance 11.50"))
        #expect(try await tmux.waitFor("from the CLI"))

        try tmux.resize(width: 50, height: 12)
        #expect(try await tmux.waitFor("Terminal too small"))
        try tmux.resize(width: 100, height: 30)
        #expect(try await tmux.waitFor("Balance 11.50"))

        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
        #expect(try !tmux.screen().contains("Balance"), "the TUI's screen was left behind")
    }

    @Test("the TUI syncs with another device live: badge, entries from it, `s`, and entries to it")
    func liveSync() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "start")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let phoneListener = try await Listener.start(phone)
        defer { phoneListener.stopNow() }
        try await laptop.ok("peers", "add", phoneListener.address)
        let tmux = try open(laptop)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("● phone · synced"))
        try await phone.ok("earn", "5", "--memo", "from the phone")
        #expect(try await tmux.waitFor("Balance 15.00"))
        #expect(try await tmux.waitFor("from the phone"))
        try tmux.send("s")
        // "Syncing with phone…" shows while it runs (often too briefly to see here); the
        // outcome replaces it: it never stays up forever.
        #expect(try await tmux.waitFor("level with phone"))
        #expect(try !tmux.screen().contains("Syncing with phone…"))
        try tmux.send("e")
        #expect(try await tmux.waitFor("Enter saves"))
        try tmux.type("2")
        try tmux.send("Enter")
        #expect(await eventually { try await phone.balanceMinor() == 1700 })
        // While the TUI runs, `status` in another terminal sees its peer channel.
        let status = try #require((try await laptop.json("status") as? [String: Any])?["peer"] as? [String: Any])
        #expect(status["running"] as? Bool == true)
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
        let after = try #require((try await laptop.json("status") as? [String: Any])?["peer"] as? [String: Any])
        #expect(after["running"] as? Bool == false)
        #expect(after["last_sync"] is String)
    }

    @Test("Ctrl-C quits at once and restores the terminal, even from a dialog")
    func interrupt() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        let tmux = try open(device, width: 80, height: 24)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 0.00"))
        try tmux.send("x")
        #expect(try await tmux.waitFor("Spend"))
        try tmux.send("C-c")
        #expect(try await tmux.waitFor("exited with 0"))
        #expect(try !tmux.screen().contains("Enter saves"))
    }
}

extension TUIEndToEndTests {
    @Test("SIGTERM quits and restores the terminal")
    func terminate() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        let tmux = try open(device, width: 80, height: 24)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 0.00"))
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        pgrep.arguments = ["pkill", "-TERM", "-f", "tui --home \(device.home.path)"]
        try pgrep.run()
        pgrep.waitUntilExit()
        #expect(pgrep.terminationStatus == 0)
        #expect(try await tmux.waitFor("exited with 0"))
        #expect(try !tmux.screen().contains("Balance"))
    }
}

extension TUIEndToEndTests {
    @Test("in an empty data folder the TUI creates the identity from the name typed, then shows it")
    func onboarding() async throws {
        let device = try Device()
        let tmux = try open(device, width: 80, height: 24)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("holds no identity yet"))
        try tmux.type("desk")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 0.00"))
        #expect(try await tmux.waitFor("desk (this device)"))
        // The session onboarding starts is a full one: sync runs and pairing opens.
        #expect(try await tmux.waitFor("○ no peers"))
        try tmux.send("s")
        #expect(try await tmux.waitFor("Nothing to sync with"))
        try tmux.send("p")
        #expect(try await tmux.waitFor("Open a pairing window"))
        for _ in 0..<40 { try tmux.send("BSpace") }
        try tmux.type("127.0.0.1")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("On the new device: ledgerlink join"))
        #expect(try !tmux.screen().contains("needs the device key"))
        // Quitting with the window open asks first.
        try tmux.send("q")
        #expect(try await tmux.waitFor("quit and close it?"))
        try tmux.send("y")
        #expect(try await tmux.waitFor("exited with 0"))
        let devices = try #require(try await device.json("devices") as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["desk"])
        #expect(FileManager.default.fileExists(atPath: device.home.appendingPathComponent("device.key").path))
    }
}

extension TUIEndToEndTests {
    @Test("p opens a pairing window; a new device joins from its own TUI; the person approves by typing its words")
    func linkFromTheTUI() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "10", "--memo", "start")
        let tmux = try open(laptop, width: 120, height: 32)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 10.00"))
        try tmux.send("p")
        // The address the code names can be changed: here, loopback (tests stay on this machine).
        #expect(try await tmux.waitFor("connect to this address:"))
        for _ in 0..<40 { try tmux.send("BSpace") }
        try tmux.type("127.0.0.1")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("On the new device: ledgerlink join"))
        let code = try #require(try tmux.screen().firstMatch(of: /Code: (\S+@\S+)/).map { String($0.1) })
        #expect(code.contains("@127.0.0.1:"))

        // The new device starts from an empty folder: its TUI offers to join.
        let tablet = try Device(name: "tablet")
        let newTUI = try open(tablet, width: 120, height: 32)
        defer { newTUI.close() }
        #expect(try await newTUI.waitFor("Or join one"))
        try newTUI.send("Tab")
        try newTUI.type(code)
        try newTUI.send("Tab")
        try newTUI.type("tablet")
        try newTUI.send("Enter")
        #expect(try await newTUI.waitFor("This device's words:"))
        let words = try #require(
            try newTUI.screen().firstMatch(of: /This device's words:\s+([a-z ]+?)\s*\n/).map { String($0.1) })
        #expect(words.split(separator: " ").count == 5)

        #expect(try await tmux.waitFor("tablet (unverified)"))
        try tmux.send("a")
        #expect(try await tmux.waitFor("Approve a new device"))
        #expect(try tmux.screen().contains("Read the five words on the NEW device"))
        #expect(try !tmux.screen().contains(words), "the approving screen must not show the words to type")
        try tmux.type(words)
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Linked tablet"))
        #expect(try await tmux.waitFor("● tablet"))
        #expect(try await newTUI.waitFor("Balance 10.00"))
        #expect(try await newTUI.waitFor("tablet (this device)"))
        // The joined device names the other device at once, and runs a full session.
        #expect(try await newTUI.waitFor("● laptop "))
        #expect(try !newTUI.screen().contains("(unnamed)"))
        try newTUI.send("p")
        #expect(try await newTUI.waitFor("connect to this address:"))
        try newTUI.send("Escape")

        try newTUI.send("q")
        #expect(try await newTUI.waitFor("exited with 0"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
        try await LinkCLITests.expectSameLedger(laptop, tablet)
    }
}

extension TUIEndToEndTests {
    @Test("c corrects the selected history entry through the dialog, v then Enter voids one, as the CLI's do")
    func correctFromTheTUI() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "12", "--memo", "lunch money")
        try await laptop.ok("spend", "5", "--memo", "coffee")
        let tmux = try open(laptop)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 7.00"))
        try tmux.send("3")
        try tmux.send("Down")  // the older entry: lunch money
        try tmux.send("c")
        #expect(try await tmux.waitFor("Correct "))
        #expect(try tmux.screen().contains("12.00"), "the dialog starts from the amount it counts now")
        for _ in 0..<5 { try tmux.send("BSpace") }
        try tmux.type("10")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 5.00"))
        #expect(try await tmux.waitFor("[corrected; was +12.00]"))
        // The newest row is now the correction; the coffee is below it.
        try tmux.send("g")
        try tmux.send("Down")
        try tmux.send("v")
        #expect(try await tmux.waitFor("Void an entry"))
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 10.00"))
        #expect(try await tmux.waitFor("[void; was -5.00]"))
        #expect(try await laptop.balanceMinor() == 1000)
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("r then Enter revokes the selected device, as the CLI's revoke does")
    func revokeFromTheTUI() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        _ = try await laptop.linkNewDevice(name: "phone")
        let tmux = try open(laptop)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("● phone"))
        try tmux.send("Down")
        try tmux.send("r")
        #expect(try await tmux.waitFor("Revoke a device"))
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Revoked"))
        #expect(try await tmux.waitFor("✕ phone"))
        #expect(try !tmux.screen().contains("Not revoked"))
        let devices = try #require(try await laptop.json("devices") as? [[String: Any]])
        #expect(devices.first { $0["name"] as? String == "phone" }?["state"] as? String == "revoked")
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("the history pane reaches the oldest of 2,017 entries, and / finds it in the whole ledger")
    func wholeHistory() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        try fixture.record(device: 1, .credit, amount: 250_000, memo: "Salary November")
        for i in 0..<2_016 {
            try fixture.record(device: i % 2, .debit, amount: Int64(100 + i), memo: "item \(i)")
        }
        let device = try await Device.holding(fixture)
        let tmux = try open(device)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("History (2017 entries)"))
        try tmux.send("3")
        try tmux.send("G")
        #expect(try await tmux.waitFor("Salary November"))
        try tmux.send("g")
        #expect(try await tmux.waitFor("item 2015"))
        try tmux.send("/")
        try tmux.type("salary")
        #expect(try await tmux.waitFor("1 match"))
        #expect(try tmux.screen().contains("Salary November"))
        try tmux.send("Enter")
        try tmux.send("Escape")  // Esc clears a kept filter
        #expect(try await tmux.waitFor("History (2017 entries)"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("with no locale set (LANG unset) the lines and symbols still draw")
    func withoutLocale() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        let tmux = try open(device, prefix: "env -u LANG -u LC_ALL -u LC_CTYPE ")
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 0.00"))
        #expect(try tmux.screen().contains("┌─ ▸ 1 Devices (1)"))
        #expect(try tmux.screen().contains("● laptop (this device)"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("a key typed right after the terminal shrank is judged at the small size: no dialog later")
    func keyBehindTooSmall() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        let tmux = try open(device)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("Balance 0.00"))
        try tmux.resize(width: 50, height: 12)
        try tmux.send("e")
        #expect(try await tmux.waitFor("Terminal too small"))
        try tmux.resize(width: 100, height: 30)
        #expect(try await tmux.waitFor("Balance 0.00"))
        #expect(try !tmux.screen().contains("Enter saves"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("a store saved while the TUI runs is picked up and shown in the badge")
    func storePickedUp() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let store = try await StoreProcess.start(
            database: laptop.home.deletingLastPathComponent().appendingPathComponent("store.sqlite"))
        defer { store.stopNow() }
        let tmux = try open(laptop, width: 120)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("○ no peers"))
        try await laptop.ok("sync", "--store", store.url)
        #expect(try await tmux.waitFor("store ok"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }

    @Test("a peer address in config.json that is not one is said on the screen, not dropped in silence")
    func badPeerInSettings() async throws {
        let device = try Device()
        try await device.ok("init", "--name", "laptop")
        try #"{"listen_port": 0, "discovery": false, "peers": ["phone-without-port"]}"#.write(
            to: device.home.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let tmux = try open(device, width: 120)
        defer { tmux.close() }
        #expect(try await tmux.waitFor("phone-without-port is not HOST:PORT"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
    }
}
