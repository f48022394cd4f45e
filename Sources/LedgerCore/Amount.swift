/// Why an amount typed by a person was refused.
public struct AmountError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Exact amounts in integer minor units (cents for two decimals); never floating point.
public enum AmountFormat {
    /// Parses a positive amount such as `12`, `12.5` or `12.50` into minor units.
    ///
    /// - Throws: `AmountError` for zero, negative, non-numeric, over-precise or too large amounts.
    /// A signed amount (a floor such as `-100.00`, or `0`), in minor units.
    public static func parseSigned(_ text: String, decimals: UInt8) throws(AmountError) -> Int128 {
        let trimmed = text.trimmingWhitespace
        if trimmed == "0" || trimmed == "-0" { return 0 }
        if trimmed.hasPrefix("-") { return -Int128(try parse(String(trimmed.dropFirst()), decimals: decimals)) }
        return Int128(try parse(trimmed, decimals: decimals))
    }

    public static func parse(_ text: String, decimals: UInt8) throws(AmountError) -> Int64 {
        let trimmed = text.trimmingWhitespace
        let example = decimals == 0 ? "12" : "12, 12.5 or 12.5\(String(repeating: "0", count: Int(decimals) - 1))"
        // A space a script let in is more likely a mistake than a wish: say so rather than guess.
        guard trimmed.count == text.count else {
            throw AmountError("amount has spaces around it: \(quoted(text)); write it as \(quoted(trimmed))")
        }
        if trimmed.hasPrefix("-") { throw AmountError("amount must be positive, not \(quoted(text))") }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard !trimmed.isEmpty, parts.count <= 2, let whole = parts.first, !whole.isEmpty,
            whole.allSatisfy(\.isASCIIDigit)
        else { throw AmountError("amount must be a number like \(example), not \(quoted(text))") }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.allSatisfy(\.isASCIIDigit), parts.count == 1 || !fraction.isEmpty else {
            throw AmountError("amount must be a number like \(example), not \(quoted(text))")
        }
        // Trailing zeros never add precision: 12.500 is 12.50.
        while fraction.count > Int(decimals), fraction.hasSuffix("0") { fraction.removeLast() }
        guard fraction.count <= Int(decimals) else {
            throw AmountError(
                decimals == 0
                    ? "amount must be a whole number in this ledger, not \(quoted(text))"
                    : "amount has more than \(decimals) decimal places: \(quoted(text))")
        }
        fraction += String(repeating: "0", count: Int(decimals) - fraction.count)
        var value: Int64 = 0
        for ch in whole + fraction {
            guard let digit = ch.wholeNumberValue else { throw AmountError("amount must be a number") }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else {
                throw AmountError("amount is too large: at most \(format(Int128(Int64.max), decimals: decimals))")
            }
            value = a
        }
        guard value > 0 else { throw AmountError("amount must be greater than zero") }
        return value
    }

    /// Formats minor units with `decimals` places, e.g. 1250 -> "12.50"; negative values get "-".
    public static func format(_ minor: Int128, decimals: UInt8) -> String {
        let negative = minor < 0
        let digits = String(negative ? -minor : minor)
        let d = Int(decimals)
        guard d > 0 else { return (negative ? "-" : "") + digits }
        let padded = String(repeating: "0", count: max(0, d + 1 - digits.count)) + digits
        let split = padded.index(padded.endIndex, offsetBy: -d)
        return (negative ? "-" : "") + padded[..<split] + "." + padded[split...]
    }

    private static func quoted(_ text: String) -> String { "\"\(TextSafety.sanitised(text))\"" }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
