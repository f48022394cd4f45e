import Foundation
import HummingbirdTesting
import LedgerCore
import LedgerRemote
import LedgerServer
import LedgerTestSupport
import Synchronization
import Testing

/// A clock and a timer the test moves by hand, and a count of the releases made.
private final class ManualTime: Sendable {
    private struct State {
        var now = ContinuousClock.now
        var timers: [(due: ContinuousClock.Instant, body: @Sendable () -> Void)] = []
        var releases = 0
    }
    private let state = Mutex(State())

    func heap(threshold: Int) -> HeapReturn {
        HeapReturn(
            threshold: threshold, quiet: .milliseconds(250),
            release: { [self] in state.withLock { $0.releases += 1 } },
            now: { [self] in state.withLock { $0.now } },
            after: { [self] delay, body in state.withLock { $0.timers.append(($0.now + delay, body)) } })
    }

    var releases: Int { state.withLock { $0.releases } }
    var timers: Int { state.withLock { $0.timers.count } }

    /// Moves the clock on and runs the timers that are due by then.
    func advance(by duration: Duration) {
        let due = state.withLock { state in
            state.now += duration
            let due = state.timers.filter { $0.due <= state.now }
            state.timers.removeAll { $0.due <= state.now }
            return due
        }
        for timer in due { timer.body() }
    }
}

@Suite("Store: the heap handed back once large syncs stop")
struct HeapReturnTests {
    @Test("the heap goes back a quiet moment after the last large sync; syncs in a row share one release")
    func afterQuiet() {
        let time = ManualTime()
        let heap = time.heap(threshold: 1 << 20)
        heap.answered(received: (1 << 20) - 101, sent: 100)  // a small sync: no timer at all
        #expect(time.timers == 0)

        heap.answered(received: (1 << 20) - 100, sent: 100)
        time.advance(by: .milliseconds(150))
        heap.answered(received: 4 << 20, sent: 300)  // the next batch of a push, 150 ms later
        #expect(time.timers == 1)
        time.advance(by: .milliseconds(100))
        // 250 ms after the first, 100 ms after the second: waits for the rest.
        #expect(time.releases == 0)
        #expect(time.timers == 1)
        time.advance(by: .milliseconds(149))
        #expect(time.releases == 0)
        time.advance(by: .milliseconds(1))
        #expect(time.releases == 1)
        #expect(time.timers == 0)

        // A later push starts it all again.
        heap.answered(received: 2 << 20, sent: 0)
        time.advance(by: .milliseconds(250))
        #expect(time.releases == 2)
    }

    @Test("a page sent (an answer as large as the threshold) is handed back at once, however often")
    func afterEachPage() {
        let time = ManualTime()
        let heap = time.heap(threshold: 1 << 20)
        heap.answered(received: 200, sent: 4 << 20)
        time.advance(by: .zero)
        #expect(time.releases == 1)
        heap.answered(received: 200, sent: 1 << 20)  // the next page, at once
        time.advance(by: .zero)
        #expect(time.releases == 2)
        #expect(time.timers == 0)
        // A last page under the threshold, with its request: a large sync in all, handed back
        // once the syncs stop for a moment.
        heap.answered(received: 200, sent: (1 << 20) - 100)
        time.advance(by: .zero)
        #expect(time.releases == 2)
        time.advance(by: .milliseconds(250))
        #expect(time.releases == 3)
    }

    @Test("the server counts a sync's body and answer: a large push or pull starts the wait, a poll does not")
    func serverCountsLargeSyncs() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<400 { try built.record(device: 0, .credit, amount: Int64(i + 1), memo: "entry \(i)") }
        let fixture = built
        let time = ManualTime()
        // 400 entries are about 60 KB as runs: over a 32 KiB threshold, both ways.
        let heap = time.heap(threshold: 32 << 10)
        let store = try await TestStore()
        try await store.application(heap: heap).test(.router) { client in
            let root = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            // A small push in the JSON form (its answer is counted before it is returned).
            #expect(try await client.push(fixture.identity, token: root, [fixture.logs[0][1]]).status == 200)
            #expect(time.timers == 0)

            // A large one in the binary form: counted once its answer has been written.
            let pushed = try await client.binarySync(
                fixture.identity, token: root, clock: .empty, Array(fixture.allEntries.dropFirst(2)))
            #expect(pushed.status == 200)
            #expect(await eventually { time.timers == 1 })
            time.advance(by: .milliseconds(250))
            #expect(time.releases == 1)

            // A poll moves a few hundred bytes.
            let digest = try SyncBody.decode(pushed.body, as: SyncResponse.self, maxEntries: .max).0.digest
            let poll = try await client.post(
                "/v1/identities/\(fixture.identity.hex)/sync", ["digest": digest], token: root)
            #expect(poll.status == 200)
            #expect(time.timers == 0)

            // A new device's pull in the JSON form: the entries go the other way, a page that
            // is handed back as soon as it is sent.
            let other = try await client.token(fixture.identity, fixture.devices[1])
            let pulled = try await client.push(fixture.identity, token: other, [])
            #expect((pulled["entries"] as? [String])?.count == fixture.allEntries.count)
            #expect(time.timers == 1)
            time.advance(by: .zero)
            #expect(time.releases == 2)
        }
    }
}
