import Foundation
import LedgerTestSupport
import Testing

@Suite("Spending below the floor")
struct OverspendTests {
    @Test("a script's spend below zero is refused with the balances and nothing is written; --allow-negative spends")
    func scripts() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "5")
        let refused = try await laptop.run("spend", "1000")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("this takes the balance from 5.00 to -995.00, below 0.00; nothing was written"))
        #expect(refused.stderr.contains("--allow-negative"))
        #expect(try await laptop.balanceMinor() == 500)
        #expect(try await laptop.ok("spend", "5").contains("Balance: 0.00"))  // down to the floor is fine
        #expect(try await laptop.ok("spend", "1000", "--allow-negative").contains("Balance: -1000.00"))
    }

    @Test("min_balance in config.json moves the floor; one that is not an amount is said")
    func floorSetting() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let config = laptop.home.appendingPathComponent("config.json")
        try #"{"listen_port": 0, "discovery": false, "min_balance": "-50.00"}"#.write(
            to: config, atomically: true, encoding: .utf8)
        #expect(try await laptop.ok("spend", "40").contains("Balance: -40.00"))
        #expect(try await laptop.run("spend", "20").stderr.contains("below -50.00"))
        try #"{"listen_port": 0, "discovery": false, "min_balance": 100}"#.write(
            to: config, atomically: true, encoding: .utf8)
        try await laptop.ok("earn", "200")
        #expect(try await laptop.run("spend", "90").stderr.contains("below 100.00"))
        try #"{"listen_port": 0, "discovery": false, "min_balance": "lots"}"#.write(
            to: config, atomically: true, encoding: .utf8)
        let bad = try await laptop.run("spend", "1")
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("min_balance"))
        try #"{"listen_port": 0, "discovery": false, "min_balance": 1.5}"#.write(
            to: config, atomically: true, encoding: .utf8)
        #expect(try await laptop.run("spend", "1").stderr.contains("min_balance must be an amount"))
    }

    @Test("on a terminal, spend asks: n writes nothing, y spends")
    func terminal() async throws {
        guard TmuxSession.isAvailable else { return }
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "5")
        let tmux = try TmuxSession(["sh"], width: 160, height: 20, environment: ["PS1": "$ ", "NO_COLOR": "1"])
        defer { tmux.close() }
        let spend = "\(laptop.cli.executable.path) spend 20 --home \(laptop.home.path)"
        try tmux.type(spend + "; echo \"first exited with $?\"")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("This takes the balance from 5.00 to -15.00, below 0.00. Spend anyway? [y/N]"))
        try tmux.type("n")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("first exited with 1"))
        #expect(try await laptop.balanceMinor() == 500)
        try tmux.type(spend + "; echo \"second exited with $?\"")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor { $0.components(separatedBy: "Spend anyway? [y/N]").count == 3 })
        try tmux.type("y")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("second exited with 0"))
        #expect(try tmux.screen().contains("Balance: -15.00"))
        #expect(try await laptop.balanceMinor() == -1500)
    }
}
