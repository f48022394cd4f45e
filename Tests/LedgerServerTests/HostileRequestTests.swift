import Foundation
import Hummingbird
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerTestSupport
import Testing

@Suite("A hostile client cannot crash or starve the store")
struct HostileRequestTests {
    @Test(
        "a sync whose clock claims seq 2^64-1 for the device and repeats its genesis is refused; the store goes on",
        arguments: BackendKind.testable)
    func clockOverflow(_ kind: BackendKind) async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let store = try await TestStore(kind)
        try await store.application().test(.router) { client in
            let genesis = fixture.logs[0][0]
            let token = try await client.token(fixture.identity, fixture.root, genesis: genesis)
            for seq in [Seq.max, VectorClock.maxSeq + 1] {
                let forged = VectorClock([ClockEntry(author: fixture.root.publicKey, seq: seq, head: genesis.hash)])
                let answer = try await client.push(fixture.identity, token: token, [genesis], clock: forged)
                #expect(answer.status == 400)
                #expect(answer.error == "bad_request")
            }
            // At the largest seq an entry may carry, the clock is valid and the store answers.
            let top = VectorClock([
                ClockEntry(author: fixture.root.publicKey, seq: VectorClock.maxSeq, head: genesis.hash)
            ])
            let fine = try await client.push(fixture.identity, token: token, [genesis], clock: top)
            #expect(fine.status == 200, "\(fine.body)")
            let health = try await client.executeRequest(uri: "/healthz", method: .get, headers: [:], body: nil)
            #expect(health.status == .ok)
        }
    }
}
