import Foundation
import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@testable import LedgerIdentity

@Suite("Pairing codes and words")
struct PairingCodeTests {
    static let identity = try! IdentityID(bytes: (0..<32).map { UInt8($0 * 7 & 0xFF) })

    @Test("the word list is the 2,048 BIP-39 words, each fixed by its first four letters")
    func wordlist() {
        #expect(Wordlist.words.count == 2048)
        #expect(Set(Wordlist.words).count == 2048)
        #expect(Set(Wordlist.words.map { $0.prefix(4) }).count == 2048)
        #expect(Wordlist.words.first == "abandon" && Wordlist.words.last == "zoo")
        #expect(Wordlist.index(of: "Aban") == 0)
        #expect(Wordlist.index(of: "abandon") == 0)
        #expect(Wordlist.index(of: "abandonx") == nil)
        #expect(Wordlist.index(of: "aba") == nil)
        #expect(Wordlist.index(of: "zoo") == 2047)
    }

    @Test("a code reads back from its words, whole or shortened, with either separator", arguments: [false, true])
    func roundTrip(shortened: Bool) throws {
        let code = PairingCode.generate(identity: Self.identity, rendezvous: .peer(host: "192.168.1.20", port: 8789))
        #expect(code.words.count == 12)
        #expect(code.secret.count == 11)
        #expect(code.names(Self.identity))
        let words = shortened ? code.words.map { String($0.prefix(4)).uppercased() } : code.words
        let typed = "  " + words.joined(separator: shortened ? " " : "-") + "@192.168.1.20:8789\n"
        let read = try PairingCode(parsing: typed)
        #expect(read == code)
        #expect(try PairingCode(parsing: code.description) == code)
    }

    @Test("codes name a store or an IPv6 peer")
    func rendezvous() throws {
        let store = PairingCode.generate(
            identity: Self.identity, rendezvous: .store(URL(string: "https://store.example.org/base")!))
        #expect(try PairingCode(parsing: store.description).rendezvous == store.rendezvous)
        let v6 = PairingCode.generate(identity: Self.identity, rendezvous: .peer(host: "fe80::1", port: 4000))
        #expect(v6.description.hasSuffix("@[fe80::1]:4000"))
        #expect(try PairingCode(parsing: v6.description).rendezvous == .peer(host: "fe80::1", port: 4000))
    }

    @Test("a code with another identity's id does not name this identity")
    func otherIdentity() throws {
        let code = PairingCode.generate(identity: Self.identity, rendezvous: .peer(host: "h", port: 1))
        var other = Self.identity.bytes
        other[3] ^= 1
        #expect(!code.names(try IdentityID(bytes: other)))
        // Bits past the 44 the code carries do not matter.
        other = Self.identity.bytes
        other[5] ^= 0x01
        #expect(code.names(try IdentityID(bytes: other)))
    }

    @Test(
        "malformed codes are refused with a reason",
        arguments: [
            "", "abandon-ability", "no at sign at all",
            "abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon@h:1",
            "abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-xyzzy@h:1",
            "abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-zoo@h:0",
            "abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-zoo@h",
            "abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-zoo@:80",
            "abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-abandon-zoo@[::1]80",
        ])
    func malformed(text: String) {
        #expect {
            _ = try PairingCode(parsing: text)
        } throws: { error in
            guard case .badCode(let why) = error as? PairingError else { return false }
            return !why.isEmpty
        }
    }
}

/// Both ends of one exchange, driven by hand.
struct Exchange {
    var fixture: LedgerFixture
    let code: PairingCode
    let newDevice = SigningKeyPair.generate()
    var inviter: PairingInviter
    var joiner: PairingJoiner

    init(name: String = "laptop", joinerCode: PairingCode? = nil) throws {
        fixture = try LedgerFixture(deviceCount: 1)
        code = PairingCode.generate(identity: fixture.identity, rendezvous: .peer(host: "127.0.0.1", port: 1))
        inviter = PairingInviter(code: code, identity: fixture.identity, keyPair: fixture.devices[0])
        joiner = PairingJoiner(code: joinerCode ?? code, keyPair: newDevice, name: name)
    }

