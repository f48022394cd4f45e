import Foundation
import LedgerCore

/// The first screen when the data folder holds no device yet: create a new identity with
/// this device as its first device.
public struct OnboardingState: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var name = ""
    public var error: String?
    public var wantsQuit = false
    /// Set while the identity is being created.
    public var isWorking = false

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// What the onboarding screen asks the app to do.
public enum OnboardingEffect: Sendable, Equatable {
    case createIdentity(deviceName: String)
}

public enum OnboardingReducer {
    /// Applies a key. Letters are the device name here, so Esc and Ctrl-C quit, not q.
    public static func reduce(_ state: inout OnboardingState, _ key: Key) -> [OnboardingEffect] {
        guard !state.isWorking else { return [] }
        switch key {
        case .interrupt, .escape:
            state.wantsQuit = true
        case .resize(let width, let height):
            state.width = width
            state.height = height
        case .backspace:
            if !state.name.isEmpty { state.name.removeLast() }
            state.error = nil
        case .character(let c) where !c.unicodeScalars.contains(where: TextSafety.isUnsafe):
            if (state.name + String(c)).utf8.count <= PrivateBody.maxNameBytes { state.name.append(c) }
            state.error = nil
        case .enter:
            let name = state.name.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else {
                state.error = "Give this device a name, such as laptop or phone."
                return []
            }
            state.isWorking = true
            return [.createIdentity(deviceName: name)]
        default:
            break
        }
        return []
    }
}

extension TUIRenderer {
    /// The onboarding screen.
    public static func render(_ state: OnboardingState) -> ScreenGrid {
        var grid = ScreenGrid(width: state.width, height: state.height)
        let lines: [(String, CellStyle)] = [
            ("Welcome to ledgerlink", .bold),
            ("", .normal),
            ("This data folder holds no identity yet.", .normal),
            ("Create one, with this device as its first device:", .normal),
            ("", .normal),
            ("Device name: \(state.name)▏", .reverse),
            ("", .normal),
            (
                state.error.map { "! " + $0 } ?? (state.isWorking ? "Creating…" : ""),
                state.error == nil ? .accent : .warning
            ),
            ("", .normal),
            ("Enter creates · Esc quits", .dim),
            ("For a passphrase on the device key, quit and run", .dim),
            ("ledgerlink init --name NAME --passphrase", .dim),
        ]
        let top = max(0, (state.height - lines.count) / 2)
        let left = max(1, (state.width - 52) / 2)
        for (i, (text, style)) in lines.enumerated() {
            grid.put(text, row: top + i, column: left, style: style, limit: state.width - left - 1)
        }
        return grid
    }
}
