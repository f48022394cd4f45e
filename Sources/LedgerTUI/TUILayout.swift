/// Where each part of the main screen goes at the state's size: the renderer draws into it
/// and the reducer finds the pane under a mouse click with it.
struct TUILayout {
    struct Box {
        let top: Int
        let left: Int
        let bottom: Int
        let right: Int
        var innerWidth: Int { right - left - 1 }
        var innerRows: Int { bottom - top - 1 }

        func contains(column: Int, row: Int) -> Bool {
            (left...right).contains(column) && (top...bottom).contains(row)
        }
    }

    let devices: Box
    let requests: Box
    let history: Box
    /// The lines under the panes (a message, a problem, the filter being typed).
    let status: [(text: String, style: CellStyle)]
    /// The first row of the status lines.
    let statusTop: Int

    /// Most lines a message may wrap onto.
    static let maxStatusLines = 3

    init(_ state: TUIState) {
        let width = state.width
        status = Self.statusLines(state, width: max(1, width - 2))
        statusTop = state.height - 1 - status.count
        let top = 3
        let bottom = statusTop - 1  // last pane row
        if width >= 160 {
            let split = width * 2 / 5
            let middle = top + max(3, (bottom - top + 1) / 2)
            devices = Box(top: top, left: 0, bottom: middle - 1, right: split - 1)
            requests = Box(top: middle, left: 0, bottom: bottom, right: split - 1)
            history = Box(top: top, left: split, bottom: bottom, right: width - 1)
        } else {
            let third = max(3, (bottom - top + 1) / 3)
            let devicesHeight = min(state.snapshot.devices.count + 2, third)
            let requestsHeight = min(TUIRenderer.requestLines(state, width: width - 4).count + 2, third)
            devices = Box(top: top, left: 0, bottom: top + devicesHeight - 1, right: width - 1)
            let requestsTop = top + devicesHeight
            requests = Box(top: requestsTop, left: 0, bottom: requestsTop + requestsHeight - 1, right: width - 1)
            history = Box(top: requestsTop + requestsHeight, left: 0, bottom: bottom, right: width - 1)
        }
    }

    /// The pane drawn at a cell, with its box.
    func pane(at column: Int, row: Int) -> (Pane, Box)? {
        for (pane, box) in [(Pane.devices, devices), (.requests, requests), (.history, history)]
        where box.contains(column: column, row: row) {
            return (pane, box)
        }
        return nil
    }

    /// Rows `first..<first+count` of a list so that `selected` stays in view.
    static func window(selected: Int, total: Int, rows: Int) -> Range<Int> {
        guard total > rows else { return 0..<max(0, total) }
        let first = min(max(0, selected - rows + 1), total - rows)
        return first..<(first + rows)
    }

    /// The status lines: the filter being typed, the quit question, the last message (wrapped,
    /// so a quoted bad input is never cut off), or the last sync problem.
    private static func statusLines(_ state: TUIState, width: Int) -> [(text: String, style: CellStyle)] {
        if state.confirmsQuit {
            return [("A pairing window is open: quit and close it?  y quits · any other key stays", .warning)]
        }
        if state.isFiltering {
            let found =
                state.isSearching
                ? "searching…"
                : "\(state.history.count) match\(state.history.count == 1 ? "" : "es")"
            return [("/ filter: \(state.filter)▏  \(found) · Enter keeps it · Esc clears it", .normal)]
        }
        let text: String
        let style: CellStyle
        if let message = state.message {
            text = message
            style = message.hasPrefix("⚠") || message.hasPrefix("Not ") ? .warning : .accent
        } else if let problem = state.sync?.problem {
            text = "⚠ " + problem
            style = .warning
        } else {
            return [("", .normal)]
        }
        var lines = ScreenGrid.wrap(text, width: width)
        if lines.count > maxStatusLines {
            lines = Array(lines.prefix(maxStatusLines))
            lines[maxStatusLines - 1] += " …"
        }
        return lines.map { ($0, style) }
    }
}
