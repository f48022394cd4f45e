import CNCursesw
import Foundation

/// The ncurses front-end: the only code that touches curses, always on the main actor
/// (ncurses is not thread-safe). It draws `ScreenGrid`s and decodes keys.
@MainActor
package final class CursesTerminal {
    private let window: UnsafeMutablePointer<WINDOW>
    private let usesColor: Bool
    private var isOpen = true
    /// True when no UTF-8 locale exists: lines, symbols and sparklines are drawn in ASCII.
    package let isASCII: Bool
    /// A key read while the terminal had been resized unseen: returned after the resize.
    private var pendingKey: Key?

    /// Takes over the terminal. Call `close()` (or let the app's `defer` do it) to restore it.
    /// `mouse` turns on clicks and the wheel.
    package init(usesColor: Bool, mouse: Bool = true) throws {
        isASCII = !TerminalLocale.useUTF8()
        guard isatty(STDOUT_FILENO) == 1, isatty(STDIN_FILENO) == 1 else {
            throw TUIError("the TUI needs a terminal; use the CLI commands in scripts (ledgerlink --help)")
        }
        guard let screen = initscr() else {
            throw TUIError(
                "cannot start the terminal UI (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))")
        }
        window = screen
        raw()  // Ctrl-C arrives as a key, so quitting always restores the terminal
        noecho()
        keypad(window, true)
        set_escdelay(25)
        curs_set(0)
        wtimeout(window, 100)
        self.usesColor = usesColor && has_colors()
        if self.usesColor {
            start_color()
            use_default_colors()
            init_pair(1, Int16(COLOR_CYAN), -1)
            init_pair(2, Int16(COLOR_YELLOW), -1)
            init_pair(3, Int16(COLOR_GREEN), -1)
            init_pair(4, Int16(COLOR_RED), -1)
        }
        if mouse {
            mousemask(ll_mouse_mask(), nil)
            mouseinterval(0)  // a press is reported at once, not after waiting for a click
        }
    }

    /// Restores the terminal.
    package func close() {
        guard isOpen else { return }
        isOpen = false
        endwin()
    }

    /// Columns and rows of the terminal now.
    package var size: (width: Int, height: Int) { (Int(ll_getmaxx(window)), Int(ll_getmaxy(window))) }

    /// Draws a whole frame with one physical update (no flicker).
    package func draw(_ grid: ScreenGrid) {
        werase(window)
        for (y, row) in grid.cells.enumerated() {
            var x = 0
            var runStart = 0
            var runStyle = row.first?.1 ?? .normal
            var run = ""
            func flush() {
                guard !run.isEmpty else { return }
                apply(runStyle)
                _ = mvwaddstr(window, Int32(y), Int32(runStart), run)
                run = ""
            }
            for (character, style) in row {
                defer { x += 1 }
                guard let character else {
                    if isASCII { run.append(" ") }  // a wide character became one ASCII cell
                    continue  // second half of a wide character
                }
                if style != runStyle || run.isEmpty {
                    flush()
                    runStart = x
                    runStyle = style
                }
                run.append(isASCII ? ASCIIFallback.character(for: character) : character)
            }
            flush()
        }
        apply(.normal)
        wnoutrefresh(window)
        doupdate()
    }

    private func apply(_ style: CellStyle) {
        let attributes: attr_t
        var pair: Int16 = 0
        switch style {
        case .normal: attributes = ll_a_normal()
        case .bold: attributes = ll_a_bold()
        case .dim: attributes = ll_a_dim()
        case .reverse: attributes = ll_a_reverse()
        case .accent:
            attributes = ll_a_bold()
            if usesColor { pair = 1 }
        case .warning:
            attributes = ll_a_bold()
            if usesColor { pair = 2 }
        case .credit, .good:
            attributes = ll_a_normal()
            if usesColor { pair = 3 }
        case .debit:
            attributes = ll_a_normal()
            if usesColor { pair = 4 }
        case .bad:
            attributes = ll_a_bold()
            if usesColor { pair = 4 }
        }
        wattr_set(window, attributes, pair, nil)
    }

    /// The next key, or nil when none came within 100 ms. A resize not yet seen by ncurses
    /// comes first: a key is never judged against a size the screen no longer has.
    package func readKey() -> Key? {
        if let pendingKey {
            self.pendingKey = nil
            return pendingKey
        }
        guard let key = readRawKey() else { return nil }
        if case .resize = key { return key }
        var columns: Int32 = 0
        var rows: Int32 = 0
        if ll_tty_size(&columns, &rows) == 1, columns > 0, rows > 0,
            (Int(columns), Int(rows)) != (size.width, size.height)
        {
            resize_term(rows, columns)
            pendingKey = key
            return .resize(width: Int(columns), height: Int(rows))
        }
        return key
    }

    private func readRawKey() -> Key? {
        var value: wint_t = 0
        let kind = wget_wch(window, &value)
        if kind == KEY_CODE_YES, Int32(value) == ll_key_mouse() {
            var x: Int32 = 0
            var y: Int32 = 0
            switch ll_mouse_event(&x, &y) {
            case 1: return .click(column: Int(x), row: Int(y))
            case 2: return .wheel(up: true, column: Int(x), row: Int(y))
            case 3: return .wheel(up: false, column: Int(x), row: Int(y))
            default: return nil
            }
        }
        if kind == KEY_CODE_YES {
            switch Int32(value) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_BACKSPACE: return .backspace
            case KEY_BTAB: return .backTab
            case KEY_ENTER: return .enter
            case KEY_RESIZE:
                let (w, h) = size
                return .resize(width: w, height: h)
            default: return nil
            }
        }
        guard kind == OK else { return nil }
        switch value {
        case 3: return .interrupt
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        default:
            guard let scalar = Unicode.Scalar(UInt32(value)), value >= 32 else { return nil }
            return .character(Character(scalar))
        }
    }
}

/// A failure of the terminal UI, worded for the person.
package struct TUIError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// ASCII stand-ins for what the screen draws, for a system with no UTF-8 locale at all.
enum ASCIIFallback {
    static func character(for character: Character) -> Character {
        if character.isASCII { return character }
        switch character {
        case "─": return "-"
        case "│": return "|"
        case "┌", "┐", "└", "┘": return "+"
        case "●": return "*"
        case "✕": return "x"
        case "⚠", "⚑": return "!"
        case "▸", "›": return ">"
        case "…": return "~"
        case "▏": return "|"
        case "·": return "-"
        case "“", "”": return "\""
        case "○": return "o"
        case "◇": return "+"
        case "✗": return "x"
        case "×": return "x"
        case "↑": return "^"
        case "↓": return "v"
        case "−": return "-"
        case "▁", "▂": return "_"
        case "▃", "▄": return "-"
        case "▅", "▆": return "="
        case "▇", "█": return "#"
        default: return "?"
        }
    }
}
