import Foundation
import LedgerSync

/// Polls `condition` every 10 ms until it holds (true) or `timeout` seconds pass (false):
/// tests wait for conditions with a deadline, never for a fixed time. A condition that throws
/// counts as not yet. The default deadline is generous: a full run starts every test at once
/// on this machine's two cores, so a step that takes milliseconds alone can take many seconds
/// there, and a deadline is only ever waited out when something is wrong.
package func eventually(timeout: Double = 60, _ condition: @Sendable () async throws -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(10))
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
