import LedgerCore
import Testing

@Suite("Amounts")
struct AmountTests {
    @Test(
        "amounts parse exactly into minor units",
        arguments: [
            ("12", 2, 1200), ("12.5", 2, 1250), ("12.50", 2, 1250), ("0.01", 2, 1), ("12.500", 2, 1250),
            ("3", 0, 3), ("1.2345", 4, 12345), ("92233720368547758.07", 2, Int64.max),
        ] as [(String, UInt8, Int64)])
    func parses(text: String, decimals: UInt8, minor: Int64) throws {
        #expect(try AmountFormat.parse(text, decimals: decimals) == minor)
    }

    @Test(
        "bad amounts are refused with a message that says why",
        arguments: [
            ("0", "greater than zero"), ("0.00", "greater than zero"), ("-5", "positive"), ("abc", "a number"),
            ("12.", "a number"), (".5", "a number"), ("1e3", "a number"), ("1,5", "a number"), ("", "a number"),
            ("12.345", "more than 2 decimal places"), (" 5", "spaces around it"), ("5\n", "spaces around it"),
            ("92233720368547758.08", "too large"),
            ("99999999999999999999", "too large"), ("١٢", "a number"),
        ])
    func refuses(text: String, reason: String) {
        do {
            _ = try AmountFormat.parse(text, decimals: 2)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
        }
    }

    @Test(
        "amounts format with the ledger's decimals and a sign",
        arguments: [
            (Int128(1250), 2, "12.50"), (Int128(-5), 2, "-0.05"), (Int128(0), 2, "0.00"), (Int128(7), 0, "7"),
            (Int128(Int64.max) * 4, 2, "368934881474191032.28"),
        ] as [(Int128, UInt8, String)])
    func formats(minor: Int128, decimals: UInt8, text: String) {
        #expect(AmountFormat.format(minor, decimals: decimals) == text)
    }

    @Test("text safety refuses control characters and overlong text, and sanitises for display")
    func textSafety() {
        #expect(TextSafety.problem(with: "lunch 🍜", what: "memo", maxBytes: 280) == nil)
        #expect(TextSafety.problem(with: "a\u{1b}[2J", what: "memo", maxBytes: 280) != nil)
        #expect(TextSafety.problem(with: "x\u{202E}gpj.exe", what: "memo", maxBytes: 280) != nil)
        #expect(TextSafety.problem(with: String(repeating: "é", count: 141), what: "memo", maxBytes: 280) != nil)
        #expect(TextSafety.sanitised("a\u{1b}[31mb\u{7}") == "a\u{FFFD}[31mb\u{FFFD}")
    }
}
