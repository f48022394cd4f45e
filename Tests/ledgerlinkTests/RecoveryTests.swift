import Foundation
import LedgerIdentity
import LedgerTestSupport
import Testing

extension Device {
    /// Runs `recovery create`, reads the words it shows and types back the two it asks for
    /// (`wrong` types a wrong one instead). Returns the words and what the command printed.
    func createRecoveryWords(wrong: Bool = false) async throws -> (words: [String], result: CommandRunner.Result) {
        let (process, input, output) = try cli.startInteractive(["recovery", "create", "--home", home.path])
        var words: [String] = []
        for asked in 1...2 {
            let prompted = await eventually(timeout: 60) {
                output.waitForData(upTo: 0).components(separatedBy: "Type word #").count > asked
            }
            guard prompted else { break }
            let text = output.waitForData(upTo: 0)
            if words.isEmpty {
                var byNumber: [Int: String] = [:]
                for match in text.matches(of: /(\d+)\. ([a-z]+)/) { byNumber[Int(match.1) ?? 0] = String(match.2) }
                words = (1...24).compactMap { byNumber[$0] }
            }
            let last = text.components(separatedBy: "Type word #").last ?? ""
            let number = Int(last.prefix { $0.isNumber }) ?? 0
            let answer = wrong ? (words[number - 1] == "zoo" ? "abandon" : "zoo") : words[number - 1]
            input.write(Data((answer + "\n").utf8))
            if wrong { break }
        }
        try? input.close()
        let status = try await offThePool {
            process.waitUntilExit()
            return process.terminationStatus
        }
        let (stdout, stderr) = output.finish()
        return (words, CommandRunner.Result(status: status, stdout: stdout, stderr: stderr))
    }
}

