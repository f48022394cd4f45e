/// Draws a `TUIState` onto a `ScreenGrid`: pure, so screens can be compared as golden text.
public enum TUIRenderer {
    public static func render(_ state: TUIState) -> ScreenGrid {
        var grid = ScreenGrid(width: state.width, height: state.height)
        guard !state.isTooSmall else {
            let lines = [
                "Terminal too small:",
                "\(TUIState.minimumWidth)×\(TUIState.minimumHeight) needed, \(state.width)×\(state.height) now.",
                "Enlarge it, or press q to quit.",
            ]
            for (i, line) in lines.enumerated() {
                let row = state.height / 2 - 1 + i
                grid.put(line, row: row, column: max(0, (state.width - ScreenGrid.columns(line)) / 2))
            }
            return grid
        }
        header(state, &grid)
        let top = 3
        let bottom = state.height - 3  // last pane row
        if state.width >= 160 {
            let split = state.width * 2 / 5
            let middle = top + max(3, (bottom - top + 1) / 2)
            devicesPane(state, &grid, box: Box(top: top, left: 0, bottom: middle - 1, right: split - 1))
            requestsPane(state, &grid, box: Box(top: middle, left: 0, bottom: bottom, right: split - 1))
            historyPane(state, &grid, box: Box(top: top, left: split, bottom: bottom, right: state.width - 1))
        } else {
            let third = max(3, (bottom - top + 1) / 3)
            let devicesHeight = min(state.snapshot.devices.count + 2, third)
            let requestsHeight = min(requestLines(state, width: state.width - 4).count + 2, third)
            devicesPane(
                state, &grid, box: Box(top: top, left: 0, bottom: top + devicesHeight - 1, right: state.width - 1))
            let requestsTop = top + devicesHeight
            requestsPane(
                state, &grid,
                box: Box(top: requestsTop, left: 0, bottom: requestsTop + requestsHeight - 1, right: state.width - 1))
            historyPane(
                state, &grid,
                box: Box(top: requestsTop + requestsHeight, left: 0, bottom: bottom, right: state.width - 1))
        }
        statusLine(state, &grid)
        grid.put(Keymap.footer, row: state.height - 1, column: 1, style: .dim, limit: state.width - 2)
        if state.showsHelp { help(&grid) }
        if let dialog = state.dialog { recordDialog(dialog, &grid) }
        if let device = state.pendingRevoke { revokeDialog(device, &grid) }
        if let approval = state.approval { approvalDialog(approval, &grid) }
        return grid
    }

    struct Box {
        let top: Int
        let left: Int
        let bottom: Int
        let right: Int
        var innerWidth: Int { right - left - 1 }
        var innerRows: Int { bottom - top - 1 }
    }

    private static func header(_ state: TUIState, _ grid: inout ScreenGrid) {
        let s = state.snapshot
        grid.style(row: 0, from: 0, to: grid.width, .reverse)
        var x = grid.put(" ledgerlink ", row: 0, column: 0, style: .reverse)
        x = grid.put("│ \(s.deviceName) ", row: 0, column: x, style: .reverse)
        if !s.fingerprint.isEmpty { x = grid.put("(\(s.fingerprint)) ", row: 0, column: x, style: .reverse) }
        // The sync badge sits at the right; the identity goes first when both do not fit.
        let badge = state.sync.map { "│ \($0.text) " } ?? ""
        let badgeWidth = ScreenGrid.columns(badge)
        let identity = s.identity.isEmpty ? "" : "│ identity \(s.identity.prefix(12))… "
        if !identity.isEmpty, x + ScreenGrid.columns(identity) + badgeWidth <= grid.width {
            grid.put(identity, row: 0, column: x, style: .reverse)
        }
        if !badge.isEmpty, x + badgeWidth <= grid.width {
            grid.put(badge, row: 0, column: grid.width - badgeWidth, style: .reverse)
        }
        x = grid.put(" Balance ", row: 1, column: 0)
        x = grid.put(s.balance, row: 1, column: x, style: .bold)
        x = grid.put("   Earned \(s.earned)", row: 1, column: x)
        x = grid.put("   Spent \(s.spent)", row: 1, column: x)
        let room = grid.width - x - 4
        if room >= 8, s.balanceTrend.count > 1 {
            grid.put("  " + sparkline(s.balanceTrend.suffix(room)), row: 1, column: x, style: .accent)
        }
    }

