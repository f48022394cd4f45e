import Foundation

/// A bank's CSV statement, read as `import --format csv` reads it: which columns hold the date,
/// the amount (negative: money out) and the memo, and how dates and decimals are written.
package struct CSVStatement: Sendable {
    /// Why a statement cannot be read, in words (the line, the cell and what was expected).
    package struct Problem: Error, CustomStringConvertible, Sendable {
        package let description: String
        init(_ description: String) { self.description = description }
    }

    package struct Row: Equatable, Sendable {
        /// The line in the file (1-based), for messages.
        package var line: Int
        /// Noon local time of the date, in milliseconds.
        package var time: Int64
        package var day: String
        package var kind: EntryKind
        package var amount: Int64
        package var memo: String
    }

    package enum DateOrder: String, CaseIterable, Sendable { case ymd, dmy, mdy }

    package var dateColumn: Int
    package var amountColumn: Int
    package var memoColumn: Int?
    package var dateOrder: DateOrder = .ymd
    package var decimalComma = false

    package static let maxBytes = 16 << 20
    package static let maxRows = 100_000

    /// Reads `--map date=1,amount=3,memo=2` (1-based columns; memo optional).
    package init(map: String) throws(Problem) {
        var columns: [String: Int] = [:]
        for part in map.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, ["date", "amount", "memo"].contains(pair[0]), let column = Int(pair[1]),
                (1...1000).contains(column), columns[pair[0]] == nil
            else {
                throw Problem("--map takes date=N,amount=N[,memo=N] (columns counted from 1), not \(map)")
            }
            columns[pair[0]] = column - 1
        }
        guard let date = columns["date"], let amount = columns["amount"] else {
            throw Problem("--map must name the date and amount columns, like --map date=1,amount=3,memo=2")
        }
        (dateColumn, amountColumn, memoColumn) = (date, amount, columns["memo"])
    }

    /// The rows of `text`: a first line whose amount does not read is taken as a header; any
    /// other row that does not read is refused with its line and why.
    package func rows(_ text: String, decimals: UInt8) throws(Problem) -> [Row] {
        let records = try Self.records(text)
        guard records.count <= Self.maxRows + 1 else {
            throw Problem("the statement has more than \(Self.maxRows) rows; split it")
        }
        var rows: [Row] = []
        for (index, cells) in records.enumerated() {
            do {
                rows.append(try row(cells, line: index + 1, decimals: decimals))
            } catch {
                if index == 0, rows.isEmpty { continue }  // a header
                throw error
            }
        }
        return rows
    }

    private func row(_ cells: [String], line: Int, decimals: UInt8) throws(Problem) -> Row {
        func cell(_ column: Int, _ what: String) throws(Problem) -> String {
            guard column < cells.count else { throw Problem("line \(line) has no \(what) column (\(column + 1))") }
            return cells[column].trimmingCharacters(in: .whitespaces)
        }
        let dateText = try cell(dateColumn, "date")
        guard let day = Self.isoDay(dateText, order: dateOrder), let range = HistoryDate.range(day) else {
            throw Problem(
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
            throw Problem("line \(line): the amount \(error)")
        }
        guard amount > 0 else { throw Problem("line \(line): the amount is zero") }
        var memo = ""
        if let memoColumn { memo = try cell(memoColumn, "memo") }
        memo = TextSafety.sanitised(memo)
        while memo.utf8.count > PrivateBody.maxMemoBytes { memo.removeLast() }
        return Row(
            line: line, time: range.0 + 12 * 3_600_000, day: day, kind: negative ? .debit : .credit, amount: amount,
            memo: memo)
    }

    /// `2026-11-24` from a date written in `order` (`24.11.2026`, `11/24/2026`, `2026-11-24`,
    /// with or without a time after it).
    package static func isoDay(_ text: String, order: DateOrder) -> String? {
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
    package static func records(_ text: String) throws(Problem) -> [[String]] {
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
        guard !quoted else { throw Problem("the file ends inside a quoted cell: it is not a whole CSV file") }
        cells.append(cell)
        if cells != [""] { records.append(cells) }
        return records
    }
}
