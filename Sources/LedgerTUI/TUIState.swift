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
        /// Entries it wrote after its revocation: stored as evidence, never counted.
        public var quarantined: Int
        /// For a forked device: the seq at which it signed two different entries.
        public var forkSeq: UInt64?
        public init(
            name: String, fingerprint: String, state: String, entries: Int, isThisDevice: Bool, key: String = "",
            linked: String = "", lastSeen: String = "", quarantined: Int = 0, forkSeq: UInt64? = nil
        ) {
            self.key = key
            (self.name, self.fingerprint, self.state, self.entries, self.isThisDevice) =
                (name, fingerprint, state, entries, isThisDevice)
            (self.linked, self.lastSeen, self.quarantined, self.forkSeq) = (linked, lastSeen, quarantined, forkSeq)
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
    /// The newest entries: what the history shows until the whole ledger is indexed.
    public var history: [HistoryRow]
    /// The balance after each of the newest entries, oldest first, for the sparkline.
    public var balanceTrend: [Int128] = []
    /// The sparkline's scale and span: `last 60 entries, 900.00 to 1500.00`.
    public var trendLabel = ""
    /// Counted entries this device cannot read yet (not in the totals).
    public var unreadable = 0

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

/// The history pane's list: every counted credit and debit, or those the filter matched,
/// with the rows loaded around the selection (the whole ledger is paged, never held).
public struct HistoryView: Sendable, Equatable {
    /// Entries in the list; nil until the ledger is indexed (the newest page shows meanwhile).
    public var total: Int?
    /// Index of `rows[0]` in the list.
    public var first = 0
    public var rows: [LedgerSnapshot.HistoryRow] = []
    /// The filter the list belongs to ("" for none).
    public var filter = ""
    /// What the listed entries add up to, for the title of a filtered list: `+12.00 −3.50`.
    public var sums: String?

    public init(
        total: Int? = nil, first: Int = 0, rows: [LedgerSnapshot.HistoryRow] = [], filter: String = "",
        sums: String? = nil
    ) {
        (self.total, self.first, self.rows, self.filter, self.sums) = (total, first, rows, filter, sums)
    }

    /// Entries in the list as far as known.
    public var count: Int { total ?? rows.count }

    /// The row at `index` of the list, when loaded.
    public func row(_ index: Int) -> LedgerSnapshot.HistoryRow? {
        let offset = index - first
        return rows.indices.contains(offset) ? rows[offset] : nil
    }

    /// True when rows `range` are all loaded.
    public func holds(_ range: Range<Int>) -> Bool {
        range.isEmpty || (range.lowerBound >= first && range.upperBound <= first + rows.count)
    }
}

/// Credits and debits of one month, formatted.
public struct MonthTotals: Sendable, Equatable {
    public var earned: String
    public var spent: String
    public var net: String
    public var entries: Int
    public init(earned: String, spent: String, net: String, entries: Int) {
        (self.earned, self.spent, self.net, self.entries) = (earned, spent, net, entries)
    }
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

/// Opening a pairing window: the address the code tells the new device to dial, editable.
public struct PairingAddressDialog: Sendable, Equatable {
    public var address: String
    public var error: String?
    public init(address: String) { self.address = address }
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
    public var snapshot: LedgerSnapshot = .loading {
        didSet {
            // Until the ledger is indexed, the history is the snapshot's newest entries.
            if history.total == nil, history.filter.isEmpty { history = HistoryView(rows: snapshot.history) }
        }
    }
    /// The history pane's list.
    public var history = HistoryView()
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
    /// The dialog that opens a pairing window (the address to put in the code).
    public var pairingAddress: PairingAddressDialog?
    /// Asked before quitting with a pairing window open (y quits, anything else stays).
    public var confirmsQuit = false
    /// The address the pairing dialog starts with.
    public var pairingDefaultAddress = "127.0.0.1"
    /// Totals by month (`HistoryDate.month`), once the ledger is indexed.
    public var months: [Int: MonthTotals] = [:]
    /// The month whose totals show beside the balance; `currentMonth` until [ or ] moves it.
    public var viewedMonth: Int?
    /// This month, as `HistoryDate.month` counts.
    public var currentMonth = 0
    /// Devices known to have forked, so a new one is announced once.
    public var knownForks: Set<String> = []

    public init(width: Int, height: Int, usesColor: Bool) {
        self.width = width
        self.height = height
        self.usesColor = usesColor
    }

    /// Below this the layout cannot fit; a notice is shown and `q` still quits.
    public static let minimumWidth = 60
    public static let minimumHeight = 16
    public var isTooSmall: Bool { width < Self.minimumWidth || height < Self.minimumHeight }

    /// True while the list shown is not yet the one the filter typed asks for.
    public var isSearching: Bool { history.filter != filter }

    /// Rows of the history the screen shows around the selection: the app loads these.
    public var historyRowsNeeded: Range<Int> {
        let count = history.count
        guard count > 0 else { return 0..<0 }
        let selected = selection[.history] ?? 0
        return max(0, selected - height)..<min(count, selected + height + 1)
    }

    func rowCount(_ pane: Pane) -> Int {
        switch pane {
        case .devices: snapshot.devices.count
        case .requests: pairing?.requests.count ?? 0
        case .history: history.count
        }
    }
}
