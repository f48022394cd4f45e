import Foundation
import LedgerTestSupport
import Testing

@Suite("What people type on the command line")
struct CommandLineInputTests {
    @Test("an amount with spaces around it is refused with a message that shows them")
    func spacedAmount() async throws {
        let device = try Device(name: "spaces")
        try await device.ok("init", "--name", "spaces")
        let result = try await device.run("earn", " 5")
        #expect(result.status == 1)
        #expect(result.stderr.contains("amount has spaces around it"), "\(result.stderr)")
        #expect(try await device.balanceMinor() == 0)
    }

    @Test("--home naming a file says so, rather than that there is no identity yet")
    func homeIsAFile() async throws {
        let device = try Device(name: "file-home")
        let file = device.home.deletingLastPathComponent().appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: file)
        let result = try await device.cli.run(["balance", "--home", file.path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is a file, not a data folder"), "\(result.stderr)")
    }

    @Test("--home may come before the command as well as after it")
    func homeFirst() async throws {
        let device = try Device(name: "home-first")
        try await device.ok("init", "--name", "first")
        try await device.ok("earn", "3")
        let before = try await device.cli.run(["--home", device.home.path, "balance"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains("Balance: 3.00"))
        let joined = try await device.cli.run(["--home=\(device.home.path)", "balance"])
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(joined.stdout.contains("Balance: 3.00"))
    }
}
