/// A key as the TUI sees it, decoded from the terminal by the front-end.
package enum Key: Sendable, Equatable {
    case character(Character)
    case enter, escape, tab, backTab, up, down, home, end, pageUp, pageDown, backspace
    /// Ctrl-C, or SIGTERM: always quits.
    case interrupt
    case resize(width: Int, height: Int)
    /// A left click at a cell (0-based column and row).
    case click(column: Int, row: Int)
    /// The mouse wheel turned over a cell: `up` towards the top of a list.
    case wheel(up: Bool, column: Int, row: Int)
}

/// The one list of key bindings: the footer hints and the help overlay are built from it.
package enum Keymap {
    package struct Binding: Sendable {
        package let keys: String
        package let action: String
        /// Shown in the footer (the rest only in help).
        package let inFooter: Bool
        /// The footer's shorter word for the action, when it has one.
        package let short: String?

        init(keys: String, action: String, inFooter: Bool, short: String? = nil) {
            (self.keys, self.action, self.inFooter, self.short) = (keys, action, inFooter, short)
        }
    }

    package static let bindings: [Binding] = [
        Binding(keys: "e", action: "earn", inFooter: true),
        Binding(keys: "x", action: "spend", inFooter: true),
        Binding(keys: "s", action: "sync", inFooter: true),
        Binding(keys: "p", action: "pair a new device", inFooter: true, short: "pair"),
        Binding(keys: "Tab", action: "next pane", inFooter: true, short: "pane"),
        Binding(keys: "/", action: "filter history", inFooter: true, short: "filter"),
        Binding(keys: "!", action: "problems: forks, a store caught lying", inFooter: false),
        Binding(keys: "?", action: "help", inFooter: true),
        Binding(keys: "q", action: "quit", inFooter: true),
        Binding(keys: "a d", action: "approve, deny a link request", inFooter: false),
        Binding(keys: "r f", action: "revoke, settle the selected device", inFooter: false),
        Binding(keys: "c v", action: "correct, void a history entry", inFooter: false),
        Binding(keys: "R", action: "make recovery words (shown once)", inFooter: false),
        Binding(keys: "Shift-Tab", action: "previous pane", inFooter: false),
        Binding(keys: "1 2 3", action: "devices, link requests, history", inFooter: false),
        Binding(keys: "↑↓ jk g G PgUp PgDn", action: "move; first, last; a page", inFooter: false),
        Binding(keys: "[ ]", action: "totals of the month before, after", inFooter: false),
        Binding(keys: "Esc", action: "close a dialog, view or filter", inFooter: false),
        Binding(keys: "mouse", action: "click a pane or row, wheel scrolls", inFooter: false),
        Binding(keys: "Ctrl-C", action: "quit at once", inFooter: false),
    ]

    /// The footer line: `e earn · x spend · …`.
    package static var footer: String { footer(width: .max) }

    /// The footer for `width` columns: hints are left out from the middle, never help and quit.
    package static func footer(width: Int) -> String {
        var hints = bindings.filter(\.inFooter).map { "\($0.keys) \($0.short ?? $0.action)" }
        let kept = 2  // `? help` and `q quit`, last in the list
        while hints.count > kept, ScreenGrid.columns(hints.joined(separator: " · ")) > width {
            hints.remove(at: hints.count - kept - 1)
        }
        return hints.joined(separator: " · ")
    }
}
