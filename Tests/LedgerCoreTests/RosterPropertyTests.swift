import LedgerCore
import LedgerCrypto
import PropertyBased
import Testing

/// The roster is a function of the set of control entries: the order they are listed in never
/// changes who may write, even with chains of links and mutual, concurrent revocations.
@Suite("Roster properties")
struct RosterPropertyTests {
    static let seed = Gen.uint64()

    /// Random control entries among six devices: links (possibly several for one device, some
    /// written by non-genesis devices) and revokes with random boundaries.
    static func controls(seed: UInt64) throws -> (DevicePublicKey, [ControlRecord]) {
        var rng = Xoshiro(seed: (seed, seed ^ 0xABCD, 17, seed &* 7))
        let keys = (0..<6).map { _ in SigningKeyPair.generate().publicKey }
        var nextSeq = Array(repeating: Seq(2), count: keys.count)
        var records = [
            ControlRecord(
                author: keys[0], seq: 1, time: 0, body: .genesis(nonce: [UInt8](repeating: 0, count: 16), keyring: []),
                name: "root")
        ]
        let proof = try Signature(bytes: [UInt8](repeating: 0, count: 64))
        for _ in 0..<Int.random(in: 4...14, using: &rng) {
            let author = Int.random(in: 0..<keys.count, using: &rng)
            let target = Int.random(in: 1..<keys.count, using: &rng)
            guard author != target else { continue }
            let seq = nextSeq[author]
            nextSeq[author] += Seq.random(in: 1...3, using: &rng)
            let body: PublicBody =
                Bool.random(using: &rng)
                ? .link(device: keys[target], challenge: [], proof: proof, keyring: [])
                : .revoke(device: keys[target], boundary: Seq.random(in: 0...6, using: &rng), keyrings: [])
            records.append(ControlRecord(author: keys[author], seq: seq, time: 0, body: body, name: nil))
        }
        return (keys[0], records)
    }

    @Test("shuffling the control entries never changes the roster")
    func orderIndependent() async {
        await propertyCheck(count: 200, input: Self.seed) { seed in
            do {
                let (root, records) = try Self.controls(seed: seed)
                let reference = Roster.compute(root: root, controls: records)
                var rng = Xoshiro(seed: (seed, 1, 2, 3))
                for _ in 0..<6 {
                    let shuffled = Roster.compute(root: root, controls: records.shuffled(using: &rng))
                    #expect(shuffled.devices == reference.devices)
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test("a device's boundary always comes from a revoke whose author was authorised when writing it")
    func revokesComeFromAuthority() async {
        await propertyCheck(count: 200, input: Self.seed) { seed in
            do {
                let (root, records) = try Self.controls(seed: seed)
                let roster = Roster.compute(root: root, controls: records)
                #expect(roster.devices[root] != nil)
                for device in roster.devices.values {
                    guard let boundary = device.boundary, let by = device.revokedBy else { continue }
                    let revokes = records.filter {
                        guard case .revoke(let target, let b, _) = $0.body else { return false }
                        return $0.author == by && target == device.key && b == boundary
                    }
                    #expect(!revokes.isEmpty)
                    #expect(revokes.contains { roster.devices[by] != nil && $0.seq <= (roster.limit(of: by) ?? 0) })
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}