    /// Runs JOIN, OFFER, REVEAL; returns the request and the joiner's SAS.
    mutating func agree() throws -> (LinkRequest, ShortAuthenticationString) {
        let offer = try inviter.receiveJoin(joiner.join())
        let (reveal, sas) = try joiner.receiveOffer(offer)
        return (try inviter.receiveReveal(reveal), sas)
    }
}

@Suite("Pairing exchange")
struct PairingProtocolTests {
    @Test("both ends agree on the SAS, and approval yields a proof the link entry accepts")
    func happyPath() async throws {
        var x = try Exchange()
        let (request, sas) = try x.agree()
        #expect(request.sas == sas)
        #expect(request.device == x.newDevice.publicKey)
        #expect(request.name == "laptop")
        #expect(sas.words.count == 5)
        guard case .challenge(let challenge) = try x.inviter.approve(typed: sas.description.uppercased()) else {
            Issue.record("the right words were refused")
            return
        }
        guard case .proof(let proofMessage) = try x.joiner.receive(challenge) else {
            Issue.record("no proof")
            return
        }
        let (device, challengeBytes, proof) = try x.inviter.receiveProof(proofMessage)
        #expect(device == x.newDevice.publicKey)
        #expect(challengeBytes.count == 32)

        let engine = try await x.fixture.replica(device: 0)
        try await engine.merge(x.fixture.allEntries)
        let link = try await engine.appendLink(device: device, challenge: challengeBytes, proof: proof, name: "laptop")
        let genesis = try #require(x.fixture.logs[0].first)
        guard
            case .welcome(let sentLink, let sentGenesis) = try x.joiner.receive(
                x.inviter.welcome(link: link, genesis: genesis))
        else {
            Issue.record("no welcome")
            return
        }
        #expect(sentLink == link && sentGenesis == genesis)
        guard case .ledger(let entries) = try x.joiner.receive(x.inviter.ledger([genesis, link])) else {
            Issue.record("no ledger page")
            return
        }
        #expect(entries.count == 2)
        guard case .end(let total) = try x.joiner.receive(x.inviter.end(total: 2)) else {
            Issue.record("no end")
            return
        }
        #expect(total == 2)
        #expect(x.joiner.identity == x.fixture.identity)
    }

