import LedgerCore
import LedgerCrypto
import NIOCore
import NIOPosix

/// Accepts peer connections on a TCP port and runs a sync session on each.
package final class PeerListener: Sendable {
    /// The port actually bound (useful when asked for port 0).
    package let port: Int
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    private init(port: Int, server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>) {
        self.port = port
        self.server = server
    }

    /// Binds `host:port` (port 0 picks a free one). A connection that sends nothing for
    /// `readTimeout` before its handshake is done (a stalled or truncated frame, an idle
    /// stranger) is closed; after it, the session keeps time on its own clock.
    package static func bind(host: String, port: Int, readTimeout: TimeAmount = .seconds(15)) async throws
        -> PeerListener
    {
        let server = try await boundServer(host: host, port: port, readTimeout: readTimeout)
        return PeerListener(port: server.channel.localAddress?.port ?? port, server: server)
    }

    /// Serves until the task is cancelled; `onSession` hears how each connection ended.
    package func run(
        engine: MergeEngine, keyPair: SigningKeyPair, options: PeerSessionOptions = PeerSessionOptions(live: true),
        hub: PeerHub? = nil, onSession: @escaping @Sendable (Result<PeerSyncReport, any Error>) -> Void = { _ in }
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask {
                        do {
                            onSession(
                                .success(
                                    try await PeerSession.run(
                                        connection, role: .responder, engine: engine, keyPair: keyPair,
                                        options: options, hub: hub)))
                        } catch {
                            onSession(.failure(error))
                        }
                    }
                }
            }
        }
    }
}

/// Dials a peer and runs a session: by default one sync until both ledgers are equal.
package enum PeerDialer {
    package static func sync(
        host: String, port: Int, engine: MergeEngine, keyPair: SigningKeyPair,
        options: PeerSessionOptions = PeerSessionOptions(), hub: PeerHub? = nil
    ) async throws -> PeerSyncReport {
        let readTimeout = options.handshakeTimeout
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try PeerFraming.wrap(channel, readTimeout: readTimeout) }
            }
        return try await PeerSession.run(
            channel, role: .initiator, engine: engine, keyPair: keyPair, options: options, hub: hub)
    }
}

/// A TCP server on `host:port` (0 picks a free port) whose connections are async channels of
/// frames (`PeerFraming`); with `readTimeout`, a connection that sends nothing for that long is closed.
/// The peer listener and the pairing listener both bind through here.
func boundServer(host: String, port: Int, readTimeout: TimeAmount?) async throws
    -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
{
    try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture { try PeerFraming.wrap(channel, readTimeout: readTimeout) }
        }
}
