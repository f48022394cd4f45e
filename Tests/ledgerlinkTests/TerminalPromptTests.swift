import Foundation
import LedgerTestSupport
import Testing

@Suite("Passphrase prompt on a real terminal")
struct TerminalPromptTests {
    @Test(
        "init --passphrase asks twice without echo, and earn asks before writing",
        .enabled(if: TmuxSession.isAvailable))
    func prompts() async throws {
        let device = try Device()
        let binary = device.cli.executable.path
        // A shell keeps the pane open after each command so the screen can be read.
        let tmux = try TmuxSession(["sh"], environment: ["PS1": "$ "])
        defer { tmux.close() }
        try tmux.type("\(binary) init --name tty --passphrase --home \(device.home.path)")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("New passphrase for the device key:"))
        try tmux.type("s3cret words")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Repeat the passphrase:"))
        try tmux.type("s3cret words")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Created identity"))

        try tmux.type("\(binary) earn 4.20 --home \(device.home.path)")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Passphrase for the device key:"))
        // A typo is not the end: the prompt comes back with the tries left.
        try tmux.type("s3cret wrods")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Wrong passphrase: 2 tries left."))
        try tmux.type("s3cret words")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Earned 4.20. Balance: 4.20"))
        #expect(try !tmux.screen().contains("s3cret"), "the passphrase was echoed")
        #expect(try await device.balanceMinor() == 420)

        // Three wrong passphrases end it, with a clear message and a non-zero exit.
        try tmux.type("clear; \(binary) earn 1 --home \(device.home.path); echo \"exited with $?\"")
        try tmux.send("Enter")
        @Sendable func prompts() throws -> Int {
            try tmux.screen().components(separatedBy: "Passphrase for the device key:").count - 1
        }
        for (n, left) in ["2 tries left", "1 try left"].enumerated() {
            #expect(await eventually(timeout: 20) { try prompts() == n + 1 })
            try tmux.type("nope")
            try tmux.send("Enter")
            #expect(try await tmux.waitFor("Wrong passphrase: \(left)."))
        }
        #expect(await eventually(timeout: 20) { try prompts() == 3 })
        try tmux.type("nope")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("exited with 1"))
        #expect(try tmux.screen().contains("wrong passphrase for the device key, 3 times"))
        #expect(try await device.balanceMinor() == 420)
    }
}
