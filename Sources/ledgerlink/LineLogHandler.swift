import Foundation
import LedgerCore
import Logging

/// Timestamped lines for the person: standard error for `listen`, the data folder's
/// `ledgerlink.log` for the TUI (which owns the terminal). Text from other devices may be in
/// a message, so each line is sanitised before it is written.
struct LineLogHandler: LogHandler {
    private let handle: FileHandle?
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private init(handle: FileHandle?) { self.handle = handle }

    /// Lines on standard error.
    static let standardError = LineLogHandler(handle: FileHandle.standardError)

    /// Lines appended to `url` (created readable by this user only).
    static func file(_ url: URL) -> LineLogHandler {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let handle = try? FileHandle(forWritingTo: url)
        _ = try? handle?.seekToEnd()
        return LineLogHandler(handle: handle)
    }

    func log(event: LogEvent) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        try? handle?.write(contentsOf: Data("\(stamp) \(TextSafety.sanitised(event.message.description))\n".utf8))
    }
}

extension Logger {
    /// A logger writing timestamped lines through `handler`.
    static func lines(_ label: String, _ handler: LineLogHandler) -> Logger {
        Logger(label: label, factory: { _ in handler })
    }
}

/// Lines for the person running a long command (`listen`), on standard error with the time.
enum Log {
    static let logger = Logger.lines("ledgerlink", .standardError)
    static func line(_ text: String) { logger.info("\(text)") }
}