    /// The balance over the newest entries as block characters, lowest to highest.
    public static func sparkline(_ values: ArraySlice<Int128>) -> String {
        let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        guard let low = values.min(), let high = values.max(), high > low else {
            return String(repeating: "▄", count: values.count)
        }
        return String(values.map { blocks[Int((($0 - low) * 7) / (high - low))] })
    }

    private static func frame(_ title: String, focused: Bool, _ grid: inout ScreenGrid, _ box: Box) {
        guard box.bottom > box.top, box.right > box.left else { return }
        let style: CellStyle = focused ? .bold : .normal
        grid.put(
            "┌" + String(repeating: "─", count: box.innerWidth) + "┐", row: box.top, column: box.left, style: style)
        for row in (box.top + 1)..<box.bottom {
            grid.put("│", row: row, column: box.left, style: style)
            grid.put("│", row: row, column: box.right, style: style)
        }
        grid.put(
            "└" + String(repeating: "─", count: box.innerWidth) + "┘", row: box.bottom, column: box.left, style: style)
        grid.put(" \(focused ? "▸ " : "")\(title) ", row: box.top, column: box.left + 2, style: style)
    }

    /// Rows `first..<first+count` of a list so that `selected` stays in view.
    private static func window(selected: Int, total: Int, rows: Int) -> Range<Int> {
        guard total > rows else { return 0..<total }
        let first = min(max(0, selected - rows + 1), total - rows)
        return first..<(first + rows)
    }

    private static func devicesPane(_ state: TUIState, _ grid: inout ScreenGrid, box: Box) {
        let focused = state.focus == .devices
        frame("1 Devices (\(state.snapshot.devices.count))", focused: focused, &grid, box)
        let selected = state.selection[.devices] ?? 0
        let rows = window(selected: selected, total: state.snapshot.devices.count, rows: box.innerRows)
        let label = { (d: LedgerSnapshot.DeviceRow) in d.name + (d.isThisDevice ? " (this device)" : "") }
        let nameWidth = state.snapshot.devices.map { ScreenGrid.columns(label($0)) }.max() ?? 0
        for (offset, index) in rows.enumerated() {
            let d = state.snapshot.devices[index]
            let row = box.top + 1 + offset
            let marker = d.state == "active" ? "●" : d.state == "revoked" ? "✕" : "⚠"
            let name = label(d) + String(repeating: " ", count: nameWidth - ScreenGrid.columns(label(d)))
            let line =
                "\(marker) \(name)  \(d.fingerprint)  \(d.state)  \(d.entries) entries  \(d.lastSeen)  \(d.linked)"
            draw(line, row: row, box: box, selected: focused && index == selected, &grid)
        }
    }

    /// The requests pane's lines other than the requests themselves: how to pair, or the open
    /// window's code wrapped at word boundaries.
    static func requestLines(_ state: TUIState, width: Int) -> [String] {
        guard let pairing = state.pairing else { return ["Press p to open a pairing window for a new device."] }
        var lines = pairing.requests.map { _ in "" }
        lines.append("Open \(pairing.timeLeft). On the new device: ledgerlink join CODE --name NAME")
        var line = "Code: "
        for part in pairing.code.split(separator: "-", omittingEmptySubsequences: false).map(String.init) {
            let piece = line.hasSuffix(" ") ? part : "-" + part
            if ScreenGrid.columns(line + piece) > width, line != "Code: " {
                lines.append(line + "-")
                line = "      " + part
            } else {
                line += piece
            }
        }
        lines.append(line)
        return lines
    }

