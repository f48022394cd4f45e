import LedgerCore
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

    @Test("/ filters the history as you type; Enter keeps the filter, Esc clears it")
    func filter() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("/"))
        #expect(s.isFiltering)
        #expect(s.focus == .history)
        for c in "LUNCH" { _ = TUIReducer.reduce(&s, .character(c)) }
        #expect(s.visibleHistory.map(\.memo) == ["lunch"])
        _ = TUIReducer.reduce(&s, .backspace)
        #expect(s.filter == "LUNC")
        _ = TUIReducer.reduce(&s, .enter)
        #expect(!s.isFiltering)
        #expect(s.visibleHistory.count == 1)
        _ = TUIReducer.reduce(&s, .character("q"))  // q quits once the filter is no longer being typed
        #expect(s.wantsQuit)
        s = state()
        _ = TUIReducer.reduce(&s, .character("/"))
        _ = TUIReducer.reduce(&s, .character("q"))  // while typing, q is text
        #expect(!s.wantsQuit)
        _ = TUIReducer.reduce(&s, .escape)
        #expect(s.filter.isEmpty)
        #expect(s.visibleHistory.count == 30)
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

    @Test("? opens help built from the keymap; Esc or ? closes it")
    func help() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("?"))
        #expect(s.showsHelp)
        #expect(TUIRenderer.render(s).text.contains("move within a pane"))
        _ = TUIReducer.reduce(&s, .escape)
        #expect(!s.showsHelp)
        _ = TUIReducer.reduce(&s, .character("?"))
        _ = TUIReducer.reduce(&s, .character("?"))
        #expect(!s.showsHelp)
    }

    @Test("a resize re-lays out and keeps selections in range")
    func resize() {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("3"))
        _ = TUIReducer.reduce(&s, .character("G"))
        s.snapshot = sampleSnapshot(historyCount: 5)
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

    static let request = LinkRequestRow(
        id: 7, name: "phone", fingerprint: "1924-cf39-66fb-596f", sas: "moon chaos raise diet false", attemptsLeft: 3)

    @Test("p opens a pairing window once, and focuses the link requests")
    func pairKey() {
        var s = state()
        #expect(TUIReducer.reduce(&s, .character("p")) == [.openPairing])
        #expect(s.focus == .requests)
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
