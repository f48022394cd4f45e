import Foundation
import NIOCore
import NIOPosix

/// A TCP proxy for tests that sits between two peers and misbehaves on purpose, the way a bad
/// network does: it drops connections, delays chunks, sends a chunk twice and cuts connections
/// in the middle of a frame. Kernel fault injection (tc netem) is not available here.
package final class FaultProxy: Sendable {
    /// What happens to one proxied connection.
    package enum Fault: Sendable, Equatable {
        /// Bytes pass untouched.
        case pass
        /// The connection is accepted and closed at once.
        case drop
        /// Each chunk waits up to this many milliseconds, in either direction.
        case delay(maxMilliseconds: Int)
        /// The second chunk from the dialler is sent twice.
        case duplicate
        /// After this many bytes from the dialler, both sides are cut (mid-frame, usually).
        case cut(afterBytes: Int)
    }

    /// The proxy's own port on 127.0.0.1.
    package let port: Int
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let targetPort: Int
    private let plan: @Sendable (Int) -> Fault
    private let state = Locked(ProxyState())

    private init(
        port: Int, server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>, targetPort: Int,
        plan: @escaping @Sendable (Int) -> Fault
    ) {
        self.port = port
        self.server = server
        self.targetPort = targetPort
        self.plan = plan
    }

    /// A proxy in front of `127.0.0.1:targetPort`; connection number `n` (from 0) suffers
    /// `plan(n)`.
    package static func start(targetPort: Int, plan: @escaping @Sendable (Int) -> Fault) async throws -> FaultProxy {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return FaultProxy(
            port: server.channel.localAddress?.port ?? 0, server: server, targetPort: targetPort, plan: plan)
    }

    /// Connections accepted so far.
    package var connections: Int { state.withLock { $0.recorded.count } }

    /// The bytes the dialler sent on connection `n`.
    package func recorded(_ n: Int) -> [UInt8] { state.withLock { $0.recorded[n] } }

    /// From now on nothing passes either way on connection `n`, but both sockets stay open: a
    /// peer that vanished without closing. Called by the test once the connection is known to
    /// be up, so a slow machine cannot make the silence start mid-handshake.
    package func silence(connection n: Int) { state.withLock { _ = $0.silenced.insert(n) } }

    /// Bytes that went each way on connection `n` so far.
    package func traffic(_ n: Int) -> (fromDialler: Int, toDialler: Int) {
        state.withLock { ($0.recorded[n].count, $0.returned[n]) }
    }

    /// Serves until the task is cancelled.
    package func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    let index = state.withLock { state in
                        state.recorded.append([])
                        state.returned.append(0)
                        return state.recorded.count - 1
                    }
                    group.addTask { try? await self.relay(connection, index: index, fault: self.plan(index)) }
                }
            }
        }
    }

    private func relay(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, index: Int, fault: Fault) async throws {
        if fault == .drop {
            try await client.executeThenClose { _, _ in }
            return
        }
        let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: targetPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let silent: @Sendable () -> Bool = { self.state.withLock { $0.silenced.contains(index) } }
        try await client.executeThenClose { clientIn, clientOut in
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var chunks = 0
                        var total = 0
                        for try await var chunk in clientIn {
                            chunks += 1
                            if case .cut(let limit) = fault, total + chunk.readableBytes >= limit {
                                if let head = chunk.readSlice(length: limit - total) {
                                    try await upstreamOut.write(head)
                                }
                                return
                            }
                            total += chunk.readableBytes
                            self.state.withLock { $0.recorded[index] += Array(chunk.readableBytesView) }
                            try await Self.pause(fault)
                            if silent() { continue }
                            try await upstreamOut.write(chunk)
                            if fault == .duplicate, chunks == 2 { try await upstreamOut.write(chunk) }
                        }
                    }
                    group.addTask {
                        for try await chunk in upstreamIn {
                            try await Self.pause(fault)
                            if silent() { continue }
                            self.state.withLock { $0.returned[index] += chunk.readableBytes }
                            try await clientOut.write(chunk)
                        }
                    }
                    // When either direction ends, both connections close.
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    private static func pause(_ fault: Fault) async throws {
        if case .delay(let most) = fault { try await Task.sleep(for: .milliseconds(Int.random(in: 0...most))) }
    }
}

private struct ProxyState: Sendable {
    var recorded: [[UInt8]] = []
    var returned: [Int] = []
    var silenced: Set<Int> = []
}
