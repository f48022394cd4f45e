import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writing and checking files that hold secrets.
package enum SecureFile {
    /// Writes `data` to a new file with `mode`, durably: a temporary file is written and
    /// fsynced, then linked into place only if nothing is there (never overwrites).
    package static func writeNew(_ data: Data, to url: URL, mode: mode_t) throws(IdentityError) {
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw IdentityError("cannot create \(temp.path): \(String(cString: strerror(errno)))") }
        defer { unlink(temp.path) }
        let ok = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress?.advanced(by: offset), buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return fsync(fd) == 0
        }
        fchmod(fd, mode)  // umask may have narrowed it further, never widened; make it exact
        close(fd)
        guard ok else { throw IdentityError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
        guard link(temp.path, url.path) == 0 else {
            if errno == EEXIST { throw IdentityError("\(url.path) already exists; it was not changed") }
            throw IdentityError("cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(url.deletingLastPathComponent())
    }

    /// Refuses a secret file that other users could read.
    package static func checkPrivate(_ url: URL, what: String) throws(IdentityError) {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            throw IdentityError("cannot read the \(what) \(url.path): \(String(cString: strerror(errno)))")
        }
        if info.st_mode & 0o077 != 0 {
            throw IdentityError(
                "the \(what) \(url.path) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); "
                    + "run: chmod 600 \(url.path)")
        }
    }

    static func syncDirectory(_ url: URL) {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