    private static func requestsPane(_ state: TUIState, _ grid: inout ScreenGrid, box: Box) {
        let focused = state.focus == .requests
        let requests = state.pairing?.requests ?? []
        frame("2 Link requests (\(requests.count))", focused: focused, &grid, box)
        let selected = state.selection[.requests] ?? 0
        for (index, request) in requests.enumerated() where index < box.innerRows {
            let tries = "\(request.attemptsLeft) tr\(request.attemptsLeft == 1 ? "y" : "ies") left"
            let line = "⚑ \(request.name) (unverified)  \(request.fingerprint)  a approve · d deny · \(tries)"
            draw(line, row: box.top + 1 + index, box: box, selected: focused && index == selected, &grid)
        }
        let notes = requestLines(state, width: box.innerWidth - 2).dropFirst(requests.count)
        for (offset, line) in notes.enumerated() where requests.count + offset < box.innerRows {
            grid.put(
                line, row: box.top + 1 + requests.count + offset, column: box.left + 2,
                style: line.hasPrefix("Code: ") || line.hasPrefix("      ") ? .bold : .dim, limit: box.innerWidth - 2)
        }
    }

    private static func historyPane(_ state: TUIState, _ grid: inout ScreenGrid, box: Box) {
        let focused = state.focus == .history
        let list = state.visibleHistory
        let title = state.filter.isEmpty ? "3 History" : "3 History, filter “\(state.filter)” (\(list.count))"
        frame(title, focused: focused, &grid, box)
        if list.isEmpty {
            let empty =
                state.filter.isEmpty ? "No entries yet: press e to record money in." : "Nothing matches the filter."
            grid.put(empty, row: box.top + 1, column: box.left + 2, style: .dim, limit: box.innerWidth - 2)
            return
        }
        let selected = state.selection[.history] ?? 0
        let amountWidth = (list.map { ScreenGrid.columns($0.amount) }.max() ?? 0) + 1
        for (offset, index) in window(selected: selected, total: list.count, rows: box.innerRows).enumerated() {
            let h = list[index]
            let signed = (h.isCredit ? "+" : "-") + h.amount
            let amount = String(repeating: " ", count: max(0, amountWidth - ScreenGrid.columns(signed))) + signed
            let line = "\(h.time)  \(amount)  \(h.device)  \(h.memo)"
            draw(line, row: box.top + 1 + offset, box: box, selected: focused && index == selected, &grid)
        }
    }

    private static func draw(_ line: String, row: Int, box: Box, selected: Bool, _ grid: inout ScreenGrid) {
        grid.put(selected ? "›" : " ", row: row, column: box.left + 1, style: selected ? .reverse : .normal)
        grid.put(line, row: row, column: box.left + 2, style: selected ? .reverse : .normal, limit: box.innerWidth - 1)
        if selected { grid.style(row: row, from: box.left + 1, to: box.right, .reverse) }
    }

    private static func statusLine(_ state: TUIState, _ grid: inout ScreenGrid) {
        let row = state.height - 2
        if state.isFiltering {
            grid.put(
                "/ filter: \(state.filter)▏  Enter keeps it · Esc clears it", row: row, column: 1, limit: grid.width - 2
            )
        } else if let message = state.message {
            grid.put(message, row: row, column: 1, style: .accent, limit: grid.width - 2)
        }
    }

    private static func overlay(width: Int, height: Int, title: String, _ grid: inout ScreenGrid) -> Box {
        let w = min(width, grid.width - 4)
        let left = (grid.width - w) / 2
        let top = max(1, (grid.height - height) / 2)
        let box = Box(top: top, left: left, bottom: top + height - 1, right: left + w - 1)
        for row in box.top...box.bottom {
            grid.put(String(repeating: " ", count: w), row: row, column: left)
        }
        frame(title, focused: true, &grid, box)
        return box
    }

    private static func help(_ grid: inout ScreenGrid) {
        let bindings = Keymap.bindings
        let box = overlay(width: 56, height: bindings.count + 4, title: "Keys", &grid)
        for (i, binding) in bindings.enumerated() {
            let x = grid.put(binding.keys, row: box.top + 1 + i, column: box.left + 2, style: .bold)
            grid.put(
                binding.action, row: box.top + 1 + i, column: max(x + 2, box.left + 16), limit: box.innerWidth - 16)
        }
        grid.put("Esc or ? closes this help", row: box.bottom - 1, column: box.left + 2, style: .dim)
    }

