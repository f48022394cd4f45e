import LedgerCrypto

/// The rules of each kind of entry, beyond its structure, signature and hash link: one place,
/// used by the merge engine before an entry extends its author's log and by `verify` over
/// every stored entry (docs/PROTOCOL.md, "Validation"). Every rule can be checked with or
/// without the data key: whether an entry counts must never depend on which keys a replica
/// holds.
enum EntryRules {
    /// `root` is the identity's genesis device; nil where it is not known (a store checking a
    /// record that continues a log it holds, which can never be the genesis device's first).
    static func check(_ entry: Entry, identity: IdentityID, root: DevicePublicKey?) throws(LedgerError) {
        let body: PublicBody
        switch entry.kind {
        case .credit, .debit, .correction:
            // A record's public body is empty (PublicBody's rule), checked without copying it
            // out of the entry: every merged credit passes here.
            guard entry.publicRange.isEmpty else { throw .malformed("trailing bytes in the \(entry.kind) body") }
            body = .record
        case .genesis, .link, .revoke, .settle:
            body = try PublicBody(decoding: entry.publicBody, kind: entry.kind)
        }
        switch body {
        case .genesis(let nonce, _):
            guard entry.author == root, entry.seq == 1,
                IdentityID.derive(rootDevice: entry.author, nonce: nonce) == identity
            else { throw .malformed("only the identity's first device may write genesis, as its first entry") }
        case .link(let newDevice, let challenge, let proof, _):
            guard newDevice != entry.author else { throw .malformed("a device cannot link itself") }
            let message = PublicBody.linkProofMessage(
                identity: identity, device: newDevice, approver: entry.author, challenge: challenge)
            guard newDevice.isValidSignature(proof, for: message) else { throw .invalidLinkProof }
        case .settle(let device, _, _, _):
            guard device != entry.author else { throw .malformed("a device cannot settle its own fork") }
        case .revoke, .record:
            break
        }
        if entry.author == root, entry.seq == 1, entry.kind != .genesis {
            throw .malformed("the identity's first device must begin its log with genesis")
        }
        if entry.kind == .revoke || entry.kind == .settle, entry.sealedCount != 0 {
            throw .malformed("a \(entry.kind) entry carries no sealed part")
        }
        if entry.kind != .revoke, entry.kind != .settle, entry.sealedCount < BodySeal.overhead {
            throw .malformed("a \(entry.kind) entry needs a sealed part")
        }
    }
}
