import Foundation
import LedgerTestSupport
import Testing

@Suite("Several processes on one data folder")
struct ConcurrentWriterTests {
    @Test("three earn loops and a reader on one data folder all succeed: writers wait their turn, nobody sees busy")
    func concurrentEarns() async throws {
        let device = try Device(name: "shared")
        try await device.ok("init", "--name", "shared")
        let failures = try await withThrowingTaskGroup(of: [String].self) { group in
            for writer in 0..<3 {
                group.addTask {
                    var failed: [String] = []
                    for i in 0..<12 {
                        let result = try await device.run("earn", "1", "--memo", "w\(writer) \(i)")
                        if result.status != 0 { failed.append(result.stderr) }
                    }
                    return failed
                }
            }
            group.addTask {
                var failed: [String] = []
                for _ in 0..<12 {
                    let result = try await device.run("balance")
                    if result.status != 0 { failed.append(result.stderr) }
                }
                return failed
            }
            return try await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(try await device.balanceMinor() == 3 * 12 * 100)
    }
}
