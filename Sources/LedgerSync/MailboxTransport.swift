import Foundation
import LedgerCore
import LedgerIdentity
import LedgerRemote

/// Pairing messages through a store's pairing mailbox: each side leaves numbered messages and
/// asks for the other side's next one, waiting on the server a few seconds at a time.
package actor MailboxTransport: PairingTransport {
    package nonisolated let url: URL
    let mailbox: String
    let side: MailboxSide
    let bearer: (@Sendable () async throws -> String)?
    let transport: any StoreTransport
    private var sent = 0
    private var received = 0

    /// `bearer` gives a token of the identity; the inviter side needs one.
    package init(
        url: URL, mailbox: String, side: MailboxSide, bearer: (@Sendable () async throws -> String)? = nil,
        transport: any StoreTransport = HTTPStoreTransport(deadline: .seconds(PairingAPI.maxWait + 20))
    ) {
        self.url = url
        self.mailbox = mailbox
        self.side = side
        self.bearer = bearer
        self.transport = transport
    }

    package func send(_ message: [UInt8]) async throws {
        let request = MailboxSendRequest(side: side, index: sent, message: Data.base64(message))
        let _: EmptyResponse = try await post("send", request)
        sent += 1
    }

    package func receive(within limit: Duration) async throws -> [UInt8] {
        let deadline = ContinuousClock.now + limit
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw PairingError.unreachable("the other device stopped answering") }
            let wait = min(Int(left.components.seconds), PairingAPI.maxWait)
            let answer: MailboxReceiveResponse = try await post(
                "receive", MailboxReceiveRequest(side: side.other, index: received, wait: wait))
            if let text = answer.message {
                guard let bytes = base64Bytes(text) else {
                    throw PairingError.tampered("the store relayed a message that is not base64")
                }
                received += 1
                return bytes
            }
        }
    }

    /// Posts to the mailbox, retrying a failed connection a few times (every request is
    /// idempotent), and reading the store's refusals as pairing errors.
    private func post<Request: Encodable, Answer: Decodable>(_ action: String, _ request: Request) async throws
        -> Answer
    {
        let endpoint = url.appendingPathComponent("v1/pairing/\(mailbox)/\(action)")
        let body = try JSONEncoder().encode(request)
        var attempt = 0
        while true {
            attempt += 1
            let status: Int
            let data: Data
            do {
                let token = side == .inviter ? try await bearer?() : nil
                (status, _, data) = try await transport.post(endpoint, body: body, bearer: token)
            } catch {
                guard attempt < 4 else {
                    let why = "\(error)".replacingOccurrences(of: "cannot reach the store: ", with: "")
                    throw PairingError.unreachable("cannot reach the store at \(url.absoluteString): \(why)")
                }
                try await Task.sleep(for: .milliseconds(250 * attempt))
                continue
            }
            if status == 200, let answer = try? JSONDecoder().decode(Answer.self, from: data) { return answer }
            if status == 429 || status >= 500, attempt < 4 {
                try await Task.sleep(for: .seconds(attempt))
                continue
            }
            let error = try? JSONDecoder().decode(StoreErrorBody.self, from: data)
            switch (status, error?.error) {
            case (404, "pairing_not_found"): throw PairingError.noWindow
            case (410, _): throw PairingError.windowClosed
            case (409, "pairing_taken"): throw PairingError.busy
            default:
                throw PairingError.unreachable(
                    "the store refused (\(status)): \(TextSafety.sanitised(error?.message ?? "HTTP \(status)"))")
            }
        }
    }
}

extension PairingGuest {
    /// Joins where the code says: directly, or through a store's mailbox, after which the store
    /// is saved in the new device's settings for later syncs.
    package static func join(
        code: PairingCode, name: String, home: DataHome, passphrase: [UInt8]?,
        showSAS: @escaping @Sendable (ShortAuthenticationString) -> Void
    ) async throws -> Joined {
        switch code.rendezvous {
        case .peer(let host, let port):
            return try await joinDirectly(
                code: code, host: host, port: port, name: name, home: home, passphrase: passphrase, showSAS: showSAS)
        case .store(let url):
            let joined = try await joinThroughStore(
                code: code, url: url, name: name, home: home, passphrase: passphrase, showSAS: showSAS)
            var settings = try DeviceConfig.load(home)
            settings.store = url.absoluteString
            try settings.save(home)
            return joined
        }
    }

    /// Joins through the pairing device's listener at `host:port`, receiving the ledger over the
    /// same connection.
    package static func joinDirectly(
        code: PairingCode, host: String, port: Int, name: String, home: DataHome, passphrase: [UInt8]?,
        showSAS: @escaping @Sendable (ShortAuthenticationString) -> Void
    ) async throws -> Joined {
        try await PairingConnection.dial(host: host, port: port) { connection in
            try await join(
                code: code, name: name, home: home, passphrase: passphrase, transport: connection, showSAS: showSAS)
        }
    }

    /// Joins through the store's pairing mailbox at `url`, then syncs the ledger from the store.
    package static func joinThroughStore(
        code: PairingCode, url: URL, name: String, home: DataHome, passphrase: [UInt8]?,
        showSAS: @escaping @Sendable (ShortAuthenticationString) -> Void
    ) async throws -> Joined {
        let transport = MailboxTransport(url: url, mailbox: PairingProtocol.mailbox(for: code), side: .joiner)
        return try await join(
            code: code, name: name, home: home, passphrase: passphrase, transport: transport, showSAS: showSAS,
            fill: { engine, keyPair in
                let client = StoreClient(url: url, engine: engine, keyPair: keyPair)
                var rounds = 1
                while try await !client.sync().converged {
                    rounds += 1
                    guard rounds <= 10 else {
                        throw PairingError.unreachable("the ledger from the store did not settle; run `join` again")
                    }
                }
            })
    }
}
