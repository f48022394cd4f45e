import NIOCore
import NIOHTTPTypes

/// Bounds how long a client may take to send a request and to take its answer: its head must
/// arrive within `headTimeout` of the connection opening or of the previous response, its body
/// within `bodyTimeout` of the head, however steadily the bytes trickle in (slowloris, slow
/// bodies), and the answer must be written whole within `answerTimeout` of the request's end
/// (a client that stops reading a streamed answer would otherwise hold its task and a part of
/// it for as long as the connection stays open). A connection that misses any is closed.
final class RequestReadTimeout: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private let answerTimeout: TimeAmount
    private var timer: Scheduled<Void>?

    /// Devices give up on a request after 60 s; an answer may take twice that.
    static let defaultAnswerTimeout: TimeAmount = .seconds(120)

    init(headTimeout: TimeAmount, bodyTimeout: TimeAmount, answerTimeout: TimeAmount = defaultAnswerTimeout) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
        self.answerTimeout = answerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headTimeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, bodyTimeout)
        case .end: arm(context, answerTimeout)
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context, headTimeout) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { bound.value.close(promise: nil) }
    }
}
