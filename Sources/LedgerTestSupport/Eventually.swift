import Foundation
import LedgerSync

/// Polls `condition` until it holds (true) or `timeout` seconds pass (false): tests wait for
/// conditions with a deadline, never for a fixed time. A condition that throws counts as not
/// yet. The first checks follow each other by 10 ms, later ones by up to 100 ms: dozens of
/// tests wait at once in a full run, and each check is work for the same two threads the code
/// under test needs. The default deadline is generous: a step that takes milliseconds alone
/// can take many seconds in a full run, and a deadline is only ever waited out when something
/// is wrong.
package func eventually(timeout: Double = 60, _ condition: @Sendable () async throws -> Bool) async -> Bool {
    StallWatch.start()
    let deadline = Date().addingTimeInterval(timeout)
    var pause = 10
    while Date() < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(pause))
        pause = min(pause * 3 / 2, 100)
    }
    return (try? await condition()) == true
}

/// Runs blocking work (waiting for a child process, reading its pipes) on a thread of its own
/// and suspends until it is done: the cooperative pool has only as many threads as cores (two
/// here), and in-process network tests running beside need them.
package func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

extension PeerSessionOptions {
    /// Default options, but with a minute and a half to finish the handshake: a full test run
    /// starts every test at once on two cores, and the other end of an in-process session can
    /// wait that long for a thread (the 15 s a real device allows is for one conversation).
    package static var patient: PeerSessionOptions {
        var options = PeerSessionOptions()
        options.handshakeTimeout = .seconds(90)
        return options
    }
}
