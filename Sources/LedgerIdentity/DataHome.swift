import Foundation

/// Why the identity layer refused something; messages are written for the person.
package struct IdentityError: Error, Equatable, Sendable, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }

    /// The passphrase typed does not unlock the device key.
    package static let wrongPassphrase = IdentityError("wrong passphrase for the device key")
}

/// The folder that holds one device: its key, its ledger database and its logs.
///
/// Chosen by `--home`, else `LEDGERLINK_HOME`, else `$XDG_DATA_HOME/ledgerlink`, else
/// `~/.local/share/ledgerlink`. Several devices can live on one machine with several homes.
package struct DataHome: Sendable {
    package let url: URL

    package init(url: URL) { self.url = url }

    /// Resolves the folder from an explicit option and the environment.
    package static func resolve(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> DataHome
    {
        if let option, !option.isEmpty { return DataHome(url: URL(fileURLWithPath: option)) }
        if let env = environment["LEDGERLINK_HOME"], !env.isEmpty { return DataHome(url: URL(fileURLWithPath: env)) }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return DataHome(url: URL(fileURLWithPath: xdg).appendingPathComponent("ledgerlink"))
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return DataHome(url: URL(fileURLWithPath: home).appendingPathComponent(".local/share/ledgerlink"))
    }

    /// The device key file.
    package var keyFile: URL { url.appendingPathComponent("device.key") }
    /// The ledger database.
    package var database: URL { url.appendingPathComponent("ledger.sqlite") }
    /// Settings of this device (`DeviceConfig`).
    package var configFile: URL { url.appendingPathComponent("config.json") }
    /// What a running peer service is doing, for `status` and the TUI in other processes.
    package var peerStatusFile: URL { url.appendingPathComponent("peer-status.json") }
    /// What a running store poller is doing, for `status` and the TUI in other processes.
    package var storeStatusFile: URL { url.appendingPathComponent("store-status.json") }
    /// When each sync channel last brought this device level with another.
    package var syncRecordFile: URL { url.appendingPathComponent("last-sync.json") }
    /// The log file (never the screen).
    package var logFile: URL { url.appendingPathComponent("ledgerlink.log") }

    /// True when this folder already holds a device (its key file is the last thing `init` writes).
    package var hasDevice: Bool { FileManager.default.fileExists(atPath: keyFile.path) }

    /// Refuses a folder that already holds a device: `init` and `join` make a new one.
    package func requireNoDevice() throws(IdentityError) {
        guard !hasDevice else {
            throw IdentityError("\(url.path) already holds a device; nothing was changed (use --home for another)")
        }
    }

    /// Moves aside a ledger database left without its key by an interrupted `init`, so a new
    /// `init` can start; nothing is deleted. Returns the new name, or nil when there was none.
    package func setAsideOrphanedDatabase() throws(IdentityError) -> URL? {
        guard !hasDevice, FileManager.default.fileExists(atPath: database.path) else { return nil }
        let stamp = Int(Date().timeIntervalSince1970)
        let target = url.appendingPathComponent("ledger.sqlite.interrupted-\(stamp)")
        do {
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: database.path + suffix) {
                try FileManager.default.moveItem(atPath: database.path + suffix, toPath: target.path + suffix)
            }
        } catch {
            throw IdentityError(
                "cannot move the unfinished ledger \(database.path) aside: \(error.localizedDescription)")
        }
        return target
    }

    /// Creates the folder (mode 0700) when missing.
    package func create() throws(IdentityError) {
        do {
            try FileManager.default.createDirectory(
                at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw IdentityError("cannot create the data folder \(url.path): \(error.localizedDescription)")
        }
    }
}
