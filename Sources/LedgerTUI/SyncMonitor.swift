/// How sync looks right now, for the header (text already formatted and sanitised).
package struct SyncBadge: Sendable, Equatable {
    /// Names of the devices connected now.
    package var peers: [String]
    /// "HH:mm" of the last time a sync left this device level with another, if ever.
    package var lastSync: String?
    /// The last problem worth showing (an unreachable peer, a refused connection).
    package var problem: String?
    /// The store's state in a word or two (`store ok`, `store 40%`, `store ✗3`), when one is polled.
    package var store: String?
    /// Every problem recorded with a store, in words (sanitised), for the problems view.
    package var storeProblems: [String] = []

    package init(peers: [String] = [], lastSync: String? = nil, problem: String? = nil) {
        self.peers = peers
        self.lastSync = lastSync
        self.problem = problem
    }

    /// The header's words: `● 2 peers · synced 12:03`, `○ no peers`.
    package var text: String {
        let who =
            switch peers.count {
            case 0: "○ no peers"
            case 1: "● \(peers[0])"
            default: "● \(peers.count) peers"
            }
        let synced = lastSync.map { "\(who) · synced \($0)" } ?? who
        return store.map { "\(synced) · \($0)" } ?? synced
    }
}

/// What the TUI asks of the sync service running beside it (the front-end provides it, so
/// this module needs no network code).
package protocol SyncMonitor: Sendable {
    /// The badge now; nil when sync is not running.
    func badge() async -> SyncBadge?
    /// Starts a sync with every reachable device and the store now; returns the line to show
    /// while it runs. Its outcome comes later from `takeNotice()`.
    func syncNow() async -> String
    /// What happened since the last call (the outcome of `syncNow`), once.
    func takeNotice() async -> String?
    /// Called before each entry this device writes: the first time, a brief sync with the store
    /// and peers, so a folder restored from a backup catches up instead of forking its log.
    /// Returns what to tell the person, if anything.
    func beforeWriting() async -> String?
}
