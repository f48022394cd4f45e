import Foundation
import HummingbirdTesting
import LedgerCore
import LedgerCrypto
import LedgerRemote
import LedgerServer
import LedgerSync
import LedgerTestSupport
import NIOCore
import Testing

/// A backend that counts reads of entries, around a real one.
final class CountingBackend: InterceptingBackend, @unchecked Sendable {
    let entryReads = Locked(0)

    override func intercept(_ call: BackendCall) async throws {
        if call == .rows { entryReads.withLock { $0 += 1 } }
    }
}

/// Two live servers on one database (the second with patient connections: the test reaches it
/// late); `body` gets their addresses and the second one's test client.
func withTwoServers(
    _ one: TestStore, _ two: TestStore, _ body: @Sendable (URL, URL, any TestClientProtocol) async throws -> Void
) async throws {
    try await one.application(configure: { $0.publicURL = nil }).test(.live) { first in
        try await two.application(configure: {
            $0.publicURL = nil
            TestStore.patientConnections(&$0)
        }).test(.live) { second in
            let (portOne, portTwo) = (try #require(first.port), try #require(second.port))
            try await body(
                try #require(URL(string: "http://127.0.0.1:\(portOne)")),
                try #require(URL(string: "http://127.0.0.1:\(portTwo)")), second)
        }
    }
}

@Suite("Polls read one summary row, not the identity's entries")
struct PollSummaryTests {
    @Test(
        "each append keeps the digest and the authorised keys beside the version; a server that never held the identity answers polls and checks tokens from them",
        arguments: BackendKind.allCases.filter { $0 == .sqlite || PostgresTestServer.isAvailable })
    func pollFromSummary(_ kind: BackendKind) async throws {
        var built = try LedgerFixture(deviceCount: 3)
        for i in 0..<30 { try built.record(device: 0, .credit, amount: Int64(i + 1)) }
        try built.revoke(device: 2, by: 0)
        let fixture = built
        let backend = try await kind.make()
        let writer = try await TestStore(backend: backend, realTime: true)
        let reader = CountingBackend(backend)
        let fresh = try await TestStore(backend: reader, realTime: true)
        try await withTwoServers(writer, fresh) { urlOne, urlTwo, two in
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            #expect(
                try await StoreClient(url: urlOne, engine: laptop, keyPair: fixture.devices[0]).sync().converged)

            let head = try #require(try await backend.head(of: fixture.identity.bytes))
            let summary = try #require(head.summary)
            #expect(head.version == Int64(fixture.allEntries.count))
            #expect(summary.digest == (try await laptop.clock().digest.bytes))
            let keys = Set(
                stride(from: 0, to: summary.devices.count, by: 32).map { Array(summary.devices[$0..<$0 + 32]) })
            #expect(keys == Set([fixture.devices[0], fixture.devices[1]].map(\.publicKey.bytes)))

            // The other server logs the laptop in and answers its polls without reading one
            // entry: the token from the summary's keys, the answer from its digest.
            let client = StoreClient(url: urlTwo, engine: laptop, keyPair: fixture.devices[0])
            let token = try await client.bearerToken()
            let digest = try await laptop.clock().digest.hex
            for _ in 0..<3 {
                let answer = try await two.execute(
                    uri: "/v1/identities/\(fixture.identity.hex)/sync", method: .post,
                    headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"digest":"\#(digest)"}"#))
                #expect(answer.status == .ok)
                #expect(String(buffer: answer.body).contains(#""digest":"\#(digest)""#))
            }
            #expect(reader.entryReads.value == 0, "a login or a poll read the identity's entries")
            // The revoked device is refused from the summary too.
            let tablet = try await fixture.replica(device: 2)
            await #expect(throws: StoreClientError.self) {
                try await StoreClient(url: urlTwo, engine: tablet, keyPair: fixture.devices[2]).bearerToken()
            }
            #expect(reader.entryReads.value == 0)
            #expect(try await client.sync().converged)
        }
    }

    @Test("an identity written before summaries were kept is still served, from its entries, until its next append")
    func legacyRow() async throws {
        var built = try LedgerFixture(deviceCount: 1)
        try built.record(device: 0, .credit, amount: 5)
        let fixture = built
        let backend = try await BackendKind.sqlite.make()
        // As an older server wrote it: rows and a version, no summary.
        #expect(try await backend.append(fixture.allEntries.map(\.encoded), to: fixture.identity.bytes, expected: nil))
        #expect(try await backend.head(of: fixture.identity.bytes)?.summary == nil)
        let store = try await TestStore(backend: backend, realTime: true)
        try await store.application(configure: { $0.publicURL = nil }).test(.live) { server in
            let port = try #require(server.port)
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            let client = StoreClient(url: url, engine: laptop, keyPair: fixture.root)
            #expect(try await client.sync().converged)
            try await laptop.appendRecord(.credit, amount: 1, memo: "after")
            #expect(try await client.sync().converged)
            #expect(
                try await backend.head(of: fixture.identity.bytes)?.summary?.digest
                    == (try await laptop.clock().digest.bytes))
        }
    }
}

@Suite("A server reads an identity's entries a page at a time")
struct PagedReadTests {
    @Test("a server that never held an identity answers a pull in reads of a few rows, and serves it whole")
    func pagedRebuild() async throws {
        var built = try LedgerFixture(deviceCount: 2)
        for i in 0..<50 { try built.record(device: 0, .credit, amount: Int64(i + 1), memo: "m\(i)") }
        let fixture = built
        let backend = try await BackendKind.sqlite.make()
        let writer = try await TestStore(backend: backend, realTime: true)
        let reader = CountingBackend(backend)
        let other = try await TestStore(backend: reader, realTime: true, rowsPerRead: 8)
        try await withTwoServers(writer, other) { urlOne, urlTwo, _ in
            let laptop = try await fixture.replica(device: 0)
            try await laptop.merge(fixture.allEntries)
            #expect(
                try await StoreClient(url: urlOne, engine: laptop, keyPair: fixture.devices[0]).sync().converged)
            // The other server answers a new device's pull from the rows: 52 rows, 8 a read,
            // with no replica built.
            let phone = try await fixture.replica(device: 1)
            let pulled = try await StoreClient(url: urlTwo, engine: phone, keyPair: fixture.devices[1]).sync()
            #expect(pulled.converged)
            #expect(pulled.received == fixture.allEntries.count)
            #expect(try await phone.totals() == (try await laptop.totals()))
            #expect(reader.entryReads.value >= 7)
            #expect(await other.service.cacheState().engines == 0)
        }
    }
}
