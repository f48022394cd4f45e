import Foundation
import LedgerCore

/// The ledger as other tools read it: CSV for spreadsheets, and an hledger journal. Both list
/// the counted credits and debits, oldest first, with the local date and time as `history`
/// shows them; memos are untrusted text and are made safe for each format.
enum LedgerFormats {
    /// Entries read from the engine per page: memory stays flat however large the ledger.
    static let page = 10_000

    /// Calls `body` with every counted credit and debit, oldest first (corrections are not
    /// passed on: each item carries what they decided, as `countedAmount` and its note).
    static func forEachRecord(_ engine: MergeEngine, _ body: (HistoryItem) throws -> Void) async throws {
        let logs = try await engine.historyLogs()
        guard let index = try engine.historyIndex(logs, filter: nil) else { return }
        var end = index.count
        while end > 0 {
            let start = max(0, end - page)
            for item in try engine.historyItems(index, in: start..<end).reversed() where item.kind.isRecord {
                try body(item)
            }
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

    static let csvHeader = "date,device,kind,amount,memo,tags,entry,status"

    /// One RFC 4180 row. A cell a spreadsheet would run as a formula (starting with `=`, `+`,
    /// `-`, `@`) is prefixed with `'`, so a memo from another device cannot run one.
    /// A corrected entry is listed with the amount and memo it counts with now, and its
    /// status (`counted`, `corrected` or `void`: a void one has amount 0).
    static func csvRow(_ item: HistoryItem, device: String, decimals: UInt8) -> String {
        let memo = TextSafety.sanitised(countedMemo(item) ?? "")
        let cells = [
            HistoryDate.format(item.time), device, item.kind == .credit ? "credit" : "debit",
            item.countedAmount.map { AmountFormat.format(Int128($0), decimals: decimals) } ?? "",
            memo, tags(memo).joined(separator: " "), item.id, status(item),
        ]
        return cells.map(csvCell).joined(separator: ",")
    }

    /// `counted`, `corrected` or `void`.
    static func status(_ item: HistoryItem) -> String {
        guard case .corrected(let effect) = item.note else { return "counted" }
        return effect.isVoid ? "void" : "corrected"
    }

    /// The memo an entry counts with: a correction's, when one gave a new memo.
    static func countedMemo(_ item: HistoryItem) -> String? {
        guard case .corrected(let effect) = item.note else { return item.memo }
        return effect.memo
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
    /// A corrected entry is written with the amount it counts with now (the comment says what
    /// it was); a void one is left out.
    static func journalEntry(_ item: HistoryItem, device: String, decimals: UInt8) -> String? {
        guard let amount = item.countedAmount, amount > 0 else { return nil }
        let date = HistoryDate.format(item.time).prefix(10)
        let memo = TextSafety.sanitised(countedMemo(item) ?? "").map { ";|".contains($0) ? " " : String($0) }
            .joined()
        let safeDevice = device.map { ";,:".contains($0) ? " " : String($0) }.joined()
        let value = AmountFormat.format(Int128(amount), decimals: decimals)
        let tagText = tags(countedMemo(item) ?? "").map { "\($0):" }.joined(separator: ", ")
        let was = item.amount.map { AmountFormat.format(Int128($0), decimals: decimals) } ?? "?"
        let comment =
            "device: \(safeDevice), entry: \(item.id)" + (item.note == nil ? "" : ", corrected: was \(was)")
            + (tagText.isEmpty ? "" : ", " + tagText)
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
