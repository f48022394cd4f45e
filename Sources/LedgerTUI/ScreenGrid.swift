import CNCursesw
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How a cell is drawn. Meaning never rests on colour alone: every state also has a symbol
/// or a word, so `NO_COLOR` loses nothing.
package enum CellStyle: Sendable, Equatable {
    case normal, bold, dim, reverse, accent, warning
    /// Money in, money out (green and red where colour is on).
    case credit, debit
    /// A state that is well (an active device) or needs attention (revoked, forked).
    case good, bad
}

/// A screen as rows of cells, built by the renderer and drawn by the terminal front-end.
/// Wide characters (CJK, most emoji) take two cells; the second holds nil.
package struct ScreenGrid: Sendable, Equatable {
    package let width: Int
    package let height: Int
    package private(set) var cells: [[(Character?, CellStyle)]]

    package init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Array(repeating: (" ", .normal), count: max(0, width)), count: max(0, height))
    }

    package static func == (lhs: ScreenGrid, rhs: ScreenGrid) -> Bool { lhs.text == rhs.text }

    /// Columns `text` takes on a terminal.
    package static func columns(_ text: String) -> Int { text.reduce(0) { $0 + columns(of: $1) } }

    /// Columns one character takes: 0 for combining marks, 2 for wide characters.
    package static func columns(of character: Character) -> Int {
        TerminalLocale.ensure()
        var total = 0
        for (index, scalar) in character.unicodeScalars.enumerated() {
            let w = Int(ll_wcwidth(scalar.value))
            if index == 0 { total = max(w, 1) } else if w > 1 { total = 2 }
        }
        return min(total, 2)
    }

    /// Writes `text` at (`row`, `column`), clipped to `limit` columns (default: to the edge);
    /// text that is cut ends in `…`, so nothing is lost without notice. Returns the column
    /// after the last cell written.
    @discardableResult
    package mutating func put(_ text: String, row: Int, column: Int, style: CellStyle = .normal, limit: Int? = nil)
        -> Int
    {
        guard row >= 0, row < height else { return column }
        let end = min(width, column + (limit ?? width))
        let cut = Self.columns(text) > end - column
        // Room for the ellipsis when the text is cut.
        let stop = cut ? end - 1 : end
        var x = column
        for character in text {
            let w = Self.columns(of: character)
            guard x + w <= stop else { break }
            if x >= 0 {
                cells[row][x] = (character, style)
                if w == 2 { cells[row][x + 1] = (nil, style) }
            }
            x += w
        }
        if cut, x >= 0, x < end {
            cells[row][x] = ("…", style)
            x += 1
        }
        return x
    }

    /// `text` broken into lines of at most `width` columns, at spaces where it can be.
    package static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [text] }
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            let candidate = line.isEmpty ? word : line + " " + word
            if columns(candidate) <= width {
                line = candidate
                continue
            }
            if !line.isEmpty { lines.append(line) }
            // A word longer than a line is cut into pieces.
            var rest = word
            while columns(rest) > width {
                var piece = ""
                for c in rest {
                    guard columns(piece) + columns(of: c) <= width else { break }
                    piece.append(c)
                }
                guard !piece.isEmpty else { break }
                lines.append(piece)
                rest.removeFirst(piece.count)
            }
            line = rest
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }

    /// Fills a run of cells with one style (for highlighted rows).
    package mutating func style(row: Int, from: Int, to: Int, _ style: CellStyle) {
        guard row >= 0, row < height else { return }
        for x in max(0, from)..<min(width, to) { cells[row][x].1 = style }
    }

    /// The screen as plain text, one line per row, trailing spaces kept (golden files).
    package var text: String {
        cells.map { row in String(row.compactMap { $0.0 }) }.joined(separator: "\n")
    }
}

/// ncurses and the C library's character widths both need a UTF-8 locale, whatever the
/// environment says: a bare ssh session, cron or a container often sets none (LANG unset is
/// the C locale, whose ASCII turns every border into mojibake).
enum TerminalLocale {
    private static let utf8: Bool = {
        setlocale(LC_ALL, "")
        if isUTF8 { return true }
        // The environment's locale is not UTF-8 (or there is none): glibc always has C.UTF-8.
        for name in ["C.UTF-8", "C.utf8", "en_US.UTF-8"] where setlocale(LC_CTYPE, name) != nil {
            if isUTF8 { return true }
        }
        return false
    }()

    private static var isUTF8: Bool {
        guard let codeset = nl_langinfo(nl_item(CODESET)) else { return false }
        let name = String(cString: codeset).uppercased()
        return name == "UTF-8" || name == "UTF8"
    }

    /// Makes the locale UTF-8 when any UTF-8 locale exists; false when none does.
    @discardableResult
    static func useUTF8() -> Bool { utf8 }

    static func ensure() { _ = utf8 }
}
