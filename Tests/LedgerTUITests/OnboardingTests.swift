import LedgerTUI
import Testing

@Suite("TUI onboarding")
struct OnboardingTests {
    @Test("typing a name and Enter asks to create the identity; an empty name is refused; Esc quits")
    func reducer() {
        var s = OnboardingState(width: 80, height: 24)
        #expect(OnboardingReducer.reduce(&s, .enter).isEmpty)
        #expect(s.error != nil)
        for c in "my laptop q" { _ = OnboardingReducer.reduce(&s, .character(c)) }
        #expect(!s.wantsQuit)  // q is part of the name here
        _ = OnboardingReducer.reduce(&s, .backspace)
        _ = OnboardingReducer.reduce(&s, .backspace)
        #expect(s.error == nil)
        #expect(OnboardingReducer.reduce(&s, .enter) == [.createIdentity(deviceName: "my laptop")])
        #expect(s.isWorking)
        #expect(OnboardingReducer.reduce(&s, .character("x")).isEmpty)
        #expect(s.name == "my laptop")
        var quitting = OnboardingState(width: 80, height: 24)
        _ = OnboardingReducer.reduce(&quitting, .escape)
        #expect(quitting.wantsQuit)
    }

    @Test("the onboarding screen says what to do")
    func screen() {
        var s = OnboardingState(width: 80, height: 24)
        for c in "ノートPC" { _ = OnboardingReducer.reduce(&s, .character(c)) }
        let text = TUIRenderer.render(s).text
        #expect(text.contains("This data folder holds no identity yet."))
        #expect(text.contains("Device name:  ノートPC▏"))
        #expect(text.contains("Enter creates or joins · Tab next field · Esc quits"))
    }

    @Test("Tab moves to the pairing code and the joining name; Enter there asks to join, checking both")
    func join() {
        var s = OnboardingState(width: 80, height: 24)
        _ = OnboardingReducer.reduce(&s, .tab)
        #expect(s.field == .code)
        #expect(OnboardingReducer.reduce(&s, .enter).isEmpty)
        #expect(s.error?.contains("pairing code") == true)
        for c in "acid-bean@10.0.0.2:4000" { _ = OnboardingReducer.reduce(&s, .character(c)) }
        #expect(OnboardingReducer.reduce(&s, .enter).isEmpty)
        #expect(s.field == .joinName)
        for c in "tablet" { _ = OnboardingReducer.reduce(&s, .character(c)) }
        #expect(
            OnboardingReducer.reduce(&s, .enter) == [
                .joinIdentity(code: "acid-bean@10.0.0.2:4000", deviceName: "tablet")
            ])
        #expect(s.isWorking)
        #expect(s.name.isEmpty)
        _ = OnboardingReducer.reduce(&s, .backTab)
        #expect(s.field == .joinName, "fields stay put while joining")
        s.sas = "moon chaos raise diet false"
        #expect(TUIRenderer.render(s).text.contains("This device's words:  moon chaos raise diet false"))
        _ = OnboardingReducer.reduce(&s, .escape)
        #expect(s.wantsQuit, "Esc quits even while joining")
    }
}
