import Foundation
import LedgerTestSupport
import Testing

/// The manual page, shell completions and the listen service, against the real binary.
@Suite("Manual, completions and the listen service")
struct ManualTests {
    static let resources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Resources")

    /// The subcommands `ledgerlink --help` lists.
    func subcommands() async throws -> [String] {
        let help = try await CommandRunner().run(["--help"])
        #expect(help.status == 0)
        let section = help.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        // A command's line starts with two spaces and its name; its description wraps deeper.
        return section.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }.filter { $0 != "See" }
    }

    @Test("Resources/ledgerlink.1 documents every command (scripts/manual.sh makes it anew)")
    func manual() async throws {
        let page = try String(contentsOf: Self.resources.appendingPathComponent("ledgerlink.1"), encoding: .utf8)
        let commands = try await subcommands()
        #expect(commands.contains("recover") && commands.contains("stores"))
        for command in commands {
            #expect(page.contains(".It Em \(command)"), "\(command) is missing: run `bash scripts/manual.sh`")
        }
    }

    @Test("completion scripts for bash, zsh and fish name every command")
    func completions() async throws {
        let commands = try await subcommands()
        for shell in ["bash", "zsh", "fish"] {
            let script = try await CommandRunner().run(["--generate-completion-script", shell])
            #expect(script.status == 0)
            for command in commands { #expect(script.stdout.contains(command), "\(shell): \(command)") }
        }
    }

    @Test("the listen user service runs a command the binary has")
    func listenService() async throws {
        let unit = try String(
            contentsOf: Self.resources.appendingPathComponent("ledgerlink-listen.service"), encoding: .utf8)
        let exec = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let arguments = exec.split(separator: " ").dropFirst().map(String.init)
        #expect(arguments == ["listen"])
        #expect(try await CommandRunner().run(arguments + ["--help"]).status == 0)
        #expect(unit.contains("WantedBy=default.target"))
    }
}
