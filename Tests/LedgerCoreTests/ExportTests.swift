import Foundation
import LedgerCore
import LedgerTestSupport
import Testing

@Suite("Export")
struct ExportTests {
    @Test("the streamed export is the same document as the one built in memory, in both forms, and reads back")
    func streamed() async throws {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<50 { try fixture.record(device: i % 2, .credit, amount: Int64(i + 1), memo: "m\(i)") }
        let replica = try await fixture.replica(device: 1)
        try await replica.merge(fixture.allEntries)
        let entries = try await replica.storedEntries()
        let url = TestFolder.url("export")
        // Store heads are carried as they are; their signatures are checked by whoever reads them.
        let heads: [JSONValue] = [.object([("store", "ab"), ("version", 7)]), .object([("store", "cd")])]
        for json in [true, false] {
            #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
            let handle = try FileHandle(forWritingTo: url)
            try await replica.writeExport(json: json, storeHeads: heads, to: handle)
            try handle.close()
            let text = try String(contentsOf: url, encoding: .utf8)
            let expected =
                json
                ? ExportDocument.json(
                    identity: fixture.identity, device: fixture.devices[1].publicKey,
                    entries: entries.map { ($0.place, $0.entry) }, storeHeads: heads
                ).prettyText + "\n"
                : ExportDocument.text(entries: entries.map { ($0.place, $0.entry) }, storeHeads: heads)
            #expect(text == expected)
            let contents = try ExportDocument.contents(Data(text.utf8))
            #expect(contents.entries.count == entries.count)
            #expect(contents.storeHeads.count == 2)
            let first = try #require(
                try JSONSerialization.jsonObject(with: Data(contents.storeHeads[0])) as? [String: Any])
            #expect(first["version"] as? Int == 7)
        }
        // An export without heads (written before they were carried) still reads.
        let older = ExportDocument.text(entries: entries.map { ($0.place, $0.entry) })
        #expect(try ExportDocument.contents(Data(older.utf8)).storeHeads.isEmpty)
        #expect(try await replica.storedEntryCount() == entries.count)
    }

    @Test("an export with too many or oversized store heads is refused with its reason")
    func boundedHeads() throws {
        let many = [ExportDocument.textHeader] + Array(repeating: ExportDocument.storeHeadPrefix + "{}", count: 33)
        #expect(throws: ExportDocument.ReadError.self) {
            try ExportDocument.contents(Data(many.joined(separator: "\n").utf8))
        }
        let long = [
            ExportDocument.textHeader, ExportDocument.storeHeadPrefix + "{" + String(repeating: " ", count: 2000) + "}",
        ]
        #expect(throws: ExportDocument.ReadError.self) {
            try ExportDocument.contents(Data(long.joined(separator: "\n").utf8))
        }
        let json = #"{"format": "ledgerlink-export", "version": 1, "store_heads": [1], "entries": []}"#
        #expect(throws: ExportDocument.ReadError.self) { try ExportDocument.contents(Data(json.utf8)) }
    }
}

@Suite("Export read as a stream")
struct ExportStreamTests {
    /// A text export of 40 entries of two devices, with one store head.
    static func exportText() throws -> (fixture: LedgerFixture, text: String) {
        var fixture = try LedgerFixture(deviceCount: 2)
        for i in 0..<38 { try fixture.record(device: i % 2, .credit, amount: Int64(i + 1), memo: "m\(i)") }
        let entries = fixture.allEntries.map { (StoredEntryPlace.log, $0) }
        return (fixture, ExportDocument.text(entries: entries, storeHeads: [.object([("store", "ab")])]))
    }

    /// `bytes` given `chunk` bytes at a time.
    static func stream(_ bytes: [UInt8], chunk: Int, pageEntries: Int) throws -> ExportDocument.TextStream? {
        let rest = Locked(Array(bytes.dropFirst(chunk)))
        return try ExportDocument.TextStream(first: Array(bytes.prefix(chunk)), pageEntries: pageEntries) {
            rest.withLock { rest in
                guard !rest.isEmpty else { return nil }
                defer { rest.removeFirst(min(chunk, rest.count)) }
                return Array(rest.prefix(chunk))
            }
        }
    }

