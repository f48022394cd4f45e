import Foundation
import LedgerCore
import LedgerCrypto

/// A test-vector file in Resources/vectors/, which fixes every input and output byte of one
/// part of docs/PROTOCOL.md for independent implementations. Tests rebuild the document and
/// compare; with LEDGERLINK_WRITE_VECTORS=1 they write it anew first (only when the format
/// changes, then read the diff).
package struct VectorFile: Sendable {
    package let url: URL
    /// The root of the package (for the interop scripts under Tests/interop/).
    package let packageRoot: URL

    /// The file `name` in Resources/vectors/ of the package holding `testFile` (a file two
    /// folders down from the package root, as every test file is).
    package init(_ name: String, testFile: String = #filePath) {
        packageRoot = URL(fileURLWithPath: testFile)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        url = packageRoot.appendingPathComponent("Resources/vectors/\(name)")
    }

    /// True when the run was asked to write the vector files anew.
    package static var isWriting: Bool { ProcessInfo.processInfo.environment["LEDGERLINK_WRITE_VECTORS"] != nil }

    /// The file's text as it is (for vectors built from another file's).
    package func read() throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// The file's text, after writing `document` to it when the run asks for that.
    package func text(writingIfAsked document: () throws -> String) throws -> String {
        if Self.isWriting { try document().write(to: url, atomically: true, encoding: .utf8) }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The file's document (JSON with snake_case keys, sorted, pretty), after writing `build()`
    /// to it when the run asks for that.
    package func document<Document: Codable>(writingIfAsked build: () throws -> Document) throws -> Document {
        let text = try text {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            return String(decoding: try encoder.encode(try build()), as: UTF8.self) + "\n"
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Document.self, from: Data(text.utf8))
    }

    /// `count` bytes counting up from `start` (wrapping): the inputs vectors use for seeds and nonces.
    package static func range(_ start: UInt8, _ count: Int) -> [UInt8] { (0..<count).map { start &+ UInt8($0) } }
}

/// The devices, identity and keyrings the ledger vector files share: the laptop (genesis),
/// phone and tablet from seeds counting up from 0x00, 0x20 and 0x40, the genesis nonce from
/// 0xA0. Sealing a keyring is randomised by design, so a keyring is made once and then read
/// from the file it was written to (`boxes`).
package final class VectorDevices {
    package let laptop: SigningKeyPair
    package let phone: SigningKeyPair
    package let tablet: SigningKeyPair
    package let nonce = VectorFile.range(0xA0, 16)
    package let identity: IdentityID
    /// Keyrings by name, as the vector file stores them.
    package private(set) var boxes: [String: [UInt8]]

    package init(boxes stored: [String: [UInt8]]?) throws {
        laptop = try SigningKeyPair(seed: SecureBytes(VectorFile.range(0x00, 32)))
        phone = try SigningKeyPair(seed: SecureBytes(VectorFile.range(0x20, 32)))
        tablet = try SigningKeyPair(seed: SecureBytes(VectorFile.range(0x40, 32)))
        identity = IdentityID.derive(rootDevice: laptop.publicKey, nonce: nonce)
        boxes = stored ?? [:]
    }

    /// The keyring `name`: `keys` sealed to `device`, or the one the file already holds.
    package func box(_ name: String, _ keys: [DataKey], to device: DevicePublicKey) throws -> [UInt8] {
        if let existing = boxes[name] { return existing }
        let sealed = try Keyring.seal(keys, to: device)
        boxes[name] = sealed
        return sealed
    }

    /// The laptop's link of `device` over `challenge`, with the keyring `box` holding `keys`.
    package func link(_ device: SigningKeyPair, challenge: [UInt8], box name: String, keys: [DataKey]) throws
        -> PublicBody
    {
        let proof = device.sign(
            PublicBody.linkProofMessage(
                identity: identity, device: device.publicKey, approver: laptop.publicKey, challenge: challenge))
        return .link(
            device: device.publicKey, challenge: challenge, proof: proof,
            keyring: try box(name, keys, to: device.publicKey))
    }

    /// The keyrings as the vector file lists them.
    package var boxesJSON: JSONValue { .object(boxes.keys.sorted().map { ($0, .string(Hex.encode(boxes[$0] ?? []))) }) }
}
