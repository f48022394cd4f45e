import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto

/// Exit codes beyond 0 (done) and 1 (failed, with the reason), the same for every command
/// (README, "Exit codes").
enum ExitStatus {
    /// A sync ended with the two sides still different: some entries wait for others.
    static let notLevel: Int32 = 3
    /// Entries were refused: forged, broken or not this identity's (each is named).
    static let refused: Int32 = 4
    /// The ledger holds proof that a device forked its log.
    static let fork: Int32 = 5
    /// `verify` found stored data that does not check.
    static let damaged: Int32 = 6
    /// A store's signed answers proved it misbehaved: it went back to an older state, signed
    /// two states that cannot both be true, lost entries it was sent, or changed its key.
    static let storeMisbehaved: Int32 = 7
}

/// Prints `message` as ArgumentParser prints an error and gives the exit code to throw.
func failure(_ message: String, _ code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
    return ExitCode(code)
}

extension DeviceContext {
    /// One line per proven fork, naming the device ("this device" when it is this one).
    func forkLines(_ forks: [DevicePublicKey: Seq]) async throws -> [String] {
        guard !forks.isEmpty else { return [] }
        let names = try await deviceNames()
        return forks.sorted { $0.key < $1.key }.map { key, seq in
            let who =
                key == engine.device
                ? "this device (\(names[key] ?? "(unnamed)"))"
                : "device \(names[key] ?? "(unnamed)") (\(key.fingerprint))"
            return "Fork: \(who) signed two different entries at seq \(seq): its entries from seq \(seq) on do "
                + "not count (was its key copied, or its data folder restored from a backup?)"
        }
    }

    /// Refused entries in words: how many, from which device, and why, one line per reason.
    func refusalLines(_ refused: [MergeReport.Outcome], limit: Int = 10) async throws -> [String] {
        guard !refused.isEmpty else { return [] }
        let names = try await deviceNames()
        var groups: [(key: String, count: Int, first: MergeReport.Outcome)] = []
        for outcome in refused {
            let key = "\(outcome.author.hex) \(outcome.reason)"
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].count += 1
            } else {
                groups.append((key, 1, outcome))
            }
        }
        return groups.prefix(limit).map { group in
            let who =
                names[group.first.author].map { "\($0) (\(group.first.author.fingerprint))" }
                ?? "unknown device \(group.first.author.fingerprint)"
            let what = group.count == 1 ? "1 entry" : "\(group.count) entries"
            return "  refused \(what) from \(who), from seq \(group.first.seq): \(group.first.reason)"
        }
    }
}
