import LedgerCore
import LedgerIdentity

/// What the reducer asks the app to do outside the pure state.
package enum TUIEffect: Sendable, Equatable {
    /// Write a credit or debit of `amount` minor units.
    case record(EntryKind, amount: Int64, memo: String)
    /// Correct an entry: `amount` minor units from now on (0 voids it), and `memo` when changed.
    case correct(EntryRef, amount: Int64, memo: String?)
    /// Revoke the device with this key (hex).
    case revoke(deviceKey: String)
    /// Read the branches of the forked device with this key (hex), to settle it.
    case loadBranches(deviceKey: String)
    /// Settle the forked device: the branch starting with `chosen` (hex) counts through `through`.
    case settle(deviceKey: String, chosen: String, through: UInt64)
    /// Sync with every reachable device now.
    case syncNow
    /// Open a pairing window whose code names `address`.
    case openPairing(address: String)
    /// Approve link request `id` with the words typed.
    case approve(requestID: Int, typed: String)
    /// Deny link request `id`.
    case deny(requestID: Int)
    /// Make recovery words and show them (the app keeps the key until they are typed back).
    case prepareRecovery
    /// Link the recovery key whose words were typed back.
    case linkRecovery
    /// Forget the recovery words shown (cancelled, or a word typed back wrong).
    case cancelRecovery
}

/// What the services beside the TUI report; each changes the state in one way.
package enum TUIEvent: Sendable, Equatable {
    /// The sync badge changed (nil: sync stopped).
    case sync(SyncBadge?)
    /// The pairing window changed: opened, a request arrived or was answered, time passed, or
    /// it closed (nil).
    case pairing(PairingPanel?)
    /// A line worth showing (the result of an answer, a link, an expiry, a sync).
    case notice(String)
    /// The ledger as read anew (a new fork is announced).
    case snapshot(LedgerSnapshot)
    /// The history list for the filter it names, with the rows loaded so far.
    case history(HistoryView)
    /// Totals by month, and which month is this one.
    case months([Int: MonthTotals], current: Int)
    /// The address a pairing code names unless the person changes it.
    case pairingAddress(String)
    /// Recovery words to show, and the two positions to type back.
    case recovery(RecoveryDialog)
    /// A forked device's branches, to choose from.
    case settle(SettleDialog)
}

