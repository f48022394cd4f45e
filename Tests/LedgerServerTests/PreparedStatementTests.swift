import Foundation
import HummingbirdTesting
import LedgerCore
import LedgerServer
import LedgerSync
import LedgerTestSupport
import Testing

@Suite("PostgreSQL prepared statements")
struct PreparedStatementTests {
    /// Two devices sync through a store on PostgreSQL, directly and behind a pooler that
    /// discards each session's state after every transaction: both converge; the direct store
    /// keeps its statements prepared, the pooled one stops preparing at the first it loses.
    @Test(
        "a store keeps its reads prepared on PostgreSQL, and stops preparing them behind a pooler that loses them",
        .enabled(if: PgBouncerTestServer.isAvailable), arguments: [BackendKind.postgres, .pooledPostgres])
    func preparedReads(_ kind: BackendKind) async throws {
        let backend = try #require(try await kind.make() as? PostgresBackend)
        #expect(backend.preparesStatements)
        var records = try LedgerFixture(deviceCount: 2)
        for i in 0..<300 { try records.record(device: 0, .credit, amount: Int64(i + 1)) }
        let fixture = records
        let store = try await TestStore(backend: backend, realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { client in
            let port = try #require(client.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let phone = try await fixture.replica(device: 1)
            for engine in [laptop, phone, laptop] {
                let keyPair = fixture.devices[engine === laptop ? 0 : 1]
                let report = try await StoreClient(url: url, engine: engine, keyPair: keyPair).sync()
                #expect(report.storeProblems.isEmpty)
            }
            #expect(try await phone.clock() == (try await laptop.clock()))
            #expect(try await phone.totals().credits == (1...300).reduce(0, +))
        }
        #expect(backend.preparesStatements == (kind == .postgres))
    }
}
