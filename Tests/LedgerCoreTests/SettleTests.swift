import LedgerCore
import LedgerCrypto
import LedgerTestSupport
import PropertyBased
import Testing

@Suite("Settling a forked device's log")
struct SettleTests {
    /// Device 1 writes 10 and 20; its key is copied and the copy writes 777 in place of 20.
    static func forked() throws -> (fixture: LedgerFixture, main: Entry, rival: Entry) {
        var fixture = try LedgerFixture(deviceCount: 3)
        try fixture.record(device: 1, .credit, amount: 10, memo: "before")
        var copy = fixture
        let main = try fixture.record(device: 1, .credit, amount: 20, memo: "main")
        let rival = try copy.record(device: 1, .credit, amount: 777, memo: "rival")
        return (fixture, main, rival)
    }

    @Test("every order of arrival gives the same log once a settlement chooses a branch")
    func orders() async throws {
        for choice in 0..<2 {
            var (fixture, main, rival) = try Self.forked()
            try fixture.settle(
                device: 0, target: 1, forkSeq: 2, chosen: choice == 0 ? main.hash : rival.hash, through: 2)
            let entries = fixture.allEntries + [rival]
            let reference = try await fixture.replica(device: 0)
            try await reference.merge(entries)
            let expected = try await reference.totals()
            #expect(expected.credits == (choice == 0 ? 30 : 787), "choice \(choice)")
            for order in 0..<entries.count {
                let replica = try await fixture.replica(device: 2)
                var rotated = Array(entries[order...] + entries[..<order])
                for entry in rotated { try await replica.merge([entry]) }
                #expect(try await replica.totals() == expected, "choice \(choice), rotation \(order)")
                #expect(
                    try await replica.clock() == (try await reference.clock()), "choice \(choice), rotation \(order)")
                rotated.reverse()
                let reversed = try await fixture.replica(device: 2)
                for entry in rotated { try await reversed.merge([entry]) }
                #expect(try await reversed.totals() == expected, "choice \(choice), reversed rotation \(order)")
            }
        }
    }

    @Test("a fork at a device's first entry, settled, in batches of any size with repeats, on replicas without keys")
    func firstEntry() async throws {
        for choice in 0..<2 {
            for through in [Seq(1), 3] {
                var fixture = try LedgerFixture(deviceCount: 3)
                var copy = fixture
                let main = try fixture.record(device: 1, .credit, amount: 20, memo: "main")
                let rival = try copy.record(device: 1, .credit, amount: 777, memo: "rival")
                try fixture.record(device: 0, .credit, amount: 5)
                try fixture.settle(
                    device: 0, target: 1, forkSeq: 1, chosen: choice == 0 ? main.hash : rival.hash, through: through)
                let entries = fixture.allEntries + [rival]
                let reference = try await LedgerFixtureReplica.make(entries)
                try await reference.merge(entries)
                let expected = try await reference.clock()
                #expect(expected.entries.first { $0.author == fixture.devices[1].publicKey }?.seq == 1)
                var rng = Xoshiro(seed: (1, 2, 3, UInt64(choice)))
                for _ in 0..<20 {
                    let replica = try await LedgerFixtureReplica.make(entries)
                    try await CRDTPropertyTests.deliver(entries, to: replica, rng: &rng)
                    #expect(try await replica.clock() == expected, "choice \(choice) through \(through)")
                }
            }
        }
    }

    @Test("entries read back from a log, forked, settled either way or not, carry the hash of their bytes")
    func readBackHashes() async throws {
        for choice in 0..<3 {
            var (fixture, main, rival) = try Self.forked()
            try fixture.record(device: 1, .credit, amount: 30, memo: "after main")
            if choice < 2 {
                try fixture.settle(
                    device: 0, target: 1, forkSeq: 2, chosen: choice == 0 ? main.hash : rival.hash, through: 3)
            }
            for order in [fixture.allEntries + [rival], [rival] + fixture.allEntries] {
                let replica = try await fixture.replica(device: 2)
                try await replica.merge(order)
                var read: [Entry] = []
                for device in fixture.devices.map(\.publicKey) {
                    read += try await replica.entries(of: device, from: 1, through: 100)
                }
                #expect(read.count >= 4)
                for entry in read {
                    #expect(entry.hash == (try Entry(decoding: entry.encoded)).hash, "choice \(choice) #\(entry.seq)")
                }
            }
        }
    }
}
