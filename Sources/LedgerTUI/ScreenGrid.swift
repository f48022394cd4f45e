import CNCursesw
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How a cell is drawn. Meaning never rests on colour alone: every state also has a symbol
/// or a word, so `NO_COLOR` loses nothing.
public enum CellStyle: Sendable, Equatable {
    case normal, bold, dim, reverse, accent, warning
}

/// A screen as rows of cells, built by the renderer and drawn by the terminal front-end.
/// Wide characters (CJK, most emoji) take two cells; the second holds nil.
public struct ScreenGrid: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [[(Character?, CellStyle)]]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Array(repeating: (" ", .normal), count: max(0, width)), count: max(0, height))
    }

    public static func == (lhs: ScreenGrid, rhs: ScreenGrid) -> Bool { lhs.text == rhs.text }

    /// Columns `text` takes on a terminal.
    public static func columns(_ text: String) -> Int { text.reduce(0) { $0 + columns(of: $1) } }

    /// Columns one character takes: 0 for combining marks, 2 for wide characters.
    public static func columns(of character: Character) -> Int {
        TerminalLocale.ensure()
        var total = 0
        for (index, scalar) in character.unicodeScalars.enumerated() {
            let w = Int(ll_wcwidth(scalar.value))
            if index == 0 { total = max(w, 1) } else if w > 1 { total = 2 }
        }
        return min(total, 2)
    }

    /// Writes `text` at (`row`, `column`), clipped to `limit` columns (default: to the edge).
    /// Returns the column after the last cell written.
    @discardableResult
    public mutating func put(_ text: String, row: Int, column: Int, style: CellStyle = .normal, limit: Int? = nil)
        -> Int
    {
        guard row >= 0, row < height else { return column }
        let end = min(width, column + (limit ?? width))
        var x = column
        for character in text {
            let w = Self.columns(of: character)
            guard x + w <= end else { break }
            if x >= 0 {
                cells[row][x] = (character, style)
                if w == 2 { cells[row][x + 1] = (nil, style) }
            }
            x += w
        }
        return x
    }

    /// Fills a run of cells with one style (for highlighted rows).
    public mutating func style(row: Int, from: Int, to: Int, _ style: CellStyle) {
        guard row >= 0, row < height else { return }
        for x in max(0, from)..<min(width, to) { cells[row][x].1 = style }
    }

    /// The screen as plain text, one line per row, trailing spaces kept (golden files).
    public var text: String {
        cells.map { row in String(row.compactMap { $0.0 }) }.joined(separator: "\n")
    }
}

/// Character widths come from the C library, which needs a UTF-8 locale.
enum TerminalLocale {
    private static let once: Bool = {
        setlocale(LC_CTYPE, "C.UTF-8") != nil || setlocale(LC_CTYPE, "") != nil
    }()
    static func ensure() { _ = once }
}
