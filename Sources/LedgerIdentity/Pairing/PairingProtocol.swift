import LedgerCore
import LedgerCrypto

/// The messages and keys both ends of a pairing share (docs/PROTOCOL.md, "Linking a device").
///
/// 1. JOIN (new device): a commitment to its device key, ephemeral key and name, MACed with the
///    code key, so only someone holding the code can make a request.
/// 2. OFFER (pairing device): the identity id, its device key and ephemeral key, MACed.
/// 3. REVEAL (new device): what it committed to, MACed. Each MAC covers the transcript so far.
/// 4. Both derive directional session keys from crypto_kx over the ephemeral keys, the code key
///    and the transcript hash, and the short authentication string (SAS) from the same.
///    Because the new device committed before seeing the offer, a party in the middle cannot
///    search for keys that make the two screens agree.
/// 5. Sealed from here on: CHALLENGE (32 random bytes, once the person approves), PROOF (the
///    new device's signature over the labelled link transcript), WELCOME (its link entry and
///    the identity's genesis entry), then over the peer channel LEDGER pages and END. Or DENY.
package enum PairingProtocol {
    /// Largest message either end accepts.
    package static let maxMessage = 1 << 20
    /// Times the person may type the SAS before the window closes.
    package static let sasAttempts = 3
    /// Words in the SAS (55 bits).
    package static let sasWords = 5

    /// The type byte that starts every message.
    package enum Kind: UInt8, Sendable {
        case join = 1
        case offer = 2
        case reveal = 3
        case challenge = 4
        case proof = 5
        case refuse = 6
        case deny = 7
        case welcome = 8
        case ledger = 9
        case end = 10
    }

    /// Why the pairing device turned a request away; sent as one byte.
    package enum Refusal: UInt8, Sendable {
        case wrongCode = 1
        case busy = 2
        case windowClosed = 3
        case denied = 4
        case sasMismatch = 5
        /// The pairing device could not finish after approval (it could not write or publish
        /// the link).
        case failed = 6

        package var error: PairingError {
            switch self {
            case .wrongCode: .wrongCode
            case .busy: .busy
            case .windowClosed: .windowClosed
            case .denied: .denied
            case .sasMismatch: .sasMismatch
            case .failed:
                .unreachable("the pairing device could not finish the link (see its screen); nothing was saved here")
            }
        }
    }

    static let codeLabel = Array("ledgerlink-pair-code-v1".utf8)
    static let macLabel = Array("ledgerlink-pair-mac-v1".utf8)
    static let commitLabel = Array("ledgerlink-pair-commit-v1".utf8)
    static let transcriptLabel = Array("ledgerlink-pair-transcript-v1".utf8)
    static let keyLabel = Array("ledgerlink-pair-key-v1".utf8)
    static let sasLabel = Array("ledgerlink-pair-sas-v1".utf8)
    static let sealLabel = Array("ledgerlink-pair-seal-v1".utf8)
    static let mailboxLabel = Array("ledgerlink-pair-mailbox-v1".utf8)

    /// The key every MAC and session key is derived under: BLAKE2b-256 of a label, the code's
    /// identity bits and its secret.
    static func codeKey(_ code: PairingCode) -> [UInt8] {
        Blake2b.hash(codeLabel + code.identityTag + code.secret).bytes
    }

    /// The store mailbox the code names (hex). The store learns this, never the secret.
    package static func mailbox(for code: PairingCode) -> String {
        Blake2b.hash(mailboxLabel + code.identityTag + code.secret).hex
    }

    /// A plaintext refusal (before any session exists).
    package static func refusal(_ reason: Refusal) -> [UInt8] { [Kind.refuse.rawValue, reason.rawValue] }

    package static func commitment(device: DevicePublicKey, ephemeral: [UInt8], name: [UInt8]) -> [UInt8] {
        Blake2b.hash(commitLabel + device.bytes + ephemeral + [UInt8(name.count)] + name).bytes
    }

    /// Entries of WELCOME and LEDGER: runs (`EntryRuns`), or the list of whole encodings an
    /// earlier version sends.
    static func decodeEntries(_ r: inout ByteReader) throws(PairingError) -> [Entry] {
        let start = r
        do {
            return try EntryRuns.decode(&r, maxCount: .max)
        } catch {
            r = start
            do { return try EntryList.decode(&r, maxCount: .max) } catch let earlier {
                throw .tampered(earlier == .truncated ? error.description : earlier.description)
            }
        }
    }
}

