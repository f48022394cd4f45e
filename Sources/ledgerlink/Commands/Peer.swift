import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerSync
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Keep this device in step, live: the peer channel to its other devices, and the saved store.",
        discussion: """
            Runs until Ctrl-C or SIGTERM. Static peers come from `ledgerlink peers add` and --peer; \
            devices on the same network are found by announcement unless discovery is off. \
            The store saved by `sync --store` (or --store) is polled beside it. SIGUSR1 syncs \
            everything now. Progress goes to standard error.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Option(name: .long, help: "Address to listen on.") var host = "0.0.0.0"
    @Option(name: .long, help: "TCP port to listen on (default: listen_port in config.json, else 8788; 0 picks one).")
    var port: Int?
    @Option(name: .long, help: "Also dial this peer (HOST:PORT); repeatable.") var peer: [String] = []
    @Flag(name: .long, help: "Neither announce this device nor listen for announcements.") var noDiscovery = false
    @Option(name: .long, help: "UDP port of LAN announcements (default: discovery_port in config.json, else 8789).")
    var discoveryPort: Int?
    @Option(name: .long, help: "Poll this store (default: the one `sync --store` saved).") var store: String?

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            let config = try DeviceConfig.load(home)
            var settings = try SyncSettings(config, extraPeers: peer)
            settings.peer.listenHost = host
            settings.peer.listenPort = try checkedPort(port ?? config.listenPort, "--port")
            settings.peer.discovery = config.discovery && !noDiscovery
            settings.peer.discoveryPort = try checkedPort(discoveryPort ?? config.discoveryPort, "--discovery-port")
            if let store { settings.store = try SyncSettings.storeURL(store) }
            let context = try await DeviceContext.open(home, keys: keys)
            guard let keyPair = context.keyPair else { throw CLIError("the device key is needed to listen") }
            let services: SyncServices
            do {
                services = try await SyncServices.start(
                    home: home, engine: context.engine, keyPair: keyPair, settings: settings, dialOnlyIfTaken: false,
                    logger: Log.logger)
            } catch let error as SyncServices.ListenError {
                throw CLIError(
                    "cannot listen on \(host):\(settings.peer.listenPort ?? 0): \(describe(error.underlying))")
            }
            let names = try await context.deviceNames()
            let bound = await services.listeningPort() ?? 0
            // Written unbuffered: scripts wait for this line to learn the port.
            FileHandle.standardOutput.write(
                Data(
                    ("Listening on \(PeerEndpoint(host: host, port: bound)) as "
                        + "\(names[context.engine.device] ?? "this device") (\(context.engine.device.fingerprint));"
                        + " discovery \(settings.peer.discovery ? "on" : "off"). Ctrl-C stops.\n").utf8))
            // A fork is said where it is found: whichever channel brought the proof.
            let events = await context.engine.subscribe()
            let watching = Task {
                for line in (try? await context.forkLines(context.engine.provenForks())) ?? [] { Log.line(line) }
                for await event in events {
                    switch event {
                    case .forkDetected(let author, let seq):
                        for line in (try? await context.forkLines([author: seq])) ?? [] { Log.line(line) }
                    case .caughtUp(let entries):
                        Log.line(CatchUp.caughtUpLine(entries))
                    default:
                        continue
                    }
                }
            }
            defer { watching.cancel() }
            // SIGUSR1 asks for a sync now (what `s` in a TUI on the same data folder sends).
            let nudges = SignalWaiter([SIGUSR1])
            let nudging = Task {
                for await _ in nudges.received {
                    Log.line("sync requested: \(await services.syncNow()) connected")
                }
            }
            defer {
                nudging.cancel()
                nudges.cancel()
            }
            let signals = SignalWaiter([SIGINT, SIGTERM])
            // Until a signal, or the peer channel stopping by itself; then everything stops
            // (which also ends the other waiter: awaiting a task is not cancelled by cancelling
            // the waiter).
            let failure = await withTaskGroup(of: Void.self) { group in
                group.addTask { await signals.wait() }
                group.addTask { _ = await services.ended() }
                await group.next()
                signals.cancel()
                return await services.stop()
            }
            if let error = failure {
                throw CLIError("the peer channel stopped: \(describe(error))")
            }
            Log.line("stopped")
        }
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract:
            "Sync now with another device (--peer) or the store (--store, else the saved one) and report what moved.",
        discussion: """
            --store saves the address in this device's settings once a sync with it succeeds, so \
            `listen` and the TUI poll it from then on and a later `ledgerlink sync` needs no option. \
            Exit status: 0 when both sides hold the same ledger afterwards, 1 on failure, 3 when \
            some entries still wait, 4 when entries were refused (forged or broken), 5 when the \
            sync brought proof that a device forked its log, 7 when the store's signed answers \
            proved it misbehaved (went back to an older state, contradicted itself, lost entries \
            it was sent, or answered with another key than the one pinned for its address).
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Option(name: .long, help: "The other device's peer listener, HOST:PORT.") var peer: String?
    @Option(name: .long, help: "The store's address, http(s)://HOST[:PORT].") var store: String?
    @Option(
        name: .long,
        help: "Accept this key (hex) for the store in place of the one pinned at the first sync (after a move).")
    var acceptStoreKey: String?
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            var settings = try DeviceConfig.load(home)
            let endpoint = try peer.map(parseEndpoint)
            let storeURL = try (store ?? (peer == nil ? settings.store : nil)).map(parseStoreURL)
            guard endpoint != nil || storeURL != nil else {
                throw CLIError("name a device (--peer HOST:PORT) or a store (--store URL); no store is saved yet")
            }
            let context = try await DeviceContext.open(home, keys: keys)
            guard let keyPair = context.keyPair else { throw CLIError("the device key is needed to sync") }
            let forksBefore = try await context.engine.provenForks()
            var converged = true
            var refused = false
            var storeProblems = false
            if let endpoint {
                converged = try await syncPeer(endpoint, context, keyPair) && converged
            }
            if let storeURL {
                let outcome: (converged: Bool, refused: Bool, problems: Bool)
                do {
                    outcome = try await syncStore(storeURL, context, keyPair)
                } catch let error as CLIError where store != nil && settings.store != storeURL.absoluteString {
                    throw CLIError("\(error.description) (the address was not saved)")
                }
                converged = outcome.converged && converged
                refused = outcome.refused
                storeProblems = outcome.problems
                if store != nil, settings.store != storeURL.absoluteString {
                    settings.store = storeURL.absoluteString
                    try settings.save(home)
                    if !json { print("Saved \(storeURL.absoluteString) as this device's store.") }
                }
            }
            await context.engine.settle()
            // What this sync brought to light: a fork proven by entries it received.
            let newForks = try await context.engine.provenForks().filter { forksBefore[$0.key] == nil }
            if !json {
                for line in try await context.forkLines(newForks) { print(line) }
            }
            if storeProblems { throw ExitCode(ExitStatus.storeMisbehaved) }
            if !newForks.isEmpty { throw ExitCode(ExitStatus.fork) }
            if refused { throw ExitCode(ExitStatus.refused) }
            if !converged { throw ExitCode(ExitStatus.notLevel) }
        }
    }

    private func syncPeer(_ endpoint: PeerEndpoint, _ context: DeviceContext, _ keyPair: SigningKeyPair) async throws
        -> Bool
    {
        let ownBefore = try await context.engine.clock()[context.engine.device]
        let report: PeerSyncReport
        do {
            report = try await PeerDialer.sync(
                host: endpoint.host, port: endpoint.port, engine: context.engine, keyPair: keyPair)
        } catch {
            throw CLIError("cannot sync with \(endpoint): \(describe(error))")
        }
        if report.converged {
            var record = SyncRecord.load(context.home)
            record.peer = Date()
            record.save(context.home)
        }
        let names = try await context.deviceNames()
        let name = report.peer.flatMap { names[$0] } ?? "(unnamed)"
        let caughtUp = try await caughtUp(since: ownBefore, context)
        if json {
            printJSON(
                .object([
                    ("peer", .string(endpoint.description)), ("device", .string(report.peer?.hex ?? "")),
                    ("device_name", .string(name)), ("sent", .integer(Int128(report.sent))),
                    ("received", .integer(Int128(report.accepted))), ("rounds", .integer(Int128(report.rounds))),
                    ("converged", .bool(report.converged)), ("caught_up", .integer(Int128(caughtUp))),
                ]))
        } else {
            let who = "\(name) (\(report.peer?.fingerprint ?? "?")) at \(endpoint)"
            print("Synced with \(who): sent \(count(report.sent)), received \(report.accepted) new.")
            if caughtUp > 0 { print(CatchUp.caughtUpLine(caughtUp)) }
            print(
                report.converged
                    ? "Both devices now hold the same ledger."
                    : "The ledgers still differ: some entries wait for others that neither device has yet.")
        }
        return report.converged
    }

    private func syncStore(_ url: URL, _ context: DeviceContext, _ keyPair: SigningKeyPair) async throws -> (
        converged: Bool, refused: Bool, problems: Bool
    ) {
        let accepted: PublicSigningKey?
        if let acceptStoreKey {
            guard acceptStoreKey.utf8.count == 64, let bytes = Hex.decode(acceptStoreKey),
                let key = try? PublicSigningKey(bytes: bytes)
            else {
                throw CLIError("--accept-store-key takes the store's key as 64 hex digits, as the refusal showed it")
            }
            accepted = key
        } else {
            accepted = nil
        }
        let ownBefore = try await context.engine.clock()[context.engine.device]
        let client = StoreClient(url: url, engine: context.engine, keyPair: keyPair, acceptedStoreKey: accepted)
        let bar = ProgressLine(enabled: !json)
        let report: StoreSyncReport
        do {
            report = try await client.sync { bar.show($0) }
        } catch StoreClientError.misbehaved(let problem) {
            bar.finish()
            throw failure(TextSafety.sanitised(problem.message), ExitStatus.storeMisbehaved)
        } catch {
            bar.finish()
            throw CLIError("cannot sync with the store at \(url.absoluteString): \(error)")
        }
        bar.finish()
        if report.converged {
            var record = SyncRecord.load(context.home)
            record.store = Date()
            record.save(context.home)
        }
        let caughtUp = try await caughtUp(since: ownBefore, context)
        if json {
            printJSON(
                .object([
                    ("store", .string(url.absoluteString)), ("sent", .integer(Int128(report.sent))),
                    ("caught_up", .integer(Int128(caughtUp))),
                    ("received", .integer(Int128(report.received))), ("requests", .integer(Int128(report.requests))),
                    ("unchanged", .bool(report.unchanged)), ("converged", .bool(report.converged)),
                    ("forks", .array(report.forks.map { .string($0) })),
                    ("unproven_fork_claims", .array(report.unprovenForkClaims.map { .string($0) })),
                    ("refused", .integer(Int128(report.refused.count))),
                    (
                        "possession",
                        report.possession.map {
                            .object([("asked", .integer(Int128($0.asked))), ("proven", .integer(Int128($0.proven)))])
                        } ?? .null
                    ),
                    (
                        "store_problems",
                        .array(
                            report.storeProblems.map {
                                .object([("kind", .string($0.kind.rawValue)), ("message", .string($0.message))])
                            })
                    ),
                ]))
        } else {
            for problem in report.storeProblems {
                print("Warning: \(TextSafety.sanitised(problem.message)).")
            }
            print(
                report.unchanged || (report.sent == 0 && report.received == 0 && report.converged)
                    ? "The store at \(url.absoluteString) already holds the same ledger."
                    : "Synced with the store at \(url.absoluteString): sent \(count(report.sent)), received \(report.received) new."
            )
            if caughtUp > 0 { print(CatchUp.caughtUpLine(caughtUp)) }
            for line in try await context.refusalLines(report.refused) { print(line) }
            if !report.refused.isEmpty {
                print(
                    "The store sent \(count(report.refused.count)) that this device refused (above); they were not stored."
                )
            }
            for claim in report.unprovenForkClaims {
                print(
                    "The store says device \(claim.prefix(16))… forked but sent no proof that verifies; "
                        + "the claim is ignored.")
            }
            if !report.converged {
                let waiting = try await context.engine.status().held
                print(
                    report.refused.isEmpty
                        ? "The device and the store still differ: \(count(waiting)) here wait for earlier "
                            + "entries that the store has not sent."
                        : "The device and the store still differ because of the refused entries.")
            }
        }
        return (report.converged, !report.refused.isEmpty, !report.storeProblems.isEmpty)
    }

    private func count(_ n: Int) -> String { n == 1 ? "1 entry" : "\(n) entries" }

    /// How many entries of this device's own log arrived since its seq was `before` (a sync
    /// writes nothing of its own).
    private func caughtUp(since before: Seq, _ context: DeviceContext) async throws -> Int {
        let after = try await context.engine.clock()[context.engine.device]
        return after > before ? Int(clamping: after - before) : 0
    }
}

