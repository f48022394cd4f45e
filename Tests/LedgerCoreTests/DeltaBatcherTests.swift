import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import Testing

@Suite("Delta batcher")
struct DeltaBatcherTests {
    static func entries(_ count: Int) throws -> [Entry] {
        var fixture = try LedgerFixture(deviceCount: 1)
        for i in 0..<count { try fixture.record(device: 0, .credit, amount: 1, memo: "entry \(i)") }
        return fixture.allEntries
    }

    @Test("batches keep the order, stay under the count and the byte budget, and lose nothing")
    func budgets() throws {
        let all = try Self.entries(40)
        let batcher = DeltaBatcher(maxEntries: 7, maxBytes: 2_000, cost: { $0.encoded.count + 4 })
        let batches = batcher.batches(all)
        #expect(batches.flatMap { $0 }.map(\.hash) == all.map(\.hash))
        for batch in batches {
            #expect(batch.count <= 7)
            #expect(batch.reduce(0) { $0 + $1.encoded.count + 4 } <= 2_000)
        }
        // Each batch is as full as the budget allows: the next entry would not have fitted.
        for (batch, next) in zip(batches, batches.dropFirst()) {
            let used = batch.reduce(0) { $0 + $1.encoded.count + 4 }
            #expect(batch.count == 7 || used + next[0].encoded.count + 4 > 2_000)
        }
    }

    @Test("at the boundaries: a budget of exactly one entry, and an entry larger than the budget alone")
    func boundaries() throws {
        let all = try Self.entries(5)
        let size = all[1].encoded.count
        let exact = DeltaBatcher(maxEntries: 1_000, maxBytes: size, cost: { $0.encoded.count })
        let one = exact.batches(Array(all[1...1]))
        #expect(one.map(\.count) == [1])
        let tiny = DeltaBatcher(maxEntries: 1_000, maxBytes: 10, cost: { $0.encoded.count })
        #expect(tiny.batches(all).map(\.count) == Array(repeating: 1, count: all.count), "never an empty batch")
        #expect(DeltaBatcher(maxEntries: 0, maxBytes: 1 << 20, cost: { _ in 1 }).batches(all).count == all.count)
        #expect(exact.batches([]).isEmpty)
    }

    @Test("a store's rows added by their checked encodings fill a batch as their entries do, in runs or as entries")
    func checkedEncodings() throws {
        let all = try Self.entries(60)
        let batcher = DeltaBatcher(maxEntries: 25, maxBytes: 6_000, cost: { $0.encoded.count })
        let checked = try Entry.checkedAll(all.map(\.encoded))
        for writingRuns in [true, false] {
            var byEntry = DeltaBatcher.Batch(writingRuns: writingRuns)
            var byEncoding = DeltaBatcher.Batch(writingRuns: writingRuns)
            for (entry, row) in zip(all, checked) {
                let added = byEntry.add(entry, batcher)
                #expect(try byEncoding.add(row, cost: row.encoded.count, batcher) == added)
                if !added { break }
            }
            #expect(byEncoding.count == byEntry.count)
            #expect(byEncoding.bytes == byEntry.bytes)
            #expect(byEncoding.entries.map(\.encoded) == byEntry.entries.map(\.encoded))
            #expect(byEncoding.entries.map(\.hash) == byEntry.entries.map(\.hash))
            #expect(
                byEncoding.finishedRunParts().map { Array($0.joined()) }
                    == byEntry.finishedRunParts().map { Array($0.joined()) })
        }
    }
}
