import Foundation
import LedgerCore
import LedgerCrypto

/// What the peer channel is doing, for the TUI and `ledgerlink status --json`. A running
/// service writes it to a file in the data folder; other processes read it there.
package struct PeerStatus: StatusFile, Sendable, Equatable {
    /// One live connection to another device of the identity.
    package struct Connection: Codable, Sendable, Equatable {
        /// The other device's key (hex).
        package var device: String
        /// Its name from the roster (sanitised).
        package var name: String
        package var address: String
        /// "in" when the other device dialled, "out" when this one did.
        package var direction: String
        package var since: Date
        /// When the last frame arrived.
        package var lastSeen: Date
        /// Entries sent to and accepted from it on this connection.
        package var sent: Int
        package var received: Int
        /// When this connection last found both ledgers equal.
        package var level: Date?
    }

    /// Process writing this status.
    package var pid: Int32
    /// "HOST:PORT" the listener is bound to, when it runs.
    package var listening: String?
    package var discovery: Bool
    package var connections: [Connection]
    /// When a session last ended with both ledgers equal.
    package var lastSync: Date?
    package var lastError: String?
    package var updated: Date

    package init(pid: Int32, listening: String?, discovery: Bool) {
        self.pid = pid
        self.listening = listening
        self.discovery = discovery
        self.connections = []
        self.updated = Date()
    }

}

/// A status a running service keeps in a JSON file of the data folder, so other processes
/// (`ledgerlink status`, a TUI) can show it.
package protocol StatusFile: Codable {
    /// The process that writes it.
    var pid: Int32 { get }
}

extension StatusFile {
    /// Reads the file; nil when absent or unreadable.
    package static func read(from url: URL) -> Self? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Self.self, from: data)
    }

    /// True while the process that wrote it still runs.
    package var isLive: Bool { kill(pid_t(pid), 0) == 0 || errno == EPERM }

    /// Replaces the file atomically.
    func write(to url: URL) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(self) else { return }
        try? data.write(to: url, options: .atomic)
    }
}

/// The meeting point of a device's peer sessions: it tells every session when the ledger
/// changed (so new entries are pushed live), keeps one session per other device, and keeps the
/// status.
package actor PeerHub {
    /// What the hub can ask of a running session.
    enum Control: Sendable {
        /// Say goodbye and end.
        case stop
        /// Compare clocks now and fetch whatever differs.
        case syncNow
    }

    private struct Session {
        let device: DevicePublicKey
        let initiator: DevicePublicKey
        let control: @Sendable (Control) -> Void
    }

    private var subscribers: [UInt64: AsyncStream<Void>.Continuation] = [:]
    private var sessions: [UInt64: Session] = [:]
    private var nextID: UInt64 = 0
    private var status: PeerStatus
    private let statusFile: URL?

    /// `statusFile`, when given, is rewritten on every change of status.
    package init(statusFile: URL? = nil, listening: String? = nil, discovery: Bool = false) {
        self.statusFile = statusFile
        self.status = PeerStatus(pid: getpid(), listening: listening, discovery: discovery)
    }

    /// The current status.
    package func snapshot() -> PeerStatus { status }

    /// The devices connected now.
    package func connectedDevices() -> Set<DevicePublicKey> { Set(sessions.values.map(\.device)) }

    package func setListening(_ address: String?) {
        status.listening = address
        publish()
    }

    /// A new session id and the stream of "the ledger changed" signals for it.
    func subscribe() -> (UInt64, AsyncStream<Void>) {
        nextID += 1
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        subscribers[nextID] = continuation
        return (nextID, stream)
    }

    /// Tells every session that the ledger changed.
    package func poke() {
        for continuation in subscribers.values { continuation.yield() }
    }

    /// Admits an authenticated session with `device`, or refuses it when another session with
    /// that device should win. Both ends decide alike: the session dialled by the smaller
    /// device key stays; between two dialled by the same device, the newer one.
    func register(
        id: UInt64, device: DevicePublicKey, initiator: DevicePublicKey, name: String, address: String,
        direction: String, control: @escaping @Sendable (Control) -> Void
    ) -> Bool {
        if let (oldID, old) = sessions.first(where: { $0.value.device == device }) {
            guard initiator <= old.initiator else { return false }
            sessions[oldID] = nil
            status.connections.removeAll { $0.device == device.hex }
            old.control(.stop)
        }
        sessions[id] = Session(device: device, initiator: initiator, control: control)
        let now = Date()
        status.connections.append(
            PeerStatus.Connection(
                device: device.hex, name: name, address: address, direction: direction, since: now, lastSeen: now,
                sent: 0, received: 0))
        publish()
        return true
    }

    /// Records traffic on session `id`.
    func seen(id: UInt64, sent: Int = 0, received: Int = 0) {
        guard let device = sessions[id]?.device,
            let index = status.connections.firstIndex(where: { $0.device == device.hex })
        else { return }
        status.connections[index].lastSeen = Date()
        status.connections[index].sent += sent
        status.connections[index].received += received
        if sent > 0 || received > 0 { publish() }
    }

    /// Records that session `id` found both ledgers equal.
    func synced(id: UInt64?) {
        let now = Date()
        status.lastSync = now
        status.lastError = nil
        if let device = id.flatMap({ sessions[$0]?.device }),
            let index = status.connections.firstIndex(where: { $0.device == device.hex })
        {
            status.connections[index].level = now
        }
        publish()
    }

    /// Records a failure worth showing (a refused peer, an unreachable static peer).
    package func failed(_ message: String) {
        status.lastError = message
        publish()
    }

    /// Forgets session `id` (it ended).
    func unsubscribe(id: UInt64) {
        subscribers.removeValue(forKey: id)?.finish()
        if let session = sessions.removeValue(forKey: id) {
            status.connections.removeAll { $0.device == session.device.hex }
            publish()
        }
    }

    /// Stops every session (the service is shutting down).
    package func stopAll() {
        for session in sessions.values { session.control(.stop) }
    }

    /// Makes every connected session compare clocks now; returns how many there are.
    @discardableResult
    package func syncNow() -> Int {
        for session in sessions.values { session.control(.syncNow) }
        return sessions.count
    }

    private func publish() {
        status.updated = Date()
        if let statusFile { status.write(to: statusFile) }
    }
}