/// A store address as people write it: http:// or https://, a host, maybe a port.
func parseStoreURL(_ text: String) throws -> URL { try SyncSettings.storeURL(text) }

/// Sync progress: a bar redrawn in place on a terminal, a line per step otherwise. Progress
/// may be reported from several tasks: what was drawn is kept under a lock.
final class ProgressLine: Sendable {
    private let enabled: Bool
    private let terminal = isatty(STDERR_FILENO) == 1
    private let drawn = Mutex((any: false, lastLine: 0))

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ progress: StoreSyncProgress) {
        guard enabled, progress.total > 0 else { return }
        let megabytes = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1_048_576) }
        let text =
            "\(progress.received)/\(progress.total) entries, \(megabytes(progress.receivedBytes))"
            + "/\(megabytes(progress.totalBytes)) MB"
        drawn.withLock { drawn in
            if terminal {
                let width = 30
                let done = width * min(progress.received, progress.total) / progress.total
                let bar = String(repeating: "#", count: done) + String(repeating: "-", count: width - done)
                FileHandle.standardError.write(Data("\r[\(bar)] \(text)\u{1b}[K".utf8))
                drawn.any = true
            } else if progress.received != drawn.lastLine {
                drawn.lastLine = progress.received
                FileHandle.standardError.write(Data("received \(text)\n".utf8))
            }
        }
    }

    func finish() {
        if drawn.withLock({ $0.any }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "List or change the peers this device dials, and LAN discovery.",
        subcommands: [List.self, Add.self, Remove.self, Discovery.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "Show static peers and whether discovery is on.")
        @OptionGroup var homeOptions: HomeOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await userFacing {
                let settings = try DeviceConfig.load(homeOptions.dataHome)
                if json {
                    printJSON(
                        .object([
                            ("peers", .array(settings.peers.map { .string($0) })),
                            ("discovery", .bool(settings.discovery)),
                            ("listen_port", .integer(Int128(settings.listenPort))),
                            ("discovery_port", .integer(Int128(settings.discoveryPort))),
                        ]))
                    return
                }
                print(settings.peers.isEmpty ? "No static peers." : "Static peers:")
                for peer in settings.peers { print("  \(peer)") }
                print(
                    "Discovery: \(settings.discovery ? "on" : "off") (UDP \(settings.discoveryPort));"
                        + " listener port \(settings.listenPort).")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Dial this peer (HOST:PORT) whenever listening.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "HOST:PORT of the other device's listener.") var peer: String

        func run() async throws {
            try await userFacing {
                let endpoint = try parseEndpoint(peer).description
                var settings = try DeviceConfig.load(homeOptions.dataHome)
                guard !settings.peers.contains(endpoint) else {
                    print("\(endpoint) is already a peer.")
                    return
                }
                settings.peers.append(endpoint)
                try settings.save(homeOptions.dataHome)
                print("Added \(endpoint); a running `ledgerlink listen` picks it up when restarted.")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Stop dialling this peer.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "HOST:PORT as listed.") var peer: String

        func run() async throws {
            try await userFacing {
                let endpoint = try parseEndpoint(peer).description
                var settings = try DeviceConfig.load(homeOptions.dataHome)
                guard settings.peers.contains(endpoint) else { throw CLIError("\(endpoint) is not a peer") }
                settings.peers.removeAll { $0 == endpoint }
                try settings.save(homeOptions.dataHome)
                print("Removed \(endpoint).")
            }
        }
    }

    struct Discovery: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "discovery", abstract: "Turn LAN discovery on or off.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "on or off.") var state: String

        func run() async throws {
            try await userFacing {
                guard ["on", "off"].contains(state) else { throw CLIError("say `on` or `off`, not \(state)") }
                var settings = try DeviceConfig.load(homeOptions.dataHome)
                settings.discovery = state == "on"
                try settings.save(homeOptions.dataHome)
                print("Discovery is \(state).")
            }
        }
    }
}

func parseEndpoint(_ text: String) throws -> PeerEndpoint { try SyncSettings.endpoint(text) }

private func checkedPort(_ port: Int, _ option: String) throws -> Int {
    guard (0...65535).contains(port) else { throw CLIError("\(option) \(port) is not a port (0-65535)") }
    return port
}

/// A network error in words (classified by its type, in LedgerSync).
func describe(_ error: any Error) -> String { NetworkWords.describe(error) }

/// Waits for one of several signals, which are ignored by default handling meanwhile.
final class SignalWaiter: @unchecked Sendable {  // sources are only created and cancelled
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation

    init(_ signals: [Int32]) {
        (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let continuation = continuation
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in stream { return }
    }

    /// Every signal as it arrives.
    var received: AsyncStream<Int32> { stream }

    func cancel() {
        continuation.finish()
        for source in sources { source.cancel() }
    }
}
