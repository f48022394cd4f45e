import NIOCore
import NIOPosix

/// The framing of every TCP connection this program opens to another device (peer sync and
/// pairing): each frame is a u32 big-endian length, then that many bytes, at most `maxFrame`.
/// Frames are cut and prefixed in the channel pipeline, so the code above reads and writes
/// whole frames. (swift-nio-extras' length-field decoder does not bound the announced length;
/// this one refuses a frame too large as soon as its length arrives.)
package enum PeerFraming {
    /// Largest frame either end accepts (bytes after the length prefix).
    package static let maxFrame = 1 << 20

    /// Adds the frame coder to a new channel and wraps it for async use. With `readTimeout`, a
    /// connection that sends nothing for that long is closed (`PeerChannelError.handshakeTimedOut`);
    /// the handler is named `idleHandlerName` so a session can remove it once it keeps time
    /// itself.
    static func wrap(_ channel: any Channel, readTimeout: TimeAmount?) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer>
    {
        let pipeline = channel.pipeline.syncOperations
        if let readTimeout {
            try pipeline.addHandler(IdleStateHandler(readTimeout: readTimeout), name: idleHandlerName)
            try pipeline.addHandler(CloseOnIdle(), name: closeOnIdleName)
        }
        try pipeline.addHandler(ByteToMessageHandler(FrameDecoder()))
        try pipeline.addHandler(MessageToByteHandler(FrameEncoder()))
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
    }

    static let idleHandlerName = "ledgerlink.idle"
    static let closeOnIdleName = "ledgerlink.closeOnIdle"

    /// Takes the read timeout off a connection whose session now keeps time itself.
    static func removeReadTimeout(_ channel: any Channel) async {
        try? await channel.pipeline.removeHandler(name: idleHandlerName).get()
        try? await channel.pipeline.removeHandler(name: closeOnIdleName).get()
    }

    /// Cuts the byte stream into frames, refusing a length above `maxFrame` when it arrives.
    struct FrameDecoder: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer

        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
            guard Int(length) <= maxFrame else { throw PeerChannelError.frameTooLarge(Int(length)) }
            guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 4)
            guard let frame = buffer.readSlice(length: Int(length)) else { return .needMoreData }
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        }

        /// At the end of the stream, whole frames still count; a partial one is dropped, and the
        /// reader sees the connection close.
        mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
            -> DecodingState
        {
            while try decode(context: context, buffer: &buffer) == .continue {}
            return .needMoreData
        }
    }

    /// Puts the length before each frame written.
    struct FrameEncoder: MessageToByteEncoder {
        typealias OutboundIn = ByteBuffer

        func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
            out.writeInteger(UInt32(data.readableBytes))
            out.writeImmutableBuffer(data)
        }
    }
}

/// Closes a connection when IdleStateHandler reports that nothing arrived in time.
final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.fireErrorCaught(PeerChannelError.handshakeTimedOut)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// One framed connection's two halves: whole frames in, whole frames out. One task reads at a
/// time (the handshake, then the session's reader task).
final class FramedConnection: @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, _ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.iterator = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// The next frame; `PeerChannelError.closed` when the connection ended.
    func next() async throws -> [UInt8] {
        guard let frame = try await iterator.next() else { throw PeerChannelError.closed }
        return Array(frame.readableBytesView)
    }

    func write(_ frame: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: frame))
    }
}
