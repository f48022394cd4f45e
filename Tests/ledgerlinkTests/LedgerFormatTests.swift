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
        #expect(lines.first == "date,device,kind,amount,memo,tags,entry")
        #expect(lines.count == 5)
        #expect(lines[1].contains(",laptop,credit,1200.00,Salary #work,work,"))
        // A cell with a comma or a quote is quoted, its quotes doubled.
        #expect(lines[2].contains(#",debit,12.50,"lunch; with ""Bob"", =1+1 #food #team-2",food team-2,"#))
        #expect(lines[4].contains(",debit,0.99,,,"))
        let entry = try #require(lines[1].split(separator: ",").last)
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
