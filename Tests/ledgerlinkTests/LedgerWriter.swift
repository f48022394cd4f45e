import Foundation
import LedgerCore
import LedgerIdentity

/// Writes entries into a device's data folder through the library, for tests that need many.
enum LedgerWriter {
    static func appendRecords(home: URL, count: Int) async throws {
        let keyPair = try DeviceKeyFile.read(home.appendingPathComponent("device.key")) { () throws(IdentityError) in []
        }
        let engine = try await MergeEngine(
            store: try LedgerStore.open(at: home.appendingPathComponent("ledger.sqlite").path), keyPair: keyPair)
        for i in 0..<count {
            try await engine.appendRecord(i % 4 == 0 ? .debit : .credit, amount: Int64(100 + i), memo: "bulk \(i)")
        }
    }
}
