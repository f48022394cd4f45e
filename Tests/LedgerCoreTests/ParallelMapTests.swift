import LedgerCore
import Testing

@Suite("Parallel map")
struct ParallelMapTests {
    @Test("a large input is mapped on every core in order, with every element once")
    func ordered() {
        for _ in 0..<20 {
            let input = Array(0..<50_000)
            let output = ParallelMap.map(input, minimumChunk: 512) { $0 * 2 + 1 }
            #expect(output == input.map { $0 * 2 + 1 })
        }
    }
}
