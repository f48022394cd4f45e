import LedgerCrypto

/// An 8-byte id naming a data key: the first 8 bytes of BLAKE2b-256(label || key).
public struct DataKeyID: Hashable, Sendable, CustomStringConvertible {
    /// The 8 bytes in order, held in one word (memory order).
    let word: UInt64
    /// The raw id.
    public var bytes: [UInt8] { withUnsafeBytes(of: word) { Array($0) } }
    /// Reads the 8 bytes at the start of `raw`.
    init(leading raw: UnsafeRawBufferPointer) { word = raw.loadUnaligned(as: UInt64.self) }
    init<Bytes: Collection<UInt8>>(unchecked bytes: Bytes) {
        precondition(bytes.count == 8)
        var word: UInt64 = 0
        withUnsafeMutableBytes(of: &word) { out in for (i, b) in bytes.enumerated() { out[i] = b } }
        self.word = word
    }
    public var description: String { Hex.encode(bytes) }
}

/// One generation of the identity's data key, which seals ledger bodies (XChaCha20-Poly1305).
public struct DataKey: Sendable {
    /// Generation 0 comes with genesis; each revocation makes the next.
    public let generation: UInt32
    public let key: SymmetricKey
    public let id: DataKeyID

    public init(generation: UInt32, key: SymmetricKey) {
        self.generation = generation
        self.key = key
        var hasher = Blake2b.Hasher()
        hasher.update(Array(Labels.keyID.utf8))
        hasher.update(key.copyBytes())
        self.id = DataKeyID(unchecked: hasher.finalize().bytes.prefix(8))
    }

    /// A fresh random key of the given generation.
    public static func generate(generation: UInt32) -> DataKey {
        DataKey(generation: generation, key: .generate())
    }
}

/// A set of data keys sealed to one device (docs/PROTOCOL.md, "Keyring").
public enum Keyring {
    /// Most keys one keyring may carry.
    static let maxKeys = 1024

    /// Seals `keys` to `recipient` with a sealed box.
    public static func seal(_ keys: [DataKey], to recipient: DevicePublicKey) throws(LedgerError) -> [UInt8] {
        var w = ByteWriter(capacity: 4 + keys.count * 36)
        w.u32(UInt32(keys.count))
        for k in keys {
            w.u32(k.generation)
            w.raw(k.key.copyBytes())
        }
        do {
            return try SealedBox.seal(w.bytes, to: recipient)
        } catch {
            throw .invalidState("cannot seal the data key to \(recipient.fingerprint): \(error)")
        }
    }

    /// Opens a keyring sealed to `keyPair`.
    public static func open(_ box: [UInt8], with keyPair: SigningKeyPair) throws(LedgerError) -> [DataKey] {
        let plain: [UInt8]
        do {
            plain = try SealedBox.open(box, with: keyPair)
        } catch {
            throw .unreadableBody("the keyring is not sealed to this device")
        }
        var r = ByteReader(plain)
        do {
            let count = Int(try r.u32())
            guard count <= maxKeys, r.remaining == count * 36 else { throw LedgerError.malformed("bad keyring length") }
            var keys: [DataKey] = []
            for _ in 0..<count {
                let generation = try r.u32()
                keys.append(DataKey(generation: generation, key: try SymmetricKey(bytes: try r.raw(32))))
            }
            return keys
        } catch let e as LedgerError {
            throw e
        } catch {
            throw .malformed("bad keyring")
        }
    }
}
