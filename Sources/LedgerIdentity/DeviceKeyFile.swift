import Foundation
import LedgerCore
import LedgerCrypto

/// The device's private key on disk: a small JSON file, mode 0600, never copied to another
/// device. With a passphrase, the seed is sealed with a key derived by Argon2id.
///
/// Unprotected:
/// `{"format":"ledgerlink-device-key","version":1,"public_key":HEX,"protection":"none","seed":HEX}`
/// Protected: `"protection":"argon2id"`, `"ops_limit"`, `"mem_limit"`, `"salt"`, `"nonce"`,
/// `"sealed_seed"` (XChaCha20-Poly1305, associated data `"ledgerlink-keyfile-v1" || public_key`).
package enum DeviceKeyFile {
    static let format = "ledgerlink-device-key"
    static let label = "ledgerlink-keyfile-v1"

    /// Writes `keyPair` to `url` (which must not exist yet), protected by `passphrase` when given.
    package static func write(
        _ keyPair: SigningKeyPair, to url: URL, passphrase: [UInt8]?, cost: Argon2id.Cost = .interactive
    ) throws(IdentityError) {
        var object: [String: Any] = [
            "format": format, "version": 1, "public_key": keyPair.publicKey.hex,
        ]
        if let passphrase {
            let salt = SecureRandom.bytes(Argon2id.saltLength)
            let nonce = SecureRandom.bytes(XChaCha20Poly1305.nonceLength)
            do {
                let key = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, cost: cost)
                let sealed = try XChaCha20Poly1305.seal(
                    keyPair.seed.copyBytes(), associatedData: Array(label.utf8) + keyPair.publicKey.bytes, nonce: nonce,
                    key: key)
                object["protection"] = "argon2id"
                object["ops_limit"] = cost.opsLimit
                object["mem_limit"] = cost.memLimit
                object["salt"] = Hex.encode(salt)
                object["nonce"] = Hex.encode(nonce)
                object["sealed_seed"] = Hex.encode(sealed)
            } catch {
                throw IdentityError("cannot protect the device key: \(error)")
            }
        } else {
            object["protection"] = "none"
            object["seed"] = Hex.encode(keyPair.seed.copyBytes())
        }
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        } catch {
            throw IdentityError("cannot encode the device key: \(error)")
        }
        try SecureFile.writeNew(data + Data("\n".utf8), to: url, mode: 0o600)
    }

    /// True when the key file needs a passphrase.
    package static func isProtected(_ url: URL) throws(IdentityError) -> Bool {
        try parse(url)["protection"] as? String == "argon2id"
    }

    /// The public key recorded in the file (readable without the passphrase).
    package static func publicKey(_ url: URL) throws(IdentityError) -> DevicePublicKey {
        let object = try parse(url)
        guard let hex = object["public_key"] as? String, let bytes = Hex.decode(hex),
            let key = try? DevicePublicKey(bytes: bytes)
        else { throw IdentityError("the device key file \(url.path) is damaged (bad public_key)") }
        return key
    }

    /// Reads the key pair; `passphrase` is asked for only when the file is protected.
    package static func read(_ url: URL, passphrase: () throws(IdentityError) -> [UInt8]) throws(IdentityError)
        -> SigningKeyPair
    {
        let object = try parse(url)
        let expected = try publicKey(url)
        let seed: [UInt8]
        switch object["protection"] as? String {
        case "none":
            guard let hex = object["seed"] as? String, let bytes = Hex.decode(hex), bytes.count == 32 else {
                throw IdentityError("the device key file \(url.path) is damaged (bad seed)")
            }
            seed = bytes
        case "argon2id":
            guard let ops = object["ops_limit"] as? UInt64, let mem = object["mem_limit"] as? Int,
                let salt = (object["salt"] as? String).flatMap(Hex.decode),
                let nonce = (object["nonce"] as? String).flatMap(Hex.decode),
                let sealed = (object["sealed_seed"] as? String).flatMap(Hex.decode)
            else { throw IdentityError("the device key file \(url.path) is damaged (bad protection fields)") }
            let secret = try passphrase()
            do {
                let key = try Argon2id.deriveKey(
                    passphrase: secret, salt: salt, cost: .init(opsLimit: ops, memLimit: mem))
                seed = try XChaCha20Poly1305.open(
                    sealed, associatedData: Array(label.utf8) + expected.bytes, nonce: nonce, key: key)
            } catch CryptoError.decryptionFailed {
                throw IdentityError.wrongPassphrase
            } catch {
                throw IdentityError("cannot unlock the device key: \(error)")
            }
        default:
            throw IdentityError("the device key file \(url.path) uses an unknown protection")
        }
        let keyPair: SigningKeyPair
        do {
            keyPair = try SigningKeyPair(seed: SecureBytes(seed))
        } catch {
            throw IdentityError("the device key file \(url.path) is damaged (\(error))")
        }
        guard keyPair.publicKey == expected else {
            throw IdentityError("the device key file \(url.path) is damaged (seed and public key disagree)")
        }
        return keyPair
    }

    private static func parse(_ url: URL) throws(IdentityError) -> [String: Any] {
        try SecureFile.checkPrivate(url, what: "device key file")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw IdentityError("cannot read the device key file \(url.path)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            object["format"] as? String == format
        else { throw IdentityError("\(url.path) is not a ledgerlink device key file") }
        guard object["version"] as? Int == 1 else {
            throw IdentityError("\(url.path) was written by a newer ledgerlink; upgrade to use it")
        }
        return object
    }
}
