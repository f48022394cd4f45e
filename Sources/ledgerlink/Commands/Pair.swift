import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerSync

struct Pair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Open a pairing window so a new device can join this identity.",
        discussion: """
            Prints a one-time pairing code to type on the new device (`ledgerlink join CODE --name NAME`). \
            The window serves one new device and closes after --minutes. When the new device asks, \
            this device shows its name (unverified) and its key fingerprint, and the new device shows \
            five words. Read the words on the NEW device and type them here to approve: this screen \
            never shows them, so approving means looking at the new device; words that do not match \
            mean someone is in the middle. Type `deny` to refuse. \
            Without --store the new device connects here directly (same network); with --store \
            the two meet in the store's pairing mailbox.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var keys: KeyOptions
    @Option(name: .long, help: "Address to listen on for the new device.") var host = "0.0.0.0"
    @Option(name: .long, help: "TCP port to listen on (0 picks a free one).") var port = 0
    @Option(name: .long, help: "Address the code tells the new device to dial (default: this machine's LAN address).")
    var advertise: String?
    @Option(name: .long, help: "Minutes the window stays open (1 to 60).") var minutes = 10
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Meet through this store's pairing mailbox instead (`saved` for the store `sync --store` saved).",
            valueName: "URL"))
    var store: String?

    func validate() throws {
        guard (1...60).contains(minutes) else { throw ValidationError("--minutes must be between 1 and 60") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            let context = try await DeviceContext.open(home, keys: keys)
            guard let keyPair = context.keyPair else { throw CLIError("the device key is needed to pair") }
            let engine = context.engine
            guard try await engine.currentRoster().authorises(engine.device, seq: .max) else {
                throw CLIError("this device is revoked; open the pairing window on a device still linked")
            }
            let length = Duration.seconds(minutes * 60)
            let outcome: PairingHost.Outcome
            if let store {
                let settings = try DeviceConfig.load(home)
                guard let text = store == "saved" ? settings.store : store else {
                    throw CLIError("no store is saved yet: name one with --store URL")
                }
                outcome = try await pairThroughStore(
                    try parseStoreURL(text), engine: engine, keyPair: keyPair, length: length)
            } else {
                outcome = try await pairDirectly(engine: engine, keyPair: keyPair, length: length)
            }
            try report(outcome)
        }
    }

    private func pairDirectly(engine: MergeEngine, keyPair: SigningKeyPair, length: Duration) async throws
        -> PairingHost.Outcome
    {
        let listener: PairingListener
        do {
            listener = try await PairingListener.bind(host: host, port: port)
        } catch {
            throw CLIError("cannot listen on \(host):\(port) for the new device: \(describe(error))")
        }
        let address = advertise ?? (host == "0.0.0.0" || host == "::" ? lanAddress() ?? "127.0.0.1" : host)
        if let problem = PairingCode.hostProblem(address) { throw CLIError("--advertise: \(problem)") }
        let window = PairingWindow(
            code: .generate(identity: engine.identity, rendezvous: .peer(host: address, port: listener.port)),
            length: length)
        announce(window.code)
        let host = PairingHost(engine: engine, keyPair: keyPair, window: window)
        return try await listener.run(host, decide: Self.ask)
    }

    private func pairThroughStore(_ url: URL, engine: MergeEngine, keyPair: SigningKeyPair, length: Duration)
        async throws -> PairingHost.Outcome
    {
        let client = StoreClient(url: url, engine: engine, keyPair: keyPair)
        let window = PairingWindow(code: .generate(identity: engine.identity, rendezvous: .store(url)), length: length)
        let mailbox = PairingProtocol.mailbox(for: window.code)
        do {
            try await client.openMailbox(mailbox, seconds: Int(length.components.seconds))
        } catch {
            throw CLIError("cannot open a pairing mailbox at \(url.absoluteString): \(error)")
        }
        announce(window.code)
        let host = PairingHost(
            engine: engine, keyPair: keyPair, window: window, sendsLedger: false,
            afterLink: {
                // The new device syncs from the store next: it must hold the link entry first.
                // A store that hiccups gets a few tries before the link is given up.
                for attempt in 1...4 {
                    if let report = try? await client.sync(), report.converged { return }
                    try await Task.sleep(for: .seconds(attempt))
                }
                throw PairingError.unreachable(
                    "the store did not take the link entry; revoke the new device's half-made link "
                        + "(`ledgerlink devices`, `ledgerlink revoke`) and pair again")
            })
        let transport = MailboxTransport(
            url: url, mailbox: mailbox, side: .inviter, bearer: { try await client.bearerToken() })
        // The new device may take minutes to type the code: the mailbox is read until the window
        // closes, whatever comes first.
        async let served: Void = host.serve(transport, waitForRequest: window.remaining, decide: Self.ask)
        let outcome = await window.outcome()
        await served
        try? await client.closeMailbox(mailbox)
        return outcome
    }

    private func announce(_ code: PairingCode) {
        let text = """
            Pairing window open for \(minutes) minute\(minutes == 1 ? "" : "s"), for one new device.
            On the new device, run:

                ledgerlink join \(code) --name NAME

            Pairing code: \(code)
            Waiting for the new device ...

            """
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Shows the request and reads the words the person types (on a thread of its own: reading
    /// the terminal blocks).
    @Sendable static func ask(_ request: LinkRequest, attemptsLeft: Int) async -> PairingHost.Decision {
        var text = ""
        if attemptsLeft == PairingProtocol.sasAttempts {
            text += """

                A new device asks to join:
                  name:        \(request.name)   (as the new device gave it; unverified)
                  fingerprint: \(request.device.fingerprint)

                The new device now shows five words. Read them THERE and type them here to approve
                (the first four letters of each are enough), or `deny` to refuse. Words that do not
                match mean someone is in the middle: deny.

                """
        } else {
            text += "Those words do not match. \(attemptsLeft) tr\(attemptsLeft == 1 ? "y" : "ies") left.\n"
        }
        text += "Words> "
        FileHandle.standardOutput.write(Data(text.utf8))
        guard let line = await readLineOffThePool() else { return .deny }
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return ["deny", "d", "no", "n"].contains(trimmed.lowercased()) ? .deny : .typed(trimmed)
    }

    private func report(_ outcome: PairingHost.Outcome) throws {
        guard case .linked = outcome else { throw CLIError(outcome.description) }
        print("\(outcome). It is receiving the ledger; other devices learn of it")
        print("when they next sync.")
    }
}

struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join an identity with the pairing code another device of it shows.",
        discussion: """
            Creates this device's key in its data folder (--home) and asks the pairing device to \
            link it. This device then shows five words: the person types them on the pairing device \
            to approve. Once approved, this device receives the ledger and can write.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @Argument(help: "The pairing code: twelve words, @, and an address, as `ledgerlink pair` shows it.")
    var code: String
    @OptionGroup var device: NewDeviceOptions

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            if home.hasDevice, let context = try? await DeviceContext.open(home, keys: nil),
                let fork = try await context.engine.provenForks()[context.engine.device]
            {
                throw CLIError(
                    "this device's key is frozen: its log forked at seq \(fork) (a restored backup, or a copied "
                        + "key), so nothing it writes counts. Another device settles which branch counts "
                        + "(`ledgerlink fork settle`); to write again, move \(home.url.path) away and join with a "
                        + "new key (this command, with --home for a new folder)")
            }
            try home.requireNoDevice()
            let parsed = try PairingCode(parsing: code)
            let secret = try device.newPassphrase()
            let name = device.name
            let showSAS: @Sendable (ShortAuthenticationString) -> Void = { sas in
                FileHandle.standardOutput.write(
                    Data(
                        """
                        Connected. This device's five words are:

                            \(sas)

                        Type them on the pairing device to approve this one. Waiting ...

                        """.utf8))
            }
            let approach =
                if case .store = parsed.rendezvous { "Meeting the pairing device at" } else {
                    "Connecting to the pairing device at"
                }
            FileHandle.standardOutput.write(Data("\(approach) \(parsed.rendezvous) ...\n".utf8))
            let joined = try await PairingGuest.join(
                code: parsed, name: name, home: home, passphrase: secret, showSAS: showSAS)
            let totals = try await joined.engine.totals()
            let decimals = await joined.engine.decimals ?? 2
            print(
                "Linked to identity \(joined.identity.hex) as \(TextSafety.sanitised(name)) (\(joined.engine.device.fingerprint))."
            )
            print(
                "Balance \(totals.balance.formatted(decimals)) from \(try await joined.engine.storedEntryCount()) entries."
            )
            print("Data folder: \(home.url.path)")
        }
    }
}

/// Reads one line of standard input on a thread of its own, so waiting for the person never
/// holds a thread of the cooperative pool. Nil at end of input.
func readLineOffThePool() async -> String? {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: readLine()) }
    }
}
