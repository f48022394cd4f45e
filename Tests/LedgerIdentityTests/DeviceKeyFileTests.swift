import Foundation
import LedgerCrypto
import LedgerIdentity
import LedgerTestSupport
import Testing

@Suite("Device key files")
struct DeviceKeyFileTests {
    static func folder() throws -> URL {
        let url = TestFolder.url("ledgerlink-keys")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("an unprotected key file round-trips, is mode 0600 and never overwrites")
    func plain() throws {
        let url = try Self.folder().appendingPathComponent("device.key")
        let pair = SigningKeyPair.generate()
        try DeviceKeyFile.write(pair, to: url, passphrase: nil)
        let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try DeviceKeyFile.isProtected(url) == false)
        let read = try DeviceKeyFile.read(url) { () throws(IdentityError) -> [UInt8] in
            Issue.record("no passphrase should be asked")
            return []
        }
        #expect(read.publicKey == pair.publicKey)
        #expect(throws: IdentityError.self) { try DeviceKeyFile.write(.generate(), to: url, passphrase: nil) }
        #expect(try DeviceKeyFile.publicKey(url) == pair.publicKey)
    }

    @Test("a passphrase-protected key opens only with the passphrase")
    func protected() throws {
        let url = try Self.folder().appendingPathComponent("device.key")
        let pair = SigningKeyPair.generate()
        try DeviceKeyFile.write(pair, to: url, passphrase: Array("hunter2".utf8), cost: .minimum)
        #expect(try DeviceKeyFile.isProtected(url))
        let read = try DeviceKeyFile.read(url) { () throws(IdentityError) in Array("hunter2".utf8) }
        #expect(read.publicKey == pair.publicKey)
        #expect(read.sign([1]) == pair.sign([1]))
        #expect(throws: IdentityError("wrong passphrase for the device key")) {
            try DeviceKeyFile.read(url) { () throws(IdentityError) in Array("hunter3".utf8) }
        }
    }

    @Test("a key file other users can read is refused with the command that fixes it")
    func openPermissions() throws {
        let url = try Self.folder().appendingPathComponent("device.key")
        try DeviceKeyFile.write(.generate(), to: url, passphrase: nil)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path)
        #expect {
            _ = try DeviceKeyFile.publicKey(url)
        } throws: { error in
            (error as? IdentityError)?.description.contains("chmod 600") ?? false
        }
    }

    @Test("a damaged or foreign key file is refused clearly")
    func damaged() throws {
        let folder = try Self.folder()
        let cases: [(String, String)] = [
            ("not json", "not a ledgerlink device key file"),
            (#"{"format":"ledgerlink-device-key","version":2}"#, "newer ledgerlink"),
            (
                #"{"format":"ledgerlink-device-key","version":1,"public_key":"00","protection":"none","seed":"00"}"#,
                "damaged"
            ),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let url = folder.appendingPathComponent("key\(index)")
            _ = FileManager.default.createFile(
                atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            #expect {
                _ = try DeviceKeyFile.read(url) { () throws(IdentityError) in [] }
            } throws: { error in
                (error as? IdentityError)?.description.contains(message) ?? false
            }
        }
        // A seed that does not match the recorded public key.
        let url = folder.appendingPathComponent("mismatch")
        let text =
            #"{"format":"ledgerlink-device-key","version":1,"public_key":"\#(SigningKeyPair.generate().publicKey.hex)","protection":"none","seed":"\#(String(repeating: "ab", count: 32))"}"#
        _ = FileManager.default.createFile(
            atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: IdentityError.self) { try DeviceKeyFile.read(url) { () throws(IdentityError) in [] } }
    }

    @Test("the data folder comes from --home, then LEDGERLINK_HOME, then XDG_DATA_HOME, then HOME")
    func dataHome() {
        #expect(DataHome.resolve(option: "/a", environment: ["LEDGERLINK_HOME": "/b"]).url.path == "/a")
        #expect(
            DataHome.resolve(option: nil, environment: ["LEDGERLINK_HOME": "/b", "XDG_DATA_HOME": "/c"]).url.path
                == "/b")
        #expect(
            DataHome.resolve(option: nil, environment: ["XDG_DATA_HOME": "/c", "HOME": "/h"]).url.path
                == "/c/ledgerlink")
        #expect(
            DataHome.resolve(option: nil, environment: ["XDG_DATA_HOME": "relative", "HOME": "/h"]).url.path
                == "/h/.local/share/ledgerlink")
    }
}
