import LedgerCore

/// What the TUI shows of the ledger, loaded from the merge engine (text already sanitised).
package struct LedgerSnapshot: Sendable, Equatable {
    package struct DeviceRow: Sendable, Equatable {
        package var name: String
        package var fingerprint: String
        package var state: String
        package var entries: Int
        package var isThisDevice: Bool
        /// The device key in hex (what a revoke names).
        package var key: String
        /// "created the identity" or "linked by NAME", with the date.
        package var linked: String
        /// Date of its newest counted entry, or "no entries".
        package var lastSeen: String
        /// Entries it wrote after its revocation: stored as evidence, never counted.
        package var quarantined: Int
        /// For a forked device: the seq at which it signed two different entries.
        package var forkSeq: UInt64?
        package init(
            name: String, fingerprint: String, state: String, entries: Int, isThisDevice: Bool, key: String = "",
            linked: String = "", lastSeen: String = "", quarantined: Int = 0, forkSeq: UInt64? = nil
        ) {
            self.key = key
            (self.name, self.fingerprint, self.state, self.entries, self.isThisDevice) =
                (name, fingerprint, state, entries, isThisDevice)
            (self.linked, self.lastSeen, self.quarantined, self.forkSeq) = (linked, lastSeen, quarantined, forkSeq)
        }
    }

    package struct HistoryRow: Sendable, Equatable {
        package var time: String
        package var isCredit: Bool
        package var amount: String
        package var device: String
        package var memo: String
        /// The entry, for correcting or voiding it (nil: it cannot be, such as a correction
        /// that does not count).
        package var ref: EntryRef?
        /// The amount shown has no sign: a correction's, or `void`.
        package var unsigned = false
        /// What a correction would start from: the amount (plain) and memo it counts with now.
        package var countedAmount = ""
        package var countedMemo = ""
        package init(
            time: String, isCredit: Bool, amount: String, device: String, memo: String, ref: EntryRef? = nil
        ) {
            (self.time, self.isCredit, self.amount, self.device, self.memo) = (time, isCredit, amount, device, memo)
            self.ref = ref
        }

        /// The short id of the entry, as `history` shows it.
        package var id: String { ref?.id ?? "" }
    }

    package var identity: String
    package var deviceName: String
    package var fingerprint: String
    package var balance: String
    package var earned: String
    package var spent: String
    package var devices: [DeviceRow]
    /// The newest entries: what the history shows until the whole ledger is indexed.
    package var history: [HistoryRow]
    /// The balance after each of the newest entries, oldest first, for the sparkline.
    package var balanceTrend: [Int128] = []
    /// The sparkline's scale and span: `last 60 entries, 900.00 to 1500.00`.
    package var trendLabel = ""
    /// Counted entries this device cannot read yet (not in the totals).
    package var unreadable = 0
    /// The balance in minor units (what `balance` shows formatted).
    package var balanceMinor: Int128 = 0

    package init(
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
    package static let loading = LedgerSnapshot(
        identity: "", deviceName: "…", fingerprint: "", balance: "…", earned: "…", spent: "…", devices: [], history: [])
}

/// The history pane's list: every counted credit and debit, or those the filter matched,
/// with the rows loaded around the selection (the whole ledger is paged, never held).
package struct HistoryView: Sendable, Equatable {
    /// Entries in the list; nil until the ledger is indexed (the newest page shows meanwhile).
    package var total: Int?
    /// Index of `rows[0]` in the list.
    package var first = 0
    package var rows: [LedgerSnapshot.HistoryRow] = []
    /// The filter the list belongs to ("" for none).
    package var filter = ""
    /// What the listed entries add up to, for the title of a filtered list: `+12.00 −3.50`.
    package var sums: String?

    package init(
        total: Int? = nil, first: Int = 0, rows: [LedgerSnapshot.HistoryRow] = [], filter: String = "",
        sums: String? = nil
    ) {
        (self.total, self.first, self.rows, self.filter, self.sums) = (total, first, rows, filter, sums)
    }

    /// Entries in the list as far as known.
    package var count: Int { total ?? rows.count }

    /// The row at `index` of the list, when loaded.
    package func row(_ index: Int) -> LedgerSnapshot.HistoryRow? {
        let offset = index - first
        return rows.indices.contains(offset) ? rows[offset] : nil
    }

    /// True when rows `range` are all loaded.
    package func holds(_ range: Range<Int>) -> Bool {
        range.isEmpty || (range.lowerBound >= first && range.upperBound <= first + rows.count)
    }
}

/// Credits and debits of one month, formatted.
package struct MonthTotals: Sendable, Equatable {
    package var earned: String
    package var spent: String
    package var net: String
    package var entries: Int
    package init(earned: String, spent: String, net: String, entries: Int) {
        (self.earned, self.spent, self.net, self.entries) = (earned, spent, net, entries)
    }
}

/// The panes, in Tab order (1-3 jump to them).
package enum Pane: Int, Sendable, CaseIterable {
    case devices = 0
    case requests = 1
    case history = 2

    package var title: String {
        switch self {
        case .devices: "Devices"
        case .requests: "Link requests"
        case .history: "History"
        }
    }
}

/// Opening a pairing window: the address the code tells the new device to dial, editable.
package struct PairingAddressDialog: Sendable, Equatable {
    package var address: String
    package var error: String?
    package init(address: String) { self.address = address }
}

/// Approving a link request: the person types the words the new device shows.
package struct ApprovalDialog: Sendable, Equatable {
    package var request: LinkRequestRow
    package var typed = ""
    package var error: String?
    package init(request: LinkRequestRow) { self.request = request }
}

/// Settling a forked device: its branches as this device holds them, one chosen with the
/// arrows (or its number) and Enter.
package struct SettleDialog: Sendable, Equatable {
    package struct Branch: Sendable, Equatable {
        /// `seqs 2-3, 2 entries: in +3.00, out -1.00`
        package var summary: String
        /// Its newest entries, one line each.
        package var lines: [String]
        /// The hash (hex) of its entry at the fork seq, and its last seq.
        package var first: String
        package var last: UInt64
        package var isChosen: Bool
        package init(summary: String, lines: [String], first: String, last: UInt64, isChosen: Bool) {
            (self.summary, self.lines, self.first, self.last, self.isChosen) = (summary, lines, first, last, isChosen)
        }
    }
    package var device: String
    package var deviceKey: String
    package var forkSeq: UInt64
    package var branches: [Branch]
    package var selected = 0
    package init(device: String, deviceKey: String, forkSeq: UInt64, branches: [Branch]) {
        (self.device, self.deviceKey, self.forkSeq, self.branches) = (device, deviceKey, forkSeq, branches)
        selected = branches.firstIndex(where: \.isChosen) ?? 0
    }
}

/// Making recovery words: they are shown, then two of them are typed back.
package struct RecoveryDialog: Sendable, Equatable {
    package var words: [String]
    /// The two positions (0-based, in order) the person types back.
    package var asks: [Int]
    /// Nil while the words are shown; then which of `asks` is being typed.
    package var asking: Int?
    package var typed = ""
    package init(words: [String], asks: [Int]) {
        self.words = words
        self.asks = asks
    }
}

/// The earn or spend dialog.
package struct RecordDialog: Sendable, Equatable {
    package enum Field: Sendable { case amount, memo }
    package var kind: EntryKind
    package var amount = ""
    package var memo = ""
    package var field: Field = .amount
    package var error: String?
    /// The person was told this spend goes below the floor; Enter now spends anyway.
    package var belowFloorConfirmed = false
    /// Set when the dialog corrects an entry: which, and the memo it had (kept unless changed).
    package var correcting: EntryRef?
    package var memoBefore = ""
    package init(kind: EntryKind) { self.kind = kind }

    /// A dialog correcting `row`, starting from what it counts with now.
    package init(correcting row: LedgerSnapshot.HistoryRow, ref: EntryRef) {
        kind = row.isCredit ? .credit : .debit
        amount = row.countedAmount
        memo = row.countedMemo
        memoBefore = row.countedMemo
        correcting = ref
    }
}

/// Everything the screen depends on; the reducer is the only thing that changes it.
package struct TUIState: Sendable, Equatable {
    package var snapshot: LedgerSnapshot = .loading {
        didSet {
            // Until the ledger is indexed, the history is the snapshot's newest entries.
            if history.total == nil, history.filter.isEmpty { history = HistoryView(rows: snapshot.history) }
        }
    }
    /// The history pane's list.
    package var history = HistoryView()
    package var width: Int
    package var height: Int
    package var focus: Pane = .devices
    package var selection: [Pane: Int] = [.devices: 0, .requests: 0, .history: 0]
    /// The history filter; `isFiltering` while it is being typed.
    package var filter = ""
    package var isFiltering = false
    package var dialog: RecordDialog?
    /// The device a revoke waits to be confirmed for (Enter confirms, Esc cancels).
    package var pendingRevoke: LedgerSnapshot.DeviceRow?
    /// A history row the person asked to void, waiting for Enter.
    package var pendingVoid: LedgerSnapshot.HistoryRow?
    /// A forked device's branches, to choose the one that counts.
    package var settle: SettleDialog?
    package var showsHelp = false
    /// The recovery words being made (R).
    package var recovery: RecoveryDialog?
    /// The problems view (forks, a store caught misbehaving) is open.
    package var showsProblems = false
    /// How many store problems the person has been told of (a new one is announced once).
    package var knownStoreProblems = 0
    /// A one-line message under the panes (the result of the last action).
    package var message: String?
    package var wantsQuit = false
    package var usesColor: Bool
    /// Decimals of the ledger's unit, for validating typed amounts.
    package var decimals: UInt8 = 2
    /// The floor a spend is warned at (0, or `min_balance`), in minor units.
    package var minBalance: Int128 = 0
    /// The sync badge in the header; nil when no sync runs.
    package var sync: SyncBadge?
    /// The open pairing window and its requests; nil when none is open.
    package var pairing: PairingPanel?
    /// The approval dialog of a link request (Enter approves, Esc closes it).
    package var approval: ApprovalDialog?
    /// The dialog that opens a pairing window (the address to put in the code).
    package var pairingAddress: PairingAddressDialog?
    /// Asked before quitting with a pairing window open (y quits, anything else stays).
    package var confirmsQuit = false
    /// The address the pairing dialog starts with.
    package var pairingDefaultAddress = "127.0.0.1"
    /// Totals by month (`HistoryDate.month`), once the ledger is indexed.
    package var months: [Int: MonthTotals] = [:]
    /// The month whose totals show beside the balance; `currentMonth` until [ or ] moves it.
    package var viewedMonth: Int?
    /// This month, as `HistoryDate.month` counts.
    package var currentMonth = 0
    /// Devices known to have forked, so a new one is announced once.
    package var knownForks: Set<String> = []

    package init(width: Int, height: Int, usesColor: Bool) {
        self.width = width
        self.height = height
        self.usesColor = usesColor
    }

    /// Below this the layout cannot fit; a notice is shown and `q` still quits.
    package static let minimumWidth = 60
    package static let minimumHeight = 16
    package var isTooSmall: Bool { width < Self.minimumWidth || height < Self.minimumHeight }

    /// True while the list shown is not yet the one the filter typed asks for.
    package var isSearching: Bool { history.filter != filter }

    /// Rows of the history the screen shows around the selection: the app loads these.
    package var historyRowsNeeded: Range<Int> {
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
