import Foundation
import LedgerIdentity
import LedgerSync
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Sync settings and network words")
struct SyncSettingsTests {
    @Test("every address in the settings is checked: a peer or store that is not one is refused by name")
    func strictAddresses() throws {
        var config = DeviceConfig()
        config.peers = ["192.168.1.20:8788", "[fe80::1]:8788"]
        config.store = "https://store.example"
        let settings = try SyncSettings(config, extraPeers: ["laptop.local:9000"])
        #expect(
            settings.peer.staticPeers.map(\.description) == [
                "192.168.1.20:8788", "[fe80::1]:8788", "laptop.local:9000",
            ])
        #expect(settings.store?.absoluteString == "https://store.example")

        config.peers = ["192.168.1.20:8788", "no port here"]
        #expect(throws: SyncSettingsError("no port here is not HOST:PORT (for example 192.168.1.20:8788)")) {
            try SyncSettings(config)
        }
        config.peers = []
        config.store = "ftp://store.example"
        #expect(throws: SyncSettingsError.self) { try SyncSettings(config) }
        config.store = "store.example"
        #expect(throws: SyncSettingsError.self) { try SyncSettings(config) }
    }

    @Test("network errors are worded by their type")
    func words() {
        #expect(
            NetworkWords.describe(IOError(errnoCode: ECONNREFUSED, reason: "connect")).contains("connection refused"))
        #expect(
            NetworkWords.describe(IOError(errnoCode: EADDRINUSE, reason: "bind"))
                == "the port is in use by another program")
        #expect(NetworkWords.describe(ChannelError.connectTimeout(.seconds(10))) == "no answer (timed out)")
    }
}
