import ArgumentParser
import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerRemote
import LedgerSync

#if canImport(Glibc)
    import Glibc
#endif

struct RecoveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Make recovery words (a key that can link a new device when every device is lost), or list them.",
        subcommands: [Create.self, List.self], defaultSubcommand: List.self)

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Make a recovery key, show it once as 24 words, and link it to the identity.",
            discussion: """
                Write the words on paper and keep them where you would keep a spare house key: \
                anyone who reads them can link a device to this identity (revoke the key with \
                `ledgerlink revoke` if they may have been seen). This device keeps no copy. To \
                check that they were written down, you are asked to type two of them back.
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var keys: KeyOptions
        @Option(name: .long, help: "A name for the recovery key, shown by `recovery list` (default: the date).")
        var name: String?

        func validate() throws {
            if let name,
                let problem = TextSafety.problem(with: name, what: "name", maxBytes: PrivateBody.maxNameBytes)
            {
                throw ValidationError(problem)
            }
        }

        func run() async throws {
            try await userFacing {
                let context = try await DeviceContext.open(homeOptions.dataHome, keys: keys)
                let words = RecoveryWords.generate()
                let list = words.words
                print("Your recovery words (write them down now; they are shown only this once):\n")
                for row in 0..<6 {
                    print(
                        (0..<4).map { column -> String in
                            let index = row + column * 6
                            let number = String(index + 1).leftPadded(to: 2)
                            return "\(number). \(list[index])".padding(toLength: 16, withPad: " ", startingAt: 0)
                        }.joined(separator: "  "))
                }
                print("")
                // Two positions at random, in order: proof that they were written down.
                let first = Int(SecureRandom.uniform(UInt32(RecoveryWords.wordCount)))
                var second = Int(SecureRandom.uniform(UInt32(RecoveryWords.wordCount - 1)))
                if second >= first { second += 1 }
                for position in [first, second].sorted() {
                    print("Type word #\(position + 1): ", terminator: "")
                    fflush(nil)
                    guard let typed = readLine(),
                        Wordlist.index(of: typed).map({ Wordlist.words[$0] }) == list[position]
                    else {
                        throw CLIError(
                            "that is not word #\(position + 1); nothing was linked. Run `ledgerlink recovery create` "
                                + "again and write the new words down")
                    }
                }
                let label = name ?? "recovery key \(TimeText.short(Date()).prefix(10))"
                let key = words.keyPair
                try await context.engine.appendRecoveryKey(key, name: label)
                print(
                    "\nLinked recovery key \(key.publicKey.fingerprint) (\(TextSafety.sanitised(label))). This device "
                        + "kept no copy of the words. Sync so every device and the store know it; on a new machine, "
                        + "`ledgerlink recover --store URL --name NAME` takes the words.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List this identity's recovery keys.")
        @OptionGroup var homeOptions: HomeOptions
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() async throws {
            try await userFacing {
                let context = try await DeviceContext.open(homeOptions.dataHome, keys: nil)
                let keys = try await context.engine.devices().filter(\.isRecovery)
                let names = try await context.deviceNames()
                if json {
                    printJSON(
                        .array(
                            keys.map { key in
                                .object([
                                    ("key", .string(key.key.hex)), ("fingerprint", .string(key.key.fingerprint)),
                                    ("name", .string(TextSafety.sanitised(key.name ?? ""))),
                                    ("linked_by", .string(key.linkedBy.flatMap { names[$0] } ?? "")),
                                    ("linked", .string(TimeText.iso(key.linkedAt))),
                                    ("revoked", .bool(key.boundary != nil)),
                                    ("devices_linked", .integer(Int128(key.entries))),
                                ])
                            }))
                    return
                }
                guard !keys.isEmpty else {
                    print("No recovery keys yet: `ledgerlink recovery create` makes one.")
                    return
                }
                for key in keys {
                    let by = key.linkedBy.flatMap { names[$0] } ?? "?"
                    let state = key.boundary != nil ? "revoked" : "active"
                    print(
                        "\(TextSafety.sanitised(key.name ?? "(unnamed)")) (\(key.key.fingerprint)): \(state), made on "
                            + "\(by) \(TimeText.short(key.linkedAt))"
                            + (key.entries > 0 ? ", used to link \(key.entries) device(s)" : ""))
                }
            }
        }
    }
}

struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Make this machine a device of an identity from its recovery words, when no linked device is left.",
        discussion: """
            The words are read from --words-file, else typed (or piped) on standard input. The \
            ledger comes from the store (--store) or an export file (--from); the recovery key \
            links a fresh key for this machine, and the other devices are listed with when each \
            was last seen, to revoke the lost ones (--revoke-lost revokes them all). A wrong word, \
            words that do not check, a revoked recovery key or a store without the identity: a \
            message, and nothing is written.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var device: NewDeviceOptions
    @Option(name: .long, help: "The store that holds the ledger, http(s)://HOST[:PORT].") var store: String?
    @Option(name: .long, help: "An export file of the ledger, when there is no store.") var from: String?
    @Option(name: .long, help: "Read the 24 words from this file.") var wordsFile: String?
    @Flag(name: .long, help: "Revoke every other device (not recovery keys) once this one is linked.")
    var revokeLost = false

    func validate() throws {
        guard (store == nil) != (from == nil) else {
            throw ValidationError("name where the ledger is: --store URL, or --from FILE (an export)")
        }
    }

    func run() async throws {
        try await userFacing {
            let home = homeOptions.dataHome
            try home.requireNoDevice()
            let words = try RecoveryWords(parsing: try readWords())
            let recovery = words.keyPair
            let storeURL = try store.map(parseStoreURL)
            let replica: MergeEngine
            if let storeURL {
                let found: [(identity: IdentityID, genesis: Entry)]
                do {
                    found = try await Recovery.lookUp(store: storeURL, key: recovery.publicKey)
                } catch let error as RecoveryError {
                    throw CLIError(error.description)
                } catch {
                    throw CLIError("cannot reach the store at \(storeURL.absoluteString): \(error)")
                }
                guard let first = found.first else {
                    throw CLIError("the store's answer named no identity it could prove; nothing was written")
                }
                replica = try await Recovery.replica(genesis: first.genesis, recovery: recovery)
                do {
                    let report = try await StoreClient(url: storeURL, engine: replica, keyPair: recovery).sync()
                    guard report.converged else {
                        throw CLIError("the store did not send the whole ledger; nothing was written. Try again")
                    }
                } catch StoreClientError.refused(_, "revoked_device", _, _) {
                    throw CLIError(
                        "these words belong to a recovery key that was revoked; use another recovery key, or link "
                            + "this machine from a device that is still linked")
                }
            } else {
                let path = from ?? ""
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CLIError("cannot read \(path)")
                }
                let entries = try ExportDocument.read(data)
                guard
                    let genesis = entries.first(where: { entry in
                        entry.kind == .genesis && entry.seq == 1 && Recovery.isGenesis(entry, of: entry.identity)
                    })
                else { throw CLIError("\(path) holds no genesis entry: it is not an export of a whole ledger") }
                replica = try await Recovery.replica(genesis: genesis, recovery: recovery)
                try await replica.merge(entries.filter { $0.identity == genesis.identity })
            }
            do {
                try await Recovery.check(replica, recovery: recovery.publicKey)
            } catch let error as RecoveryError {
                throw CLIError(error.description + "; nothing was written")
            }
            let keyPair = SigningKeyPair.generate()
            let link = try await Recovery.link(keyPair, name: device.name, in: replica)
            if let storeURL {
                // The link reaches the store before this machine calls itself a device.
                let pushed = try await StoreClient(url: storeURL, engine: replica, keyPair: recovery).sync()
                guard pushed.converged else {
                    throw CLIError("the store did not take the new device's link; nothing was written. Try again")
                }
            }
            let engine = try await Recovery.makeDevice(
                home: home, device: keyPair, from: replica, link: link, passphrase: try device.newPassphrase())
            if let storeURL {
                var settings = try DeviceConfig.load(home)
                settings.store = storeURL.absoluteString
                try settings.save(home)
            }
            let context = DeviceContext(home: home, engine: engine, keyPair: keyPair)
            try await report(context, recovery: recovery.publicKey, storeURL: storeURL)
        }
    }

    /// What was recovered, the devices left to revoke, and (with --revoke-lost) the revokes.
    private func report(_ context: DeviceContext, recovery: PublicSigningKey, storeURL: URL?) async throws {
        let engine = context.engine
        let totals = try await engine.totals()
        let decimals = await context.decimals
        let count = try await engine.storedEntryCount()
        print(
            "Recovered identity \(engine.identity.hex.prefix(16))… as \(TextSafety.sanitised(device.name)) "
                + "(\(engine.device.fingerprint)), linked by recovery key \(recovery.fingerprint): \(count) entries, "
                + "balance \(totals.balance.formatted(decimals)).")
        let others = try await engine.devices().filter { !$0.isThisDevice && !$0.isRecovery && $0.boundary == nil }
        if revokeLost {
            for other in others { try await engine.appendRevoke(device: other.key) }
            if !others.isEmpty {
                print(
                    "Revoked \(others.map(Revoke.label).joined(separator: ", ")); the data key was rotated to this "
                        + "device and the recovery keys.")
            }
            if let storeURL {
                _ = try? await StoreClient(url: storeURL, engine: engine, keyPair: context.keyPair!).sync()
            }
        } else if !others.isEmpty {
            print("Devices still linked (revoke each one you lost, with `ledgerlink revoke NAME`):")
            for other in others {
                let seen = other.lastSeen.map { "last entry \(TimeText.short($0))" } ?? "no entries"
                print("  \(Revoke.label(other)), \(seen)")
            }
        }
        print(
            "The recovery words still work. If anyone else may have seen them, make new ones with "
                + "`ledgerlink recovery create` and revoke this key (`ledgerlink revoke \(recovery.fingerprint)`).")
    }

    /// The words: from the file, else standard input (asked for on a terminal).
    private func readWords() throws -> String {
        if let wordsFile {
            guard let data = FileManager.default.contents(atPath: wordsFile), data.count <= 4096,
                let text = String(data: data, encoding: .utf8)
            else { throw CLIError("cannot read the words from \(wordsFile) (a text file of at most 4 KiB)") }
            return text
        }
        if isatty(STDIN_FILENO) == 1 { print("Recovery words (24, separated by spaces): ", terminator: "") }
        var text = ""
        // Lines until 24 words have come, or the input ends; at most 4 KiB.
        while text.utf8.count <= 4096, let line = readLine() {
            text += line + "\n"
            if text.split(whereSeparator: \.isWhitespace).count >= RecoveryWords.wordCount { break }
        }
        return text
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
