import LedgerCore
import LedgerCrypto
import NIOCore
import NIOPosix

/// Accepts peer connections on a TCP port and runs a sync session on each.
package final class PeerListener: Sendable {
    private let server: FramedServer
    /// The port actually bound (useful when asked for port 0).
    package var port: Int { server.port }

    private init(_ server: FramedServer) { self.server = server }

    /// Binds `host:port` (port 0 picks a free one). A connection that sends nothing for
    /// `readTimeout` before its handshake is done (a stalled or truncated frame, an idle
    /// stranger) is closed; after it, the session keeps time on its own clock.
    package static func bind(host: String, port: Int, readTimeout: TimeAmount = .seconds(15)) async throws
        -> PeerListener
    {
        PeerListener(try await FramedServer.bind(host: host, port: port, readTimeout: readTimeout))
    }

    /// Serves until the task is cancelled; `onSession` hears how each connection ended.
    package func run(
        engine: MergeEngine, keyPair: SigningKeyPair, options: PeerSessionOptions = PeerSessionOptions(live: true),
        hub: PeerHub? = nil, onSession: @escaping @Sendable (Result<PeerSyncReport, any Error>) -> Void = { _ in }
    ) async throws {
        try await server.serve { connection in
            do {
                onSession(
                    .success(
                        try await PeerSession.run(
                            connection, role: .responder, engine: engine, keyPair: keyPair, options: options, hub: hub)
                    ))
            } catch {
                onSession(.failure(error))
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

/// A TCP server on `host:port` (0 picks a free port) whose connections carry frames
/// (`PeerFraming`); with `readTimeout`, a connection that sends nothing for that long is
/// closed. The peer listener and the pairing listener are both one of these.
struct FramedServer: Sendable {
    let port: Int
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

    static func bind(host: String, port: Int, readTimeout: TimeAmount?) async throws -> FramedServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try PeerFraming.wrap(channel, readTimeout: readTimeout) }
            }
        return FramedServer(port: channel.channel.localAddress?.port ?? port, channel: channel)
    }

    /// Runs `handler` on every connection, each in a task of its own, until cancelled.
    func serve(_ handler: @escaping @Sendable (NIOAsyncChannel<ByteBuffer, ByteBuffer>) async -> Void) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await handler(connection) }
                }
            }
        }
    }
}
