/// A device's credits and debits through some seq of its log, kept beside each entry so that
/// totals need not add the whole log up again.
///
/// The one overflow rule: once an amount is unknown (sealed with a key this replica lacks, or
/// unreadable) or a sum no longer fits in Int64, the running totals are unknown (nil) from
/// there on, and `MergeEngine.totals()` adds that log up exactly in Int128 instead. An amount
/// never makes an entry invalid, so whether an entry counts never depends on which data keys a
/// replica holds.
struct RunningTotals: Equatable {
    var credit: Int64?
    var debit: Int64?

    static let zero = RunningTotals(credit: 0, debit: 0)
    static let unknown = RunningTotals(credit: nil, debit: nil)

    /// These totals moved over one entry of `kind` with `amount` (nil when it cannot be read).
    mutating func add(_ kind: EntryKind, amount: Int64?) {
        guard kind == .credit || kind == .debit else { return }
        guard let amount, let credit, let debit else {
            self = .unknown
            return
        }
        let (c, o1) = credit.addingReportingOverflow(kind == .credit ? amount : 0)
        let (d, o2) = debit.addingReportingOverflow(kind == .debit ? amount : 0)
        self = o1 || o2 ? .unknown : RunningTotals(credit: c, debit: d)
    }
}
