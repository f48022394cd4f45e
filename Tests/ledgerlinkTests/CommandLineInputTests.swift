import Foundation
import LedgerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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

/// A 1 MiB tmpfs the test fills, where this machine lets a test mount one (root, as in CI).
struct SmallDisk {
    let mountPoint: URL

    static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/umount")
    }

    static func mount() throws -> SmallDisk {
        let point = TestFolder.url("ll-disk")
        try FileManager.default.createDirectory(at: point, withIntermediateDirectories: true)
        try Self.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", point.path])
        return SmallDisk(mountPoint: point)
    }

    /// Fills what is left with a file.
    func fill() throws {
        let handle = try FileHandle(
            forWritingTo: {
                let url = mountPoint.appendingPathComponent("filler")
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
                return url
            }())
        defer { try? handle.close() }
        let block = Data(count: 4096)
        for _ in 0..<1024 {
            do { try handle.write(contentsOf: block) } catch { return }
        }
    }

    /// `folder` again at a new place, read-only (a bind mount).
    static func readOnlyView(of folder: URL) throws -> SmallDisk {
        let point = TestFolder.url("ll-ro")
        try FileManager.default.createDirectory(at: point, withIntermediateDirectories: true)
        try Self.run("/usr/bin/mount", ["--bind", folder.path, point.path])
        try Self.run("/usr/bin/mount", ["-o", "remount,ro,bind", point.path])
        return SmallDisk(mountPoint: point)
    }

    func unmount() {
        try? Self.run("/usr/bin/umount", [mountPoint.path])
        try? FileManager.default.removeItem(at: mountPoint)
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandRunner.CommandError("\(tool) \(arguments) exited \(process.terminationStatus)")
        }
    }
}

@Suite("A full disk")
struct FullDiskTests {
    @Test("earn on a full disk says the disk is full, and nothing is lost", .enabled(if: SmallDisk.isAvailable))
    func earnOnFullDisk() async throws {
        let disk: SmallDisk
        do {
            disk = try SmallDisk.mount()
        } catch {
            return  // a container that forbids mounting even as root: nothing to test here
        }
        defer { disk.unmount() }
        let device = Device(home: disk.mountPoint.appendingPathComponent("home"), cli: try CommandRunner())
        try Device.isolate(device.home)
        try await device.ok("init", "--name", "full")
        try await device.ok("earn", "1")
        try disk.fill()
        let result = try await device.run("earn", "2", "--memo", String(repeating: "m", count: 250))
        #expect(result.status == 1)
        #expect(result.stderr.contains("is full; nothing was changed"), "\(result.stderr)")
        // Reading still works on the full disk.
        #expect(try await device.balanceMinor() == 100)
        // Space again: the ledger has exactly what was acknowledged, and takes new entries.
        try FileManager.default.removeItem(at: disk.mountPoint.appendingPathComponent("filler"))
        try await device.ok("earn", "2")
        #expect(try await device.balanceMinor() == 300)
    }

    @Test(
        "reading commands work on a read-only data folder; a write says it cannot", .enabled(if: SmallDisk.isAvailable))
    func readOnlyFolder() async throws {
        let device = try Device(name: "ro")
        try await device.ok("init", "--name", "ro")
        try await device.ok("earn", "5")
        let view: SmallDisk
        do {
            view = try SmallDisk.readOnlyView(of: device.home)
        } catch {
            return  // a container that forbids mounting even as root: nothing to test here
        }
        defer { view.unmount() }
        let readOnly = Device(home: view.mountPoint, cli: device.cli)
        #expect(try await readOnly.balanceMinor() == 500)
        for command in ["status", "verify", "history", "devices", "export"] {
            let result = try await readOnly.run(command)
            #expect(result.status == 0, "\(command): \(result.stderr)")
        }
        let write = try await readOnly.run("earn", "1")
        #expect(write.status == 1)
        #expect(write.stderr.contains("cannot open"), "\(write.stderr)")
    }
}
