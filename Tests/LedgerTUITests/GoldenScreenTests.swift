import Foundation
import LedgerCore
import Testing

@testable import LedgerTUI

/// Screens compared as text with files in Golden/. Run with LEDGERLINK_WRITE_GOLDEN=1 to write
/// them anew after a deliberate change, then read the diff.
@Suite("TUI golden screens")
struct GoldenScreenTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    func check(_ name: String, _ state: TUIState) throws {
        let text = TUIRenderer.render(state).text + "\n"
        let file = Self.folder.appendingPathComponent("\(name).txt")
        if ProcessInfo.processInfo.environment["LEDGERLINK_WRITE_GOLDEN"] != nil {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: file, encoding: .utf8)
        #expect(text == golden, "screen \(name) differs from Golden/\(name).txt:\n\(text)")
    }

    @Test("80x24 main screen")
    func main80() throws { try check("main-80x24", state()) }

    @Test("120x40 main screen with the history focused and filtered")
    func main120() throws {
        var s = state(width: 120, height: 40)
        _ = TUIReducer.reduce(&s, .character("/"))
        for c in "entry 1" { _ = TUIReducer.reduce(&s, .character(c)) }
        // What the app's search of the whole ledger answers.
        let matches = s.snapshot.history.filter { $0.memo.hasPrefix("entry 1") }
        TUIReducer.apply(
            &s, .history(HistoryView(total: matches.count, rows: matches, filter: "entry 1", sums: "+117.00 −58.50")))
        _ = TUIReducer.reduce(&s, .enter)
        _ = TUIReducer.reduce(&s, .down)
        try check("history-filter-120x40", s)
    }

    @Test("40x12 is too small and says so")
    func tiny() throws { try check("too-small-40x12", state(width: 40, height: 12)) }

    @Test("the earn dialog with a validation error")
    func dialog() throws {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("e"))
        for c in "1.999" { _ = TUIReducer.reduce(&s, .character(c)) }
        _ = TUIReducer.reduce(&s, .enter)
        try check("earn-dialog-error-80x24", s)
    }

    @Test("the revoke confirmation")
    func revokeDialog() throws {
        var s = state()
        _ = TUIReducer.reduce(&s, .down)
        _ = TUIReducer.reduce(&s, .character("r"))
        try check("revoke-confirm-80x24", s)
    }

    @Test("the sync badge: a connected device and the last sync, or no peers; `s` asks for a sync")
    func syncBadge() throws {
        var s = state()
        s.sync = SyncBadge(peers: ["phone"], lastSync: "12:03")
        try check("sync-badge-80x24", s)
        s.sync = SyncBadge(peers: ["phone", "tablet"], lastSync: "12:03")
        #expect(TUIRenderer.render(s).text.hasPrefix(" ledgerlink │ laptop"))
        #expect(TUIRenderer.render(s).text.split(separator: "\n")[0].hasSuffix("● 2 peers · synced 12:03 "))
        s.sync = SyncBadge()
        #expect(TUIRenderer.render(s).text.split(separator: "\n")[0].hasSuffix("○ no peers "))
        #expect(TUIReducer.reduce(&s, .character("s")) == [.syncNow])
        #expect(s.message == "Syncing…")
        // Typing an s in a dialog is text, not a sync.
        _ = TUIReducer.reduce(&s, .character("e"))
        _ = TUIReducer.reduce(&s, .tab)
        #expect(TUIReducer.reduce(&s, .character("s")).isEmpty)
    }

    @Test("the help overlay")
    func help() throws {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("?"))
        try check("help-80x24", s)
    }

    @Test("CJK and emoji device names keep columns aligned")
    func wideNames() throws {
        var s = TUIState(width: 80, height: 24, usesColor: false)
        s.snapshot = sampleSnapshot(names: ["ノートPC", "📱 phone", "寿司"], historyCount: 6)
        try check("wide-names-80x24", s)
        for line in TUIRenderer.render(s).text.split(separator: "\n") where line.hasPrefix("│") || line.hasPrefix("┌") {
            #expect(ScreenGrid.columns(String(line)) == 80, "misaligned: \(line)")
        }
    }

    @Test("NO_COLOR draws the same text: states are symbols and words, never colour alone")
    func noColour() {
        var colour = state()
        colour.usesColor = true
        #expect(TUIRenderer.render(colour).text == TUIRenderer.render(state()).text)
        #expect(TUIRenderer.render(state()).text.contains("● laptop (this device)"))
    }

    @Test("control characters in untrusted text never reach the screen grid")
    func sanitised() {
        var s = state()
        s.snapshot.devices[1].name = TextSafety.sanitised("evil\u{1b}[2J\u{7}")
        #expect(!TUIRenderer.render(s).text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
    }

    @Test("an open pairing window with a request, and its approval dialog")
    func pairing() throws {
        var s = state()
        _ = TUIReducer.reduce(&s, .character("p"))
        _ = TUIReducer.reduce(&s, .enter)  // the address the dialog suggests
        TUIReducer.apply(
            &s,
            .pairing(
                PairingPanel(
                    code: "insane-moral-ill-limit-school-asthma-rail-maze-fragile-glue-case-deer@192.168.1.31:40517",
                    secondsLeft: 581,
                    requests: [
                        LinkRequestRow(
                            id: 1, name: "phone \u{FFFD}[2J", fingerprint: "1924-cf39-66fb-596f", attemptsLeft: 3)
                    ])))
        TUIReducer.apply(&s, .notice("A new device asks to join: select it and press a to approve, d to deny"))
        try check("pairing-request-80x24", s)
        _ = TUIReducer.reduce(&s, .character("a"))
        for c in "proof dinn" { _ = TUIReducer.reduce(&s, .character(c)) }
        try check("pairing-approve-80x24", s)
        // The words to type are read on the new device only; nothing here names them.
        #expect(!TUIRenderer.render(s).text.contains("dinner motion"))
    }

    @Test("onboarding, joining with a code and showing this device's words")
    func onboardingJoin() throws {
        var s = OnboardingState(width: 80, height: 24)
        _ = OnboardingReducer.reduce(&s, .tab)
        for c in "insane-moral-ill-limit-school-asthma-rail-maze-fragile-glue-case-deer@192.168.1.31:40517" {
            _ = OnboardingReducer.reduce(&s, .character(c))
        }
        _ = OnboardingReducer.reduce(&s, .tab)
        for c in "タブレット" { _ = OnboardingReducer.reduce(&s, .character(c)) }
        _ = OnboardingReducer.reduce(&s, .enter)
        s.sas = "proof dinner motion taste eager"
        let text = TUIRenderer.render(s).text + "\n"
        let file = Self.folder.appendingPathComponent("onboarding-join-80x24.txt")
        if ProcessInfo.processInfo.environment["LEDGERLINK_WRITE_GOLDEN"] != nil {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(text == (try String(contentsOf: file, encoding: .utf8)))
    }

    @Test("without any UTF-8 locale every line and symbol the screens draw has an ASCII stand-in")
    func asciiFallback() {
        var screens = [state(), state(width: 120, height: 40)]
        var s = state()
        _ = TUIReducer.reduce(&s, .character("?"))
        screens.append(s)
        s = state()
        s.snapshot.devices[1].state = "revoked"
        s.sync = SyncBadge(peers: [], lastSync: nil, problem: "store: unreachable")
        s.message = "⚠ Fork found: “phone”"
        screens.append(s)
        var drawn = Set<Character>()
        for screen in screens {
            for character in TUIRenderer.render(screen).text where !character.isASCII { drawn.insert(character) }
        }
        // Text from the ledger (names, memos) is the person's own; everything else needs a stand-in.
        let missing = drawn.filter { ASCIIFallback.character(for: $0) == "?" }
        #expect(missing.isEmpty, "no ASCII stand-in for \(missing.sorted())")
        #expect(drawn.contains("┌") && drawn.contains("●"))
    }
}
