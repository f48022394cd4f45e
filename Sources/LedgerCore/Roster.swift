/// A control entry (genesis, link or revoke) as the roster needs it.
public struct ControlRecord: Sendable, Equatable {
    public let author: DevicePublicKey
    public let seq: Seq
    public let time: Int64
    public let body: PublicBody
    /// The device name from the sealed part, when it could be opened.
    public let name: String?

    public init(author: DevicePublicKey, seq: Seq, time: Int64, body: PublicBody, name: String?) {
        self.author = author
        self.seq = seq
        self.time = time
        self.body = body
        self.name = name
    }
}

/// Who may write to the ledger, derived deterministically from the control entries alone.
///
/// Rules (docs/PROTOCOL.md, "Authority"): the genesis device is authorised; a link entry
/// admits its device when its author is authorised at the link's seq; a revoke by an
/// authorised author ends its target's authority after the revoke's boundary. Revokes are
/// applied in priority order (devices linked earlier first, then by seq), and a revoke that
/// would cut its target below a revoke the target already issued is ignored, so concurrent
/// mutual revocations resolve the same way on every replica.
public struct Roster: Sendable, Equatable {
    /// One authorised (or formerly authorised) device.
    public struct Device: Sendable, Equatable {
        public let key: DevicePublicKey
        /// Link path from the genesis device: empty for genesis, then the seqs of the links.
        public let rank: [Seq]
        /// The device whose entry admitted this one; nil for the genesis device.
        public let linkedBy: DevicePublicKey?
        /// When the admitting entry was written (author time, ms).
        public let linkedAt: Int64
        /// Name given when linked (unverified text; sanitise before showing).
        public let name: String?
        /// The last seq this device may write; nil when never revoked.
        public let boundary: Seq?
        /// The device whose revoke set the boundary.
        public let revokedBy: DevicePublicKey?
        /// A recovery key (its link carries the recovery mark), not a device.
        public var isRecovery = false
    }

    /// The genesis device.
    public let root: DevicePublicKey
    /// Every device that is or was authorised, by key.
    public let devices: [DevicePublicKey: Device]
    /// The control entries that took effect, in input order (used to find keyring grants).
    public let effective: [ControlRecord]

    /// An empty roster: nothing is authorised until the genesis entry is present.
    public init(root: DevicePublicKey) {
        self.root = root
        devices = [:]
        effective = []
    }

    /// True when `author` may write at `seq`.
    public func authorises(_ author: DevicePublicKey, seq: Seq) -> Bool {
        guard let device = devices[author] else { return false }
        return seq <= (device.boundary ?? .max)
    }

    /// Whether `a`'s log goes before `b`'s in the roster's rank order (the genesis device first,
    /// then each device after the device that linked it; devices never linked last; ties by
    /// key): sending logs in this order meets every certificate before the entries it admits.
    public func precedes(_ a: DevicePublicKey, _ b: DevicePublicKey) -> Bool {
        switch (devices[a]?.rank, devices[b]?.rank) {
        case (let x?, let y?): x != y ? x.lexicographicallyPrecedes(y) : a < b
        case (.some, nil): true
        case (nil, .some): false
        case (nil, nil): a < b
        }
    }

    /// The highest seq `author` may write: `.max` when unrevoked, nil when never authorised.
    public func limit(of author: DevicePublicKey) -> Seq? {
        guard let device = devices[author] else { return nil }
        return device.boundary ?? .max
    }

