import Foundation
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

@Suite("Pairing mailbox")
struct PairingMailboxTests {
    static let mailbox = String(repeating: "ab", count: 32)

    @Test(
        "the mailbox relays numbered messages both ways, once each, and refuses everything else",
        arguments: BackendKind.testable)
    func relay(_ kind: BackendKind) async throws {
        let fixture = try LedgerFixture(deviceCount: 2)
        let other = try LedgerFixture(deviceCount: 1)
        let store = try await TestStore(kind)
        try await store.application().test(.router) { client in
            let path = "/v1/identities/\(fixture.identity.hex)/pairing"
            let box = "/v1/pairing/\(Self.mailbox)"
            // Opening needs a token of the identity.
            let anonymous = try await client.post("\(path)/open", ["mailbox": Self.mailbox, "expiresIn": 600])
            #expect(anonymous.status == 401)
            let token = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            _ = try await client.push(fixture.identity, token: token, fixture.allEntries)
            #expect(
                try await client.post("\(path)/open", ["mailbox": "00", "expiresIn": 600], token: token).status == 400)
            #expect(
                try await client.post("\(path)/open", ["mailbox": Self.mailbox, "expiresIn": 99_999], token: token)
                    .status == 400)
            let opened = try await client.post(
                "\(path)/open", ["mailbox": Self.mailbox, "expiresIn": 600], token: token)
            #expect(opened.status == 200)
            #expect(opened["expires"] as? Int64 == store.clock.now + 600)
            // Another identity cannot take over the mailbox.
            let otherToken = try await client.token(other.identity, other.root, genesis: other.logs[0][0])
            let hijack = try await client.post(
                "/v1/identities/\(other.identity.hex)/pairing/open", ["mailbox": Self.mailbox, "expiresIn": 600],
                token: otherToken)
            #expect(hijack.status == 409)

