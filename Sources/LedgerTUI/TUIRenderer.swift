import LedgerCore

/// Draws a `TUIState` onto a `ScreenGrid`: pure, so screens can be compared as golden text.
package enum TUIRenderer {
    package static func render(_ state: TUIState) -> ScreenGrid {
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
        let layout = TUILayout(state)
        devicesPane(state, &grid, box: layout.devices)
        requestsPane(state, &grid, box: layout.requests)
        historyPane(state, &grid, box: layout.history)
        for (i, line) in layout.status.enumerated() {
            grid.put(line.text, row: layout.statusTop + i, column: 1, style: line.style, limit: grid.width - 2)
        }
        grid.put(
            Keymap.footer(width: state.width - 2), row: state.height - 1, column: 1, style: .dim,
            limit: state.width - 2)
        if state.showsHelp { help(&grid) }
        if state.showsProblems { problems(state, &grid) }
        if let recovery = state.recovery { recoveryDialog(recovery, &grid) }
        if let dialog = state.dialog { recordDialog(dialog, &grid) }
        if let device = state.pendingRevoke { revokeDialog(device, &grid) }
        if let row = state.pendingVoid { voidDialog(row, &grid) }
        if let dialog = state.settle { settleDialog(dialog, &grid) }
        if let approval = state.approval { approvalDialog(approval, &grid) }
        if let dialog = state.pairingAddress { pairingAddressDialog(dialog, &grid) }
        return grid
    }

    typealias Box = TUILayout.Box

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
        if s.unreadable > 0 { x = grid.put("   \(s.unreadable) unreadable", row: 1, column: x, style: .warning) }
        // The sparkline, with its span and scale when they fit.
        let room = grid.width - x - 4
        if room >= 8, s.balanceTrend.count > 1 {
            let label = ScreenGrid.columns(s.trendLabel) + 2 <= room - 8 ? s.trendLabel : ""
            let line = sparkline(s.balanceTrend.suffix(room - (label.isEmpty ? 0 : ScreenGrid.columns(label) + 1)))
            x = grid.put("  " + line, row: 1, column: x, style: .accent)
            if !label.isEmpty { grid.put(" " + label, row: 1, column: x, style: .dim) }
        }
        periodLine(state, &grid)
    }

    /// Row 2: the totals of the month in view (this month unless [ or ] moved it).
    private static func periodLine(_ state: TUIState, _ grid: inout ScreenGrid) {
        let month = state.viewedMonth ?? state.currentMonth
        guard month > 0 else { return }
        let name = HistoryDate.monthName(month)
        let text: String
        if state.history.total == nil, state.months.isEmpty {
            text = " \(name): adding up…"
        } else if let totals = state.months[month] {
            let entries = "\(totals.entries) entr\(totals.entries == 1 ? "y" : "ies")"
            text = " \(name): earned \(totals.earned) · spent \(totals.spent) · net \(totals.net) · \(entries)"
        } else {
            text = " \(name): no entries"
        }
        let x = grid.put(text, row: 2, column: 0, limit: grid.width - 1)
        let hint = month == state.currentMonth ? "  [ earlier month" : "  [ ] other months"
        if x + ScreenGrid.columns(hint) < grid.width { grid.put(hint, row: 2, column: x, style: .dim) }
    }

    /// The balance over the newest entries as block characters, lowest to highest.
    package static func sparkline(_ values: ArraySlice<Int128>) -> String {
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

    private static func devicesPane(_ state: TUIState, _ grid: inout ScreenGrid, box: Box) {
        let focused = state.focus == .devices
        frame("1 Devices (\(state.snapshot.devices.count))", focused: focused, &grid, box)
        let selected = state.selection[.devices] ?? 0
        let rows = TUILayout.window(selected: selected, total: state.snapshot.devices.count, rows: box.innerRows)
        let label = { (d: LedgerSnapshot.DeviceRow) in d.name + (d.isThisDevice ? " (this device)" : "") }
        let nameWidth = min(32, state.snapshot.devices.map { ScreenGrid.columns(label($0)) }.max() ?? 0)
        for (offset, index) in rows.enumerated() {
            let d = state.snapshot.devices[index]
            let row = box.top + 1 + offset
            let isSelected = focused && index == selected
            let well = d.state == "active" || d.state == "recovery key"
            let marker = d.state == "recovery key" ? "◇" : d.state == "active" ? "●" : d.state == "revoked" ? "✕" : "⚠"
            grid.put(isSelected ? "›" : " ", row: row, column: box.left + 1, style: isSelected ? .reverse : .normal)
            let x = grid.put(
                marker, row: row, column: box.left + 2, style: isSelected ? .reverse : well ? .good : .bad)
            var state = d.state
            if let fork = d.forkSeq {
                state = "forked at seq \(fork)" + (d.state.contains("settled") ? ", settled" : "")
            }
            var entries = "\(d.entries) entr\(d.entries == 1 ? "y" : "ies")"
            if d.quarantined > 0 { entries += ", \(d.quarantined) quarantined (not counted)" }
            let line =
                " \(fitted(label(d), nameWidth))  \(d.fingerprint)  \(state)  \(entries)  \(d.lastSeen)  \(d.linked)"
            grid.put(line, row: row, column: x, style: isSelected ? .reverse : .normal, limit: box.right - x)
            if isSelected { grid.style(row: row, from: box.left + 1, to: box.right, .reverse) }
        }
    }

    /// `text` padded, or cut with an ellipsis, to exactly `width` columns.
    static func fitted(_ text: String, _ width: Int) -> String {
        let columns = ScreenGrid.columns(text)
        if columns <= width { return text + String(repeating: " ", count: width - columns) }
        var out = ""
        var used = 0
        for c in text {
            let w = ScreenGrid.columns(of: c)
            guard used + w <= width - 1 else { break }
            out.append(c)
            used += w
        }
        return out + "…" + String(repeating: " ", count: max(0, width - 1 - used))
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
        let list = state.history
        let count = list.count
        var title = "3 History"
        if !state.filter.isEmpty {
            title += ", filter “\(state.filter)”: "
            if state.isSearching {
                title += "searching…"
            } else {
                title += "\(count) match\(count == 1 ? "" : "es")"
                if let sums = list.sums { title += " · \(sums)" }
            }
        } else if let total = list.total {
            title += " (\(total) entr\(total == 1 ? "y" : "ies"))"
        } else if count > 0 {
            title += " (counting…)"
        }
        frame(title, focused: focused, &grid, box)
        if count == 0 {
            let empty =
                state.filter.isEmpty
                ? "No entries yet: press e to record money in."
                : state.isSearching ? "Searching the whole ledger…" : "Nothing in the whole ledger matches the filter."
            grid.put(empty, row: box.top + 1, column: box.left + 2, style: .dim, limit: box.innerWidth - 2)
            return
        }
        let selected = state.selection[.history] ?? 0
        let shown = TUILayout.window(selected: selected, total: count, rows: box.innerRows)
        let amountWidth = (shown.compactMap { list.row($0).map { ScreenGrid.columns($0.amount) } }.max() ?? 0) + 1
        for (offset, index) in shown.enumerated() {
            let row = box.top + 1 + offset
            let isSelected = focused && index == selected
            grid.put(isSelected ? "›" : " ", row: row, column: box.left + 1, style: isSelected ? .reverse : .normal)
            guard let h = list.row(index) else {
                grid.put("…", row: row, column: box.left + 2, style: .dim)
                continue
            }
            let signed = h.unsigned ? h.amount : (h.isCredit ? "+" : "-") + h.amount
            let amount = String(repeating: " ", count: max(0, amountWidth - ScreenGrid.columns(signed))) + signed
            let plain: CellStyle = isSelected ? .reverse : .normal
            var x = grid.put("\(h.time)  ", row: row, column: box.left + 2, style: plain, limit: box.innerWidth - 1)
            x = grid.put(
                amount, row: row, column: x,
                style: isSelected ? .reverse : h.unsigned ? .dim : h.isCredit ? .credit : .debit,
                limit: box.right - x)
            grid.put("  \(h.device)  \(h.memo)", row: row, column: x, style: plain, limit: box.right - x)
            if isSelected { grid.style(row: row, from: box.left + 1, to: box.right, .reverse) }
        }
    }

    private static func draw(_ line: String, row: Int, box: Box, selected: Bool, _ grid: inout ScreenGrid) {
        grid.put(selected ? "›" : " ", row: row, column: box.left + 1, style: selected ? .reverse : .normal)
        grid.put(line, row: row, column: box.left + 2, style: selected ? .reverse : .normal, limit: box.innerWidth - 1)
        if selected { grid.style(row: row, from: box.left + 1, to: box.right, .reverse) }
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

    /// The recovery words, then the two asked back.
    private static func recoveryDialog(_ dialog: RecoveryDialog, _ grid: inout ScreenGrid) {
        let box = overlay(width: 76, height: 14, title: "Recovery words", &grid)
        let left = box.left + 2
        grid.put(
            "Write these 24 words on paper. They are shown only now; whoever reads them", row: box.top + 1,
            column: left, limit: box.innerWidth - 2)
        grid.put(
            "can link a device to this identity. This device keeps no copy.", row: box.top + 2, column: left,
            limit: box.innerWidth - 2)
        for (index, word) in dialog.words.enumerated() {
            let row = box.top + 4 + index % 6
            let column = left + (index / 6) * 18
            let number = index + 1 < 10 ? " \(index + 1)" : "\(index + 1)"
            grid.put("\(number). \(word)", row: row, column: column, style: .bold, limit: box.right - column)
        }
        if let asking = dialog.asking {
            let position = dialog.asks[asking] + 1
            grid.put(
                "Type word #\(position): \(dialog.typed)▏", row: box.bottom - 1, column: left, style: .bold,
                limit: box.innerWidth - 2)
        } else {
            grid.put(
                "Enter once they are written down · Esc cancels", row: box.bottom - 1, column: left, style: .dim,
                limit: box.innerWidth - 2)
        }
    }

    /// Every problem the ledger or a store's signed answers prove, in words.
    private static func problems(_ state: TUIState, _ grid: inout ScreenGrid) {
        var items = state.snapshot.devices.filter { $0.forkSeq != nil }.map {
            $0.state.contains("settled")
                ? "Fork: \($0.name) (\($0.fingerprint)) signed two different entries at seq \($0.forkSeq ?? 0); "
                    + "settled: one branch counts. Its key stays frozen: that device joins again with a new key."
                : "Fork: \($0.name) (\($0.fingerprint)) signed two different entries at seq \($0.forkSeq ?? 0); its "
                    + "entries from there on do not count. Choose the branch that counts (f in Devices)."
        }
        items += (state.sync?.storeProblems ?? []).map { "Store: \($0)" }
        if items.isEmpty { items = ["No problems found: no device forked, and no store's answers proved it lied."] }
        let width = min(96, grid.width - 4)
        var lines: [String] = []
        for item in items {
            if !lines.isEmpty { lines.append("") }
            lines += ScreenGrid.wrap(item, width: width - 4)
        }
        let room = max(1, grid.height - 8)
        if lines.count > room { lines = Array(lines.prefix(room - 1)) + ["… (`ledgerlink status` lists them all)"] }
        let box = overlay(width: width, height: lines.count + 4, title: "Problems", &grid)
        for (i, line) in lines.enumerated() {
            grid.put(line, row: box.top + 1 + i, column: box.left + 2, limit: box.innerWidth - 2)
        }
        grid.put(
            "Esc or ! closes · `ledgerlink stores` shows each store's proof", row: box.bottom - 1,
            column: box.left + 2, style: .dim, limit: box.innerWidth - 2)
    }

    /// A forked device's branches: the one chosen with the arrows (or its number) counts.
    private static func settleDialog(_ dialog: SettleDialog, _ grid: inout ScreenGrid) {
        let shown = dialog.branches.prefix(3)
        let box = overlay(width: 76, height: 6 + shown.count * 4, title: "Settle a forked device", &grid)
        let limit = box.innerWidth - 2
        grid.put(
            "\(dialog.device) forked at seq \(dialog.forkSeq). Which branch counts?", row: box.top + 1,
            column: box.left + 2, style: .bold, limit: limit)
        for (index, branch) in shown.enumerated() {
            let row = box.top + 3 + index * 4
            let selected = index == dialog.selected
            grid.put(
                "\(selected ? "›" : " ") \(index + 1)) \(branch.summary)", row: row, column: box.left + 2,
                style: selected ? .reverse : .normal, limit: limit)
            for (offset, line) in branch.lines.enumerated() {
                grid.put(line, row: row + 1 + offset, column: box.left + 6, style: .dim, limit: limit - 4)
            }
        }
        grid.put(
            "Enter settles: the branch counts again on every device · Esc cancels", row: box.bottom - 1,
            column: box.left + 2, style: .dim, limit: limit)
    }

    private static func voidDialog(_ row: LedgerSnapshot.HistoryRow, _ grid: inout ScreenGrid) {
        let box = overlay(width: 58, height: 8, title: "Void an entry", &grid)
        let limit = box.innerWidth - 2
        let amount = (row.isCredit ? "+" : "-") + row.amount
        grid.put(
            "Void \(amount) of \(row.time) (\(row.id))?", row: box.top + 2, column: box.left + 2, style: .bold,
            limit: limit)
        grid.put(
            "It stays in the history, marked void, and counts", row: box.top + 3, column: box.left + 2, limit: limit)
        grid.put("nothing on every device once they sync.", row: box.top + 4, column: box.left + 2, limit: limit)
        grid.put("Enter voids · Esc cancels", row: box.bottom - 1, column: box.left + 2, style: .dim)
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

    /// Asks for the words the NEW device shows. This screen never shows the words itself: a
    /// person could then type them without looking at the new device, and a key swapped in the
    /// middle would be approved.
    private static func approvalDialog(_ dialog: ApprovalDialog, _ grid: inout ScreenGrid) {
        let box = overlay(width: 66, height: 12, title: "Approve a new device", &grid)
        let r = dialog.request
        let limit = box.innerWidth - 2
        grid.put("Name         \(r.name)  (unverified)", row: box.top + 2, column: box.left + 2, limit: limit)
        grid.put("Fingerprint  \(r.fingerprint)", row: box.top + 3, column: box.left + 2, limit: limit)
        grid.put(
            "Read the five words on the NEW device's screen and type them", row: box.top + 5, column: box.left + 2,
            style: .bold, limit: limit)
        let tries = "\(r.attemptsLeft) tr\(r.attemptsLeft == 1 ? "y" : "ies") left"
        grid.put("here (\(tries)):", row: box.top + 6, column: box.left + 2, style: .bold, limit: limit)
        inputField(dialog.typed, error: dialog.error, row: box.top + 7, box: box, &grid)
        grid.put(
            "Words that do not match mean someone is in the middle: deny.", row: box.top + 9, column: box.left + 2,
            style: .dim, limit: limit)
        grid.put("Enter approves · Esc closes", row: box.bottom - 1, column: box.left + 2, style: .dim, limit: limit)
    }

    /// A one-line text field across a dialog (`> text▏`, its end in view), and the error under it.
    private static func inputField(_ text: String, error: String?, row: Int, box: Box, _ grid: inout ScreenGrid) {
        let field = box.innerWidth - 4
        grid.put(
            "> " + String(text.suffix(max(0, field - 3))) + "▏", row: row, column: box.left + 2, style: .reverse,
            limit: field)
        grid.style(row: row, from: box.left + 2, to: box.left + 2 + field, .reverse)
        if let error {
            grid.put("! " + error, row: row + 1, column: box.left + 2, style: .warning, limit: box.innerWidth - 2)
        }
    }

    private static func pairingAddressDialog(_ dialog: PairingAddressDialog, _ grid: inout ScreenGrid) {
        let box = overlay(width: 66, height: 10, title: "Open a pairing window", &grid)
        let limit = box.innerWidth - 2
        grid.put(
            "The code tells the new device to connect to this address:", row: box.top + 2, column: box.left + 2,
            limit: limit)
        inputField(dialog.address, error: dialog.error, row: box.top + 3, box: box, &grid)
        grid.put(
            "Change it if the new device reaches this one another way", row: box.top + 5, column: box.left + 2,
            style: .dim, limit: limit)
        grid.put("(a VPN address, a host name).", row: box.top + 6, column: box.left + 2, style: .dim, limit: limit)
        grid.put("Enter opens the window · Esc cancels", row: box.bottom - 1, column: box.left + 2, style: .dim)
    }

    private static func recordDialog(_ dialog: RecordDialog, _ grid: inout ScreenGrid) {
        let title =
            dialog.correcting.map { "Correct \($0.id)" } ?? (dialog.kind == .credit ? "Earn" : "Spend")
        let box = overlay(width: 58, height: 10, title: title, &grid)
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
            // Wrapped, so the quoted bad input is never cut off.
            for (i, line) in ScreenGrid.wrap("! " + error, width: box.innerWidth - 2).prefix(3).enumerated() {
                grid.put(line, row: box.top + 5 + i, column: box.left + 2, style: .warning, limit: box.innerWidth - 2)
            }
        }
        grid.put("Enter saves · Tab next field · Esc cancels", row: box.bottom - 1, column: box.left + 2, style: .dim)
    }
}