    private static func revokeDialog(_ device: LedgerSnapshot.DeviceRow, _ grid: inout ScreenGrid) {
        let box = overlay(width: 58, height: 8, title: "Revoke a device", &grid)
        grid.put(
            "Revoke \(device.name) (\(device.fingerprint))?", row: box.top + 2, column: box.left + 2, style: .bold,
            limit: box.innerWidth - 2)
        grid.put(
            "It keeps its \(device.entries) entries but cannot write more,", row: box.top + 3, column: box.left + 2,
            limit: box.innerWidth - 2)
        grid.put(
            "and new entries use a key it does not get.", row: box.top + 4, column: box.left + 2,
            limit: box.innerWidth - 2)
        grid.put("Enter revokes · Esc cancels", row: box.bottom - 1, column: box.left + 2, style: .dim)
    }

    private static func approvalDialog(_ dialog: ApprovalDialog, _ grid: inout ScreenGrid) {
        let box = overlay(width: 66, height: 12, title: "Approve a new device", &grid)
        let r = dialog.request
        let limit = box.innerWidth - 2
        grid.put("Name         \(r.name)  (unverified)", row: box.top + 2, column: box.left + 2, limit: limit)
        grid.put("Fingerprint  \(r.fingerprint)", row: box.top + 3, column: box.left + 2, limit: limit)
        grid.put("This screen  \(r.sas)", row: box.top + 4, column: box.left + 2, style: .bold, limit: limit)
        grid.put(
            "Type the five words the NEW device shows (\(r.attemptsLeft) tr\(r.attemptsLeft == 1 ? "y" : "ies") left):",
            row: box.top + 6, column: box.left + 2, limit: limit)
        let field = box.innerWidth - 4
        grid.put(
            "> " + String(dialog.typed.suffix(max(0, field - 3))) + "▏", row: box.top + 7, column: box.left + 2,
            style: .reverse, limit: field)
        grid.style(row: box.top + 7, from: box.left + 2, to: box.left + 2 + field, .reverse)
        if let error = dialog.error {
            grid.put("! " + error, row: box.top + 8, column: box.left + 2, style: .warning, limit: limit)
        }
        grid.put(
            "Different words on the two screens: someone is in the middle.", row: box.top + 9, column: box.left + 2,
            style: .dim, limit: limit)
        grid.put("Enter approves · Esc closes", row: box.bottom - 1, column: box.left + 2, style: .dim, limit: limit)
    }

    private static func recordDialog(_ dialog: RecordDialog, _ grid: inout ScreenGrid) {
        let box = overlay(width: 58, height: 9, title: dialog.kind == .credit ? "Earn" : "Spend", &grid)
        let fieldWidth = box.innerWidth - 12
        for (i, (label, value, field)) in [
            ("Amount", dialog.amount, RecordDialog.Field.amount), ("Memo", dialog.memo, .memo),
        ].enumerated() {
            let row = box.top + 2 + i
            let active = dialog.field == field
            grid.put((active ? "› " : "  ") + label, row: row, column: box.left + 2, style: active ? .bold : .normal)
            let shown = String(value.suffix(max(0, fieldWidth - 1))) + (active ? "▏" : "")
            grid.put(shown, row: row, column: box.left + 11, style: active ? .reverse : .normal, limit: fieldWidth)
            if active { grid.style(row: row, from: box.left + 11, to: box.left + 11 + fieldWidth, .reverse) }
        }
        if let error = dialog.error {
            grid.put("! " + error, row: box.top + 5, column: box.left + 2, style: .warning, limit: box.innerWidth - 2)
        }
        grid.put("Enter saves · Tab next field · Esc cancels", row: box.bottom - 1, column: box.left + 2, style: .dim)
    }
}
