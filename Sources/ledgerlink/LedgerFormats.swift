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

/// A bank's CSV statement, read as `import --format csv` reads it: which columns hold the date,
/// the amount (negative: money out) and the memo, and how dates and decimals are written.
struct CSVStatement {
    struct Row: Equatable {
        /// The line in the file (1-based), for messages.
        var line: Int
        /// Noon local time of the date, in milliseconds.
        var time: Int64
        var day: String
        var kind: EntryKind
        var amount: Int64
        var memo: String
    }

    enum DateOrder: String, CaseIterable { case ymd, dmy, mdy }

    var dateColumn: Int
    var amountColumn: Int
    var memoColumn: Int?
    var dateOrder: DateOrder = .ymd
    var decimalComma = false

    static let maxBytes = 16 << 20
    static let maxRows = 100_000

    /// Reads `--map date=1,amount=3,memo=2` (1-based columns; memo optional).
    init(map: String) throws {
        var columns: [String: Int] = [:]
        for part in map.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, ["date", "amount", "memo"].contains(pair[0]), let column = Int(pair[1]),
                (1...1000).contains(column), columns[pair[0]] == nil
            else {
                throw CLIError("--map takes date=N,amount=N[,memo=N] (columns counted from 1), not \(map)")
            }
            columns[pair[0]] = column - 1
        }
        guard let date = columns["date"], let amount = columns["amount"] else {
            throw CLIError("--map must name the date and amount columns, like --map date=1,amount=3,memo=2")
        }
        (dateColumn, amountColumn, memoColumn) = (date, amount, columns["memo"])
    }

    /// The rows of `text`: a first line whose amount does not read is taken as a header; any
    /// other row that does not read is refused with its line and why.
    func rows(_ text: String, decimals: UInt8) throws -> [Row] {
        let records = try Self.records(text)
        guard records.count <= Self.maxRows + 1 else {
            throw CLIError("the statement has more than \(Self.maxRows) rows; split it")
        }
        var rows: [Row] = []
        for (index, cells) in records.enumerated() {
            do {
                rows.append(try row(cells, line: index + 1, decimals: decimals))
            } catch let error as CLIError {
                if index == 0, rows.isEmpty { continue }  // a header
                throw error
            }
        }
        return rows
    }

    private func row(_ cells: [String], line: Int, decimals: UInt8) throws -> Row {
        func cell(_ column: Int, _ what: String) throws -> String {
            guard column < cells.count else { throw CLIError("line \(line) has no \(what) column (\(column + 1))") }
            return cells[column].trimmingCharacters(in: .whitespaces)
        }
        let dateText = try cell(dateColumn, "date")
        guard let day = Self.isoDay(dateText, order: dateOrder), let range = HistoryDate.range(day) else {
            throw CLIError(
                "line \(line): \"\(TextSafety.sanitised(String(dateText.prefix(40))))\" is not a date in "
                    + "\(dateOrder.rawValue) order (--date-order ymd, dmy or mdy)")
        }
        var amountText = try cell(amountColumn, "amount").replacingOccurrences(of: " ", with: "")
        if decimalComma {
            amountText = amountText.replacingOccurrences(of: ".", with: "").replacingOccurrences(of: ",", with: ".")
        } else {
            amountText = amountText.replacingOccurrences(of: ",", with: "")
        }
        let negative = amountText.hasPrefix("-")
        if negative || amountText.hasPrefix("+") { amountText.removeFirst() }
        let amount: Int64
        do {
            amount = try AmountFormat.parse(amountText, decimals: decimals)
        } catch {
            throw CLIError("line \(line): the amount \(error)")
        }
        guard amount > 0 else { throw CLIError("line \(line): the amount is zero") }
        var memo = try memoColumn.map { try cell($0, "memo") } ?? ""
        memo = TextSafety.sanitised(memo)
        while memo.utf8.count > PrivateBody.maxMemoBytes { memo.removeLast() }
        return Row(
            line: line, time: range.0 + 12 * 3_600_000, day: day, kind: negative ? .debit : .credit, amount: amount,
            memo: memo)
    }

    /// `2026-11-24` from a date written in `order` (`24.11.2026`, `11/24/2026`, `2026-11-24`,
    /// with or without a time after it).
    static func isoDay(_ text: String, order: DateOrder) -> String? {
        let date = text.split(separator: " ").first.map(String.init) ?? text
        let parts = date.split(whereSeparator: { $0 == "-" || $0 == "/" || $0 == "." }).map(String.init)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
            return nil
        }
        let (y, m, d): (String, String, String)
        switch order {
        case .ymd: (y, m, d) = (parts[0], parts[1], parts[2])
        case .dmy: (y, m, d) = (parts[2], parts[1], parts[0])
        case .mdy: (y, m, d) = (parts[2], parts[0], parts[1])
        }
        guard y.count == 4, (1...2).contains(m.count), (1...2).contains(d.count) else { return nil }
        let day = "\(y)-\(m.count == 1 ? "0" : "")\(m)-\(d.count == 1 ? "0" : "")\(d)"
        return HistoryDate.range(day) == nil ? nil : day
    }

    /// RFC 4180 records: commas (or semicolons, when the first line has more of them) between
    /// cells, quoted cells with doubled quotes, CRLF or LF.
    static func records(_ text: String) throws -> [[String]] {
        let firstLine = text.prefix { $0 != "\n" }
        let separator: Character =
            firstLine.filter({ $0 == ";" }).count > firstLine.filter({ $0 == "," }).count ? ";" : ","
        var records: [[String]] = []
        var cells: [String] = []
        var cell = ""
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            index = text.index(after: index)
            if quoted {
                if c == "\"" {
                    if index < text.endIndex, text[index] == "\"" {
                        cell.append("\"")
                        index = text.index(after: index)
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == separator {
                cells.append(cell)
                cell = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                cells.append(cell)
                if cells != [""] { records.append(cells) }
                (cells, cell) = ([], "")
            } else {
                cell.append(c)
            }
        }
        guard !quoted else { throw CLIError("the file ends inside a quoted cell: it is not a whole CSV file") }
        cells.append(cell)
        if cells != [""] { records.append(cells) }
        return records
    }
}