/// The short authentication string both screens show: five words from the pairing word list.
package struct ShortAuthenticationString: Sendable, Equatable, CustomStringConvertible {
    package let words: [String]

    init(bytes: [UInt8]) {
        var bits = BitString()
        bits.append(bytes, bits: PairingProtocol.sasWords * Wordlist.bitsPerWord)
        words = bits.groups(of: Wordlist.bitsPerWord).map { Wordlist.words[$0] }
    }

    package var description: String { words.joined(separator: " ") }

    /// True when `typed` names the same words (spaces or dashes between them, each word whole
    /// or its first four letters, any case).
    package func matches(typed: String) -> Bool {
        let parts = typed.split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "\t" })
        guard parts.count == words.count else { return false }
        return zip(parts, words).allSatisfy { part, word in
            Wordlist.index(of: String(part)).map { Wordlist.words[$0] == word } ?? false
        }
    }
}

/// The state both ends keep: the code key, the transcript of the clear messages, and once the
/// keys are agreed, the sealed channel.
package struct PairingChannel: Sendable {
    let codeKey: [UInt8]
    private var transcript = ByteWriter()
    private var sendKey: SymmetricKey?
    private var receiveKey: SymmetricKey?
    private var sent: UInt64 = 0
    private var received: UInt64 = 0
    private(set) var sas: ShortAuthenticationString?

    package init(code: PairingCode) { codeKey = PairingProtocol.codeKey(code) }

    var transcriptHash: Digest32 { Blake2b.hash(PairingProtocol.transcriptLabel + transcript.bytes) }

    /// A clear message: kind, body, and a MAC over the transcript so far and both.
    package mutating func macked(_ kind: PairingProtocol.Kind, _ body: [UInt8]) -> [UInt8] {
        let message = [kind.rawValue] + body + mac(kind, body)
        transcript.lengthPrefixed32(message)
        return message
    }

    /// Checks a clear message of `kind` and returns its body. A refusal throws its reason.
    package mutating func open(_ message: [UInt8], _ kind: PairingProtocol.Kind, bodyLength: ClosedRange<Int>)
        throws(PairingError) -> [UInt8]
    {
        try Self.throwIfRefusal(message)
        guard message.first == kind.rawValue else { throw .tampered("expected a \(kind) message") }
        guard message.count >= 33, bodyLength.contains(message.count - 33) else {
            throw .tampered("a \(kind) message of the wrong length")
        }
        let body = Array(message[1..<(message.count - 32)])
        guard constantTimeEqual(Array(message.suffix(32)), mac(kind, body)) else {
            throw kind == .join ? .wrongCode : .tampered("the \(kind) message does not match the code")
        }
        transcript.lengthPrefixed32(message)
        return body
    }

    static func throwIfRefusal(_ message: [UInt8]) throws(PairingError) {
        guard message.first == PairingProtocol.Kind.refuse.rawValue else { return }
        guard message.count == 2, let reason = PairingProtocol.Refusal(rawValue: message[1]) else {
            throw .tampered("a malformed refusal")
        }
        throw reason.error
    }

    private func mac(_ kind: PairingProtocol.Kind, _ body: [UInt8]) -> [UInt8] {
        Blake2b.keyedHash(
            PairingProtocol.macLabel + [kind.rawValue] + transcriptHash.bytes + body, key: codeKey)
    }

    /// Agrees the session keys and the SAS from the ephemeral keys and the transcript.
    package mutating func agree(ephemeral: KeyExchangeKeyPair, peer: [UInt8], isJoiner: Bool) throws(PairingError) {
        guard let keys = try? ephemeral.sessionKeys(peer: peer, isClient: isJoiner) else {
            throw .tampered("an unusable ephemeral key")
        }
        // Joiner-to-inviter traffic uses the joiner's send key (= the inviter's receive key).
        let j2p = isJoiner ? keys.send.copyBytes() : keys.receive.copyBytes()
        let p2j = isJoiner ? keys.receive.copyBytes() : keys.send.copyBytes()
        let th = transcriptHash.bytes
        func derive(_ direction: UInt8, _ secret: [UInt8]) -> SymmetricKey? {
            try? SymmetricKey(
                bytes: Blake2b.keyedHash(PairingProtocol.keyLabel + [direction] + secret + th, key: codeKey))
        }
        guard let toInviter = derive(1, j2p), let toJoiner = derive(2, p2j) else {
            throw .tampered("key derivation failed")
        }
        sendKey = isJoiner ? toInviter : toJoiner
        receiveKey = isJoiner ? toJoiner : toInviter
        sas = ShortAuthenticationString(
            bytes: Blake2b.keyedHash(PairingProtocol.sasLabel + j2p + p2j + th, key: codeKey))
    }

    private static func nonce(_ counter: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 24)
        w.raw([UInt8](repeating: 0, count: 16))
        w.u64(counter)
        return w.bytes
    }

    private static func associatedData(_ kind: UInt8, _ counter: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 48)
        w.raw(PairingProtocol.sealLabel)
        w.u8(kind)
        w.u64(counter)
        return w.bytes
    }

    /// A sealed message: kind, then the body encrypted under this direction's key with the
    /// message counter as nonce, so a replayed or reordered message fails to open.
    package mutating func sealed(_ kind: PairingProtocol.Kind, _ body: [UInt8]) -> [UInt8] {
        guard let sendKey,
            let ct = try? XChaCha20Poly1305.seal(
                body, associatedData: Self.associatedData(kind.rawValue, sent), nonce: Self.nonce(sent), key: sendKey)
        else { return PairingProtocol.refusal(.denied) }
        sent += 1
        return [kind.rawValue] + ct
    }

    /// Opens the next sealed message; returns its kind and body.
    mutating func unseal(_ message: [UInt8]) throws(PairingError) -> (PairingProtocol.Kind, [UInt8]) {
        guard let receiveKey else { throw .tampered("a sealed message before the keys were agreed") }
        guard let first = message.first, let kind = PairingProtocol.Kind(rawValue: first), kind.rawValue >= 4,
            kind != .refuse
        else {
            throw .tampered("an unexpected message")
        }
        guard
            let body = try? XChaCha20Poly1305.open(
                Array(message.dropFirst()), associatedData: Self.associatedData(first, received),
                nonce: Self.nonce(received), key: receiveKey)
        else { throw .tampered("a sealed message did not open: replayed, reordered or altered") }
        received += 1
        return (kind, body)
    }
}

