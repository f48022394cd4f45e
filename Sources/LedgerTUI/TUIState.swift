import LedgerCore

/// What the TUI shows of the ledger, loaded from the merge engine (text already sanitised).
public struct LedgerSnapshot: Sendable, Equatable {
    public struct DeviceRow: Sendable, Equatable {
        public var name: String
        public var fingerprint: String
        public var state: String
        public var entries: Int
        public var isThisDevice: Bool
        /// The device key in hex (what a revoke names).
        public var key: String
        /// "created the identity" or "linked by NAME", with the date.
        public var linked: String
        /// Date of its newest counted entry, or "no entries".
        public var lastSeen: String
        public init(
            name: String, fingerprint: String, state: String, entries: Int, isThisDevice: Bool, key: String = "",
            linked: String = "", lastSeen: String = ""
        ) {
            self.key = key
            (self.name, self.fingerprint, self.state, self.entries, self.isThisDevice) =
                (name, fingerprint, state, entries, isThisDevice)
            (self.linked, self.lastSeen) = (linked, lastSeen)
        }
    }

    public struct HistoryRow: Sendable, Equatable {
        public var time: String
        public var isCredit: Bool
        public var amount: String
        public var device: String
        public var memo: String
        public init(time: String, isCredit: Bool, amount: String, device: String, memo: String) {
            (self.time, self.isCredit, self.amount, self.device, self.memo) = (time, isCredit, amount, device, memo)
        }
    }

    public var identity: String
    public var deviceName: String
    public var fingerprint: String
    public var balance: String
    public var earned: String
    public var spent: String
    public var devices: [DeviceRow]
    public var history: [HistoryRow]
    /// The balance after each of the newest entries, oldest first, for the sparkline.
    public var balanceTrend: [Int128] = []

    public init(
        identity: String, deviceName: String, fingerprint: String, balance: String, earned: String, spent: String,
        devices: [DeviceRow], history: [HistoryRow]
    ) {
        self.identity = identity
        self.deviceName = deviceName
        self.fingerprint = fingerprint
        self.balance = balance
        self.earned = earned
        self.spent = spent
        self.devices = devices
        self.history = history
    }

    /// Shown before the ledger has been read.
    public static let loading = LedgerSnapshot(
        identity: "", deviceName: "…", fingerprint: "", balance: "…", earned: "…", spent: "…", devices: [], history: [])
}

/// The panes, in Tab order (1-3 jump to them).
public enum Pane: Int, Sendable, CaseIterable {
    case devices = 0
    case requests = 1
    case history = 2

    public var title: String {
        switch self {
        case .devices: "Devices"
        case .requests: "Link requests"
        case .history: "History"
        }
    }
}

/// Approving a link request: the person types the words the new device shows.
public struct ApprovalDialog: Sendable, Equatable {
    public var request: LinkRequestRow
    public var typed = ""
    public var error: String?
    public init(request: LinkRequestRow) { self.request = request }
}

/// The earn or spend dialog.
public struct RecordDialog: Sendable, Equatable {
    public enum Field: Sendable { case amount, memo }
    public var kind: EntryKind
    public var amount = ""
    public var memo = ""
    public var field: Field = .amount
    public var error: String?
    public init(kind: EntryKind) { self.kind = kind }
}

/// Everything the screen depends on; the reducer is the only thing that changes it.
public struct TUIState: Sendable, Equatable {
    public var snapshot: LedgerSnapshot = .loading
    public var width: Int
    public var height: Int
    public var focus: Pane = .devices
    public var selection: [Pane: Int] = [.devices: 0, .requests: 0, .history: 0]
    /// The history filter; `isFiltering` while it is being typed.
    public var filter = ""
    public var isFiltering = false
    public var dialog: RecordDialog?
    /// The device a revoke waits to be confirmed for (Enter confirms, Esc cancels).
    public var pendingRevoke: LedgerSnapshot.DeviceRow?
    public var showsHelp = false
    /// A one-line message under the panes (the result of the last action).
    public var message: String?
    public var wantsQuit = false
    public var usesColor: Bool
    /// Decimals of the ledger's unit, for validating typed amounts.
    public var decimals: UInt8 = 2
    /// The sync badge in the header; nil when no sync runs.
    public var sync: SyncBadge?
    /// The open pairing window and its requests; nil when none is open.
    public var pairing: PairingPanel?
    /// The approval dialog of a link request (Enter approves, Esc closes it).
    public var approval: ApprovalDialog?

    public init(width: Int, height: Int, usesColor: Bool) {
        self.width = width
        self.height = height
        self.usesColor = usesColor
    }

    /// Below this the layout cannot fit; a notice is shown and `q` still quits.
    public static let minimumWidth = 60
    public static let minimumHeight = 16
    public var isTooSmall: Bool { width < Self.minimumWidth || height < Self.minimumHeight }

    /// History rows that match the filter (case-insensitive, memo, device or amount).
    public var visibleHistory: [LedgerSnapshot.HistoryRow] {
        guard !filter.isEmpty else { return snapshot.history }
        let needle = filter.lowercased()
        return snapshot.history.filter {
            $0.memo.lowercased().contains(needle) || $0.device.lowercased().contains(needle)
                || $0.amount.contains(needle)
        }
    }

    func rowCount(_ pane: Pane) -> Int {
        switch pane {
        case .devices: snapshot.devices.count
        case .requests: pairing?.requests.count ?? 0
        case .history: visibleHistory.count
        }
    }
}
