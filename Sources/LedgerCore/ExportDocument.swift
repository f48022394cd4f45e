import Foundation
import LedgerCrypto

/// The `export` file format (docs/PROTOCOL.md, "Export"): every stored entry with every field
/// needed to verify it independently, as JSON or as plain lines of hex.
public enum ExportDocument {
    static let format = "ledgerlink-export"
    public static let textHeader = "ledgerlink-export v1"

    /// The text form's line prefix for a store head (docs/PROTOCOL.md, "Export").
    public static let storeHeadPrefix = "store-head "
    /// At most this many store heads in one export (the peer channel's HEADS bound).
    public static let maxStoreHeads = 32
    /// At most this many bytes of JSON per store head.
    static let maxStoreHeadBytes = 1024

    /// What an export file holds: the entries, and the store heads the exporting device kept
    /// (each a JSON object, checked by the reader of heads: docs/PROTOCOL.md "Store heads").
    public struct Contents: Sendable {
        public var entries: [Entry]
        public var storeHeads: [[UInt8]]
    }

    /// JSON with the canonical bytes and each decoded field of every entry.
    public static func json(
        identity: IdentityID, device: DevicePublicKey, entries: [(StoredEntryPlace, Entry)],
        storeHeads: [JSONValue] = []
    ) -> JSONValue {
        .object([
            ("format", .string(format)),
            ("version", 1),
            ("identity", .string(identity.hex)),
            ("exported_by", .string(device.hex)),
            ("store_heads", .array(storeHeads)),
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
    public static func jsonFrame(identity: IdentityID, device: DevicePublicKey, storeHeads: [JSONValue] = [])
        -> (head: String, tail: String)
    {
        let whole = JSONValue.object([
            ("format", .string(format)), ("version", 1), ("identity", .string(identity.hex)),
            ("exported_by", .string(device.hex)), ("store_heads", .array(storeHeads)), ("entries", .array([.null])),
        ]).prettyText
        let parts = whole.components(separatedBy: "    null\n")
        return (parts[0], parts.count > 1 ? parts[1] : "")
    }

    /// One entry of the JSON form, indented as it stands in the document.
    public static func jsonItem(_ entry: Entry, place: StoredEntryPlace) -> String {
        fields(entry, place: place).prettyText.split(separator: "\n", omittingEmptySubsequences: false)
            .map { "    " + $0 }.joined(separator: "\n")
    }

    /// Plain text: a header line, a `store-head` line per store head, then one entry's
    /// canonical bytes in hex per line.
    public static func text(entries: [(StoredEntryPlace, Entry)], storeHeads: [JSONValue] = []) -> String {
        ([textHeader] + storeHeads.map { storeHeadPrefix + $0.text } + entries.map { Hex.encode($0.1.encoded) })
            .joined(separator: "\n") + "\n"
    }

    /// Why an export file was refused.
    public struct ReadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses either form. In JSON, every decoded field must agree with the canonical bytes.
    public static func read(_ data: Data) throws(ReadError) -> [Entry] {
        try contents(data).entries
    }

    /// Parses either form, with the store heads it carries (at most `maxStoreHeads`, each at
    /// most 1 KiB of JSON; their signatures are checked by whoever reads them).
    public static func contents(_ data: Data) throws(ReadError) -> Contents {
        if var stream = try TextStream(first: Array(data), read: { nil }) {
            var entries: [Entry] = []
            while let page = try stream.nextPage() { entries += page }
            return Contents(entries: entries, storeHeads: stream.storeHeads)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ReadError(description: "the file is not UTF-8 text; it is not a ledgerlink export")
        }
        let trimmed = text.trimmingWhitespace
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
        // Older exports have no store heads.
        let headObjects = object["store_heads"] as? [Any] ?? []
        guard headObjects.count <= maxStoreHeads else {
            throw ReadError(description: "the export holds more than \(maxStoreHeads) store heads")
        }
        let heads = try headObjects.map { (head) throws(ReadError) -> [UInt8] in
            guard JSONSerialization.isValidJSONObject(head),
                let json = try? JSONSerialization.data(withJSONObject: head, options: [.sortedKeys]),
                json.count <= maxStoreHeadBytes
            else { throw ReadError(description: "a store head in the export is not a JSON object of at most 1 KiB") }
            return Array(json)
        }
        let entries = try list.enumerated().map { (index, item) throws(ReadError) -> Entry in
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
        return Contents(entries: entries, storeHeads: heads)
    }
}

extension ExportDocument {
    /// The text form read a page at a time from a source of bytes: lines are found in the
    /// bytes (no whole-file string), and each page's entries are decoded on every core. Memory
    /// holds one chunk of the file and one page of entries, however large the file.
    public struct TextStream: Sendable {
        /// The next chunk of the file, or nil at its end.
        private let read: @Sendable () throws -> [UInt8]?
        private var buffer: [UInt8]
        private var start = 0
        private var atEnd = false
        /// Lines read so far (the header is line 1).
        public private(set) var lineNumber = 0
        /// The store heads read so far (they come before the entries as the exporter writes them).
        public private(set) var storeHeads: [[UInt8]] = []

        /// Most entries in one page.
        public static let defaultPageEntries = 4_096
        private let pageEntries: Int
        /// The longest line: an entry of the largest size in hex, with room for white space.
        static let maxLine = 2 * Entry.maxEncodedLength + 64

        /// A stream whose first bytes are `first` (what was read to tell the form), then what
        /// `read` gives; nil when the bytes do not start with the text form's header.
        public init?(
            first: [UInt8], pageEntries: Int = defaultPageEntries, read: @escaping @Sendable () throws -> [UInt8]?
        ) throws(ReadError) {
            let header = Array(textHeader.utf8)
            var start = first
            // Enough of the file to tell: white space is skipped, up to a chunk of it.
            while start.drop(while: Self.isSpace).count < header.count, start.count < 1 << 20 {
                let more: [UInt8]?
                do { more = try read() } catch { throw ReadError(description: "cannot read the file: \(error)") }
                guard let more, !more.isEmpty else { break }
                start += more
            }
            let skipped = start.drop(while: Self.isSpace)
            guard skipped.starts(with: header) else { return nil }
            buffer = Array(skipped)
            self.read = read
            self.pageEntries = max(1, pageEntries)
        }

        static func isSpace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        }

        /// The next line without its surrounding white space, or nil at the end of the file.
        private mutating func nextLine() throws(ReadError) -> ArraySlice<UInt8>? {
            while true {
                if let end = Self.newline(in: buffer, from: start) {
                    defer { start = end + 1 }
                    lineNumber += 1
                    return Self.trimmed(buffer[start..<end])
                }
                guard buffer.count - start <= Self.maxLine else {
                    throw ReadError(description: "line \(lineNumber + 1) is longer than any entry")
                }
                if atEnd {
                    guard start < buffer.count else { return nil }
                    defer { start = buffer.count }
                    lineNumber += 1
                    return Self.trimmed(buffer[start...])
                }
                let chunk: [UInt8]?
                do { chunk = try read() } catch {
                    throw ReadError(description: "cannot read the file: \(error)")
                }
                buffer.removeSubrange(0..<start)
                start = 0
                if let chunk, !chunk.isEmpty { buffer += chunk } else { atEnd = true }
            }
        }

        /// The index of the first newline in `buffer` at or after `start`, found by `memchr`
        /// (a generic search was most of the time spent finding lines).
        static func newline(in buffer: [UInt8], from start: Int) -> Int? {
            buffer.withUnsafeBufferPointer { all in
                guard start < all.count, let base = all.baseAddress,
                    let hit = memchr(base + start, Int32(UInt8(ascii: "\n")), all.count - start)
                else { return nil }
                return UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            }
        }

        static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            guard let first = line.firstIndex(where: { !isSpace($0) }),
                let last = line.lastIndex(where: { !isSpace($0) })
            else { return [] }
            return line[first...last]
        }

        /// The next page of entries (at most the page size), or nil when the file has no more.
        /// A line that is not hex, an entry that does not decode, or too many store heads ends
        /// the read with the line's number (the first bad line of the page is the one named).
        public mutating func nextPage() throws(ReadError) -> [Entry]? {
            if lineNumber == 0 { _ = try nextLine() }  // the header, checked when the stream was made
            // Each line is turned into bytes as it is read, so the page's text is never held
            // whole: only the chunk being read, and the bytes the entries keep.
            var encoded: [[UInt8]] = []
            var lines: [Int] = []
            var notHex: Int?
            let prefix = Array(storeHeadPrefix.utf8)
            while encoded.count < pageEntries, let line = try nextLine() {
                guard !line.isEmpty else { continue }
                if line.starts(with: prefix) {
                    let json = Array(line.dropFirst(prefix.count))
                    guard storeHeads.count < maxStoreHeads, json.count <= maxStoreHeadBytes,
                        json.first == UInt8(ascii: "{")
                    else { throw ReadError(description: "line \(lineNumber): too many or too long store heads") }
                    storeHeads.append(json)
                    continue
                }
                guard let bytes = Hex.decode(utf8: line) else {
                    notHex = lineNumber
                    break
                }
                encoded.append(bytes)
                lines.append(lineNumber)
            }
            guard !encoded.isEmpty || notHex != nil else { return nil }
            // Entries decoded on every core; an entry before the line that is not hex that does
            // not decode is named first.
            let decoded = BackgroundMap(encoded, minimumChunk: 512) { bytes -> Result<Entry, LedgerError> in
                Result { () throws(LedgerError) in try Entry(decoding: bytes) }
            }.values()
            encoded = []
            var entries: [Entry] = []
            entries.reserveCapacity(decoded.count)
            for (index, result) in decoded.enumerated() {
                switch result {
                case .success(let entry): entries.append(entry)
                case .failure(let error): throw ReadError(description: "line \(lines[index]): \(error)")
                }
            }
            if let notHex { throw ReadError(description: "line \(notHex) is not hex") }
            return entries
        }
    }
}

extension ExportDocument {
    /// A text stream read one page ahead on a thread of its own: while the consumer merges a
    /// page, the next is read and decoded. Memory holds two pages, never more.
    public final class PrefetchedPages: @unchecked Sendable {
        // Everything below is guarded by `condition`.
        private let condition = NSCondition()
        private var waiting: Result<[Entry]?, ReadError>?
        private var stopped = false
        private var heads: [[UInt8]] = []

        public init(_ stream: TextStream) {
            let thread = Thread { [self] in self.produce(stream) }
            thread.name = "ledgerlink-import-read"
            thread.start()
        }

        private func produce(_ stream: TextStream) {
            var stream = stream
            while true {
                // The next page is read only once the consumer took the last one: memory holds the
                // page being merged and the page being read, never a third waiting between them.
                condition.lock()
                while waiting != nil, !stopped { condition.wait() }
                let stop = stopped
                condition.unlock()
                if stop { return }
                let page = Result { () throws(ReadError) in try stream.nextPage() }
                condition.lock()
                waiting = page
                heads = stream.storeHeads
                condition.broadcast()
                condition.unlock()
                if case .success(let entries) = page, entries != nil { continue }
                return  // the end of the file, or an error: nothing more to read
            }
        }

        /// The next page, waiting for it when it is still being read; nil at the end.
        public func next() throws(ReadError) -> [Entry]? {
            condition.lock()
            while waiting == nil, !stopped { condition.wait() }
            let page = stopped ? .success(nil) : waiting ?? .success(nil)
            if case .success(let entries) = page, entries != nil { waiting = nil }  // the end stays
            condition.broadcast()
            condition.unlock()
            return try page.get()
        }

        /// The store heads read so far (all of them once `next` returned nil).
        public var storeHeads: [[UInt8]] {
            condition.lock()
            defer { condition.unlock() }
            return heads
        }

        /// Stops reading (the consumer gave up): the reading thread ends at its next page.
        public func stop() {
            condition.lock()
            stopped = true
            condition.broadcast()
            condition.unlock()
        }

        deinit { stop() }
    }
}
