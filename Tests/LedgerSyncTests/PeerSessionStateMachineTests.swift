import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerTestSupport
import Testing

@testable import LedgerSync

/// The peer conversation's decisions, message by message in every state, without sockets,
/// crypto or time: heartbeats are `.tick` events, as the driver's clock would send them.
@Suite("Peer session state machine")
struct PeerSessionStateMachineTests {
    typealias Machine = PeerSessionStateMachine

    let fixture: LedgerFixture
    let peer = SigningKeyPair.generate().publicKey

    init() throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<3 { try fixture.record(device: i % 2, .credit, amount: Int64(i + 1)) }
        self.fixture = fixture
    }

    /// The clock of the first `counts[i]` entries of each device's log.
    func clock(_ counts: [Int]) -> VectorClock {
        VectorClock(
            zip(fixture.logs, counts).compactMap { log, count in
                guard count > 0 else { return nil }
                return ClockEntry(author: log[0].author, seq: Seq(count), head: log[count - 1].hash)
            })
    }

    var full: VectorClock { clock(fixture.logs.map(\.count)) }
    var partial: VectorClock { clock([1, 0]) }

    func started(live: Bool = false, maxRounds: Int = 6, local: VectorClock? = nil) -> Machine {
        var machine = Machine(peer: peer, options: PeerSessionOptions(live: live, maxRounds: maxRounds))
        let actions = machine.handle(.started(local: local ?? full))
        #expect(describe(actions) == ["send ping \((local ?? full).digest.hex.prefix(8))"])
        return machine
    }

    @Test("store heads go out before the first ping, and the peer's are handed on to be compared")
    func heads() throws {
        let key = SigningKeyPair.generate()
        let head = StoreHead(signing: key, identity: fixture.identity, version: 3, digest: full.digest, time: 1)
        var machine = Machine(peer: peer, options: PeerSessionOptions())
        #expect(
            describe(machine.handle(.started(local: full, heads: [head]))) == [
                "send heads 1", "send ping \(full.digest.hex.prefix(8))",
            ])
        #expect(describe(machine.handle(.received(.heads([head, head]), local: full))) == ["compare 2 heads"])
        #expect(!machine.isClosed)
        // The bytes: a count, then 176 bytes a head; anything else is refused.
        let bytes = PeerMessage.heads([head]).encoded
        #expect(bytes.count == 2 + 176)
        #expect(try PeerMessage(decoding: bytes) == .heads([head]))
        #expect(throws: PeerChannelError.protocolViolation("bad store heads")) {
            try PeerMessage(decoding: Array(bytes.dropLast()))
        }
        #expect(throws: PeerChannelError.protocolViolation("bad store heads")) {
            try PeerMessage(decoding: [PeerMessage.Kind.heads.rawValue, 33] + Array(repeating: 0, count: 33 * 176))
        }
    }

    @Test("a one-shot session with equal digests ends at the first ping: level, goodbye, converged")
    func levelAtOnce() {
        var machine = started()
        let actions = machine.handle(.received(.ping(full.digest), local: full))
        #expect(describe(actions) == ["level", "finish bye"])
        #expect(machine.report.converged)
        #expect(machine.report.rounds == 1)
        #expect(machine.isClosed)
        #expect(machine.handle(.received(.ping(full.digest), local: full)).isEmpty)
    }

    @Test("a differing ping asks with this clock; pings meanwhile wait for the DONE")
    func differingPing() {
        var machine = started(local: partial)
        #expect(describe(machine.handle(.received(.ping(full.digest), local: partial))) == ["send clock 1"])
        #expect(machine.awaitingDone)
        #expect(machine.report.rounds == 2)
        #expect(machine.handle(.received(.ping(full.digest), local: partial)).isEmpty)
        #expect(machine.handle(.syncRequested(local: partial)).isEmpty)
    }

    @Test("CLOCK is answered with the delta since it, then DONE; the estimate is both clocks")
    func answerClock() {
        var machine = started()
        let actions = machine.handle(.received(.clock(partial), local: full))
        #expect(describe(actions) == ["delta since 1 then done \(full.digest.hex.prefix(8))"])
        #expect(machine.estimate == full)
        let page = Array(fixture.logs[1])
        #expect(machine.handle(.sent(page)).isEmpty)
        #expect(machine.report.sent == page.count)
    }

    @Test("ENTRIES are merged, what was new is counted, and the estimate moves over them")
    func entries() {
        var machine = started(live: true, local: partial)
        _ = machine.handle(.received(.clock(partial), local: partial))
        #expect(machine.estimate == partial)
        let rest = Array(fixture.logs[0].dropFirst()) + fixture.logs[1]
        #expect(describe(machine.handle(.received(.entries(rest), local: partial))) == ["merge \(rest.count)"])
        #expect(machine.estimate == full)
        #expect(machine.handle(.merged(accepted: 2)).isEmpty)
        #expect(machine.report.accepted == 2)
    }

    @Test("DONE: level ends a one-shot; differing asks again until maxRounds, then gives up with a goodbye")
    func doneRounds() {
        var machine = started(maxRounds: 3, local: partial)
        _ = machine.handle(.received(.ping(full.digest), local: partial))
        #expect(describe(machine.handle(.received(.done(full.digest), local: partial))) == ["send clock 1"])
        #expect(machine.report.rounds == 3)
        #expect(describe(machine.handle(.received(.done(full.digest), local: partial))) == ["finish bye"])
        #expect(!machine.report.converged)

        var level = started(local: partial)
        _ = level.handle(.received(.ping(full.digest), local: partial))
        #expect(describe(level.handle(.received(.done(full.digest), local: full))) == ["level", "finish bye"])
        #expect(level.report.converged)
    }

    @Test("live: level at the first ping keeps the session, and a local change is pushed at once")
    func livePush() {
        var machine = started(live: true, local: partial)
        #expect(describe(machine.handle(.received(.ping(partial.digest), local: partial))) == ["level"])
        #expect(machine.estimate == partial)
        // A second level ping says nothing new.
        #expect(machine.handle(.received(.ping(partial.digest), local: partial)).isEmpty)
        #expect(describe(machine.handle(.localChange(local: full))) == ["delta since 1 then -"])
        let pushed = Array(fixture.logs[0].dropFirst()) + fixture.logs[1]
        _ = machine.handle(.sent(pushed))
        #expect(machine.estimate == full)
        #expect(machine.report.sent == pushed.count)
    }

    @Test("live: a change before the peer's clock is known pings instead; a DONE that leaves it behind pings")
    func liveUnknownClock() {
        var machine = started(live: true, local: partial)
        #expect(describe(machine.handle(.localChange(local: full))) == ["send ping \(full.digest.hex.prefix(8))"])
        #expect(describe(machine.handle(.received(.ping(partial.digest), local: full))) == ["send clock 2"])
        #expect(machine.awaitingDone)
        #expect(machine.handle(.localChange(local: full)).isEmpty)
        #expect(
            describe(machine.handle(.received(.done(partial.digest), local: full))) == [
                "send ping \(full.digest.hex.prefix(8))"
            ])
        #expect(!machine.isClosed)
    }

    @Test("heartbeats: a live session pings at each tick, and drops a peer silent for more than three")
    func heartbeats() {
        var machine = started(live: true)
        for _ in 0..<PeerSessionOptions.missedHeartbeats {
            #expect(describe(machine.handle(.tick(local: full))) == ["send ping \(full.digest.hex.prefix(8))"])
        }
        // Anything heard starts the count again.
        _ = machine.handle(.received(.ping(full.digest), local: full))
        for _ in 0..<PeerSessionOptions.missedHeartbeats { _ = machine.handle(.tick(local: full)) }
        #expect(describe(machine.handle(.tick(local: full))) == ["fail the peer went silent (missed heartbeats)"])
        #expect(machine.isClosed)

        var oneShot = started()
        for _ in 0..<PeerSessionOptions.missedHeartbeats { #expect(oneShot.handle(.tick(local: full)).isEmpty) }
        #expect(describe(oneShot.handle(.tick(local: full))) == ["fail the peer went silent (missed heartbeats)"])
    }

    @Test("BYE ends without a goodbye back; a refusal fails with its reason; a read failure fails")
    func endings() {
        var bye = started(live: true)
        #expect(describe(bye.handle(.received(.bye, local: full))) == ["finish quiet"])
        var refused = started(live: true)
        #expect(
            describe(refused.handle(.received(.refused(.revoked), local: full))) == [
                "fail \(PeerChannelError.refusedByPeer(.revoked))"
            ])
        var broken = started()
        #expect(
            describe(broken.handle(.readFailed(PeerChannelError.closed))) == ["fail the peer closed the connection"])
        var stopped = started(live: true)
        #expect(describe(stopped.handle(.stopRequested)) == ["finish bye"])
    }

    @Test("a failed write waits for the peer's refusal, which is the reason; otherwise the write's error")
    func writeFailure() {
        var refused = started()
        #expect(refused.handle(.writeFailed(PeerChannelError.closed)).isEmpty)
        // Other messages read meanwhile change nothing.
        #expect(refused.handle(.received(.ping(full.digest), local: full)).isEmpty)
        #expect(refused.handle(.receivedEntries(fixture.logs[1])).isEmpty)
        #expect(
            describe(refused.handle(.received(.refused(.unknown), local: full))) == [
                "fail \(PeerChannelError.refusedByPeer(.unknown))"
            ])

        var closed = started()
        _ = closed.handle(.writeFailed(PeerChannelError.closed))
        #expect(
            describe(closed.handle(.readFailed(PeerChannelError.closed))) == ["fail the peer closed the connection"])
        var late = started()
        _ = late.handle(.writeFailed(PeerChannelError.timedOut))
        #expect(describe(late.handle(.tick(local: full))) == ["fail the peer went silent (missed heartbeats)"])
    }

    @Test("every event before the start fails the session, and every event after the end does nothing")
    func outOfOrder() {
        var machine = Machine(peer: peer, options: PeerSessionOptions())
        #expect(describe(machine.handle(.received(.bye, local: full))) == ["fail the peer closed the connection"])
        let events: [Machine.Event] = [
            .started(local: full), .received(.ping(full.digest), local: full), .receivedEntries([]),
            .merged(accepted: 1), .sent([]), .localChange(local: full), .syncRequested(local: full),
            .tick(local: full), .stopRequested, .readFailed(PeerChannelError.closed),
            .writeFailed(PeerChannelError.closed),
        ]
        for event in events { #expect(machine.handle(event).isEmpty) }
    }

    /// Actions as short words, so expectations read like the protocol.
    func describe(_ actions: [Machine.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .send(let message): "send \(describe(message))"
            case .sendDelta(let since, let then): "delta since \(since.entries.count) then \(then.map(describe) ?? "-")"
            case .merge(let entries): "merge \(entries.count)"
            case .compareHeads(let heads): "compare \(heads.count) heads"
            case .level: "level"
            case .finish(_, let goodbye): goodbye ? "finish bye" : "finish quiet"
            case .fail(let error): "fail \(error)"
            }
        }
    }

    func describe(_ message: PeerMessage) -> String {
        switch message {
        case .clock(let clock): "clock \(clock.entries.count)"
        case .entries(let entries): "entries \(entries.count)"
        case .done(let digest): "done \(digest.hex.prefix(8))"
        case .ping(let digest): "ping \(digest.hex.prefix(8))"
        case .bye: "bye"
        case .refused(let reason): "refused \(reason)"
        case .heads(let heads): "heads \(heads.count)"
        }
    }
}