/// A new device asking to join, as the pairing device sees it once the keys are agreed.
package struct LinkRequest: Sendable, Equatable {
    /// The new device's key.
    package let device: DevicePublicKey
    /// The name the new device gave, made safe to show; it is unverified.
    package let name: String
    /// What this screen shows; the new device's screen shows the same words when no one is in
    /// the middle.
    package let sas: ShortAuthenticationString
}

/// The pairing device's side of one request.
package struct PairingInviter: Sendable {
    /// What approving with a typed SAS led to.
    package enum Approval: Sendable, Equatable {
        /// The words matched: send this CHALLENGE.
        case challenge([UInt8])
        /// The words did not match; the person may try again this many times.
        case retry(left: Int)
    }

    private enum Stage { case awaitingJoin, awaitingReveal, awaitingApproval, awaitingProof, linked, closed }

    package let identity: IdentityID
    private let keyPair: SigningKeyPair
    private let ephemeral: KeyExchangeKeyPair
    private let makeChallenge: @Sendable () -> [UInt8]
    private var channel: PairingChannel
    private var stage = Stage.awaitingJoin
    private var commitment: [UInt8] = []
    private var challenge: [UInt8] = []
    private var attemptsLeft = PairingProtocol.sasAttempts
    package private(set) var request: LinkRequest?

    package init(code: PairingCode, identity: IdentityID, keyPair: SigningKeyPair) {
        self.init(
            code: code, identity: identity, keyPair: keyPair, ephemeral: KeyExchangeKeyPair(),
            challenge: { SecureRandom.bytes(PublicBody.challengeLength) })
    }

    /// With a given ephemeral key and challenge (test vectors).
    init(
        code: PairingCode, identity: IdentityID, keyPair: SigningKeyPair, ephemeral: KeyExchangeKeyPair,
        challenge: @escaping @Sendable () -> [UInt8]
    ) {
        self.identity = identity
        self.keyPair = keyPair
        self.ephemeral = ephemeral
        self.makeChallenge = challenge
        self.channel = PairingChannel(code: code)
    }

    /// Checks a JOIN and answers with an OFFER. A JOIN made without the code throws `wrongCode`.
    package mutating func receiveJoin(_ message: [UInt8]) throws(PairingError) -> [UInt8] {
        guard stage == .awaitingJoin else { throw .busy }
        commitment = try channel.open(message, .join, bodyLength: 32...32)
        stage = .awaitingReveal
        return channel.macked(.offer, identity.bytes + keyPair.publicKey.bytes + ephemeral.publicKey)
    }

    /// Checks the REVEAL against the JOIN's commitment and agrees the keys: returns the request
    /// to show the person.
    package mutating func receiveReveal(_ message: [UInt8]) throws(PairingError) -> LinkRequest {
        guard stage == .awaitingReveal else { throw .tampered("a reveal out of turn") }
        let body = try channel.open(message, .reveal, bodyLength: 65...(65 + 255))
        guard let device = try? DevicePublicKey(bytes: Array(body[0..<32])), Int(body[64]) == body.count - 65 else {
            throw .tampered("a malformed reveal")
        }
        let ephemeralKey = Array(body[32..<64])
        let nameBytes = Array(body[65...])
        guard
            constantTimeEqual(
                PairingProtocol.commitment(device: device, ephemeral: ephemeralKey, name: nameBytes), commitment)
        else { throw .tampered("the reveal does not match the request's commitment") }
        try channel.agree(ephemeral: ephemeral, peer: ephemeralKey, isJoiner: false)
        guard let sas = channel.sas else { throw .tampered("no SAS") }
        let request = LinkRequest(device: device, name: Self.displayName(nameBytes), sas: sas)
        self.request = request
        stage = .awaitingApproval
        return request
    }

    /// The name as it will be shown and recorded: unsafe characters replaced, at most the
    /// documented length.
    static func displayName(_ bytes: [UInt8]) -> String {
        var name = TextSafety.sanitised(String(decoding: bytes, as: UTF8.self))
        while name.utf8.count > PrivateBody.maxNameBytes { name.removeLast() }
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? "(unnamed)" : trimmed
    }

    /// Approves with the words the person typed. After three mismatches throws `sasMismatch`
    /// (send `deny(.sasMismatch)` and close the window).
    package mutating func approve(typed: String) throws(PairingError) -> Approval {
        guard stage == .awaitingApproval, let request else { throw .tampered("nothing to approve") }
        guard request.sas.matches(typed: typed) else {
            attemptsLeft -= 1
            if attemptsLeft == 0 {
                stage = .closed
                throw .sasMismatch
            }
            return .retry(left: attemptsLeft)
        }
        challenge = makeChallenge()
        stage = .awaitingProof
        return .challenge(channel.sealed(.challenge, challenge))
    }

    /// A sealed DENY (once keys are agreed) or a clear refusal (before).
    package mutating func deny(_ reason: PairingProtocol.Refusal) -> [UInt8] {
        stage = .closed
        return channel.sas != nil ? channel.sealed(.deny, [reason.rawValue]) : PairingProtocol.refusal(reason)
    }

    /// Checks the PROOF: the new device's signature over the link transcript for this challenge.
    /// Returns what the link entry records.
    package mutating func receiveProof(_ message: [UInt8]) throws(PairingError) -> (
        device: DevicePublicKey, challenge: [UInt8], proof: Signature
    ) {
        guard stage == .awaitingProof, let request else { throw .tampered("a proof out of turn") }
        let (kind, body) = try channel.unseal(message)
        guard kind == .proof, let proof = try? Signature(bytes: body) else { throw .tampered("expected a proof") }
        let transcript = PublicBody.linkProofMessage(
            identity: identity, device: request.device, approver: keyPair.publicKey, challenge: challenge)
        guard request.device.isValidSignature(proof, for: transcript) else {
            throw .tampered("the new device's proof of its key does not verify")
        }
        stage = .linked
        return (request.device, challenge, proof)
    }

    /// WELCOME: the new device's link entry and the identity's genesis entry, which derives
    /// the identity id the code names.
    package mutating func welcome(link: Entry, genesis: Entry) -> [UInt8] {
        var w = ByteWriter()
        EntryRuns.encode([link, genesis], into: &w)
        return channel.sealed(.welcome, w.bytes)
    }

    /// One LEDGER page of entries.
    package mutating func ledger(_ entries: [Entry]) -> [UInt8] {
        var w = ByteWriter()
        EntryRuns.encode(entries, into: &w)
        return channel.sealed(.ledger, w.bytes)
    }

    /// END: how many entries the LEDGER pages carried.
    package mutating func end(total: Int) -> [UInt8] {
        var w = ByteWriter()
        w.u64(UInt64(total))
        return channel.sealed(.end, w.bytes)
    }
}

