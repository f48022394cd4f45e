/// Rules for text that people type (memos, device names) and for showing untrusted text.
public enum TextSafety {
    /// True for characters that must never reach a terminal: C0/C1 controls, DEL, and the
    /// bidirectional overrides that can make text read differently from what it is.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Replaces every unsafe character with U+FFFD so the text can be shown as-is.
    public static func sanitised(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            out.append(isUnsafe(scalar) ? "\u{FFFD}" : scalar)
        }
        return String(out)
    }

    /// Checks text a person typed for a memo or a name; returns a message when it is refused.
    public static func problem(with text: String, what: String, maxBytes: Int) -> String? {
        if text.utf8.count > maxBytes {
            return "\(what) is \(text.utf8.count) bytes long; the limit is \(maxBytes) bytes of UTF-8"
        }
        if text.unicodeScalars.contains(where: isUnsafe) {
            return "\(what) contains control characters; use plain text"
        }
        return nil
    }
}
