import ArgumentParser
import Foundation
import LedgerCore
import LedgerIdentity
import LedgerSync

/// Options every command shares.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: "Data folder of this device (default: $LEDGERLINK_HOME or ~/.local/share/ledgerlink).")
    var home: String?

    var dataHome: DataHome { DataHome.resolve(option: home) }
}

/// How to unlock a passphrase-protected device key.
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: "Read the key passphrase from the first line of this file.")
    var passphraseFile: String?
}

/// What a command that makes a new device asks for: its name and how to protect its key.
struct NewDeviceOptions: ParsableArguments {
    @Option(name: .long, help: "A name for this device, shown on your other devices (at most 64 bytes).")
    var name: String

    @Flag(name: .long, help: "Protect the device key with a passphrase asked on the terminal.")
    var passphrase = false

    @Option(name: .long, help: "Protect the device key with the passphrase on the first line of this file.")
    var passphraseFile: String?

    func validate() throws {
        if let problem = TextSafety.problem(with: name, what: "device name", maxBytes: PrivateBody.maxNameBytes) {
            throw ValidationError(problem)
        }
        if name.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("device name cannot be empty") }
        if passphrase, passphraseFile != nil {
            throw ValidationError("use either --passphrase or --passphrase-file, not both")
        }
    }

    /// The new key's passphrase: read from the file, asked twice on the terminal, or none.
    func newPassphrase() throws -> [UInt8]? {
        if let passphraseFile { return try Passphrase.fromFile(passphraseFile) }
        if passphrase { return try Passphrase.prompt("New passphrase for the device key: ", confirm: true) }
        return nil
    }
}

/// A failure worded for the person; ArgumentParser prints it as one line and exits 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Wraps library errors so the message a person sees is the library's own sentence.
func userFacing<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as CLIError {
        throw error
    } catch let error as IdentityError {
        throw CLIError(error.description)
    } catch let error as LedgerError {
        throw CLIError(error.description)
    } catch let error as AmountError {
        throw CLIError(error.description)
    } catch let error as ExportDocument.ReadError {
        throw CLIError(error.description)
    } catch let error as PairingError {
        throw CLIError(error.description)
    } catch let error as SyncSettingsError {
        throw CLIError(error.description)
    } catch let error as RecoveryError {
        throw CLIError(error.description)
    }
}

extension Int128 {
    /// Minor units formatted for this ledger.
    func formatted(_ decimals: UInt8) -> String { AmountFormat.format(self, decimals: decimals) }
}

/// ISO 8601 UTC for JSON and a short local form for tables.
enum TimeText {
    static func iso(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func iso(_ date: Date) -> String { iso(Int64((date.timeIntervalSince1970 * 1000).rounded())) }

    static func short(_ date: Date) -> String { short(Int64((date.timeIntervalSince1970 * 1000).rounded())) }

    static func short(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}

func printJSON(_ value: JSONValue) { print(value.prettyText) }