    /// Computes the roster from every control entry in the devices' logs.
    public static func compute(root: DevicePublicKey, controls: [ControlRecord]) -> Roster {
        guard let genesis = controls.first(where: { $0.author == root && $0.seq == 1 }),
            case .genesis = genesis.body
        else { return Roster(root: root) }

        var boundaries: [DevicePublicKey: (seq: Seq, by: DevicePublicKey)] = [:]
        var result = Roster(root: root)
        // Each pass recomputes links under the current boundaries, then the boundaries under
        // those links. It settles quickly; the cap only guards against a pathological input.
        for _ in 0...(controls.count + 1) {
            let (devices, linkRecords) = admitted(
                root: root, genesis: genesis, controls: controls, boundaries: boundaries)
            var next: [DevicePublicKey: (seq: Seq, by: DevicePublicKey)] = [:]
            var issued: [DevicePublicKey: Seq] = [:]  // highest accepted revoke seq per author
            var revokeRecords: [ControlRecord] = []
            let revokes = controls.compactMap { record -> (ControlRecord, [Seq], DevicePublicKey, Seq)? in
                guard case .revoke(let target, let boundary, _) = record.body,
                    let rank = devices[record.author]?.rank
                else { return nil }
                return (record, rank, target, boundary)
            }.sorted { a, b in
                a.1 != b.1 ? a.1.lexicographicallyPrecedes(b.1) : (a.0.seq, a.0.author) < (b.0.seq, b.0.author)
            }
            for (record, _, target, boundary) in revokes {
                guard record.seq <= next[record.author]?.seq ?? .max else { continue }
                if let top = issued[target], top > boundary { continue }
                if boundary < next[target]?.seq ?? .max { next[target] = (boundary, record.author) }
                issued[record.author] = max(issued[record.author] ?? 0, record.seq)
                revokeRecords.append(record)
            }
            var finalDevices: [DevicePublicKey: Device] = [:]
            for (key, d) in devices {
                finalDevices[key] = Device(
                    key: key, rank: d.rank, linkedBy: d.linkedBy, linkedAt: d.linkedAt, name: d.name,
                    boundary: next[key]?.seq, revokedBy: next[key]?.by, isRecovery: d.isRecovery)
            }
            result = Roster(root: root, devices: finalDevices, effective: [genesis] + linkRecords + revokeRecords)
            let settled = next.mapValues(\.seq) == boundaries.mapValues(\.seq)
            boundaries = next
            if settled { break }
        }
        return result
    }

    private init(root: DevicePublicKey, devices: [DevicePublicKey: Device], effective: [ControlRecord]) {
        self.root = root
        self.devices = devices
        self.effective = effective
    }

    /// Devices admitted from genesis through links whose authors were authorised when linking.
    private static func admitted(
        root: DevicePublicKey, genesis: ControlRecord, controls: [ControlRecord],
        boundaries: [DevicePublicKey: (seq: Seq, by: DevicePublicKey)]
    ) -> ([DevicePublicKey: Device], [ControlRecord]) {
        var devices: [DevicePublicKey: Device] = [
            root: Device(
                key: root, rank: [], linkedBy: nil, linkedAt: genesis.time, name: genesis.name, boundary: nil,
                revokedBy: nil)
        ]
        var via: [DevicePublicKey: Int] = [:]  // index into controls of the admitting link
        // The identity (for the recovery mark) is the one the genesis derives.
        guard case .genesis(let nonce, _) = genesis.body else { return (devices, []) }
        let identity = IdentityID.derive(rootDevice: root, nonce: nonce)
        let links = controls.enumerated().filter {
            if case .link = $0.element.body { return true } else { return false }
        }
        var changed = true
        while changed {
            changed = false
            for (index, record) in links {
                guard case .link(let device, let challenge, _, _) = record.body, device != root,
                    let author = devices[record.author],
                    record.seq <= boundaries[record.author]?.seq ?? .max
                else { continue }
                let rank = author.rank + [record.seq]
                if let existing = devices[device], !rank.lexicographicallyPrecedes(existing.rank) { continue }
                devices[device] = Device(
                    key: device, rank: rank, linkedBy: record.author, linkedAt: record.time, name: record.name,
                    boundary: nil, revokedBy: nil,
                    isRecovery: challenge == PublicBody.recoveryChallenge(identity: identity, device: device))
                via[device] = index
                changed = true
            }
        }
        let linkRecords = via.values.sorted().map { controls[$0] }
        return (devices, linkRecords)
    }
}