            // The joiner needs only the mailbox id; messages come in order and only once.
            let join = Data.base64([1, 2, 3])
            #expect(
                try await client.post("\(box)/send", ["side": "joiner", "index": 0, "message": join]).status == 200)
            #expect(
                try await client.post("\(box)/send", ["side": "joiner", "index": 0, "message": join]).status == 200)
            let second = try await client.post(
                "\(box)/send", ["side": "joiner", "index": 0, "message": Data.base64([9])])
            #expect(second.status == 409)
            #expect(second.error == "pairing_taken")
            let gap = try await client.post("\(box)/send", ["side": "joiner", "index": 5, "message": join])
            #expect(gap.status == 400)
            let huge = Data.base64([UInt8](repeating: 7, count: PairingAPI.maxMessage + 1))
            #expect(
                try await client.post("\(box)/send", ["side": "joiner", "index": 1, "message": huge]).status == 413)
            let read = try await client.post("\(box)/receive", ["side": "joiner", "index": 0, "wait": 0])
            #expect(read["message"] as? String == join)
            let nothing = try await client.post("\(box)/receive", ["side": "inviter", "index": 0, "wait": 0])
            #expect(nothing.status == 200 && nothing["message"] == nil)

            // The inviter side needs a token of the mailbox's identity.
            let offer = Data.base64([4, 5])
            #expect(
                try await client.post("\(box)/send", ["side": "inviter", "index": 0, "message": offer]).status == 401)
            #expect(
                try await client.post(
                    "\(box)/send", ["side": "inviter", "index": 0, "message": offer], token: otherToken
                )
                .status == 401)  // another identity's token is unknown for this one
            #expect(
                try await client.post("\(box)/send", ["side": "inviter", "index": 0, "message": offer], token: token)
                    .status == 200)

            // Unknown mailboxes are 404; closed ones take no more messages but hand out the last.
            let unknown = try await client.post(
                "/v1/pairing/\(String(repeating: "cd", count: 32))/receive", ["side": "joiner", "index": 0, "wait": 0])
            #expect(unknown.status == 404)
            #expect(unknown.error == "pairing_not_found")
            #expect(try await client.post("\(path)/close", ["mailbox": Self.mailbox], token: token).status == 200)
            let afterClose = try await client.post("\(box)/receive", ["side": "inviter", "index": 0, "wait": 0])
            #expect(afterClose["message"] as? String == offer)
            let closed = try await client.post("\(box)/send", ["side": "joiner", "index": 1, "message": join])
            #expect(closed.status == 410)
            #expect(closed.error == "pairing_closed")
            #expect(try await client.post("\(box)/receive", ["side": "joiner", "index": 1, "wait": 0]).status == 410)
        }
    }

    @Test(
        "a mailbox expires with its window, and an identity may hold only a few open at once",
        arguments: BackendKind.testable)
    func expiry(_ kind: BackendKind) async throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let store = try await TestStore(kind)
        try await store.application().test(.router) { client in
            let path = "/v1/identities/\(fixture.identity.hex)/pairing"
            let token = try await client.token(fixture.identity, fixture.root, genesis: fixture.logs[0][0])
            var ids: [String] = []
            for index in 0..<PairingAPI.maxOpenPerIdentity {
                let id = String(repeating: String(format: "%02x", index + 1), count: 32)
                ids.append(id)
                #expect(
                    try await client.post("\(path)/open", ["mailbox": id, "expiresIn": 60], token: token).status == 200)
            }
            let tooMany = try await client.post(
                "\(path)/open", ["mailbox": String(repeating: "ee", count: 32), "expiresIn": 60], token: token)
            #expect(tooMany.status == 429)
            #expect(tooMany.error == "too_many_pairings")
            store.clock.advance(61)
            let token2 = try await client.token(fixture.identity, fixture.root)
            let expired = try await client.post(
                "/v1/pairing/\(ids[0])/send", ["side": "joiner", "index": 0, "message": Data.base64([1])])
            #expect(expired.status == 410)
            // Expired windows no longer count against the identity.
            #expect(
                try await client.post(
                    "\(path)/open", ["mailbox": String(repeating: "ee", count: 32), "expiresIn": 60], token: token2
                ).status == 200)
            // An hour after expiry the mailbox is forgotten.
            store.clock.advance(3_700)
            try await store.service.purgeExpired()
            let gone = try await client.post(
                "/v1/pairing/\(ids[0])/receive", ["side": "joiner", "index": 0, "wait": 0])
            #expect(gone.status == 404)
        }
    }

    @Test("a whole link through a live store: the new device holds the ledger and the store admits it")
    func linkLive() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        for i in 0..<30 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        let fixture = built
        let store = try await TestStore(realTime: true)
        let app = store.application { $0.publicURL = nil }
        try await app.test(.live) { client in
            let url = try #require(URL(string: "http://127.0.0.1:\(client.port ?? 0)"))
            let engine = try await fixture.replica(device: 0)
            try await engine.merge(fixture.allEntries)
            let pairingClient = StoreClient(url: url, engine: engine, keyPair: fixture.root)
            _ = try await pairingClient.sync()
            let window = PairingWindow(code: .generate(identity: fixture.identity, rendezvous: .store(url)))
            let mailbox = PairingProtocol.mailbox(for: window.code)
            try await pairingClient.openMailbox(mailbox, seconds: 600)
            let host = PairingHost(
                engine: engine, keyPair: fixture.root, window: window, sendsLedger: false,
                afterLink: { _ = try await pairingClient.sync() })
            let words = Locked<String?>(nil)
            let inviterSide = MailboxTransport(
                url: url, mailbox: mailbox, side: .inviter, bearer: { try await pairingClient.bearerToken() })
            let serving = Task {
                await host.serve(inviterSide) { _, _ in
                    // The person reads the new device's words and types them.
                    _ = await eventually { words.value != nil }
                    return .typed(words.value ?? "")
                }
            }
            let home = DataHome(
                url: TestFolder.url("ll-join"))
            let joined = try await PairingGuest.joinThroughStore(
                code: window.code, url: url, name: "tablet", home: home, passphrase: nil,
                showSAS: { words.set($0.description) })
            await serving.value
            #expect(await window.outcome() == .linked(device: joined.engine.device, name: "tablet"))
            #expect(try await joined.engine.totals().balance == 465)
            #expect(try await joined.engine.clock().digest == engine.clock().digest)
            #expect(home.hasDevice)
            // The store admits the new device: its first entry goes up.
            try await joined.engine.appendRecord(.debit, amount: 65, memo: "tablet")
            #expect(try await StoreClient(url: url, engine: joined.engine, keyPair: joined.keyPair).sync().converged)
            _ = try await pairingClient.sync()
            #expect(try await engine.totals().balance == 400)
        }
    }
}
