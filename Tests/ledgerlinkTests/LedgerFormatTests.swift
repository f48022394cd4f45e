import Foundation
import LedgerTestSupport
import Testing

@Suite("Formats other tools read")
struct LedgerFormatTests {
    static var hasHledger: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/hledger") }

    func ledger() async throws -> Device {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "1200", "--memo", "Salary #work")
        try await laptop.ok("spend", "12.50", "--memo", "lunch; with \"Bob\", =1+1 #food #team-2")
        try await laptop.ok("spend", "850", "--memo", "Rent #home")
        try await laptop.ok("spend", "0.99", "--memo", "")
        return laptop
    }

    @Test("export --format csv: a header, one safe row per record oldest first, tags and the entry id")
    func csv() async throws {
        let laptop = try await ledger()
        let text = try await laptop.ok("export", "--format", "csv")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first == "date,device,kind,amount,memo,tags,entry,status")
        #expect(lines.count == 5)
        #expect(lines[1].contains(",laptop,credit,1200.00,Salary #work,work,"))
        #expect(lines[1].hasSuffix(",counted"))
        // A cell with a comma or a quote is quoted, its quotes doubled.
        #expect(lines[2].contains(#",debit,12.50,"lunch; with ""Bob"", =1+1 #food #team-2",food team-2,"#))
        #expect(lines[4].contains(",debit,0.99,,,"))
        let entry = try #require(lines[1].split(separator: ",").dropLast().last)
        #expect(entry.count == 16 && entry.allSatisfy(\.isHexDigit))
        let empty = try await Device(name: "empty").run("export", "--format", "csv")
        #expect(empty.status == 1)  // no ledger there: said, not an empty file
    }

    @Test("a memo that a spreadsheet would run as a formula is written as text")
    func formulas() async throws {
        let laptop = try Device(name: "laptop")
        try await laptop.ok("init", "--name", "laptop")
        try await laptop.ok("earn", "1", "--memo", "=HYPERLINK(\"http://evil\")")
        let text = try await laptop.ok("export", "--format", "csv")
        #expect(text.contains(#""'=HYPERLINK(""http://evil"")""#))
    }

    @Test("export --format hledger: hledger reads it with the same balance, and the tags", .enabled(if: hasHledger))
    func hledger() async throws {
        let laptop = try await ledger()
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("ledger.journal")
        try await laptop.ok("export", "--format", "hledger").write(to: file, atomically: true, encoding: .utf8)
        let (status, output) = try await runHledger(["-f", file.path, "balance", "--flat", "--no-total"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("336.51  assets:ledgerlink"))
        #expect(output.contains("863.49  expenses:ledgerlink"))
        #expect(output.contains("-1200.00  income:ledgerlink"))
        let food = try await runHledger(["-f", file.path, "balance", "--flat", "--no-total", "tag:food"])
        #expect(food.output.contains("12.50  expenses:ledgerlink"))
        #expect(try await laptop.ok("balance").contains("336.51"))
    }

    @Test("a corrected entry is exported with what it counts now, a void one as void; hledger agrees with balance")
    func corrected() async throws {
        let laptop = try await ledger()
        let history = try #require(try await laptop.json("history") as? [[String: Any]])
        func id(_ memo: String) throws -> String {
            try #require(history.first { $0["memo"] as? String == memo }?["id"] as? String)
        }
        try await laptop.ok(
            "correct", try id("Rent #home"), "--amount", "800", "--memo", "Rent, less the deposit #home")
        try await laptop.ok("void", try id(""))
        let lines = try await laptop.ok("export", "--format", "csv").split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "corrections are not rows of their own: \(lines)")
        #expect(
            lines[3].contains(",debit,800.00,\"Rent, less the deposit #home\",home,")
                && lines[3].hasSuffix(",corrected"))
        #expect(lines[4].contains(",debit,0.00,,,") && lines[4].hasSuffix(",void"))
        #expect(try await laptop.ok("balance").contains("387.50"))
        guard Self.hasHledger else { return }
        let file = laptop.home.deletingLastPathComponent().appendingPathComponent("corrected.journal")
        try await laptop.ok("export", "--format", "hledger").write(to: file, atomically: true, encoding: .utf8)
        let (status, output) = try await runHledger(["-f", file.path, "balance", "--flat", "--no-total"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("387.50  assets:ledgerlink"))
        #expect(output.contains("812.50  expenses:ledgerlink"))
    }

    func runHledger(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await offThePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/hledger")
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }
}
