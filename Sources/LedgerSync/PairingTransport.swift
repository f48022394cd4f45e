import Foundation
import LedgerCore
import LedgerIdentity
import NIOCore
import NIOPosix

/// Carries pairing messages between the two devices: a direct TCP connection, or a store's
/// pairing mailbox. Messages arrive whole and in order, or not at all.
package protocol PairingTransport: Sendable {
    func send(_ message: [UInt8]) async throws
    /// The next message from the other side; throws `PairingError.unreachable` after `within`.
    func receive(within: Duration) async throws -> [UInt8]
}

/// Runs `body`, giving up with `PairingError.unreachable(message)` after `limit`.
func withDeadline<T: Sendable>(
    _ limit: Duration, _ message: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    do {
        return try await withDeadline(limit, clock: ContinuousClock(), body)
    } catch is DeadlineExceeded {
        throw PairingError.unreachable(message)
    }
}

/// A pairing conversation over one TCP connection: length-prefixed frames, as on the peer
/// channel (the messages protect themselves).
package final class PairingConnection: PairingTransport, @unchecked Sendable {
    private let connection: FramedConnection

    init(_ connection: FramedConnection) { self.connection = connection }

    package func send(_ message: [UInt8]) async throws {
        do {
            try await connection.write(message)
        } catch {
            throw PairingError.unreachable("the other device closed the connection")
        }
    }

    package func receive(within limit: Duration) async throws -> [UInt8] {
        let connection = self.connection
        do {
            return try await withDeadline(limit, "the other device stopped answering") { try await connection.next() }
        } catch let error as PairingError {
            throw error
        } catch PeerChannelError.frameTooLarge(let size) {
            throw PairingError.tampered("a message of \(size) bytes, over the limit")
        } catch {
            throw PairingError.unreachable("the other device closed the connection")
        }
    }

    /// Connects to `host:port` and runs `body` over the connection.
    package static func dial<T: Sendable>(
        host: String, port: Int, _ body: @Sendable (PairingConnection) async throws -> T
    ) async throws -> T {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try PeerFraming.wrap(channel, readTimeout: nil) }
                }
        } catch {
            throw PairingError.unreachable(
                "cannot reach the pairing device at \(PairingCode.Rendezvous.peer(host: host, port: port)) "
                    + "(is its pairing window still open, and on this network?)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(PairingConnection(FramedConnection(inbound, outbound)))
        }
    }
}

/// Listens for new devices while a pairing window is open.
package final class PairingListener: Sendable {
    private let server: FramedServer
    /// The port actually bound.
    package var port: Int { server.port }

    private init(_ server: FramedServer) { self.server = server }

    /// Binds `host:port` (0 picks a free port).
    package static func bind(host: String, port: Int) async throws -> PairingListener {
        // No read timeout: a new device waits, silent, while the person reads and types the
        // words; the window's own length bounds every connection.
        PairingListener(try await FramedServer.bind(host: host, port: port, readTimeout: nil))
    }

    /// Serves each connection with `host` until the window ends; returns its outcome.
    package func run(_ host: PairingHost, decide: @escaping PairingHost.Decide) async throws -> PairingHost.Outcome {
        try await withThrowingTaskGroup(of: PairingHost.Outcome?.self) { group in
            group.addTask {
                try await self.accept { transport in await host.serve(transport, decide: decide) }
                return nil
            }
            group.addTask { await host.window.outcome() }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let outcome = next { return outcome }
            }
            return .expired
        }
    }

    /// Runs `handler` on every connection, each in a task of its own, until cancelled.
    package func accept(_ handler: @escaping @Sendable (PairingConnection) async -> Void) async throws {
        try await server.serve { connection in
            try? await connection.executeThenClose { input, output in
                await handler(PairingConnection(FramedConnection(input, output)))
            }
        }
    }
}

/// This machine's address on its local network, for the code to carry: an IPv4 address of an
/// interface that is not loopback, preferring private ranges on physical-looking interfaces
/// over container bridges and virtual ones. Nil when there is none (then only the same
/// machine can join, through 127.0.0.1).
package func lanAddress() -> String? {
    guard let devices = try? System.enumerateDevices() else { return nil }
    return preferredLANAddress(
        devices.compactMap { device in
            guard let address = device.address, case .v4 = address, let ip = address.ipAddress else { return nil }
            return (device.name, ip)
        })
}

/// The best of (interface name, IPv4 address) pairs for another device on the network to
/// dial: never loopback; a private range before a public one; an ordinary interface before a
/// container bridge or tunnel.
package func preferredLANAddress(_ candidates: [(name: String, ip: String)]) -> String? {
    let virtual = ["docker", "br-", "veth", "virbr", "lxc", "cni", "flannel", "tun", "tap", "wg", "zt"]
    func rank(_ candidate: (name: String, ip: String)) -> Int {
        let isVirtual = virtual.contains { candidate.name.hasPrefix($0) }
        let octets = candidate.ip.split(separator: ".").compactMap { Int($0) }
        let isPrivate =
            octets.first == 10 || (octets.first == 192 && octets.dropFirst().first == 168)
            || (octets.first == 172 && (16...31).contains(octets.dropFirst().first ?? 0))
        return (isVirtual ? 2 : 0) + (isPrivate ? 0 : 1)
    }
    return candidates.filter { !$0.ip.hasPrefix("127.") }.min { rank($0) < rank($1) }?.ip
}
