import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerTestSupport
import Testing

/// A throwaway data folder and the binary run against it.
struct Device {
    let home: URL
    let cli: CommandRunner

    init(name: String = "device") throws {
        home = TestFolder.url("ledgerlink-cli").appendingPathComponent(name)
        cli = try CommandRunner()
        try Self.isolate(home)
    }

    /// Test devices listen on a port the kernel picks and do not announce themselves, so
    /// tests running side by side never find each other (or anything else on the network).
    static func isolate(_ home: URL) throws {
        try FileManager.default.createDirectory(
            at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try #"{"listen_port": 0, "discovery": false}"#.write(
            to: home.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    }

    @discardableResult
    func run(_ args: String..., stdin: Data? = nil) async throws -> CommandRunner.Result {
        try await cli.run(args + ["--home", home.path], stdin: stdin)
    }

    /// Runs a command that must succeed, returning its stdout.
    @discardableResult
    func ok(_ args: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await cli.run(args + ["--home", home.path])
        #expect(result.status == 0, "ledgerlink \(args) failed: \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout
    }

    /// Runs a command with --json and parses its output.
    func json(_ args: String...) async throws -> Any {
        let result = try await cli.run(args + ["--json", "--home", home.path])
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    }

    /// Moves everything this device holds to `other` by export and import, as a person would.
    func send(to other: Device) async throws {
        let file = home.deletingLastPathComponent().appendingPathComponent("transfer-\(UUID().uuidString)")
        try await ok("export").write(to: file, atomically: true, encoding: .utf8)
        try await other.ok("import", file.path)
    }

    func balanceMinor() async throws -> Int {
        try #require((try await json("balance") as? [String: Any])?["balance_minor"] as? Int)
    }

    /// Links a second device to this one's identity through the library, creating its data
    /// folder beside this one: a shortcut for tests about other things (LinkCLITests drives
    /// the real `pair` and `join`).
    func linkNewDevice(name: String) async throws -> Device {
        let keyPair = try DeviceKeyFile.read(home.appendingPathComponent("device.key")) { () throws(IdentityError) in []
        }
        let engine = try await MergeEngine(
            store: try LedgerStore.open(at: home.appendingPathComponent("ledger.sqlite").path), keyPair: keyPair)
        let newcomer = SigningKeyPair.generate()
        let challenge = SecureRandom.bytes(32)
        let proof = newcomer.sign(
            PublicBody.linkProofMessage(
                identity: engine.identity, device: newcomer.publicKey, approver: keyPair.publicKey, challenge: challenge
            ))
        try await engine.appendLink(device: newcomer.publicKey, challenge: challenge, proof: proof, name: name)
        let other = Device(home: home.deletingLastPathComponent().appendingPathComponent(name), cli: cli)
        try DataHome(url: other.home).create()
        try Self.isolate(other.home)
        try DeviceKeyFile.write(newcomer, to: other.home.appendingPathComponent("device.key"), passphrase: nil)
        _ = try LedgerStore.create(
            at: other.home.appendingPathComponent("ledger.sqlite").path, identity: engine.identity, root: engine.root,
            device: newcomer.publicKey)
        return other
    }

    /// A data folder holding all of `fixture`'s ledger as its device `index`, written through
    /// the library (thousands of entries in a moment, where the CLI would take minutes).
    static func holding(_ fixture: LedgerFixture, device index: Int = 0, name: String = "device") async throws
        -> Device
    {
        let device = try Device(name: name)
        let store = try LedgerStore.create(
            at: device.home.appendingPathComponent("ledger.sqlite").path, identity: fixture.identity,
            root: fixture.root.publicKey, device: fixture.devices[index].publicKey)
        let engine = try await MergeEngine(store: store, keyPair: fixture.devices[index])
        try await engine.merge(fixture.allEntries)
        await engine.settle()
        try DeviceKeyFile.write(
            fixture.devices[index], to: device.home.appendingPathComponent("device.key"), passphrase: nil)
        return device
    }

    init(home: URL, cli: CommandRunner) {
        self.home = home
        self.cli = cli
    }
}
