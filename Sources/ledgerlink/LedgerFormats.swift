import Foundation
import LedgerCore

/// The ledger as other tools read it: CSV for spreadsheets, and an hledger journal. Both list
/// the counted credits and debits, oldest first, with the local date and time as `history`
/// shows them; memos are untrusted text and are made safe for each format.
enum LedgerFormats {
    /// Entries read from the engine per page: memory stays flat however large the ledger.
    static let page = 10_000

    /// Calls `body` with every counted credit and debit, oldest first.
    static func forEachRecord(_ engine: MergeEngine, _ body: (HistoryItem) throws -> Void) async throws {
        let logs = try await engine.historyLogs()
        guard let index = try engine.historyIndex(logs, filter: nil) else { return }
        var end = index.count
        while end > 0 {
            let start = max(0, end - page)
            for item in try engine.historyItems(index, in: start..<end).reversed() { try body(item) }
            end = start
        }
    }

    /// `#words` in a memo: letters, digits, `-` and `_` after a `#`.
    static func tags(_ memo: String) -> [String] {
        var tags: [String] = []
        var current: String?
        for character in memo + " " {
            if character == "#" {
                if let tag = current, !tag.isEmpty { tags.append(tag) }
                current = ""
            } else if current != nil, character.isLetter || character.isNumber || character == "-" || character == "_" {
                current?.append(character)
            } else {
                if let tag = current, !tag.isEmpty { tags.append(tag) }
                current = nil
            }
        }
        return tags
    }

    // MARK: - CSV

    static let csvHeader = "date,device,kind,amount,memo,tags,entry"

    /// One RFC 4180 row. A cell a spreadsheet would run as a formula (starting with `=`, `+`,
    /// `-`, `@`) is prefixed with `'`, so a memo from another device cannot run one.
    static func csvRow(_ item: HistoryItem, device: String, decimals: UInt8) -> String {
        let memo = TextSafety.sanitised(item.memo ?? "")
        let cells = [
            HistoryDate.format(item.time), device, item.kind == .credit ? "credit" : "debit",
            item.amount.map { AmountFormat.format(Int128($0), decimals: decimals) } ?? "",
            memo, tags(memo).joined(separator: " "), String(item.hash.hex.prefix(16)),
        ]
        return cells.map(csvCell).joined(separator: ",")
    }

    static func csvCell(_ text: String) -> String {
        var cell = text
        if let first = cell.first, "=+-@".contains(first) { cell = "'" + cell }
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: - hledger

    /// One hledger transaction: the memo as its description (`;` and `|` taken out: they start a
    /// comment or split payee and note there), the device, entry and tags as a comment, then
    /// the posting to `assets:ledgerlink` and the one balancing it (`income:` or `expenses:`).
    static func journalEntry(_ item: HistoryItem, device: String, decimals: UInt8) -> String? {
        guard let amount = item.amount else { return nil }
        let date = HistoryDate.format(item.time).prefix(10)
        let memo = TextSafety.sanitised(item.memo ?? "").map { ";|".contains($0) ? " " : String($0) }.joined()
        let safeDevice = device.map { ";,:".contains($0) ? " " : String($0) }.joined()
        let value = AmountFormat.format(Int128(amount), decimals: decimals)
        let tagText = tags(item.memo ?? "").map { "\($0):" }.joined(separator: ", ")
        let comment =
            "device: \(safeDevice), entry: \(item.hash.hex.prefix(16))" + (tagText.isEmpty ? "" : ", " + tagText)
        let (account, other) =
            item.kind == .credit
            ? ("assets:ledgerlink", "income:ledgerlink") : ("expenses:ledgerlink", "assets:ledgerlink")
        return """
            \(date) \(memo.isEmpty ? "(no memo)" : memo)  ; \(comment)
                \(account)    \(value)
                \(other)
            """ + "\n\n"
    }
}