/// Pure key handling: every key changes the state in one way and may ask for an effect.
package enum TUIReducer {
    /// Applies `key` to `state` and returns the effects it asks for.
    package static func reduce(_ state: inout TUIState, _ key: Key) -> [TUIEffect] {
        switch key {
        case .interrupt:
            state.wantsQuit = true
            return []
        case .resize(let width, let height):
            state.width = width
            state.height = height
            clampSelections(&state)
            return []
        default:
            break
        }
        if state.isTooSmall {
            if key == .character("q") { state.wantsQuit = true }
            return []
        }
        if state.confirmsQuit {
            state.confirmsQuit = false
            if key == .character("y") || key == .character("q") {
                state.wantsQuit = true
            } else {
                state.message = "Still here: the pairing window stays open"
            }
            return []
        }
        if state.recovery != nil { return recoveryKey(&state, key) }
        if state.dialog != nil { return dialogKey(&state, key) }
        if state.approval != nil { return approvalKey(&state, key) }
        if state.pairingAddress != nil { return pairingAddressKey(&state, key) }
        if let device = state.pendingRevoke {
            switch key {
            case .enter:
                state.pendingRevoke = nil
                state.message = "Revoking \(device.name)…"
                return [.revoke(deviceKey: device.key)]
            case .escape:
                state.pendingRevoke = nil
            default:
                break
            }
            return []
        }
        if var dialog = state.settle {
            switch key {
            case .up, .character("k"): dialog.selected = max(0, dialog.selected - 1)
            case .down, .character("j"): dialog.selected = min(dialog.branches.count - 1, dialog.selected + 1)
            case .character(let c) where c.isNumber:
                if let n = c.wholeNumberValue, (1...dialog.branches.count).contains(n) { dialog.selected = n - 1 }
            case .enter:
                state.settle = nil
                let branch = dialog.branches[dialog.selected]
                state.message = "Settling \(dialog.device)…"
                return [.settle(deviceKey: dialog.deviceKey, chosen: branch.first, through: branch.last)]
            case .escape:
                state.settle = nil
                return []
            default:
                break
            }
            state.settle = dialog
            return []
        }
        if let row = state.pendingVoid {
            switch key {
            case .enter:
                state.pendingVoid = nil
                state.message = "Voiding \(row.id)…"
                if let ref = row.ref { return [.correct(ref, amount: 0, memo: nil)] }
            case .escape:
                state.pendingVoid = nil
            default:
                break
            }
            return []
        }
        if state.showsProblems {
            if key == .escape || key == .character("!") { state.showsProblems = false }
            if key == .character("q") {
                state.showsProblems = false
                if state.pairing != nil { state.confirmsQuit = true } else { state.wantsQuit = true }
            }
            return []
        }
        if state.showsHelp {
            if key == .escape || key == .character("?") { state.showsHelp = false }
            if key == .character("q") {
                state.showsHelp = false
                if state.pairing != nil { state.confirmsQuit = true } else { state.wantsQuit = true }
            }
            return []
        }
        if state.isFiltering {
            filterKey(&state, key)
            return []
        }
        if key == .character("s") {
            state.message = "Syncing…"
            return [.syncNow]
        }
        if key == .character("R") {
            state.message = "Making recovery words…"
            return [.prepareRecovery]
        }
        if key == .character("q"), state.pairing != nil {
            state.confirmsQuit = true
            return []
        }
        if let effects = requestKey(&state, key) { return effects }
        if key == .character("f"), state.focus == .devices, !state.snapshot.devices.isEmpty {
            let devices = state.snapshot.devices
            let device = devices[max(0, min(state.selection[.devices] ?? 0, devices.count - 1))]
            guard device.forkSeq != nil else {
                state.message = "\(device.name) is not forked: nothing to settle"
                return []
            }
            state.message = "Reading \(device.name)'s branches…"
            return [.loadBranches(deviceKey: device.key)]
        }
        mainKey(&state, key)
        return []
    }

    /// Applies an event from the services beside the TUI.
    package static func apply(_ state: inout TUIState, _ event: TUIEvent) {
        switch event {
        case .sync(let badge):
            state.sync = badge
            let storeProblems = badge?.storeProblems ?? []
            if storeProblems.count > state.knownStoreProblems, let newest = storeProblems.last {
                state.message = "⚠ Store: \(newest). Press ! to see every problem."
            }
            state.knownStoreProblems = storeProblems.count
        case .notice(let text):
            state.message = text
        case .snapshot(let snapshot):
            state.snapshot = snapshot
            let forked = snapshot.devices.filter { $0.forkSeq != nil }
            for device in forked where !state.knownForks.contains(device.fingerprint) {
                state.knownForks.insert(device.fingerprint)
                state.message =
                    "⚠ Fork found: \(device.name) (\(device.fingerprint)) signed two different entries at seq "
                    + "\(device.forkSeq ?? 0); its entries from there on do not count. Choose the branch that counts: f on its row."
            }
            clampSelections(&state)
        case .history(let view):
            guard view.filter == state.filter else { return }  // an answer to a filter since changed
            let listChanged = view.total != state.history.total || view.filter != state.history.filter
            state.history = view
            if listChanged { clampSelections(&state) }
        case .months(let months, let current):
            state.months = months
            state.currentMonth = current
        case .pairingAddress(let address):
            state.pairingDefaultAddress = address
        case .recovery(let dialog):
            state.recovery = dialog
            state.message = nil
        case .settle(let dialog):
            state.settle = dialog
            state.message = nil
        case .pairing(let panel):
            state.pairing = panel
            // A request that was answered elsewhere, or whose window closed, takes its dialog along.
            if let open = state.approval,
                let current = panel?.requests.first(where: { $0.id == open.request.id })
            {
                state.approval?.request = current
            } else {
                state.approval = nil
            }
            clampSelections(&state)
        }
    }

    /// `p`, and `a` and `d` on the link requests pane; nil for any other key.
    private static func requestKey(_ state: inout TUIState, _ key: Key) -> [TUIEffect]? {
        switch key {
        case .character("p"):
            state.focus = .requests
            if state.pairing != nil {
                state.message = "A pairing window is already open: its code is in the link requests pane"
                return []
            }
            state.pairingAddress = PairingAddressDialog(address: state.pairingDefaultAddress)
            return []
        case .character("a") where state.focus == .requests:
            guard let request = selectedRequest(state) else {
                state.message = "No link request to approve: press p, then run `ledgerlink join` on the new device"
                return []
            }
            state.approval = ApprovalDialog(request: request)
            return []
        case .character("d") where state.focus == .requests:
            guard let request = selectedRequest(state) else {
                state.message = "No link request to deny"
                return []
            }
            state.message = "Denied \(request.name); the pairing window is closed"
            return [.deny(requestID: request.id)]
        default:
            return nil
        }
    }

    private static func selectedRequest(_ state: TUIState) -> LinkRequestRow? {
        guard let requests = state.pairing?.requests, !requests.isEmpty else { return nil }
        return requests[max(0, min(state.selection[.requests] ?? 0, requests.count - 1))]
    }

    /// The approval dialog: the person types the new device's words; Enter approves (never
    /// `a`, which opened it), Esc closes without answering.
    private static func approvalKey(_ state: inout TUIState, _ key: Key) -> [TUIEffect] {
        guard var dialog = state.approval else { return [] }
        switch key {
        case .escape:
            state.approval = nil
            return []
        case .backspace:
            if !dialog.typed.isEmpty { dialog.typed.removeLast() }
            dialog.error = nil
        case .character(let c) where !c.unicodeScalars.contains(where: TextSafety.isUnsafe):
            if dialog.typed.count < 80 { dialog.typed.append(c) }
            dialog.error = nil
        case .enter:
            let words = dialog.typed.split(whereSeparator: { $0 == " " || $0 == "-" })
            guard words.count == 5 else {
                dialog.error = "Type the five words the new device shows"
                state.approval = dialog
                return []
            }
            state.approval = nil
            state.message = "Checking the words…"
            return [.approve(requestID: dialog.request.id, typed: dialog.typed)]
        default:
            break
        }
        state.approval = dialog
        return []
    }

    /// The address the pairing code will name: the machine's LAN address, editable (a VPN
    /// address, a host name); Enter opens the window, Esc cancels.
    /// The recovery words dialog: Enter once they are written down, then two words typed back;
    /// a wrong word, or Esc, forgets them and links nothing.
    private static func recoveryKey(_ state: inout TUIState, _ key: Key) -> [TUIEffect] {
        guard var dialog = state.recovery else { return [] }
        if key == .escape {
            state.recovery = nil
            state.message = "No recovery key was made"
            return [.cancelRecovery]
        }
        guard let asking = dialog.asking else {
            if key == .enter { dialog.asking = 0 }
            state.recovery = dialog
            return []
        }
        switch key {
        case .character(let c) where c.isLetter && dialog.typed.count < 16:
            dialog.typed.append(Character(c.lowercased()))
        case .backspace:
            if !dialog.typed.isEmpty { dialog.typed.removeLast() }
        case .enter:
            let position = dialog.asks[asking]
            guard Wordlist.index(of: dialog.typed).map({ Wordlist.words[$0] }) == dialog.words[position] else {
                state.recovery = nil
                state.message =
                    "That is not word #\(position + 1); nothing was linked. Press R to start again with new words."
                return [.cancelRecovery]
            }
            dialog.typed = ""
            guard asking + 1 < dialog.asks.count else {
                state.recovery = nil
                state.message = "Linking the recovery key…"
                return [.linkRecovery]
            }
            dialog.asking = asking + 1
        default:
            break
        }
        state.recovery = dialog
        return []
    }

    private static func pairingAddressKey(_ state: inout TUIState, _ key: Key) -> [TUIEffect] {
        guard var dialog = state.pairingAddress else { return [] }
        switch key {
        case .escape:
            state.pairingAddress = nil
            return []
        case .backspace:
            if !dialog.address.isEmpty { dialog.address.removeLast() }
            dialog.error = nil
        case .character(let c) where c.isASCII && !c.unicodeScalars.contains(where: TextSafety.isUnsafe):
            if dialog.address.count < 253 { dialog.address.append(c) }
            dialog.error = nil
        case .enter:
            let address = dialog.address.trimmingCharacters(in: .whitespaces)
            guard !address.isEmpty, !address.contains(" ") else {
                dialog.error = "Type the address the new device can reach this one at, such as 192.168.1.20"
                state.pairingAddress = dialog
                return []
            }
            state.pairingAddress = nil
            state.message = "Opening a pairing window…"
            return [.openPairing(address: address)]
        default:
            break
        }
        state.pairingAddress = dialog
        return []
    }

    /// The pane a screen cell belongs to, and the list row under it.
    private static func mouseKey(_ state: inout TUIState, _ key: Key) {
        let layout = TUILayout(state)
        switch key {
        case .click(let column, let row):
            guard let (pane, box) = layout.pane(at: column, row: row) else { return }
            state.focus = pane
            let first = TUILayout.window(
                selected: state.selection[pane] ?? 0, total: state.rowCount(pane), rows: box.innerRows
            ).lowerBound
            let offset = row - box.top - 1
            if offset >= 0, offset < box.innerRows, first + offset < state.rowCount(pane) {
                state.selection[pane] = first + offset
            }
        case .wheel(let up, let column, let row):
            let pane = layout.pane(at: column, row: row)?.0 ?? state.focus
            let selection = (state.selection[pane] ?? 0) + (up ? -3 : 3)
            state.selection[pane] = max(0, min(selection, state.rowCount(pane) - 1))
        default:
            break
        }
    }

    private static func mainKey(_ state: inout TUIState, _ key: Key) {
        if case .click = key { return mouseKey(&state, key) }
        if case .wheel = key { return mouseKey(&state, key) }
        let pane = state.focus
        let count = state.rowCount(pane)
        let page = max(1, state.height - 8)
        var selection = state.selection[pane] ?? 0
        switch key {
        case .character("q"): state.wantsQuit = true
        case .character("?"): state.showsHelp = true
        case .character("!"): state.showsProblems = true
        case .tab: state.focus = Pane(rawValue: (pane.rawValue + 1) % Pane.allCases.count) ?? .devices
        case .backTab:
            state.focus = Pane(rawValue: (pane.rawValue + Pane.allCases.count - 1) % Pane.allCases.count) ?? .devices
        case .character("1"): state.focus = .devices
        case .character("2"): state.focus = .requests
        case .character("3"): state.focus = .history
        case .up, .character("k"): selection -= 1
        case .down, .character("j"): selection += 1
        case .home, .character("g"): selection = 0
        case .end, .character("G"): selection = count - 1
        case .pageUp: selection -= page
        case .pageDown: selection += page
        case .character("/"):
            state.focus = .history
            state.isFiltering = true
        case .character("r") where pane == .devices && count > 0:
            let device = state.snapshot.devices[max(0, min(selection, count - 1))]
            if device.isThisDevice {
                state.message = "This is the device you are on: revoke it from another device"
            } else if device.state != "active", device.state != "recovery key" {
                state.message = "\(device.name) is already \(device.state)"
            } else {
                state.pendingRevoke = device
            }
        case .character("c") where pane == .history && count > 0, .character("v") where pane == .history && count > 0:
            let index = max(0, min(selection, count - 1))
            guard let row = state.history.row(index) else { break }
            guard let ref = row.ref else {
                state.message = "That row cannot be corrected: pick the credit or debit it concerns"
                break
            }
            if key == .character("c") {
                state.dialog = RecordDialog(correcting: row, ref: ref)
            } else if row.amount == "void" {
                state.message = "That entry is already void"
            } else {
                state.pendingVoid = row
            }
        case .character("e"): state.dialog = RecordDialog(kind: .credit)
        case .character("x"): state.dialog = RecordDialog(kind: .debit)
        case .character("["): state.viewedMonth = (state.viewedMonth ?? state.currentMonth) - 1
        case .character("]"): state.viewedMonth = min(state.currentMonth, (state.viewedMonth ?? state.currentMonth) + 1)
        case .escape:
            // Esc clears what is showing: the message first, then a kept filter.
            if state.message != nil {
                state.message = nil
            } else if !state.filter.isEmpty {
                state.filter = ""
                if pane == .history { selection = 0 } else { state.selection[.history] = 0 }
            }
        default: break
        }
        state.selection[pane] = max(0, min(selection, state.rowCount(pane) - 1))
    }

    private static func filterKey(_ state: inout TUIState, _ key: Key) {
        switch key {
        case .escape:
            state.filter = ""
            state.isFiltering = false
        case .enter:
            state.isFiltering = false
        case .backspace:
            if !state.filter.isEmpty { state.filter.removeLast() }
        case .character(let c) where !c.unicodeScalars.contains(where: TextSafety.isUnsafe):
            if state.filter.count < 64 { state.filter.append(c) }
        default:
            break
        }
        state.selection[.history] = 0
    }

    private static func dialogKey(_ state: inout TUIState, _ key: Key) -> [TUIEffect] {
        guard var dialog = state.dialog else { return [] }
        var closes = false
        defer { state.dialog = closes ? nil : dialog }
        switch key {
        case .escape:
            closes = true
        case .tab, .backTab, .up, .down:
            dialog.field = dialog.field == .amount ? .memo : .amount
        case .backspace:
            if dialog.field == .amount, !dialog.amount.isEmpty {
                dialog.amount.removeLast()
                dialog.belowFloorConfirmed = false
            }
            if dialog.field == .memo, !dialog.memo.isEmpty { dialog.memo.removeLast() }
            dialog.error = nil
        case .character(let c) where !c.unicodeScalars.contains(where: TextSafety.isUnsafe):
            if dialog.field == .amount, dialog.amount.count < 24 {
                dialog.amount.append(c)
                dialog.belowFloorConfirmed = false
            }
            if dialog.field == .memo, (dialog.memo + String(c)).utf8.count <= PrivateBody.maxMemoBytes {
                dialog.memo.append(c)
            }
            dialog.error = nil
        case .enter:
            do {
                let minor = try AmountFormat.parse(dialog.amount, decimals: state.decimals)
                if let problem = TextSafety.problem(with: dialog.memo, what: "memo", maxBytes: PrivateBody.maxMemoBytes)
                {
                    dialog.error = problem
                    return []
                }
                // Below the floor: said once, and a second Enter spends anyway (this device's
                // view: another device spending offline is not seen until they sync).
                let after = state.snapshot.balanceMinor - Int128(minor)
                if dialog.kind == .debit, dialog.correcting == nil, after < state.minBalance,
                    !dialog.belowFloorConfirmed
                {
                    dialog.belowFloorConfirmed = true
                    dialog.error =
                        "This takes the balance to \(AmountFormat.format(after, decimals: state.decimals)), below "
                        + "\(AmountFormat.format(state.minBalance, decimals: state.decimals)): Enter again spends anyway"
                    return []
                }
                closes = true
                state.message = "Saving…"
                if let ref = dialog.correcting {
                    return [.correct(ref, amount: minor, memo: dialog.memo == dialog.memoBefore ? nil : dialog.memo)]
                }
                return [.record(dialog.kind, amount: minor, memo: dialog.memo)]
            } catch {
                dialog.error = error.description
                dialog.field = .amount
            }
        default:
            break
        }
        return []
    }

    private static func clampSelections(_ state: inout TUIState) {
        for pane in Pane.allCases {
            state.selection[pane] = max(0, min(state.selection[pane] ?? 0, state.rowCount(pane) - 1))
        }
    }
}
