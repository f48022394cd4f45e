/// Lowercase hexadecimal encoding, as used in exports and docs/PROTOCOL.md.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Encodes bytes as lowercase hex.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        // The table is taken once: a static read inside the loop is a lazy-initialisation
        // check per byte (a tenth of an import's time went to such checks).
        digits.withUnsafeBufferPointer { digits in
            for b in bytes {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil when the text is not an even run of hex digits.
    public static func decode(_ text: String) -> [UInt8]? { decode(utf8: Array(text.utf8)[...]) }

    /// Decodes hex given as ASCII bytes (a line of a file, read without making a string).
    public static func decode(utf8 chars: ArraySlice<UInt8>) -> [UInt8]? {
        guard chars.count % 2 == 0 else { return nil }
        let count = chars.count / 2
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            // The table is taken once, outside the loop (a static read inside it is a
            // lazy-initialisation check per character).
            digitValues.withUnsafeBufferPointer { values in
                chars.withUnsafeBufferPointer { text in
                    // Each digit's value, or 0xFF: one table look-up per character, and one
                    // check per pair (the high bits of either value say it was not a digit).
                    for i in 0..<count {
                        let hi = values[Int(text[2 * i])]
                        let lo = values[Int(text[2 * i + 1])]
                        if (hi | lo) & 0xF0 != 0 {
                            valid = false
                            break
                        }
                        buffer[i] = hi << 4 | lo
                    }
                }
            }
            initialized = valid ? count : 0
        }
        return valid ? out : nil
    }

    /// The value of each byte as a hex digit, 0xFF for a byte that is not one.
    private static let digitValues: [UInt8] = (0..<256).map { value(UInt8($0)) ?? 0xFF }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
