import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerTUI
import Testing

/// A snapshot with enough rows to scroll.
func sampleSnapshot(names: [String] = ["laptop", "phone"], historyCount: Int = 30) -> LedgerSnapshot {
    LedgerSnapshot(
        identity: "5c8a0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccdd", deviceName: names[0],
        fingerprint: "98cd-69af-8816-fffd", balance: "1187.50", earned: "1200.00", spent: "12.50",
        devices: names.enumerated().map { i, name in
            .init(
                name: name, fingerprint: "00\(i)a-bbbb-cccc-dddd", state: i == 2 ? "revoked" : "active",
                entries: 10 + i, isThisDevice: i == 0, key: String(repeating: "\(i)", count: 64),
                linked: i == 0 ? "created the identity 2026-11-01 08:00" : "linked by \(names[0]) 2026-11-02 09:30",
                lastSeen: "last entry 2026-11-24 09:5\(i)")
        },
        history: (0..<historyCount).map { i in
            .init(
                time: "2026-11-24 09:\(String(format: "%02d", 59 - i % 60))", isCredit: i % 3 != 0,
                amount: "\(i + 1).50", device: names[i % names.count], memo: i == 0 ? "lunch" : "entry \(i)")
        })
}

func state(width: Int = 80, height: Int = 24) -> TUIState {
    var s = TUIState(width: width, height: height, usesColor: false)
    s.snapshot = sampleSnapshot()
    s.snapshot.balanceTrend = [0, 1200, 1100, 1187, 900, 1500, 1187].map { Int128($0) }
    s.snapshot.trendLabel = "last 6 entries: 0.00 to 1500.00"
    // The whole ledger indexed: 30 entries, all loaded.
    s.history = HistoryView(total: 30, rows: s.snapshot.history)
    s.months = [24_322: MonthTotals(earned: "1200.00", spent: "12.50", net: "+1187.50", entries: 30)]
    s.currentMonth = 24_322  // November 2026
    return s
}

