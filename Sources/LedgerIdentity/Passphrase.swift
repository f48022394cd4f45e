import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a passphrase comes from: a file (for scripts) or a prompt on the terminal.
package enum Passphrase {
    /// Reads the first line of `path` (without its line ending).
    package static func fromFile(_ path: String) throws(IdentityError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IdentityError("cannot read the passphrase file \(path)")
        }
        var bytes = [UInt8](data)
        if let newline = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) { bytes = Array(bytes[..<newline]) }
        guard !bytes.isEmpty else { throw IdentityError("the passphrase file \(path) is empty") }
        return bytes
    }

    /// Asks on the controlling terminal with echo off; fails clearly when there is none.
    package static func prompt(_ message: String, confirm: Bool = false) throws(IdentityError) -> [UInt8] {
        let first = try readHidden(message)
        guard !first.isEmpty else { throw IdentityError("the passphrase cannot be empty") }
        if confirm {
            let second = try readHidden("Repeat the passphrase: ")
            guard first == second else { throw IdentityError("the two passphrases differ; nothing was written") }
        }
        return first
    }

    private static func readHidden(_ message: String) throws(IdentityError) -> [UInt8] {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            throw IdentityError(
                "a passphrase is needed but there is no terminal to ask on; give --passphrase-file FILE")
        }
        defer { close(fd) }
        var saved = termios()
        tcgetattr(fd, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(fd, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(fd, TCSAFLUSH, &saved)
            _ = Glibc.write(fd, "\n", 1)
        }
        _ = message.withCString { Glibc.write(fd, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != 0x0A, byte != 0x0D { bytes.append(byte) }
        return bytes
    }
}
