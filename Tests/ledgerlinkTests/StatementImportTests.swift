import Foundation
import LedgerTestSupport
import Testing

@Suite("Importing a bank statement")
struct StatementImportTests {
    static let sample = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Resources/samples/bank-statement.csv")

    @Test("import --format csv records the rows as this device's entries, once; a second time is refused")
    func statement() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let arguments = [
            "import", "--format", "csv", Self.sample.path, "--map", "date=1,amount=3,memo=2", "--date-order", "dmy",
            "--decimal-comma",
        ]
        let first = try await laptop.cli.run(arguments + ["--home", laptop.home.path])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("Recorded 4 rows"))
        #expect(first.stdout.contains("in +2500.00, out -858.40. Balance: 1641.60"))
        let history = try #require(try await laptop.json("history") as? [[String: Any]])
        #expect(
            Set(history.compactMap { $0["memo"] as? String }) == ["SALARY ACME; NOVEMBER", "Bakery", "Rent \"Flat 2\""])
        // The statement's dates, not today's.
        #expect(history.allSatisfy { ($0["time"] as? String)?.hasPrefix("2026-11-0") == true })
        let again = try await laptop.cli.run(arguments + ["--home", laptop.home.path])
        #expect(again.status == 1)
        #expect(again.stderr.contains("4 of the 4 rows were recorded already"))
        #expect(again.stderr.contains("nothing was recorded"))
        #expect(try await laptop.balanceMinor() == 164_160)
        let forced = try await laptop.cli.run(arguments + ["--allow-duplicates", "--home", laptop.home.path])
        #expect(forced.status == 0)
        #expect(try await laptop.balanceMinor() == 328_320)
    }

    @Test("a row that does not read refuses the whole file with its line; nothing is recorded")
    func badRows() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        let folder = laptop.home.deletingLastPathComponent()
        func attempt(_ text: String, _ extra: String...) async throws -> CommandRunner.Result {
            let file = folder.appendingPathComponent("statement-\(UUID().uuidString).csv")
            try text.write(to: file, atomically: true, encoding: .utf8)
            return try await laptop.run(
                "import", "--format", "csv", file.path, "--map", "date=1,amount=2,memo=3", extra.first ?? "--json")
        }
        let badDate = try await attempt("date,amount,memo\n2026-11-03,10.00,ok\n2026-13-01,5.00,bad\n")
        #expect(badDate.status == 1)
        #expect(badDate.stderr.contains("line 3: \"2026-13-01\" is not a date in ymd order"))
        let badAmount = try await attempt("2026-11-03,ten,x\n2026-11-04,lots,y\n")
        #expect(badAmount.stderr.contains("line 2: the amount"))
        let unterminated = try await attempt("2026-11-03,1.00,\"open\n")
        #expect(unterminated.stderr.contains("ends inside a quoted cell"))
        #expect(try await laptop.balanceMinor() == 0)
        let noMap = try await laptop.run("import", "--format", "csv", "x.csv")
        #expect(noMap.status == 64)
        #expect(noMap.stderr.contains("--format csv needs --map"))
    }
}
