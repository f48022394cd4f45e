import Foundation
import LedgerServer
import Testing

@Suite("Store error codes")
struct StoreErrorCodeTests {
    /// `| status | code, code | when |` rows of docs/PROTOCOL.md's "Errors and limits" table.
    static func documented() throws -> [String: Set<Int>] {
        let protocolFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/PROTOCOL.md")
        let text = try String(contentsOf: protocolFile, encoding: .utf8)
        let start = try #require(text.range(of: "### Errors and limits"))
        var codes: [String: Set<Int>] = [:]
        for line in text[start.upperBound...].split(separator: "\n").prefix(40)
        where line.hasPrefix("| 4") || line.hasPrefix("| 5") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            let statuses = Set(
                cells[0].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
            for code in cells[1].matches(of: /`([a-z_]+)`/) { codes[String(code.1), default: []].formUnion(statuses) }
        }
        return codes
    }

    @Test("every code the store answers with is in docs/PROTOCOL.md with its status, and nothing else is")
    func protocolTableAgrees() throws {
        let documented = try Self.documented()
        let wire = StoreErrorCode.allCases.filter { !StoreErrorCode.startUpOnly.contains($0) }
        for code in wire {
            #expect(
                documented[code.rawValue]?.contains(code.status) == true,
                "\(code.rawValue) \(code.status) is not documented")
        }
        #expect(Set(documented.keys) == Set(wire.map(\.rawValue)), "documented codes the store never sends")
    }
}