/// The new device's side.
package struct PairingJoiner: Sendable {
    /// What a sealed message from the pairing device said.
    package enum Step: Sendable {
        /// The person approved: send this PROOF.
        case proof([UInt8])
        /// The certificate arrived, with the identity's genesis entry.
        case welcome(link: Entry, genesis: Entry)
        /// A page of the ledger.
        case ledger([Entry])
        /// The ledger is complete: this many entries were sent.
        case end(total: Int)
    }

    private enum Stage { case start, awaitingOffer, awaitingChallenge, awaitingWelcome, receiving, done }

    package let code: PairingCode
    package let keyPair: SigningKeyPair
    package let name: String
    private let ephemeral: KeyExchangeKeyPair
    private var channel: PairingChannel
    private var stage = Stage.start
    /// Learned from the OFFER.
    package private(set) var identity: IdentityID?
    package private(set) var inviter: DevicePublicKey?

    package init(code: PairingCode, keyPair: SigningKeyPair, name: String) {
        self.init(code: code, keyPair: keyPair, name: name, ephemeral: KeyExchangeKeyPair())
    }

    /// With a given ephemeral key (test vectors).
    init(code: PairingCode, keyPair: SigningKeyPair, name: String, ephemeral: KeyExchangeKeyPair) {
        self.code = code
        self.keyPair = keyPair
        self.name = name
        self.ephemeral = ephemeral
        self.channel = PairingChannel(code: code)
    }

    private var nameBytes: [UInt8] { Array(name.utf8.prefix(255)) }

    /// The JOIN that starts the exchange.
    package mutating func join() -> [UInt8] {
        stage = .awaitingOffer
        return channel.macked(
            .join,
            PairingProtocol.commitment(device: keyPair.publicKey, ephemeral: ephemeral.publicKey, name: nameBytes))
    }

    /// Checks the OFFER (made with the code, for the identity the code names) and answers with
    /// the REVEAL; returns the SAS to show.
    package mutating func receiveOffer(_ message: [UInt8]) throws(PairingError) -> (
        reveal: [UInt8], sas: ShortAuthenticationString
    ) {
        guard stage == .awaitingOffer else { throw .tampered("an offer out of turn") }
        let body = try channel.open(message, .offer, bodyLength: 96...96)
        guard let identity = try? IdentityID(bytes: Array(body[0..<32])),
            let inviter = try? DevicePublicKey(bytes: Array(body[32..<64]))
        else { throw .tampered("a malformed offer") }
        guard code.names(identity) else { throw .foreignIdentity }
        self.identity = identity
        self.inviter = inviter
        let reveal = channel.macked(
            .reveal, keyPair.publicKey.bytes + ephemeral.publicKey + [UInt8(nameBytes.count)] + nameBytes)
        try channel.agree(ephemeral: ephemeral, peer: Array(body[64..<96]), isJoiner: true)
        guard let sas = channel.sas else { throw .tampered("no SAS") }
        stage = .awaitingChallenge
        return (reveal, sas)
    }

    /// Handles the next sealed message from the pairing device. A DENY throws its reason.
    package mutating func receive(_ message: [UInt8]) throws(PairingError) -> Step {
        let (kind, body) = try channel.unseal(message)
        if kind == .deny {
            stage = .done
            guard body.count == 1, let reason = PairingProtocol.Refusal(rawValue: body[0]) else {
                throw .tampered("a malformed denial")
            }
            throw reason.error
        }
        var r = ByteReader(body)
        do {
            switch (stage, kind) {
            case (.awaitingChallenge, .challenge):
                guard body.count == PublicBody.challengeLength, let identity, let inviter else {
                    throw PairingError.tampered("a malformed challenge")
                }
                stage = .awaitingWelcome
                let transcript = PublicBody.linkProofMessage(
                    identity: identity, device: keyPair.publicKey, approver: inviter, challenge: body)
                return .proof(channel.sealed(.proof, keyPair.sign(transcript).bytes))
            case (.awaitingWelcome, .welcome):
                let entries = try PairingProtocol.decodeEntries(&r)
                guard r.isAtEnd, entries.count == 2 else { throw PairingError.tampered("a malformed welcome") }
                stage = .receiving
                return .welcome(link: entries[0], genesis: entries[1])
            case (.receiving, .ledger):
                let entries = try PairingProtocol.decodeEntries(&r)
                guard r.isAtEnd else { throw PairingError.tampered("trailing bytes in a ledger page") }
                return .ledger(entries)
            case (.receiving, .end):
                let total = try r.u64()
                guard r.isAtEnd, total <= UInt64(Int.max) else { throw PairingError.tampered("a malformed end") }
                stage = .done
                return .end(total: Int(total))
            default:
                throw PairingError.tampered("a \(kind) message out of turn")
            }
        } catch let error as PairingError {
            throw error
        } catch {
            throw .tampered("a malformed \(kind) message")
        }
    }
}
