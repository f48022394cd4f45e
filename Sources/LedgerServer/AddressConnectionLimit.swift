import LedgerRemote
import NIOCore
import Synchronization

/// Closes a connection as it opens when its address already holds `Counts.limit` open ones,
/// so one address (or a few) cannot take every connection the server has.
final class AddressConnectionLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Open connections by address, shared by every connection of one server.
    final class Counts: Sendable {
        let limit: Int
        /// Trusted proxies: every client behind one shares its address, so it is not capped.
        let exempt: TrustedProxies
        private let open = Mutex<[String: Int]>([:])

        init(limit: Int, exempt: TrustedProxies = TrustedProxies()) {
            self.limit = limit
            self.exempt = exempt
        }

        /// Counts one more connection from `address`; false (and not counted) past the limit.
        func admit(_ address: String) -> Bool {
            if exempt.trusts(address) { return true }
            return open.withLock { open in
                let now = open[address, default: 0]
                guard now < limit else { return false }
                open[address] = now + 1
                return true
            }
        }

        func release(_ address: String) {
            if exempt.trusts(address) { return }
            open.withLock { open in
                let left = open[address, default: 1] - 1
                open[address] = left > 0 ? left : nil
            }
        }

        func count(_ address: String) -> Int { open.withLock { $0[address, default: 0] } }
    }

    private let counts: Counts
    private var admitted: String?

    init(counts: Counts) { self.counts = counts }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { check(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        check(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    private func check(_ context: ChannelHandlerContext) {
        guard admitted == nil else { return }
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        if counts.admit(address) {
            admitted = address
        } else {
            context.close(promise: nil)
        }
    }

    private func release() {
        if let address = admitted { counts.release(address) }
        admitted = nil
    }
}
