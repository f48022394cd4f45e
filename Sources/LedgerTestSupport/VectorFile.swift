import Foundation

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
