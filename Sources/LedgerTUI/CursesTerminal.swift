import CNCursesw
import Foundation

/// The ncurses front-end: the only code that touches curses, always on the main actor
/// (ncurses is not thread-safe). It draws `ScreenGrid`s and decodes keys.
@MainActor
public final class CursesTerminal {
    private let window: UnsafeMutablePointer<WINDOW>
    private let usesColor: Bool
    private var isOpen = true

    /// Takes over the terminal. Call `close()` (or let the app's `defer` do it) to restore it.
    public init(usesColor: Bool) throws {
        setlocale(LC_ALL, "")
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
        }
    }

    /// Restores the terminal.
    public func close() {
        guard isOpen else { return }
        isOpen = false
        endwin()
    }

    /// Columns and rows of the terminal now.
    public var size: (width: Int, height: Int) { (Int(ll_getmaxx(window)), Int(ll_getmaxy(window))) }

    /// Draws a whole frame with one physical update (no flicker).
    public func draw(_ grid: ScreenGrid) {
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
                guard let character else { continue }  // second half of a wide character
                if style != runStyle || run.isEmpty {
                    flush()
                    runStart = x
                    runStyle = style
                }
                run.append(character)
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
        }
        wattr_set(window, attributes, pair, nil)
    }

    /// The next key, or nil when none came within 100 ms.
    public func readKey() -> Key? {
        var value: wint_t = 0
        let kind = wget_wch(window, &value)
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
public struct TUIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
