import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A loopback port (TCP or UDP) that was free a moment ago: the kernel picks it.
package func freePort(udp: Bool) throws -> Int { try ClosedPort(udp: udp).port }

/// A loopback TCP port that stays closed while the value lives: bound, never listening, so a
/// connection to it is refused and no other test can take it meanwhile.
package final class ClosedPort: @unchecked Sendable {
    package let port: Int
    private let fd: Int32

    package init(udp: Bool = false) throws {
        let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw CommandRunner.CommandError("no free port: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}
