import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerRemote
import LedgerSync

/// Every decoder of bytes from outside, as a fuzz target: the libFuzzer driver
/// (`ledgerlink-fuzz`) runs one on generated inputs, and `swift test` replays the kept corpus
/// (Tests/Fuzz) through the same code. A target returns normally for any input it refuses; a
/// failed round-trip property or a trap is the bug.
package enum FuzzTargets {
    /// Target names, as `ledgerlink-fuzz --target=NAME` and the corpus folders spell them.
    package static let names = [
        "entry", "public-body", "private-body", "clock", "segment", "export", "store-wire", "pairing-code",
        "pairing-messages", "peer-message", "announcement", "recovery-words", "csv-statement", "forwarded-for",
        "entry-runs", "stored-run",
    ]

    /// A broken property: the fuzzer reports it as a crash.
    package struct PropertyFailure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Runs target `name` on `data`. Throws only a `PropertyFailure`.
    package static func run(_ name: String, _ data: [UInt8]) throws(PropertyFailure) {
        switch name {
        case "entry": try entry(data)
        case "public-body": try publicBody(data)
        case "private-body": try privateBody(data)
        case "clock": try clock(data)
        case "segment": segment(data)
        case "export": export(data)
        case "store-wire": storeWire(data)
        case "pairing-code": try pairingCode(data)
        case "pairing-messages": pairingMessages(data)
        case "peer-message": peerMessage(data)
        case "announcement": try announcement(data)
        case "recovery-words": try recoveryWords(data)
        case "csv-statement": try csvStatement(data)
        case "forwarded-for": try forwardedFor(data)
        case "entry-runs": try entryRuns(data)
        case "stored-run": try storedRun(data)
        default: throw PropertyFailure(description: "no fuzz target named \(name)")
        }
    }

    static func check(_ condition: Bool, _ what: @autoclosure () -> String) throws(PropertyFailure) {
        if !condition { throw PropertyFailure(description: what()) }
    }

    // MARK: - Ledger

    /// Entry: what decodes re-encodes to the same bytes; checking its signature never traps;
    /// the author and seq a store reads in place (any bytes at all) are the decoded ones.
    static func entry(_ data: [UInt8]) throws(PropertyFailure) {
        let position = Entry.position(in: data)
        guard let entry = try? Entry(decoding: data) else { return }
        try check(entry.encoded == data, "an entry decoded from bytes it does not re-encode to")
        try check(
            position.map { Array($0.author) == entry.author.bytes && $0.seq == Int64(entry.seq) } == true,
            "the author and seq read in place differ from the decoded entry's")
        _ = entry.hasValidSignature
        _ = try? PublicBody(decoding: entry.publicBody, kind: entry.kind)
    }

    /// Public body: the first byte picks the kind; what decodes re-encodes to the same bytes.
    static func publicBody(_ data: [UInt8]) throws(PropertyFailure) {
        guard let first = data.first, let kind = EntryKind(rawValue: first % 8) else { return }
        let bytes = Array(data.dropFirst())
        guard let body = try? PublicBody(decoding: bytes, kind: kind) else { return }
        try check(body.encoded == bytes, "a \(kind) public body that does not re-encode to its bytes")
    }

    /// A sealed part's plaintext (the first byte picks the kind, corrections included): what
    /// decodes re-encodes to the same bytes, so two replicas can never read one body two ways.
    static func privateBody(_ data: [UInt8]) throws(PropertyFailure) {
        guard let first = data.first, let kind = EntryKind(rawValue: first % 8) else { return }
        let bytes = Array(data.dropFirst())
        guard let body = try? PrivateBody(decoding: bytes, kind: kind) else { return }
        try check(body.encoded == bytes, "a \(kind) body that does not re-encode to its bytes")
    }

    /// Clock: what decodes re-encodes to the same bytes (the decoder refuses what it would not write).
    static func clock(_ data: [UInt8]) throws(PropertyFailure) {
        guard let clock = try? VectorClock(decoding: data) else { return }
        try check(VectorClock.encode(clock.entries) == data, "a clock that does not re-encode to its bytes")
        _ = clock.advanced(by: [])
    }

    static let segmentAuthor = SigningKeyPair.generate().publicKey

    /// A stored segment blob (a damaged or hostile ledger file).
    static func segment(_ data: [UInt8]) {
        _ = try? LogSegments.entries(in: data, identity: fuzzIdentity, author: segmentAuthor)
    }

    /// An export document, text or JSON, with the store heads it carries read as `import`
    /// reads them.
    static func export(_ data: [UInt8]) {
        guard let contents = try? ExportDocument.contents(Data(data)) else { return }
        for json in contents.storeHeads {
            _ = (try? JSONDecoder().decode(StoreHead.self, from: Data(json)))?.isValid
        }
    }

    /// Entries as runs (peer RUNS, pairing pages, the store's binary sync bodies): what decodes
    /// rebuilds entries that survive being sent as runs again, byte for byte, in the size the
    /// encoder says; a binary sync body reads its control object and its runs, and so does a
    /// streamed answer, whole or in pieces of any sizes (each part rebuilt as it is whole).
    static func entryRuns(_ data: [UInt8]) throws(PropertyFailure) {
        var reader = ByteReader(data)
        if let entries = try? EntryRuns.decode(&reader, maxCount: 20_000) {
            let again = EntryRuns.encoded(entries)
            try check(EntryRuns.size(of: entries) == again.count, "size(of:) is not the encoding's size")
            var second = ByteReader(again)
            let back = try? EntryRuns.decode(&second, maxCount: 20_000)
            try check(back?.map(\.encoded) == entries.map(\.encoded), "entries changed when sent as runs again")
        }
        _ = try? SyncBody.decode(data, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
        _ = try? SyncBody.decode(data, as: SyncRequest.self, maxEntries: StoreAPI.maxRequestEntries)
        // A streamed answer: what decodes is the same entries sent again as one part.
        if let (control, entries) = try? SyncBody.decodeStream(
            data, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries),
            let again = try? SyncBody.stream(control, parts: [entries])
        {
            let back = try? SyncBody.decodeStream(again, as: SyncResponse.self, maxEntries: StoreAPI.maxResponseEntries)
            try check(back?.1.map(\.encoded) == entries.map(\.encoded), "a stream's entries changed when sent again")
        }
        try streamInPieces(data)
    }

    /// A stream read as it arrives, in pieces of any sizes, reads as it does whole: the same
    /// entries and control object, or the same refusal.
    static func streamInPieces(_ data: [UInt8]) throws(PropertyFailure) {
        func outcome(_ pieces: [ArraySlice<UInt8>]) -> String {
            var reader = SyncBody.StreamReader<SyncResponse>(maxEntries: StoreAPI.maxResponseEntries)
            do {
                for piece in pieces { try reader.read(piece) }
                let (control, entries) = try reader.finish()
                return "\(control.digest) \(entries.map(\.hash.hex))"
            } catch {
                return "refused: \(error)"
            }
        }
        // Piece sizes from the data itself: single bytes, and lengths that cut runs anywhere.
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        var size = 1
        while start < data.count {
            let end = min(data.count, start + size)
            pieces.append(data[start..<end])
            start = end
            size = 1 + Int(data[end - 1]) * 37 % 997
        }
        try check(outcome(pieces) == outcome([data[...]]), "a stream read in pieces reads otherwise than whole")
    }

    /// A store's row holding a run (a damaged or hostile store database): the first byte says
    /// how many entries the rest claims to be. Where they lie must cover the bytes exactly, in
    /// order; what they hold decodes, hashes taken from links, without a trap.
    static func storedRun(_ data: [UInt8]) throws(PropertyFailure) {
        guard let claimed = data.first else { return }
        let bytes = Array(data.dropFirst())
        let ranges = bytes.withUnsafeBytes { Entry.ranges(in: $0, count: Int(claimed)) }
        guard let ranges else { return }
        try check(ranges.count == Int(claimed), "a row split into another number of entries than it claims")
        try check(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == bytes.count, "bytes left out")
        try check(
            zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }
                && ranges.allSatisfy { $0.count >= Entry.fixedLength && $0.count <= Entry.maxEncodedLength },
            "entries that overlap, leave gaps or break the length limits")
        let pieces = ranges.map { Array(bytes[$0]) }
        let entries = try? Entry.decodeAll(pieces, linksChecked: true)
        if let entries {
            try check(entries.map(\.encoded) == pieces, "entries that do not re-encode to their bytes")
        }
        // Checked without building entries (as a store writes its rows into runs): refused
        // exactly where decoding refuses, and otherwise the same hashes, authors and seqs.
        let checked = try? Entry.checkedAll(pieces)
        try check((checked == nil) == (entries == nil), "rows checked and decoded disagree on what is an entry")
        if let checked, let entries {
            try check(
                checked.map(\.hash) == entries.map(\.hash) && checked.map(\.author) == entries.map(\.author)
                    && checked.map(\.seq) == entries.map(\.seq),
                "rows checked carry other hashes, authors or seqs than their entries")
        }
    }

    // MARK: - Store

    /// Every JSON body of the store's API, as the server and the client decode them.
    static func storeWire(_ data: [UInt8]) {
        let bytes = Data(data)
        let decoder = JSONDecoder()
        _ = try? decoder.decode(ChallengeRequest.self, from: bytes)
        _ = try? decoder.decode(ChallengeResponse.self, from: bytes)
        _ = try? decoder.decode(TokenRequest.self, from: bytes)
        _ = try? decoder.decode(TokenResponse.self, from: bytes)
        _ = try? decoder.decode(SyncRequest.self, from: bytes)
        _ = try? decoder.decode(SyncResponse.self, from: bytes)
        _ = try? decoder.decode(StoreErrorBody.self, from: bytes)
        _ = try? decoder.decode(MailboxOpenRequest.self, from: bytes)
        _ = try? decoder.decode(MailboxSendRequest.self, from: bytes)
        _ = try? decoder.decode(MailboxReceiveRequest.self, from: bytes)
        _ = try? decoder.decode(MailboxReceiveResponse.self, from: bytes)
        if let sync = try? decoder.decode(SyncRequest.self, from: bytes) {
            _ = sync.clock.flatMap(base64Bytes).map { try? VectorClock(decoding: $0) }
            _ = sync.entries?.prefix(16).map { base64Bytes($0).map { try? Entry(decoding: $0) } }
        }
        // Store heads: in an answer (checked against the asker's identity) and as kept proofs.
        if let answer = try? decoder.decode(SyncResponse.self, from: bytes), let wire = answer.head,
            let identity = try? IdentityID(bytes: [UInt8](repeating: 7, count: 32))
        {
            _ = wire.head(identity: identity, digest: answer.digest)?.isValid
        }
        _ = (try? decoder.decode(StoreHead.self, from: bytes))?.isValid
        _ = (try? decoder.decode(StoreProof.self, from: bytes))?.heads.map(\.isValid)
        _ = try? decoder.decode(ProveRequest.self, from: bytes)
        _ = try? decoder.decode(ProveResponse.self, from: bytes)
        _ = try? decoder.decode(RecoveryLookupRequest.self, from: bytes)
        if let lookup = try? decoder.decode(RecoveryLookupResponse.self, from: bytes) {
            _ = lookup.identities.prefix(16).map { base64Bytes($0.genesis).map { try? Entry(decoding: $0) } }
        }
    }

    // MARK: - Pairing

    /// A typed pairing code: one that parses prints back to text that parses to the same code.
    /// Typed recovery words: words that parse print back to words that parse to the same key.
    static func recoveryWords(_ data: [UInt8]) throws(PropertyFailure) {
        guard let words = try? RecoveryWords(parsing: String(decoding: data, as: UTF8.self)) else { return }
        let again = try? RecoveryWords(parsing: words.words.joined(separator: " "))
        try check(again?.keyPair.publicKey == words.keyPair.publicKey, "recovery words do not read back to their key")
    }

    static func pairingCode(_ data: [UInt8]) throws(PropertyFailure) {
        let text = String(decoding: data, as: UTF8.self)
        guard let code = try? PairingCode(parsing: text) else { return }
        let again = try? PairingCode(parsing: code.description)
        try check(again == code, "pairing code \(code.description) does not parse back to itself")
    }

    /// Both ends of an exchange whose keys are agreed, so that fuzzed bodies reach the parsers
    /// behind the MAC and the AEAD: the harness plays the pairing device with the code's own
    /// channel and seals or MACs what the fuzzer chose.
    struct Agreed: Sendable {
        var joiner: PairingJoiner
        var inviter: PairingChannel
        let code: PairingCode
    }

    static let agreed: Agreed? = {
        let identity = fuzzIdentity
        let code = PairingCode.generate(identity: identity, rendezvous: .peer(host: "127.0.0.1", port: 1))
        var joiner = PairingJoiner(code: code, keyPair: SigningKeyPair.generate(), name: "fuzz")
        var inviter = PairingChannel(code: code)
        let ephemeral = KeyExchangeKeyPair()
        guard (try? inviter.open(joiner.join(), .join, bodyLength: 32...32)) != nil else { return nil }
        let offer = inviter.macked(
            .offer, identity.bytes + SigningKeyPair.generate().publicKey.bytes + ephemeral.publicKey)
        guard let (reveal, _) = try? joiner.receiveOffer(offer),
            let body = try? inviter.open(reveal, .reveal, bodyLength: 65...(65 + 255)),
            (try? inviter.agree(ephemeral: ephemeral, peer: Array(body[32..<64]), isJoiner: false)) != nil
        else { return nil }
        return Agreed(joiner: joiner, inviter: inviter, code: code)
    }()

    /// Pairing messages past their MAC or seal. The first byte picks what is fuzzed:
    /// 0, a REVEAL body (the JOIN's commitment made to match it) at the pairing device;
    /// otherwise a sequence of sealed messages to the new device, each a kind byte, a
    /// two-byte length and that many body bytes (CHALLENGE, WELCOME, LEDGER, END, DENY).
    static func pairingMessages(_ data: [UInt8]) {
        guard let selector = data.first, var state = agreed else { return }
        let rest = Array(data.dropFirst())
        if selector % 2 == 0 {
            // A REVEAL body is a key, an ephemeral key, a length byte and at most 255 name bytes.
            guard rest.count >= 65, rest.count <= 65 + 255 else { return }
            var inviter = PairingInviter(code: state.code, identity: fuzzIdentity, keyPair: SigningKeyPair.generate())
            var channel = PairingChannel(code: state.code)
            let commitment = PairingProtocol.commitment(
                device: (try? DevicePublicKey(bytes: Array(rest[0..<32]))) ?? SigningKeyPair.generate().publicKey,
                ephemeral: Array(rest[32..<64]), name: Array(rest[65...]))
            guard let offer = try? inviter.receiveJoin(channel.macked(.join, commitment)),
                (try? channel.open(offer, .offer, bodyLength: 96...96)) != nil
            else { return }
            _ = try? inviter.receiveReveal(channel.macked(.reveal, rest))
            return
        }
        var r = rest[...]
        for _ in 0..<64 {
            guard r.count >= 3, let kind = PairingProtocol.Kind(rawValue: 4 + r[r.startIndex] % 7) else { return }
            let length = Int(r[r.startIndex + 1]) << 8 | Int(r[r.startIndex + 2])
            r = r.dropFirst(3)
            let body = Array(r.prefix(length))
            r = r.dropFirst(length)
            guard kind != .refuse, kind != .proof else { continue }
            let message = state.inviter.sealed(kind, body)
            do {
                _ = try state.joiner.receive(message)
            } catch {
                return
            }
        }
    }

    static let fuzzIdentity = IdentityID.derive(rootDevice: SigningKeyPair.generate().publicKey, nonce: [9])

    // MARK: - Peer channel

    /// A peer message after decryption.
    static func peerMessage(_ data: [UInt8]) {
        _ = try? PeerMessage(decoding: data)
    }

    /// LAN announcement: random bytes never open; one made with the identity opens to its port
    /// whatever the nonce, port and time the fuzzer picks.
    static func announcement(_ data: [UInt8]) throws(PropertyFailure) {
        let identity = fuzzIdentity
        _ = PeerAnnouncement.open(data, identity: identity, now: 1_800_000_000)
        guard data.count >= 26 else { return }
        let nonce = Array(data[0..<16])
        let port = UInt16(data[16]) << 8 | UInt16(data[17])
        let now = data[18..<26].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let made = PeerAnnouncement.make(identity: identity, port: port, now: now, nonce: nonce)
        try check(PeerAnnouncement.open(made, identity: identity, now: now) == port, "an announcement did not open")
    }

    /// A bank's CSV statement as `import --format csv` reads it (the first byte picks the
    /// columns, the date order and the decimal mark): every row read is a positive amount on a
    /// real day, with a memo that is safe to store and within its length.
    static func csvStatement(_ data: [UInt8]) throws(PropertyFailure) {
        guard let options = data.first, let text = String(validating: data.dropFirst(), as: UTF8.self) else { return }
        let columns = [1 + Int(options & 3), 1 + Int(options >> 2 & 3), 1 + Int(options >> 4 & 3)]
        guard var statement = try? CSVStatement(map: "date=\(columns[0]),amount=\(columns[1]),memo=\(columns[2])")
        else { return }
        statement.dateOrder = CSVStatement.DateOrder.allCases[Int(options >> 6) % 3]
        statement.decimalComma = options & 0x80 != 0
        guard let rows = try? statement.rows(text, decimals: 2) else { return }
        try check(rows.count <= CSVStatement.maxRows, "more rows than the limit")
        for row in rows {
            try check(row.amount > 0, "a row with amount \(row.amount)")
            try check(HistoryDate.range(row.day) != nil, "a row on no day: \(row.day)")
            try check(
                TextSafety.problem(with: row.memo, what: "memo", maxBytes: PrivateBody.maxMemoBytes) == nil,
                "a memo that could not be stored")
        }
    }

    /// `X-Forwarded-For` values from a trusted proxy (lines of the input are header values):
    /// the client is the proxy itself or an address in its usual text that no trusted network
    /// contains, and an address list (`serve --trusted-proxy`) parses or is refused.
    static func forwardedFor(_ data: [UInt8]) throws(PropertyFailure) {
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).prefix(8).map(String.init)
        if let first = lines.first, let network = CIDR(parsing: first) {
            try check(network.description == first, "a network that does not keep its text")
        }
        let proxies = TrustedProxies(
            [CIDR(parsing: "10.0.0.0/8"), CIDR(parsing: "::1"), CIDR(parsing: "fd00::/8")].compactMap { $0 })
        let client = proxies.client(peer: "10.0.0.1", forwardedFor: lines)
        try check(client == "10.0.0.1" || !proxies.trusts(client), "a trusted proxy taken as the client")
        try check(client == "10.0.0.1" || CIDR(parsing: client) != nil, "a client that is not an address: \(client)")
    }
}
