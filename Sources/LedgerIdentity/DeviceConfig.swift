import Foundation

/// Settings of one device, kept in `config.json` in its data folder. Every field is optional
/// in the file; a missing one takes its default, so older files keep working.
package struct DeviceConfig: Codable, Sendable, Equatable {
    /// Peers to dial and keep dialling, as `HOST:PORT`.
    package var peers: [String] = []
    /// Announce this device on the local network and dial devices of the identity that announce.
    package var discovery = true
    /// TCP port of the peer listener.
    package var listenPort = 8788
    /// UDP port of LAN announcements.
    package var discoveryPort = 8789
    /// The store this device polls (`ledgerlink sync --store URL` saves it).
    package var store: String?
    /// Seconds between polls of the store when all is well.
    package var storeInterval = 30
    /// Longest wait between attempts while the store keeps failing, in seconds.
    package var storeMaxBackoff = 1800
    /// The address a pairing code opened from the TUI names (a VPN address, a host name);
    /// this machine's LAN address when unset. The TUI lets the person change it each time.
    package var pairAddress: String?
    /// The lowest balance `spend` goes to without asking (`"-100.00"`, `0` by default): a
    /// decimal in the ledger's unit, checked against the ledger when it is used.
    package var minBalance: String?

    package init() {}

    enum CodingKeys: String, CodingKey {
        case peers
        case discovery
        case listenPort = "listen_port"
        case discoveryPort = "discovery_port"
        case store
        case storeInterval = "store_interval"
        case storeMaxBackoff = "store_max_backoff"
        case pairAddress = "pair_address"
        case minBalance = "min_balance"
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peers = try c.decodeIfPresent([String].self, forKey: .peers) ?? []
        discovery = try c.decodeIfPresent(Bool.self, forKey: .discovery) ?? true
        listenPort = try c.decodeIfPresent(Int.self, forKey: .listenPort) ?? 8788
        discoveryPort = try c.decodeIfPresent(Int.self, forKey: .discoveryPort) ?? 8789
        store = try c.decodeIfPresent(String.self, forKey: .store)
        storeInterval = try c.decodeIfPresent(Int.self, forKey: .storeInterval) ?? 30
        storeMaxBackoff = try c.decodeIfPresent(Int.self, forKey: .storeMaxBackoff) ?? 1800
        pairAddress = try c.decodeIfPresent(String.self, forKey: .pairAddress)
        // A string ("-100.00") or a whole number (-100); never a float, which cannot be exact.
        if let text = try? c.decodeIfPresent(String.self, forKey: .minBalance) {
            minBalance = text
        } else if let whole = try? c.decodeIfPresent(Int64.self, forKey: .minBalance) {
            minBalance = String(whole)
        } else if c.contains(.minBalance), try !c.decodeNil(forKey: .minBalance) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "min_balance must be an amount like \"-100.00\" or 0"))
        }
        if let pairAddress, let problem = PairingCode.hostProblem(pairAddress) {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "pair_address: \(problem)"))
        }
        guard storeInterval >= 1, storeMaxBackoff >= storeInterval else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: [], debugDescription: "store_interval must be at least 1 and at most store_max_backoff")
            )
        }
        for (name, port) in [("listen_port", listenPort), ("discovery_port", discoveryPort)]
        where !(0...65535).contains(port) {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(name) \(port) is not a port"))
        }
    }

    /// The device's settings; defaults when the file does not exist.
    package static func load(_ home: DataHome) throws(IdentityError) -> DeviceConfig {
        let url = home.configFile
        guard let data = FileManager.default.contents(atPath: url.path) else { return DeviceConfig() }
        do {
            return try JSONDecoder().decode(DeviceConfig.self, from: data)
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw IdentityError("\(url.path) is not valid: \(context.debugDescription)")
        } catch {
            throw IdentityError("\(url.path) is not valid JSON settings; fix or delete it (\(error))")
        }
    }

    /// Writes the settings (atomically, mode 0600).
    package func save(_ home: DataHome) throws(IdentityError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try home.create()
            try encoder.encode(self).write(to: home.configFile, options: .atomic)
            // Foundation syncs the new file before renaming it into place, not the folder:
            // without this a power cut could bring back the settings from before the rename.
            SecureFile.syncDirectory(home.configFile.deletingLastPathComponent())
        } catch let error as IdentityError {
            throw error
        } catch {
            throw IdentityError("cannot write \(home.configFile.path): \(error.localizedDescription)")
        }
    }
}

/// When each sync channel last left this device level with another, kept across runs.
package struct SyncRecord: Codable, Sendable, Equatable {
    package var peer: Date?
    package var store: Date?

    package init() {}

    package static func load(_ home: DataHome) -> SyncRecord {
        guard let data = FileManager.default.contents(atPath: home.syncRecordFile.path) else { return SyncRecord() }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return (try? decoder.decode(SyncRecord.self, from: data)) ?? SyncRecord()
    }

    package func save(_ home: DataHome) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try? encoder.encode(self).write(to: home.syncRecordFile, options: .atomic)
    }
}
