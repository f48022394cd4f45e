import Foundation
import HummingbirdTesting
import LedgerCore
import LedgerRemote
import LedgerServer
import LedgerTestSupport
import Testing

@Suite("Store: sync bodies handled at once are bounded")
struct BodyBudgetTests {
    @Test("bodies wait in arrival order for room, and one that waits past its patience is refused as busy")
    func waitsInOrder() async throws {
        let clock = ManualClock()
        let budget = BodyBudget(capacity: 10, patience: .seconds(5), sleep: { try await clock.sleep(for: $0) })
        let first = try await budget.admit(6)
        #expect(budget.usage == (6, 0))

        // A large body waits; a small one after it waits too (a large one is not passed over).
        let large = Task { try await budget.admit(8) }
        #expect(await eventually { budget.usage.waiting == 1 })
        let small = Task { try await budget.admit(1) }
        #expect(await eventually { budget.usage.waiting == 2 })

        budget.release(first)
        #expect(try await large.value == 8)
        #expect(try await small.value == 1)
        #expect(budget.usage == (9, 0))

        // Past its patience a request is told the server is busy, and to retry; nothing is held for it.
        let late = Task { try await budget.admit(5) }
        #expect(await eventually { budget.usage.waiting == 1 && clock.sleepers == 1 })
        clock.advance(by: .seconds(5))
        let refusal = await #expect(throws: StoreError.self) { try await late.value }
        #expect(refusal?.code == "busy")
        #expect(refusal?.retryAfter == 1)
        #expect(budget.usage == (9, 0))

        // A body larger than the whole budget takes all of it, once the rest is free.
        budget.release(9)
        #expect(try await budget.admit(1 << 30) == 10)
        #expect(budget.usage == (10, 0))
    }

    @Test("a sync that finds the budget taken is answered 503 busy with Retry-After once its patience runs out")
    func serverAnswersBusy() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        for i in 0..<5 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        let fixture = built
        let clock = ManualClock()
        let budget = BodyBudget(
            capacity: 1 << 20, patience: .seconds(5), sleep: { try await clock.sleep(for: $0) })
        let store = try await TestStore()
        try await store.application(bodies: budget).test(.live) { client in
            let root = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            // Every byte taken, as by pushes in progress.
            let taken = try await budget.admit(1 << 20)
            let waiting = Task {
                try await client.binarySync(fixture.identity, token: root, clock: .empty, fixture.allEntries)
            }
            #expect(await eventually { budget.usage.waiting == 1 && clock.sleepers == 1 })
            clock.advance(by: .seconds(5))
            let refused = try await waiting.value
            #expect(refused.status == 503)
            let error = try JSONSerialization.jsonObject(with: Data(refused.body)) as? [String: Any]
            #expect(error?["error"] as? String == "busy")

            // With room again the same push is taken.
            budget.release(taken)
            let pushed = try await client.binarySync(fixture.identity, token: root, clock: .empty, fixture.allEntries)
            #expect(pushed.status == 200)
            #expect(budget.usage == (0, 0))
        }
    }
}
