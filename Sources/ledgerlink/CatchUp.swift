import Foundation
import LedgerCore
import LedgerIdentity
import LedgerSync

#if canImport(Glibc)
    import Glibc
#endif

/// Before this device writes: a brief sync with its store and static peers, so a folder
/// restored from a backup takes back the entries it wrote since (its own signed entries) instead
/// of writing a second entry at a seq it already used, which would fork its log and stop every
/// device counting its entries from there on.
enum CatchUp {
    /// How long the check may take in all; past it, the entry is written anyway.
    static let deadline: Duration = .seconds(3)
    /// A device that has not synced for this long is told when the check reached nobody.
    static let longAgo: TimeInterval = 7 * 24 * 3600

    /// Syncs with the saved store and every static peer at once, for at most `deadline`;
    /// returns what to tell the person (nothing when all is well). Skipped when the device has
    /// neither, and when another process (`listen`, a TUI) keeps this folder in step.
    static func beforeWriting(_ context: DeviceContext) async -> [String] {
        guard let keyPair = context.keyPair,
            let settings = try? SyncSettings(try DeviceConfig.load(context.home)),
            settings.store != nil || !settings.peer.staticPeers.isEmpty
        else { return [] }
        let home = context.home
        if let other = PeerStatus.read(from: home.peerStatusFile), other.isLive, other.pid != getpid() { return [] }
        if let other = StoreStatus.read(from: home.storeStatusFile), other.isLive, other.pid != getpid(),
            other.consecutiveFailures == 0
        {
            return []
        }
        let engine = context.engine
        let before = (try? await engine.clock()[engine.device]) ?? 0
        var lines: [String] = []
        let store = settings.store
        let peers = settings.peer.staticPeers
        let outcomes = await withTaskGroup(of: (reached: Bool, problems: [String]).self) { group in
            if let store {
                group.addTask {
                    let client = StoreClient(
                        url: store, engine: engine, keyPair: keyPair, transport: HTTPStoreTransport(deadline: deadline))
                    guard
                        let report = try? await withDeadline(
                            deadline, clock: ContinuousClock(), { try await client.sync() })
                    else { return (false, []) }
                    if report.converged {
                        var record = SyncRecord.load(home)
                        record.store = Date()
                        record.save(home)
                    }
                    return (true, report.storeProblems.map(\.message))
                }
            }
            for peer in peers {
                group.addTask {
                    let synced = try? await withDeadline(deadline, clock: ContinuousClock()) {
                        try await PeerDialer.sync(host: peer.host, port: peer.port, engine: engine, keyPair: keyPair)
                    }
                    if synced?.converged == true {
                        var record = SyncRecord.load(home)
                        record.peer = Date()
                        record.save(home)
                    }
                    return (synced != nil, [])
                }
            }
            return await group.reduce(into: [(reached: Bool, problems: [String])]()) { $0.append($1) }
        }
        for problem in outcomes.flatMap(\.problems) { lines.append("Warning: \(TextSafety.sanitised(problem)).") }
        let after = (try? await engine.clock()[engine.device]) ?? before
        if after > before { lines.append(caughtUpLine(Int(clamping: after - before))) }
        if !outcomes.contains(where: \.reached) {
            let record = SyncRecord.load(home)
            let last = [record.peer, record.store].compactMap { $0 }.max()
            if last.map({ Date().timeIntervalSince($0) > longAgo }) ?? true {
                lines.append(
                    "Could not reach the store or a peer to check for newer entries of this device first (last "
                        + "synced \(last.map(TimeText.short) ?? "never")); written all the same. If this folder was "
                        + "restored from a backup, sync before writing more: its log forks otherwise.")
            }
        }
        return lines
    }

    /// What a device says when entries it wrote earlier came back from elsewhere.
    static func caughtUpLine(_ entries: Int) -> String {
        "This device's folder was older than its log: caught up \(entries) entr\(entries == 1 ? "y" : "ies") "
            + "it had written before (was the folder restored from a backup?)."
    }
}