@Suite("TUI reducer")
struct TUIReducerTests {
    @Test("q, Ctrl-C and SIGTERM quit from anywhere, even a dialog or a tiny terminal")
    func quitting() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("q"))
        #expect(s.wantsQuit)
        s = state()
        _ = TUIReducer.reduce(&s, .character("e"))
        _ = TUIReducer.reduce(&s, .interrupt)
        #expect(s.wantsQuit)
        s = state(width: 40, height: 12)
        _ = TUIReducer.reduce(&s, .character("e"))
        #expect(s.dialog == nil)
        _ = TUIReducer.reduce(&s, .character("q"))
        #expect(s.wantsQuit)
    }

    @Test("Tab, Shift-Tab and 1-3 move between panes")
    func panes() {
        var s = state()
        #expect(s.focus == .devices)
        _ = TUIReducer.reduce(&s, .tab)
        #expect(s.focus == .requests)
        _ = TUIReducer.reduce(&s, .tab)
        #expect(s.focus == .history)
        _ = TUIReducer.reduce(&s, .tab)
        #expect(s.focus == .devices)
        _ = TUIReducer.reduce(&s, .backTab)
        #expect(s.focus == .history)
        _ = TUIReducer.reduce(&s, .character("1"))
        #expect(s.focus == .devices)
        _ = TUIReducer.reduce(&s, .character("2"))
        #expect(s.focus == .requests)
        _ = TUIReducer.reduce(&s, .character("3"))
        #expect(s.focus == .history)
    }

    @Test("arrows, j/k, g/G and pages move within a pane and stop at its ends")
    func movement() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("3"))
        for key: Key in [.down, .character("j"), .down] { _ = TUIReducer.reduce(&s, key) }
        #expect(s.selection[.history] == 3)
        _ = TUIReducer.reduce(&s, .character("k"))
        _ = TUIReducer.reduce(&s, .up)
        #expect(s.selection[.history] == 1)
        _ = TUIReducer.reduce(&s, .character("G"))
        #expect(s.selection[.history] == 29)
        _ = TUIReducer.reduce(&s, .down)
        #expect(s.selection[.history] == 29)
        _ = TUIReducer.reduce(&s, .character("g"))
        #expect(s.selection[.history] == 0)
        _ = TUIReducer.reduce(&s, .up)
        #expect(s.selection[.history] == 0)
        _ = TUIReducer.reduce(&s, .pageDown)
        #expect(s.selection[.history] == 16)
        _ = TUIReducer.reduce(&s, .pageUp)
        #expect(s.selection[.history] == 0)
        _ = TUIReducer.reduce(&s, .character("1"))
        _ = TUIReducer.reduce(&s, .character("G"))
        #expect(s.selection[.devices] == 1)
    }

    @Test("/ filters the history as you type (the app searches the whole ledger); Enter keeps it, Esc clears it")
    func filter() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("/"))
        #expect(s.isFiltering)
        #expect(s.focus == .history)
        for c in "LUNCH" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(s.isSearching, "the list shown is not yet the filter's")
        // An answer for a filter typed earlier is dropped; the filter's own answer is shown.
        TUIReducer.apply(&s, .history(HistoryView(total: 9, filter: "LUN")))
        #expect(s.isSearching)
        let lunch = s.snapshot.history[0]
        TUIReducer.apply(&s, .history(HistoryView(total: 1, rows: [lunch], filter: "LUNCH", sums: "+0.00 −1.50")))
        #expect(!s.isSearching)
        #expect(s.history.count == 1)
        #expect(s.history.row(0)?.memo == "lunch")
        _ = TUIReducer.reduce(&s, .backspace)
        #expect(s.filter == "LUNC")
        #expect(s.isSearching)
        _ = TUIReducer.reduce(&s, .enter)
        #expect(!s.isFiltering)
        _ = TUIReducer.reduce(&s, .character("q"))  // q quits once the filter is no longer being typed
        #expect(s.wantsQuit)
        s = state()
        _ = TUIReducer.reduce(&s, .character("/"))
        _ = TUIReducer.reduce(&s, .character("q"))  // while typing, q is text
        #expect(!s.wantsQuit)
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.filter.isEmpty)
        #expect(s.history.count == 30)
    }

    @Test("Esc clears the message first, then a kept filter")
    func escapeClearsKeptFilter() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("/"))
        for c in "entry" { _ = TUIReducer.reduce(&s, .character(c)) }
        _ = TUIReducer.reduce(&s, .enter)
        s.message = "Earned 2.00"
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.message == nil)
        #expect(s.filter == "entry")
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.filter.isEmpty)
        #expect(!s.isSearching, "no filter: the newest entries show until the index arrives")
    }

    @Test("the history pane pages through the whole list: G reaches the last entry of 2,017")
    func wholeHistory() {
        var s = state(width: 80, height: 24)
        TUIReducer.apply(&s, .history(HistoryView(total: 2_017, rows: Array(s.snapshot.history.prefix(20)))))
        _ = TUIReducer.reduce(&s, .character("3"))
        _ = TUIReducer.reduce(&s, .character("G"))
        #expect(s.selection[.history] == 2_016)
        #expect(s.historyRowsNeeded.contains(2_016))
        #expect(!s.history.holds(s.historyRowsNeeded), "the app is asked to load the last page")
        let text = TUIRenderer.render(s).text
        #expect(text.contains("3 History (2017 entries)"))
        #expect(text.contains("…"), "rows not loaded yet show as …")
    }

    @Test("q with a pairing window open asks first: y quits, any other key stays")
    func quitWithPairingOpen() {
        var s = state()
        TUIReducer.apply(&s, .pairing(PairingPanel(code: "a-b@h:1", secondsLeft: 600)))
        _ = TUIReducer.reduce(&s, .character("q"))
        #expect(!s.wantsQuit)
        #expect(TUIRenderer.render(s).text.contains("A pairing window is open: quit and close it?"))
        _ = TUIReducer.reduce(&s, .character("n"))
        #expect(!s.wantsQuit)
        #expect(!s.confirmsQuit)
        _ = TUIReducer.reduce(&s, .character("q"))
        _ = TUIReducer.reduce(&s, .character("y"))
        #expect(s.wantsQuit)
    }

    @Test("[ and ] move the month whose totals show beside the balance, never past this month")
    func months() {
        var s = state()
        TUIReducer.apply(
            &s,
            .months(
                [
                    24_322: MonthTotals(earned: "1200.00", spent: "12.50", net: "+1187.50", entries: 30),
                    24_321: MonthTotals(earned: "5.00", spent: "0.00", net: "+5.00", entries: 1),
                ], current: 24_322))
        #expect(TUIRenderer.render(s).text.contains("November 2026: earned 1200.00 · spent 12.50 · net +1187.50"))
        _ = TUIReducer.reduce(&s, .character("["))
        #expect(TUIRenderer.render(s).text.contains("October 2026: earned 5.00 · spent 0.00 · net +5.00 · 1 entry"))
        _ = TUIReducer.reduce(&s, .character("["))
        #expect(TUIRenderer.render(s).text.contains("September 2026: no entries"))
        for _ in 0..<5 { _ = TUIReducer.reduce(&s, .character("]")) }
        #expect(s.viewedMonth == 24_322)
    }

    @Test("a fork found is announced once, naming the device, and the device row says where")
    func forkNotice() {
        var s = state()
        var snapshot = s.snapshot
        snapshot.devices[1].state = "forked"
        snapshot.devices[1].forkSeq = 12
        TUIReducer.apply(&s, .snapshot(snapshot))
        #expect(s.message?.contains("Fork found: phone (001a-bbbb-cccc-dddd)") == true)
        #expect(s.message?.contains("seq 12") == true)
        #expect(TUIRenderer.render(s).text.contains("forked at seq 12"))
        s.message = nil
        TUIReducer.apply(&s, .snapshot(snapshot))
        #expect(s.message == nil, "announced once")
    }

    @Test("the last sync problem shows in words under the panes; quarantined entries show on their device")
    func problemsInWords() {
        var s = state()
        TUIReducer.apply(
            &s,
            .sync(
                SyncBadge(
                    peers: [], lastSync: "12:03",
                    problem: "store: the store broke the protocol: it said more but sent nothing new")))
        let text = TUIRenderer.render(s).text
        #expect(text.contains("⚠ store: the store broke the protocol: it said more but sent nothing new"))
        s.snapshot.devices[1].state = "revoked"
        s.snapshot.devices[1].quarantined = 3
        #expect(TUIRenderer.render(s).text.contains("✕ phone"))
        _ = TUIReducer.reduce(&s, .resize(width: 140, height: 24))
        #expect(TUIRenderer.render(s).text.contains("revoked  11 entries, 3 quarantined (not counted)"))
    }

    @Test("a click focuses the pane under it and selects the row; the wheel scrolls the pane under it")
    func mouse() {
        var s = state()
        // At 80x24 the history pane's first row is 11 (see Golden/main-80x24.txt).
        _ = TUIReducer.reduce(&s, .click(column: 20, row: 13))
        #expect(s.focus == .history)
        #expect(s.selection[.history] == 2)
        _ = TUIReducer.reduce(&s, .wheel(up: false, column: 20, row: 13))
        #expect(s.selection[.history] == 5)
        _ = TUIReducer.reduce(&s, .click(column: 10, row: 5))
        #expect(s.focus == .devices)
        #expect(s.selection[.devices] == 1)
        _ = TUIReducer.reduce(&s, .wheel(up: true, column: 20, row: 13))
        #expect(s.selection[.history] == 2)
        #expect(s.focus == .devices, "the wheel scrolls without moving the focus")
    }

    @Test("the footer keeps help and quit at every width; long messages wrap instead of losing their end")
    func narrow() {
        #expect(Keymap.footer(width: 58).hasSuffix("? help · q quit"))
        #expect(ScreenGrid.columns(Keymap.footer(width: 58)) <= 58)
        var s = state(width: 60, height: 16)
        #expect(TUIRenderer.render(s).text.contains("? help · q quit"))
        s.message = "Not saved: amount must be a number like 12, 12.5 or 12.50, not “12,50 EUR please”"
        let text = TUIRenderer.render(s).text
        #expect(text.contains("“12,50 EUR please”"))
        s.snapshot.devices[1].name = "a device with a very long name indeed that goes on and on"
        #expect(TUIRenderer.render(s).text.contains("…"), "cut text ends in an ellipsis")
    }

    @Test("e and x open dialogs that validate, confirm with Enter (not the opening key) and cancel with Esc")
    func recordDialogs() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("e"))
        #expect(s.dialog?.kind == .credit)
        _ = TUIReducer.reduce(&s, .character("e"))  // the opening key is just text now
        #expect(s.dialog?.amount == "e")
        #expect(TUIReducer.reduce(&s, .enter).isEmpty)
        #expect(s.dialog?.error?.contains("a number") == true)
        _ = TUIReducer.reduce(&s, .backspace)
        for c in "12.345" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter).isEmpty)
        #expect(s.dialog?.error?.contains("decimal places") == true)
        _ = TUIReducer.reduce(&s, .backspace)
        _ = TUIReducer.reduce(&s, .tab)
        for c in "coffee" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter) == [.record(.credit, amount: 1234, memo: "coffee")])
        #expect(s.dialog == nil)

        s = state()
        _ = TUIReducer.reduce(&s, .character("x"))
        #expect(s.dialog?.kind == .debit)
        _ = TUIReducer.reduce(&s, .character("0"))
        _ = TUIReducer.reduce(&s, .enter)
        #expect(s.dialog?.error == "amount must be greater than zero")
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.dialog == nil)
        #expect(!s.wantsQuit)
    }

    @Test("r on another active device asks to confirm; Enter (not r) revokes, Esc cancels")
    func revoke() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("r"))  // the selected device is this one
        #expect(s.pendingRevoke == nil)
        #expect(s.message?.contains("device you are on") == true)
        _ = TUIReducer.reduce(&s, .down)
        _ = TUIReducer.reduce(&s, .character("r"))
        #expect(s.pendingRevoke?.name == "phone")
        #expect(TUIReducer.reduce(&s, .character("r")).isEmpty)  // the opening key does not confirm
        #expect(TUIRenderer.render(s).text.contains("Revoke phone"))
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.pendingRevoke == nil)
        _ = TUIReducer.reduce(&s, .character("r"))
        #expect(TUIReducer.reduce(&s, .enter) == [.revoke(deviceKey: s.snapshot.devices[1].key)])
        #expect(s.pendingRevoke == nil)
        s.snapshot.devices[1].state = "revoked"
        _ = TUIReducer.reduce(&s, .character("r"))
        #expect(s.pendingRevoke == nil)
        #expect(s.message == "phone is already revoked")
    }

    @Test(
        "c on a history row opens a correction starting from what it counts; v asks, then voids; other rows say why not"
    )
    func corrections() throws {
        var s = state()
        let ref = EntryRef(
            author: SigningKeyPair.generate().publicKey, seq: 4,
            hash: try EntryHash(bytes: Array(repeating: 7, count: 32)))
        s.history.rows[0].ref = ref
        s.history.rows[0].countedAmount = "12.50"
        s.history.rows[0].countedMemo = "lunch"
        _ = TUIReducer.reduce(&s, .character("3"))
        _ = TUIReducer.reduce(&s, .character("c"))
        #expect(s.dialog?.correcting == ref)
        #expect(s.dialog?.amount == "12.50")
        #expect(TUIRenderer.render(s).text.contains("Correct \(ref.id)"))
        _ = TUIReducer.reduce(&s, .backspace)
        _ = TUIReducer.reduce(&s, .backspace)
        _ = TUIReducer.reduce(&s, .character("0"))
        _ = TUIReducer.reduce(&s, .character("0"))
        // The memo was not changed: the correction keeps it (nil).
        #expect(TUIReducer.reduce(&s, .enter) == [.correct(ref, amount: 1200, memo: nil)])

        _ = TUIReducer.reduce(&s, .character("v"))
        #expect(s.pendingVoid?.ref == ref)
        #expect(TUIRenderer.render(s).text.contains("Void an entry"))
        #expect(TUIReducer.reduce(&s, .enter) == [.correct(ref, amount: 0, memo: nil)])
        #expect(s.pendingVoid == nil)

        s.history.rows[0].ref = nil
        _ = TUIReducer.reduce(&s, .character("c"))
        #expect(s.dialog == nil)
        #expect(s.message?.contains("cannot be corrected") == true)
    }

    @Test(
        "f on a forked device reads its branches; the dialog chooses one with the arrows or its number, Enter settles")
    func settle() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("f"))
        #expect(s.message?.contains("is not forked") == true)
        s.snapshot.devices[1].forkSeq = 2
        s.snapshot.devices[1].state = "forked"
        s.snapshot.devices[1].key = "ab"
        s.selection[.devices] = 1
        #expect(TUIReducer.reduce(&s, .character("f")) == [.loadBranches(deviceKey: "ab")])
        TUIReducer.apply(
            &s,
            .settle(
                SettleDialog(
                    device: "phone", deviceKey: "ab", forkSeq: 2,
                    branches: [
                        .init(
                            summary: "seqs 2-2, 1 entry: in +5.00", lines: ["seq 2  restored"], first: "01", last: 2,
                            isChosen: false),
                        .init(
                            summary: "seqs 2-3, 2 entries: in +3.00, out -1.00", lines: ["seq 3  coffee"], first: "02",
                            last: 3, isChosen: false),
                    ])))
        let screen = TUIRenderer.render(s).text
        #expect(screen.contains("phone forked at seq 2. Which branch counts?"))
        #expect(screen.contains("2) seqs 2-3, 2 entries"))
        _ = TUIReducer.reduce(&s, .down)
        #expect(TUIReducer.reduce(&s, .enter) == [.settle(deviceKey: "ab", chosen: "02", through: 3)])
        #expect(s.settle == nil)
    }

    @Test("? opens help built from the keymap; Esc or ? closes it")
    func help() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("?"))
        #expect(s.showsHelp)
        #expect(TUIRenderer.render(s).text.contains("move; first, last"))
        _ = TUIReducer.reduce(&s, .escape)
        #expect(!s.showsHelp)
        _ = TUIReducer.reduce(&s, .character("?"))
        _ = TUIReducer.reduce(&s, .character("?"))
        #expect(!s.showsHelp)
    }

    @Test("a store problem is announced once; ! lists it with forks, or says there are none")
    func problemsView() {
        var s = state(width: 100, height: 30)
        _ = TUIReducer.reduce(&s, .character("!"))
        #expect(s.showsProblems)
        #expect(TUIRenderer.render(s).text.contains("No problems found"))
        _ = TUIReducer.reduce(&s, .escape)
        #expect(!s.showsProblems)
        var badge = SyncBadge()
        badge.storeProblems = ["the store at http://s went back to an older state (found 10:00)"]
        TUIReducer.apply(&s, .sync(badge))
        #expect(s.message?.contains("went back to an older state") == true)
        #expect(s.message?.contains("Press ! to see every problem") == true)
        s.message = nil
        TUIReducer.apply(&s, .sync(badge))
        #expect(s.message == nil)  // told once
        s.snapshot.devices[1].forkSeq = 4
        _ = TUIReducer.reduce(&s, .character("!"))
        let screen = TUIRenderer.render(s).text
        #expect(screen.contains("Problems"))
        #expect(screen.contains("signed two different entries at seq 4"))
        #expect(screen.contains("Store: the store at http://s went back"))
        _ = TUIReducer.reduce(&s, .character("!"))
        #expect(!s.showsProblems)
    }

    @Test("R shows recovery words; two typed back link them, a wrong one or Esc forgets them")
    func recoveryWords() {
        var s = state(width: 100, height: 30)
        #expect(TUIReducer.reduce(&s, .character("R")) == [.prepareRecovery])
        let words = (0..<24).map { Wordlist.words[$0 * 80] }
        TUIReducer.apply(&s, .recovery(RecoveryDialog(words: words, asks: [3, 17])))
        var screen = TUIRenderer.render(s).text
        #expect(screen.contains("Recovery words"))
        #expect(screen.contains("18. \(words[17])"))
        #expect(screen.contains("Enter once they are written down"))
        _ = TUIReducer.reduce(&s, .enter)
        screen = TUIRenderer.render(s).text
        #expect(screen.contains("Type word #4:"))
        // Four letters are enough, as everywhere words are typed.
        for c in words[3].prefix(4) { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter).isEmpty)
        #expect(TUIRenderer.render(s).text.contains("Type word #18:"))
        for c in words[17] { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter) == [.linkRecovery])
        #expect(s.recovery == nil)

        TUIReducer.apply(&s, .recovery(RecoveryDialog(words: words, asks: [0, 1])))
        _ = TUIReducer.reduce(&s, .enter)
        for c in "zoo" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter) == [.cancelRecovery])
        #expect(s.message?.contains("That is not word #1; nothing was linked") == true)
        TUIReducer.apply(&s, .recovery(RecoveryDialog(words: words, asks: [0, 1])))
        #expect(TUIReducer.reduce(&s, .escape) == [.cancelRecovery])
        #expect(s.recovery == nil)
    }

    @Test("a spend below the floor is said once in the dialog; Enter again spends anyway, a new amount asks again")
    func spendBelowFloor() {
        var s = state()
        s.snapshot.balanceMinor = 500
        s.minBalance = 0
        _ = TUIReducer.reduce(&s, .character("x"))
        for c in "20" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter).isEmpty)
        #expect(s.dialog?.error == "This takes the balance to -15.00, below 0.00: Enter again spends anyway")
        _ = TUIReducer.reduce(&s, .backspace)
        _ = TUIReducer.reduce(&s, .character("5"))
        #expect(TUIReducer.reduce(&s, .enter).isEmpty)  // another amount: asked again
        #expect(TUIReducer.reduce(&s, .enter) == [.record(.debit, amount: 2500, memo: "")])
        // Within the floor, or an earning: no question.
        s.minBalance = -10_000
        _ = TUIReducer.reduce(&s, .character("x"))
        for c in "20" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter) == [.record(.debit, amount: 2000, memo: "")])
        s.minBalance = 0
        _ = TUIReducer.reduce(&s, .character("e"))
        for c in "20" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter) == [.record(.credit, amount: 2000, memo: "")])
    }

    @Test("a resize re-lays out and keeps selections in range")
    func resize() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("3"))
        _ = TUIReducer.reduce(&s, .character("G"))
        s.snapshot = sampleSnapshot(historyCount: 5)
        s.history = HistoryView(total: 5, rows: s.snapshot.history)
        _ = TUIReducer.reduce(&s, .resize(width: 120, height: 40))
        #expect(s.width == 120)
        #expect(s.selection[.history] == 4)
        _ = TUIReducer.reduce(&s, .resize(width: 50, height: 12))
        #expect(s.isTooSmall)
        #expect(TUIRenderer.render(s).text.contains("Terminal too small"))
    }

    @Test("the sparkline scales the balance between its lowest and highest points")
    func sparkline() {
        #expect(TUIRenderer.sparkline([0, 7, 14].map { Int128($0) }[...]) == "▁▄█")
        #expect(TUIRenderer.sparkline([5, 5].map { Int128($0) }[...]) == "▄▄")
        #expect(TUIRenderer.sparkline([-10, 10].map { Int128($0) }[...]) == "▁█")
    }

    @Test("the footer and the help come from one keymap")
    func keymap() {
        for binding in Keymap.bindings where binding.inFooter {
            #expect(Keymap.footer.contains("\(binding.keys) \(binding.short ?? binding.action)"))
        }
        #expect(Keymap.footer.count <= 78, "the footer fits an 80-column terminal")
        let help = TUIRenderer.render(
            {
                var s = state()
                s.showsHelp = true
                return s
            }()
        ).text
        for binding in Keymap.bindings { #expect(help.contains(binding.action)) }
    }

    static let request = LinkRequestRow(id: 7, name: "phone", fingerprint: "1924-cf39-66fb-596f", attemptsLeft: 3)

    @Test("p asks for the address the code names (editable), then opens one pairing window")
    func pairKey() {
        var s = state()
        TUIReducer.apply(&s, .pairingAddress("192.168.1.20"))
        #expect(TUIReducer.reduce(&s, .character("p")).isEmpty)
        #expect(s.focus == .requests)
        #expect(s.pairingAddress?.address == "192.168.1.20")
        #expect(TUIRenderer.render(s).text.contains("> 192.168.1.20"))
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.pairingAddress == nil, "Esc cancels")
        _ = TUIReducer.reduce(&s, .character("p"))
        for _ in 0..<12 { _ = TUIReducer.reduce(&s, .backspace) }
        for c in "vpn.home.example" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter) == [.openPairing(address: "vpn.home.example")])
        TUIReducer.apply(&s, .pairing(PairingPanel(code: "a-b@h:1", secondsLeft: 600)))
        #expect(TUIReducer.reduce(&s, .character("p")).isEmpty)
        #expect(s.message?.contains("already open") == true)
    }

    @Test("a opens the approval dialog for the selected request; Enter with five words approves, Esc closes")
    func approve() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("2"))
        #expect(TUIReducer.reduce(&s, .character("a")).isEmpty)
        #expect(s.approval == nil)
        #expect(s.message?.contains("No link request") == true)
        TUIReducer.apply(&s, .pairing(PairingPanel(code: "a-b@h:1", secondsLeft: 600, requests: [Self.request])))
        _ = TUIReducer.reduce(&s, .character("a"))
        #expect(s.approval?.request == Self.request)
        // The key that opened the dialog does not confirm it: `a` is typed into the words.
        _ = TUIReducer.reduce(&s, .character("a"))
        #expect(s.approval?.typed == "a")
        _ = TUIReducer.reduce(&s, .backspace)
        for c in "moon chaos" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(TUIReducer.reduce(&s, .enter).isEmpty)
        #expect(s.approval?.error?.contains("five words") == true)
        for c in " raise diet fals" { _ = TUIReducer.reduce(&s, .character(c)) }
        _ = TUIReducer.reduce(&s, .character("\u{1B}"))  // an escape character is never typed in
        #expect(
            TUIReducer.reduce(&s, .enter) == [.approve(requestID: 7, typed: "moon chaos raise diet fals")])
        #expect(s.approval == nil)
        _ = TUIReducer.reduce(&s, .character("a"))
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.approval == nil)
        #expect(s.pairing?.requests.count == 1, "Esc closes the dialog without answering")
    }

    @Test("d denies the selected request; without one it says so")
    func deny() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("2"))
        #expect(TUIReducer.reduce(&s, .character("d")).isEmpty)
        TUIReducer.apply(&s, .pairing(PairingPanel(code: "a-b@h:1", secondsLeft: 600, requests: [Self.request])))
        #expect(TUIReducer.reduce(&s, .character("d")) == [.deny(requestID: 7)])
        #expect(s.message?.contains("Denied phone") == true)
        // On another pane, d does nothing with requests.
        _ = TUIReducer.reduce(&s, .character("1"))
        #expect(TUIReducer.reduce(&s, .character("d")).isEmpty)
    }

    @Test("events: the badge, notices, and a window that changes or closes under an open dialog")
    func events() {
        var s = state()
        TUIReducer.apply(&s, .sync(SyncBadge(peers: ["phone"])))
        #expect(s.sync?.peers == ["phone"])
        TUIReducer.apply(&s, .notice("Linked phone"))
        #expect(s.message == "Linked phone")
        TUIReducer.apply(&s, .pairing(PairingPanel(code: "a-b@h:1", secondsLeft: 600, requests: [Self.request])))
        _ = TUIReducer.reduce(&s, .character("2"))
        _ = TUIReducer.reduce(&s, .character("a"))
        var fewer = Self.request
        fewer.attemptsLeft = 2
        TUIReducer.apply(&s, .pairing(PairingPanel(code: "a-b@h:1", secondsLeft: 590, requests: [fewer])))
        #expect(s.approval?.request.attemptsLeft == 2)
        TUIReducer.apply(&s, .pairing(nil))
        #expect(s.approval == nil)
        #expect(s.pairing == nil)
        #expect(s.selection[.requests] == 0)
    }
}