/// Recovery words, through the real binary and the real `serve`: losing every device loses
/// nothing.
@Suite("Recovery words")
struct RecoveryTests {
    @Test("lose every device: the words, a store and a new machine give back the same ledger, and revoke the lost")
    func recoverFromStore() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "100", "--memo", "salary")
        try await laptop.ok("spend", "12.50", "--memo", "lunch")
        let phone = try await laptop.linkNewDevice(name: "phone")
        let folder = laptop.home.deletingLastPathComponent()
        let store = try await StoreProcess.start(database: folder.appendingPathComponent("store.sqlite"))
        defer { store.stopNow() }
        try await laptop.ok("sync", "--store", store.url)
        try await phone.ok("sync", "--store", store.url)
        try await phone.ok("earn", "7", "--memo", "from the phone")

        let (words, created) = try await laptop.createRecoveryWords()
        #expect(created.status == 0, "\(created.stderr)")
        #expect(words.count == 24)
        #expect(created.stdout.contains("Linked recovery key"))
        // The device keeps no copy of the words.
        let folderText = try FileManager.default.contentsOfDirectory(atPath: laptop.home.path).compactMap {
            FileManager.default.contents(atPath: laptop.home.appendingPathComponent($0).path)
        }.map { String(decoding: $0, as: UTF8.self) }.joined()
        #expect(!folderText.contains(words.joined(separator: " ")))
        let listed = try #require(try await laptop.json("recovery", "list") as? [[String: Any]])
        #expect(listed.count == 1)
        #expect(listed.first?["revoked"] as? Bool == false)
        #expect(try await laptop.ok("devices").contains("Recovery keys: 1 active"))
        try await laptop.ok("sync")
        try await phone.ok("sync")
        try await laptop.ok("sync")
        let balance = try await laptop.balanceMinor()
        #expect(balance == 9450)

        // Every device is lost.
        try FileManager.default.removeItem(at: laptop.home)
        try FileManager.default.removeItem(at: phone.home)

        let fresh = try Device(name: "new-laptop")
        let wordsFile = folder.appendingPathComponent("words.txt")
        try words.joined(separator: " ").write(to: wordsFile, atomically: true, encoding: .utf8)
        let recovered = try await fresh.run(
            "recover", "--store", store.url, "--name", "new laptop", "--words-file", wordsFile.path, "--revoke-lost")
        #expect(recovered.status == 0, "\(recovered.stdout) \(recovered.stderr)")
        #expect(recovered.stdout.contains("Recovered identity"))
        #expect(recovered.stdout.contains("Revoked laptop"))
        #expect(try await fresh.balanceMinor() == balance)
        let history = try await fresh.ok("history")
        for memo in ["salary", "lunch", "from the phone"] { #expect(history.contains(memo)) }
        let devices = try #require(try await fresh.json("devices") as? [[String: Any]])
        let states = Dictionary(
            uniqueKeysWithValues: devices.map { ($0["name"] as? String ?? "", $0["state"] as? String ?? "") })
        #expect(states["laptop"] == "revoked")
        #expect(states["phone"] == "revoked")
        #expect(states["new laptop"] == "active")
        // Writing and syncing work; a second device recovered later sees the same ledger.
        try await fresh.ok("earn", "1", "--memo", "after recovery")
        try await fresh.ok("sync")
        let other = try Device(name: "tablet")
        try await other.ok("recover", "--store", store.url, "--name", "tablet", "--words-file", wordsFile.path)
        #expect(try await other.balanceMinor() == balance + 100)
    }

    @Test("recover from an export file when there is no store")
    func recoverFromExport() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "42")
        let (words, created) = try await laptop.createRecoveryWords()
        #expect(created.status == 0)
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("ledger.export")
        try await laptop.ok("export").write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: laptop.home)
        let fresh = try Device(name: "new")
        let recovered = try await fresh.run(
            "recover", "--from", file.path, "--name", "new", stdin: Data(words.joined(separator: " ").utf8))
        #expect(recovered.status == 0, "\(recovered.stderr)")
        #expect(recovered.stdout.contains("laptop (") && recovered.stdout.contains("last entry"))
        #expect(try await fresh.balanceMinor() == 4200)
        #expect(try await fresh.run("verify").status == 0)
    }

    @Test("wrong words, words that do not check, a revoked key, a store without the identity: refused, nothing written")
    func refusals() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let folder = laptop.home.deletingLastPathComponent()
        let store = try await StoreProcess.start(database: folder.appendingPathComponent("store.sqlite"))
        defer { store.stopNow() }
        // A word typed back wrong links nothing.
        let (_, mistyped) = try await laptop.createRecoveryWords(wrong: true)
        #expect(mistyped.status == 1)
        #expect(mistyped.stderr.contains("nothing was linked"))
        #expect((try await laptop.json("recovery", "list") as? [Any])?.isEmpty == true)

        let (words, _) = try await laptop.createRecoveryWords()
        try await laptop.ok("sync", "--store", store.url)
        let fresh = try Device(name: "fresh")
        func recover(_ text: String) async throws -> CommandRunner.Result {
            try await fresh.run("recover", "--store", store.url, "--name", "x", stdin: Data(text.utf8))
        }
        var typo = words
        typo[4] = "notaword"
        let badWord = try await recover(typo.joined(separator: " "))
        #expect(badWord.status == 1)
        #expect(badWord.stderr.contains("word 5 (\"notaword\") is not a recovery word"))
        // Two words swapped: one swap in 256 still passes the 8-bit checksum (a different key,
        // which the store then does not know), so the swap tried is one that does not check.
        let swapped = try #require(
            (1..<24).lazy.map { other -> [String] in
                var swapped = words
                swapped.swapAt(0, other)
                return swapped
            }.first { swapped in
                swapped != words && (try? RecoveryWords(parsing: swapped.joined(separator: " "))) == nil
            })
        let badSum = try await recover(swapped.joined(separator: " "))
        #expect(badSum.status == 1)
        #expect(badSum.stderr.contains("the words do not check"))
        let short = try await recover(words.prefix(12).joined(separator: " "))
        #expect(short.stderr.contains("recovery words are 24 words; 12 were given"))
        // Another store, which never held this identity.
        let empty = try await StoreProcess.start(database: folder.appendingPathComponent("empty.sqlite"))
        defer { empty.stopNow() }
        let elsewhere = try await fresh.run(
            "recover", "--store", empty.url, "--name", "x", stdin: Data(words.joined(separator: " ").utf8))
        #expect(elsewhere.status == 1)
        #expect(elsewhere.stderr.contains("holds no identity with this recovery key"))
        // The key, once revoked, recovers nothing.
        let keys = try #require(try await laptop.json("recovery", "list") as? [[String: Any]])
        let fingerprint = try #require(keys.first?["fingerprint"] as? String)
        try await laptop.ok("revoke", fingerprint, "--yes")
        try await laptop.ok("sync")
        let revoked = try await recover(words.joined(separator: " "))
        #expect(revoked.status == 1)
        #expect(revoked.stderr.contains("revoked"))
        // Nothing was written by any refusal.
        #expect(!FileManager.default.fileExists(atPath: fresh.home.appendingPathComponent("device.key").path))
        #expect(!FileManager.default.fileExists(atPath: fresh.home.appendingPathComponent("ledger.sqlite").path))
    }

    @Test("the TUI's R shows the words once and links them once two are typed back; they recover the ledger")
    func tuiCreatesWords() async throws {
        guard TmuxSession.isAvailable else { return }
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "5")
        let tmux = try TmuxSession(["sh"], width: 120, height: 34, environment: ["PS1": "$ ", "NO_COLOR": "1"])
        defer { tmux.close() }
        try tmux.type("\(laptop.cli.executable.path) tui --home \(laptop.home.path); echo \"exited with $?\"")
        try tmux.send("Enter")
        #expect(try await tmux.waitFor("Balance 5.00"))
        try tmux.send("R")
        #expect(try await tmux.waitFor("Enter once they are written down"))
        var byNumber: [Int: String] = [:]
        for match in try tmux.screen().matches(of: /(\d+)\. ([a-z]+)/) { byNumber[Int(match.1) ?? 0] = String(match.2) }
        let words = (1...24).compactMap { byNumber[$0] }
        #expect(words.count == 24)
        try tmux.send("Enter")
        var answered: [Int] = []
        for _ in 0..<2 {
            // The next word asked: a number not answered yet.
            func prompt(_ screen: String) -> Int? {
                screen.firstMatch(of: /Type word #(\d+):/).flatMap { Int($0.1) }
            }
            #expect(try await tmux.waitFor { prompt($0).map { !answered.contains($0) } ?? false })
            let number = prompt(try tmux.screen()) ?? 0
            guard (1...24).contains(number), words.count == 24 else { break }
            answered.append(number)
            try tmux.type(words[number - 1])
            try tmux.send("Enter")
        }
        #expect(try await tmux.waitFor("Linked recovery key"))
        try tmux.send("q")
        #expect(try await tmux.waitFor("exited with 0"))
        #expect((try await laptop.json("recovery", "list") as? [Any])?.count == 1)
        // The words shown are the key linked: they recover the ledger from an export.
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("ledger.export")
        try await laptop.ok("export").write(to: file, atomically: true, encoding: .utf8)
        let fresh = try Device(name: "fresh")
        let recovered = try await fresh.run(
            "recover", "--from", file.path, "--name", "fresh", stdin: Data(words.joined(separator: " ").utf8))
        #expect(recovered.status == 0, "\(recovered.stderr)")
        #expect(try await fresh.balanceMinor() == 500)
    }
}