    @Test(
        "any chunk and page size reads the same entries in order, with CRLF and blank lines", arguments: [1, 7, 4096])
    func chunks(chunk: Int) throws {
        let (fixture, text) = try Self.exportText()
        let messy = "\n  " + text.replacingOccurrences(of: "\n", with: "\r\n\n")
        var stream = try #require(try Self.stream(Array(messy.utf8), chunk: chunk, pageEntries: 3))
        var pages: [[Entry]] = []
        while let page = try stream.nextPage() { pages.append(page) }
        #expect(pages.allSatisfy { $0.count <= 3 })
        #expect(pages.flatMap { $0 }.map(\.encoded) == fixture.allEntries.map(\.encoded))
        #expect(stream.storeHeads == [Array(#"{"store":"ab"}"#.utf8)])
        #expect(try Self.stream(Array("ledgerlink-exprt v1\n".utf8), chunk: chunk, pageEntries: 3) == nil)
    }

    @Test("a bad line is named by its number, wherever it falls; a line longer than any entry is refused")
    func refusals() throws {
        let (_, text) = try Self.exportText()
        var lines = text.split(separator: "\n").map(String.init)
        lines[30] = String(lines[30].dropLast(3)) + "zzz"
        var stream = try #require(
            try Self.stream(Array(lines.joined(separator: "\n").utf8), chunk: 100, pageEntries: 4))
        var read = 0
        let error = #expect(throws: ExportDocument.ReadError.self) {
            while let page = try stream.nextPage() { read += page.count }
        }
        #expect(error?.description == "line 31 is not hex")
        #expect(read == 28)  // the seven pages before the bad line's
        // In one page, an entry that does not decode before a line that is not hex is named first.
        lines[28] = "00"
        var both = try #require(
            try Self.stream(Array(lines.joined(separator: "\n").utf8), chunk: 100, pageEntries: 100))
        let first = #expect(throws: ExportDocument.ReadError.self) { while try both.nextPage() != nil {} }
        #expect(first?.description.hasPrefix("line 29: ") == true)
        // Cut in the middle of the last entry.
        let cut = String(text.dropLast(41))
        var truncated = try #require(try Self.stream(Array(cut.utf8), chunk: 64, pageEntries: 100))
        let short = #expect(throws: ExportDocument.ReadError.self) { while try truncated.nextPage() != nil {} }
        #expect(short?.description.hasPrefix("line 42: ") == true)
        let long = ExportDocument.textHeader + "\n" + String(repeating: "ab", count: Entry.maxEncodedLength + 100)
        var endless = try #require(try Self.stream(Array(long.utf8), chunk: 1 << 16, pageEntries: 100))
        let tooLong = #expect(throws: ExportDocument.ReadError.self) { while try endless.nextPage() != nil {} }
        #expect(tooLong?.description == "line 2 is longer than any entry")
    }

    @Test(
        "read a page ahead on another thread: the same pages and heads, the same refusal, and a reader may stop early")
    func prefetched() throws {
        let (fixture, text) = try Self.exportText()
        let pages = ExportDocument.PrefetchedPages(
            try #require(try Self.stream(Array(text.utf8), chunk: 100, pageEntries: 3)))
        var read: [Entry] = []
        while let page = try pages.next() { read += page }
        #expect(read.map(\.encoded) == fixture.allEntries.map(\.encoded))
        #expect(try pages.next() == nil)  // the end stays the end
        #expect(pages.storeHeads == [Array(#"{"store":"ab"}"#.utf8)])

        var lines = text.split(separator: "\n").map(String.init)
        lines[20] = "zz"
        let bad = ExportDocument.PrefetchedPages(
            try #require(try Self.stream(Array(lines.joined(separator: "\n").utf8), chunk: 100, pageEntries: 3)))
        let error = #expect(throws: ExportDocument.ReadError.self) { while try bad.next() != nil {} }
        #expect(error?.description == "line 21 is not hex")

        let abandoned = ExportDocument.PrefetchedPages(
            try #require(try Self.stream(Array(text.utf8), chunk: 100, pageEntries: 3)))
        #expect(try abandoned.next()?.count == 3)
        abandoned.stop()
        #expect(try abandoned.next() == nil)  // stopped: nothing more, and nothing waits
    }

    @Test("pages merged in one transaction: a page that fails leaves nothing of the pages before it")
    func oneTransaction() async throws {
        let (fixture, text) = try Self.exportText()
        let replica = try await fixture.replica(device: 1)
        let before = try await replica.clock().digest
        var lines = text.split(separator: "\n").map(String.init)
        lines[35] = "00"
        let stream = Locked(
            try #require(try Self.stream(Array(lines.joined(separator: "\n").utf8), chunk: 512, pageEntries: 5)))
        let pages = Locked(0)
        await #expect(throws: LedgerError.self) {
            try await replica.merge(pages: { () throws(LedgerError) -> [Entry]? in
                do throws(ExportDocument.ReadError) {
                    let page = try stream.withLock { (s) throws(ExportDocument.ReadError) in try s.nextPage() }
                    if page != nil { pages.withLock { $0 += 1 } }
                    return page
                } catch { throw .malformed(error.description) }
            })
        }
        #expect(pages.value >= 6)  // pages were merged before the bad one was read
        #expect(try await replica.clock().digest == before)
        #expect(try await replica.storedEntryCount() == 0)
        // Whole, the same file merges every entry.
        let whole = Locked(try #require(try Self.stream(Array(text.utf8), chunk: 512, pageEntries: 5)))
        let report = try await replica.merge(pages: { () throws(LedgerError) -> [Entry]? in
            do throws(ExportDocument.ReadError) {
                return try whole.withLock { (s) throws(ExportDocument.ReadError) in try s.nextPage() }
            } catch { throw .malformed(error.description) }
        })
        #expect(report.acceptedCount == fixture.allEntries.count)
        #expect(report.accepted.isEmpty)  // counted, not listed: memory does not grow with the file
    }

    @Test("a merge of pages counts what one merge of the same entries lists: counted, held, caught up")
    func pagesCountWhatAMergeLists() async throws {
        var fixture = try LedgerFixture(deviceCount: 3)
        for i in 0..<20 { try fixture.record(device: i % 3, .credit, amount: Int64(i + 1)) }
        try fixture.revoke(device: 2, by: 0)
        for _ in 0..<4 { try fixture.record(device: 2, .debit, amount: 5) }  // past the boundary: quarantined
        let all = fixture.allEntries
        let listed = try await fixture.replica(device: 1)
        let whole = try await listed.merge(all)
        let counted = try await fixture.replica(device: 1)
        let pages = Locked(
            stride(from: 0, to: all.count, by: 3).map { Array(all[$0..<min($0 + 3, all.count)]) }.makeIterator())
        let next = { @Sendable () throws(LedgerError) -> [Entry]? in pages.withLock { $0.next() } }
        let report = try await counted.merge(pages: next)
        #expect(whole.held.count == 4 && whole.heldCount == 4)
        #expect(whole.accepted.count == all.count - 4 && whole.acceptedCount == whole.accepted.count)
        #expect(whole.caughtUp > 0)  // device 1's own entries, adopted
        #expect(report.accepted.isEmpty && report.held.isEmpty)
        #expect(report.acceptedCount == whole.acceptedCount)
        #expect(report.heldCount == whole.heldCount)
        #expect(report.caughtUp == whole.caughtUp)
        #expect(try await counted.clock() == (try await listed.clock()))
        #expect(try await counted.totals() == (try await listed.totals()))
    }
}
