import Foundation
import NIOCore
import NIOPosix

/// Watches, from a thread of its own, whether the test process's cooperative pool and NIO's
/// singleton event loops still run what is given to them, and says so on stderr:
/// - when a job waited over a second for a thread of the pool (the longest wait of each five
///   seconds): a step of an in-process server or session waits that long too;
/// - when nothing ran for `threshold` seconds, which part stalled and every thread's stack
///   (from gdb), and when it runs again.
///
/// A full run once failed in CI after a minute of such waits, and only a picture of the threads
/// taken at the time can say what held them (docs/TESTING.md).
package enum StallWatch {
    /// Seconds without progress that count as a stall.
    package static let threshold: Double = 10
    /// A wait for the pool longer than this is reported.
    package static let reportedWait: Double = 1

    private static let started: Bool = {
        Thread.detachNewThread { watch() }
        return true
    }()

    /// Starts the watch once per process (later calls do nothing).
    package static func start() { _ = started }

    private static func say(_ text: String) {
        FileHandle.standardError.write(Data("stall watch (\(Date())): \(text)\n".utf8))
    }

    private static func watch() {
        let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
        let poolRan = Locked(Date())
        let loopsRan = loops.map { _ in Locked(Date()) }
        let longestWait = Locked(0.0)
        var window = Date()
        var stalled: Set<String> = []
        var dumps = 0
        while true {
            Thread.sleep(forTimeInterval: 0.5)
            let queued = Date()
            Task.detached {
                let now = Date()
                poolRan.set(now)
                longestWait.withLock { $0 = max($0, now.timeIntervalSince(queued)) }
            }
            for (loop, ran) in zip(loops, loopsRan) { loop.execute { ran.set(Date()) } }

            let now = Date()
            if now.timeIntervalSince(window) > 5 {
                window = now
                let longest = longestWait.withLock { value in
                    defer { value = 0 }
                    return value
                }
                if longest > reportedWait {
                    say("a job waited up to \(String(format: "%.1f", longest)) s for the pool")
                }
            }

            var ages = ["the cooperative pool": now.timeIntervalSince(poolRan.value)]
            for (index, ran) in loopsRan.enumerated() {
                ages["NIO event loop \(index)"] = now.timeIntervalSince(ran.value)
            }
            let stalledNow = Set(ages.filter { $0.value > threshold }.keys)
            for part in stalled.subtracting(stalledNow).sorted() { say("\(part) runs again") }
            let fresh = stalledNow.subtracting(stalled)
            stalled = stalledNow
            guard !fresh.isEmpty else { continue }
            var report = "nothing ran for over \(Int(threshold)) s on " + fresh.sorted().joined(separator: ", ")
            if dumps < 3 {
                dumps += 1
                report += "\n" + stacks()
            }
            say(report)
        }
    }

    /// Every thread's stack: deep, but of each frame list only its top and this project's own.
    private static func stacks() -> String {
        CommandRunner.threadDump(getpid(), frames: 60).split(separator: "\n").filter { line in
            !line.hasPrefix("#") || line.hasPrefix("#0 ") || line.hasPrefix("#1 ") || line.contains("Ledger")
                || line.contains("Tests")
        }.joined(separator: "\n")
    }
}
