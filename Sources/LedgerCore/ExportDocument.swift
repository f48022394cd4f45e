import Foundation
import LedgerCrypto

/// The `export` file format (docs/PROTOCOL.md, "Export"): every stored entry with every field
/// needed to verify it independently, as JSON or as plain lines of hex.
public enum ExportDocument {
    static let format = "ledgerlink-export"
    public static let textHeader = "ledgerlink-export v1"

    /// JSON with the canonical bytes and each decoded field of every entry.
    public static func json(identity: IdentityID, device: DevicePublicKey, entries: [(StoredEntryPlace, Entry)])
        -> JSONValue
    {
        .object([
            ("format", .string(format)),
            ("version", 1),
            ("identity", .string(identity.hex)),
            ("exported_by", .string(device.hex)),
            ("entries", .array(entries.map { place, entry in fields(entry, place: place) })),
        ])
    }

    /// The fields of one entry, in the order they are encoded.
    public static func fields(_ entry: Entry, place: StoredEntryPlace) -> JSONValue {
        .object([
            ("place", .string(place.rawValue)),
            ("hash", .string(entry.hash.hex)),
            ("version", .integer(Int128(Entry.currentVersion))),
            ("identity", .string(entry.identity.hex)),
            ("author", .string(entry.author.hex)),
            ("seq", .integer(Int128(entry.seq))),
            ("prev", .string(entry.prev.hex)),
            ("kind", .string(entry.kind.name)),
            ("kind_code", .integer(Int128(entry.kind.rawValue))),
            ("time_ms", .integer(Int128(entry.time))),
            ("public_body", .string(Hex.encode(entry.publicBody))),
            ("sealed", .string(Hex.encode(entry.sealed))),
            ("signature", .string(Hex.encode(entry.signature.bytes))),
            ("encoded", .string(Hex.encode(entry.encoded))),
        ])
    }

    /// The JSON form cut around its entries, for writing it entry by entry: `head`, then the
    /// `jsonItem`s separated by ",\n", then `tail` (a "\n" before it when there were entries).
    /// The result is the same text as `json(...).prettyText`.
    public static func jsonFrame(identity: IdentityID, device: DevicePublicKey) -> (head: String, tail: String) {
        let whole = JSONValue.object([
            ("format", .string(format)), ("version", 1), ("identity", .string(identity.hex)),
            ("exported_by", .string(device.hex)), ("entries", .array([.null])),
        ]).prettyText
        let parts = whole.components(separatedBy: "    null\n")
        return (parts[0], parts.count > 1 ? parts[1] : "")
    }

    /// One entry of the JSON form, indented as it stands in the document.
    public static func jsonItem(_ entry: Entry, place: StoredEntryPlace) -> String {
        fields(entry, place: place).prettyText.split(separator: "\n", omittingEmptySubsequences: false)
            .map { "    " + $0 }.joined(separator: "\n")
    }

    /// Plain text: a header line, then one entry's canonical bytes in hex per line.
    public static func text(entries: [(StoredEntryPlace, Entry)]) -> String {
        ([textHeader] + entries.map { Hex.encode($0.1.encoded) }).joined(separator: "\n") + "\n"
    }

    /// Why an export file was refused.
    public struct ReadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses either form. In JSON, every decoded field must agree with the canonical bytes.
    public static func read(_ data: Data) throws(ReadError) -> [Entry] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw ReadError(description: "the file is not UTF-8 text; it is not a ledgerlink export")
        }
        let trimmed = text.trimmingWhitespace
        if trimmed.hasPrefix(textHeader) {
            var entries: [Entry] = []
            for (number, line) in trimmed.split(separator: "\n").dropFirst().enumerated() {
                let hex = line.trimmingWhitespace
                guard !hex.isEmpty else { continue }
                guard let bytes = Hex.decode(hex) else { throw ReadError(description: "line \(number + 2) is not hex") }
                do {
                    entries.append(try Entry(decoding: bytes))
                } catch {
                    throw ReadError(description: "line \(number + 2): \(error)")
                }
            }
            return entries
        }
        guard trimmed.hasPrefix("{"), let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            object["format"] as? String == format
        else { throw ReadError(description: "the file is not a ledgerlink export") }
        guard object["version"] as? Int == 1 else {
            throw ReadError(
                description: "the export was written by a newer ledgerlink (version \(object["version"] ?? "?"))")
        }
        guard let list = object["entries"] as? [[String: Any]] else {
            throw ReadError(description: "the export has no entries list")
        }
        return try list.enumerated().map { (index, item) throws(ReadError) -> Entry in
            guard let hex = item["encoded"] as? String, let bytes = Hex.decode(hex) else {
                throw ReadError(description: "entry \(index + 1) has no encoded bytes")
            }
            let entry: Entry
            do {
                entry = try Entry(decoding: bytes)
            } catch {
                throw ReadError(description: "entry \(index + 1): \(error)")
            }
            // The decoded fields are for independent verifiers; they must say what the bytes say.
            guard case .object(let expected) = fields(entry, place: .log) else { return entry }
            for (key, value) in expected where key != "place" {
                let given = item[key]
                let matches: Bool
                switch value {
                case .string(let s): matches = (given as? String)?.lowercased() == s
                case .integer(let n):
                    matches = (given as? NSNumber).map { String(describing: $0) == String(n) } ?? false
                default: matches = true
                }
                guard matches else {
                    throw ReadError(description: "entry \(index + 1): field \(key) does not match its encoded bytes")
                }
            }
            return entry
        }
    }
}
