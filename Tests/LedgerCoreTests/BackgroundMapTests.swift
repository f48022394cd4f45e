import LedgerTestSupport
import Testing

@testable import LedgerCore

@Suite("Background map")
struct BackgroundMapTests {
    @Test("a large input is mapped on every core in order, with every element once")
    func ordered() {
        for _ in 0..<20 {
            let input = Array(0..<50_000)
            let output = BackgroundMap(input, minimumChunk: 512) { $0 * 2 + 1 }.values()
            #expect(output == input.map { $0 * 2 + 1 })
        }
    }

    @Test("many wire entries decode on every core in order, and the first bad one by position is the error")
    func decodeAll() throws {
        var fixture = try LedgerFixture(deviceCount: 1)
        for i in 0..<3000 { try fixture.record(device: 0, .credit, amount: 1, memo: "\(i)") }
        var wires = fixture.allEntries.map(\.encoded)
        #expect(try Entry.decodeAll(wires) == fixture.allEntries)
        wires[2500][105] = 99  // an unknown kind, late
        wires[100][0] = 9  // an unknown version, early
        #expect {
            _ = try Entry.decodeAll(wires)
        } throws: { error in
            (error as? LedgerError)?.description.contains("unsupported entry version 9") ?? false
        }
        wires[100][0] = Entry.currentVersion
        #expect {
            _ = try Entry.decodeAll(wires)
        } throws: { error in
            (error as? LedgerError)?.description.contains("unknown kind 99") ?? false
        }
    }
}