    @Test("a request made without the code is refused as a wrong code and leaves the window free")
    func wrongCode() throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let code = PairingCode.generate(identity: fixture.identity, rendezvous: .peer(host: "h", port: 1))
        let guess = PairingCode.generate(identity: fixture.identity, rendezvous: .peer(host: "h", port: 1))
        var inviter = PairingInviter(code: code, identity: fixture.identity, keyPair: fixture.devices[0])
        var stranger = PairingJoiner(code: guess, keyPair: .generate(), name: "x")
        #expect(throws: PairingError.wrongCode) { _ = try inviter.receiveJoin(stranger.join()) }
        var honest = PairingJoiner(code: code, keyPair: .generate(), name: "y")
        #expect(throws: Never.self) { _ = try inviter.receiveJoin(honest.join()) }
    }

    @Test("a second request to the same exchange is refused as busy")
    func busy() throws {
        var x = try Exchange()
        _ = try x.inviter.receiveJoin(x.joiner.join())
        var second = PairingJoiner(code: x.code, keyPair: .generate(), name: "second")
        #expect(throws: PairingError.busy) { _ = try x.inviter.receiveJoin(second.join()) }
    }

    @Test(
        "someone in the middle who knows the code gets two different SASes, and typing the wrong words three times closes"
    )
    func middle() throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let code = PairingCode.generate(identity: fixture.identity, rendezvous: .peer(host: "h", port: 1))
        var pairing = PairingInviter(code: code, identity: fixture.identity, keyPair: fixture.devices[0])
        var newDevice = PairingJoiner(code: code, keyPair: .generate(), name: "laptop")
        // Mallory answers the new device as if she were the pairing device, and asks the
        // pairing device as if she were the new one, with her own key.
        let mallory = SigningKeyPair.generate()
        var towardsNew = PairingInviter(code: code, identity: fixture.identity, keyPair: mallory)
        var towardsPairing = PairingJoiner(code: code, keyPair: mallory, name: "laptop")

        let (reveal, newSAS) = try newDevice.receiveOffer(try towardsNew.receiveJoin(newDevice.join()))
        _ = try towardsNew.receiveReveal(reveal)
        let (malloryReveal, _) = try towardsPairing.receiveOffer(try pairing.receiveJoin(towardsPairing.join()))
        let request = try pairing.receiveReveal(malloryReveal)

        #expect(request.device == mallory.publicKey)
        #expect(request.sas != newSAS)
        #expect(try pairing.approve(typed: newSAS.description) == .retry(left: 2))
        #expect(try pairing.approve(typed: newSAS.description) == .retry(left: 1))
        #expect(throws: PairingError.sasMismatch) { _ = try pairing.approve(typed: newSAS.description) }
        // The denial reaches Mallory sealed; the window is closed to further approvals.
        #expect(throws: PairingError.sasMismatch) { _ = try towardsPairing.receive(pairing.deny(.sasMismatch)) }
        #expect(throws: PairingError.self) { _ = try pairing.approve(typed: request.sas.description) }
    }

    @Test("a relay that swaps the new device's key without the code breaks the MAC")
    func swappedKey() throws {
        var x = try Exchange()
        let offer = try x.inviter.receiveJoin(x.joiner.join())
        var (reveal, _) = try x.joiner.receiveOffer(offer)
        let other = SigningKeyPair.generate().publicKey.bytes
        reveal.replaceSubrange(1..<33, with: other)
        #expect(throws: PairingError.self) { _ = try x.inviter.receiveReveal(reveal) }
    }

    @Test("a relay that knows the code and swaps the key in the reveal is caught by the commitment")
    func commitment() throws {
        var x = try Exchange()
        let join = x.joiner.join()
        let offer = try x.inviter.receiveJoin(join)
        let (reveal, _) = try x.joiner.receiveOffer(offer)
        // The relay replays the transcript into a channel of its own and re-MACs a reveal
        // carrying its key in place of the new device's.
        var relay = PairingChannel(code: x.code)
        _ = try relay.open(join, .join, bodyLength: 32...32)
        _ = try relay.open(offer, .offer, bodyLength: 96...96)
        var body = Array(reveal[1..<(reveal.count - 32)])
        body.replaceSubrange(0..<32, with: SigningKeyPair.generate().publicKey.bytes)
        let forged = relay.macked(.reveal, body)
        #expect(throws: PairingError.tampered("the reveal does not match the request's commitment")) {
            _ = try x.inviter.receiveReveal(forged)
        }
    }

    @Test("replayed and reordered sealed messages are refused")
    func replay() throws {
        var x = try Exchange()
        let (_, sas) = try x.agree()
        guard case .challenge(let challenge) = try x.inviter.approve(typed: sas.description) else {
            Issue.record("refused")
            return
        }
        _ = try x.joiner.receive(challenge)
        #expect(throws: PairingError.self) { _ = try x.joiner.receive(challenge) }

        var y = try Exchange()
        let (_, sasY) = try y.agree()
        guard case .challenge(let challengeY) = try y.inviter.approve(typed: sasY.description) else { return }
        // A message of one exchange does not open in another.
        #expect(throws: PairingError.self) { _ = try x.joiner.receive(challengeY) }
    }

    @Test("an offer for an identity the code does not name is refused")
    func foreignIdentity() throws {
        let fixture = try LedgerFixture(deviceCount: 1)
        let other = try LedgerFixture(deviceCount: 1)
        let code = PairingCode.generate(identity: fixture.identity, rendezvous: .peer(host: "h", port: 1))
        // The impostor knows the code but belongs to another identity.
        var impostor = PairingInviter(code: code, identity: other.identity, keyPair: other.devices[0])
        var joiner = PairingJoiner(code: code, keyPair: .generate(), name: "x")
        let offer = try impostor.receiveJoin(joiner.join())
        #expect(throws: PairingError.foreignIdentity) { _ = try joiner.receiveOffer(offer) }
    }

    @Test("a name with escape sequences is shown and recorded sanitised, and cut to the limit")
    func hostileName() throws {
        var x = try Exchange(name: "evil\u{1B}[2J\u{1B}]0;pwned\u{07}\u{202E}name")
        let (request, _) = try x.agree()
        #expect(!request.name.unicodeScalars.contains(where: TextSafety.isUnsafe))
        #expect(request.name.contains("evil") && request.name.contains("name"))
        var long = try Exchange(name: String(repeating: "é", count: 120))
        let (longRequest, _) = try long.agree()
        #expect(longRequest.name.utf8.count <= PrivateBody.maxNameBytes)
    }

    @Test("a refusal before the keys are agreed reads as its reason")
    func refusals() throws {
        var x = try Exchange()
        _ = x.joiner.join()
        #expect(throws: PairingError.busy) { _ = try x.joiner.receiveOffer(PairingProtocol.refusal(.busy)) }
        #expect(throws: PairingError.self) { _ = try x.joiner.receiveOffer([6, 99]) }
        #expect(throws: PairingError.self) { _ = try x.joiner.receiveOffer([2] + [UInt8](repeating: 0, count: 200)) }
    }
}

