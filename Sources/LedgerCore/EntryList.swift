/// A list of entries as messages carry it: a u32 count, then each entry's encoding with a u32
/// length prefix (docs/PROTOCOL.md, "ENTRIES"). The peer channel's ENTRIES message and
/// pairing's WELCOME and LEDGER pages all carry this, through here.
public enum EntryList {
    /// Why a list did not decode.
    public enum Malformed: Error, Equatable, Sendable, CustomStringConvertible {
        /// The count is above what the message may carry.
        case tooMany(Int)
        /// The bytes end before the count says, or a length is out of bounds.
        case truncated
        /// An entry's bytes are not an entry.
        case badEntry

        public var description: String {
            switch self {
            case .tooMany(let n): "too many entries in one message (\(n))"
            case .truncated: "a truncated list of entries"
            case .badEntry: "an entry that does not decode"
            }
        }
    }

    /// Bytes `entries` take in a list: the count, then a length and the encoding of each.
    public static func size(of entries: [Entry]) -> Int {
        entries.reduce(4) { $0 + 4 + $1.encoded.count }
    }

    /// Bytes one entry adds to a list.
    public static func cost(of entry: Entry) -> Int { 4 + entry.encoded.count }

    public static func encode(_ entries: [Entry], into w: inout ByteWriter) {
        w.u32(UInt32(entries.count))
        for entry in entries { w.lengthPrefixed32(entry.encoded) }
    }

    /// Reads a list of at most `maxCount` entries; the count is checked before anything is
    /// reserved, and each entry's length against `Entry.maxEncodedLength`.
    public static func decode(_ r: inout ByteReader, maxCount: Int) throws(Malformed) -> [Entry] {
        let count: Int
        do { count = Int(try r.u32()) } catch { throw .truncated }
        // Each entry takes at least its 4-byte length: a count the rest cannot hold is a lie.
        guard count <= maxCount, count <= r.remaining / 4 else { throw .tooMany(count) }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let bytes: [UInt8]
            do { bytes = try r.lengthPrefixed32(limit: Entry.maxEncodedLength) } catch { throw .truncated }
            do { entries.append(try Entry(decoding: bytes)) } catch { throw .badEntry }
        }
        return entries
    }
}
