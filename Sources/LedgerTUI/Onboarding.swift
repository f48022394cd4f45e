import Foundation
import LedgerCore

/// The first screen when the data folder holds no device yet: create a new identity with
/// this device as its first device, or join one with a pairing code from a linked device.
package struct OnboardingState: Sendable, Equatable {
    /// The fields, in Tab order.
    package enum Field: Sendable, CaseIterable {
        /// The name of this device in a new identity.
        case name
        /// The pairing code to join with.
        case code
        /// The name of this device when joining.
        case joinName
    }

    package var width: Int
    package var height: Int
    package var field: Field = .name
    package var name = ""
    package var code = ""
    package var joinName = ""
    package var error: String?
    package var wantsQuit = false
    /// Set while the identity is being created or joined.
    package var isWorking = false
    /// While joining: the words this device shows, to be typed on the pairing device.
    package var sas: String?

    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Longest pairing code accepted (twelve words and an address).
    static let maxCode = 400
}

/// What the onboarding screen asks the app to do.
package enum OnboardingEffect: Sendable, Equatable {
    case createIdentity(deviceName: String)
    case joinIdentity(code: String, deviceName: String)
}

package enum OnboardingReducer {
    /// Applies a key. Letters are text here, so Esc and Ctrl-C quit, not q.
    package static func reduce(_ state: inout OnboardingState, _ key: Key) -> [OnboardingEffect] {
        if case .resize(let width, let height) = key {
            state.width = width
            state.height = height
            return []
        }
        if key == .interrupt || key == .escape {
            state.wantsQuit = true
            return []
        }
        guard !state.isWorking else { return [] }
        let fields = OnboardingState.Field.allCases
        let index = fields.firstIndex(of: state.field) ?? 0
        switch key {
        case .tab, .down:
            state.field = fields[(index + 1) % fields.count]
        case .backTab, .up:
            state.field = fields[(index + fields.count - 1) % fields.count]
        case .backspace:
            switch state.field {
            case .name: if !state.name.isEmpty { state.name.removeLast() }
            case .code: if !state.code.isEmpty { state.code.removeLast() }
            case .joinName: if !state.joinName.isEmpty { state.joinName.removeLast() }
            }
            state.error = nil
        case .character(let c) where !c.unicodeScalars.contains(where: TextSafety.isUnsafe):
            switch state.field {
            case .name: if (state.name + String(c)).utf8.count <= PrivateBody.maxNameBytes { state.name.append(c) }
            case .code: if state.code.count < OnboardingState.maxCode { state.code.append(c) }
            case .joinName:
                if (state.joinName + String(c)).utf8.count <= PrivateBody.maxNameBytes { state.joinName.append(c) }
            }
            state.error = nil
        case .enter:
            if state.field == .name {
                let name = state.name.trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else {
                    state.error = "Give this device a name, such as laptop or phone."
                    return []
                }
                state.isWorking = true
                return [.createIdentity(deviceName: name)]
            }
            let code = state.code.trimmingCharacters(in: .whitespaces)
            let name = state.joinName.trimmingCharacters(in: .whitespaces)
            guard !code.isEmpty else {
                state.field = .code
                state.error = "Type the pairing code the linked device shows."
                return []
            }
            guard !name.isEmpty else {
                state.field = .joinName
                state.error = "Give this device a name, such as laptop or phone."
                return []
            }
            state.isWorking = true
            return [.joinIdentity(code: code, deviceName: name)]
        default:
            break
        }
        return []
    }
}

extension TUIRenderer {
    /// The onboarding screen.
    package static func render(_ state: OnboardingState) -> ScreenGrid {
        var grid = ScreenGrid(width: state.width, height: state.height)
        let left = max(1, (state.width - 76) / 2)
        // A value longer than its field wraps onto more lines: a pairing code is read whole.
        let fieldWidth = max(10, state.width - left - 18)
        func field(_ label: String, _ value: String, _ which: OnboardingState.Field) -> [(String, CellStyle)] {
            let active = state.field == which && !state.isWorking
            let text = value + (active ? "▏" : "")
            var pieces: [String] = []
            var rest = Substring(text)
            while rest.count > fieldWidth {
                pieces.append(String(rest.prefix(fieldWidth)))
                rest = rest.dropFirst(fieldWidth)
            }
            pieces.append(String(rest))
            let marker = active ? "› " : "  "
            let indent = String(repeating: " ", count: ScreenGrid.columns(marker + label))
            return pieces.enumerated().map { i, piece in
                ((i == 0 ? marker + label : indent) + piece, active ? .reverse : .normal)
            }
        }
        let status: [(String, CellStyle)] =
            if let error = state.error {
                ScreenGrid.wrap("! " + error, width: max(10, state.width - left - 1)).prefix(4).map { ($0, .warning) }
            } else if let sas = state.sas {
                [
                    ("This device's words:  \(sas)", .bold),
                    ("Type them on the linked device, in its approval box, to approve this one.", .normal),
                ]
            } else if state.isWorking {
                [(state.field == .name ? "Creating…" : "Reaching the pairing device…", .accent), ("", .normal)]
            } else {
                [("", .normal), ("", .normal)]
            }
        let lines: [(String, CellStyle)] =
            [
                ("Welcome to ledgerlink", .bold),
                ("", .normal),
                ("This data folder holds no identity yet.", .normal),
                ("Create a new one, with this device as its first device:", .normal),
            ] + field("Device name:  ", state.name, .name) + [
                ("", .normal),
                ("Or join one: open a pairing window on a linked device (p in its TUI,", .normal),
                ("or `ledgerlink pair`), then type the code it shows here:", .normal),
            ] + field("Pairing code: ", state.code, .code) + field("Device name:  ", state.joinName, .joinName) + [
                ("", .normal)
            ] + status + [
                ("", .normal),
                ("Enter creates or joins · Tab next field · Esc quits", .dim),
                ("For a passphrase on the key, run `ledgerlink init` or `join` --passphrase", .dim),
            ]
        let top = max(0, (state.height - lines.count) / 2)
        for (i, (text, style)) in lines.enumerated() {
            grid.put(text, row: top + i, column: left, style: style, limit: state.width - left - 1)
        }
        return grid
    }
}