@Suite("Joining from a certificate")
struct JoinSetupTests {
    static func home() -> DataHome {
        DataHome(
            url: TestFolder.url("ledgerlink-join"))
    }

    @Test("a genesis of another identity is refused and nothing is written")
    func foreignGenesis() async throws {
        var x = try Exchange()
        let other = try LedgerFixture(deviceCount: 1)
        let link = try x.fixture.link(device: x.newDevice, name: "n", by: 0)
        let home = Self.home()
        await #expect(throws: PairingError.foreignIdentity) {
            _ = try await DeviceSetup.beginJoin(
                home: home, keyPair: x.newDevice, identity: x.fixture.identity, inviter: x.fixture.devices[0].publicKey,
                genesis: other.logs[0][0], link: link)
        }
        #expect(!FileManager.default.fileExists(atPath: home.database.path))
    }

    @Test("a link for another key is refused; a complete ledger finishes the join and writes the key last")
    func finish() async throws {
        var x = try Exchange()
        let link = try x.fixture.link(device: x.newDevice, name: "n", by: 0)
        try x.fixture.record(device: 0, .credit, amount: 500)
        let inviter = x.fixture.devices[0].publicKey
        let genesis = x.fixture.logs[0][0]
        await #expect(throws: PairingError.self) {
            _ = try await DeviceSetup.beginJoin(
                home: Self.home(), keyPair: .generate(), identity: x.fixture.identity, inviter: inviter,
                genesis: genesis, link: link)
        }
        let home = Self.home()
        let engine = try await DeviceSetup.beginJoin(
            home: home, keyPair: x.newDevice, identity: x.fixture.identity, inviter: inviter, genesis: genesis,
            link: link)
        #expect(!home.hasDevice)
        // Without the link entry in the ledger, the join cannot finish.
        await #expect(throws: PairingError.self) {
            try await DeviceSetup.finishJoin(
                home: home, engine: engine, keyPair: x.newDevice, inviter: inviter, passphrase: nil)
        }
        try await engine.merge(x.fixture.allEntries)
        try await DeviceSetup.finishJoin(
            home: home, engine: engine, keyPair: x.newDevice, inviter: inviter, passphrase: nil)
        #expect(home.hasDevice)
        #expect(try await engine.totals().balance == 500)
        let written = try await engine.appendRecord(.debit, amount: 1, memo: "first")
        #expect(written.author == x.newDevice.publicKey)
    }
}

@Suite("Pairing pages carry entries as runs")
struct PairingRunsTests {
    @Test("WELCOME and LEDGER pages read as runs, and as the whole encodings an earlier version sends")
    func bothForms() throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<20 { try fixture.record(device: 0, .credit, amount: 1, memo: "m\(i)") }
        let entries = fixture.allEntries
        var runs = ByteWriter()
        EntryRuns.encode(entries, into: &runs)
        var list = ByteWriter()
        EntryList.encode(entries, into: &list)
        #expect(runs.bytes.count < list.bytes.count)
        for bytes in [runs.bytes, list.bytes] {
            var reader = ByteReader(bytes)
            #expect(try PairingProtocol.decodeEntries(&reader).map(\.encoded) == entries.map(\.encoded))
            #expect(reader.isAtEnd)
        }
        var cut = ByteReader(Array(runs.bytes.dropLast()))
        #expect(throws: PairingError.self) { try PairingProtocol.decodeEntries(&cut) }
    }
}
