import Foundation
import LedgerTestSupport
import Testing

/// The real binary in a real terminal (tmux), driven by keys as a person would.
@Suite("TUI in a terminal", .enabled(if: TmuxSession.isAvailable))
struct TUIEndToEndTests {
    func open(_ device: Device, width: Int = 100, height: Int = 30) throws -> TmuxSession {
        let tmux = try TmuxSession(["sh"], width: width, height: height, environment: ["PS1": "$ ", "NO_COLOR": "1"])
        try tmux.type("\(device.cli.executable.path) tui --home \(device.home.path); echo \"exited with $?\"")
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
        #expect(try await tmux.waitFor("Syncing with 1 device"))
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
        try tmux.send("q")
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
        #expect(try await tmux.waitFor("On the new device: ledgerlink join"))
        let code = try #require(try tmux.screen().firstMatch(of: /Code: (\S+@\S+)/).map { String($0.1) })

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
        #expect(try tmux.screen().contains("This screen  \(words)"))
        try tmux.type(words)
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Linked tablet"))
        #expect(try await tmux.waitFor("● tablet"))
        #expect(try await newTUI.waitFor("Balance 10.00"))
        #expect(try await newTUI.waitFor("tablet (this device)"))

        try newTUI.send("q")
        #expect(try await newTUI.waitFor("exited with 0"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
        try await LinkCLITests.expectSameLedger(laptop, tablet)
    }
}
