import Foundation
import LedgerCore
import LedgerCrypto
import LedgerIdentity
import LedgerSync

/// A party in the middle of a pairing, for tests: it has seen the code (say, over a
/// shoulder), sits between the new device and the pairing device, and answers each as if it
/// were the other, with a key of its own, so the pairing device would link the relay's key
/// in place of the new device's. The SAS is what exposes it.
package final class PairingRelay: Sendable {
    /// The code to give the new device: the real code's words, the relay's address.
    package let code: String
    /// The relay's own key, the one it tries to get linked.
    package let key: DevicePublicKey
    private let task: Task<Void, Never>
    private let listener: PairingListener
    private let result = Locked<String?>(nil)

    /// Starts relaying to the pairing device that `code` (as the pairing device printed it) names.
    package init(code text: String) async throws {
        let code = try PairingCode(parsing: text)
        guard case .peer(let host, let port) = code.rendezvous else {
            throw CommandRunner.CommandError("the relay needs a peer code")
        }
        let listener = try await PairingListener.bind(host: "127.0.0.1", port: 0)
        let words = text[..<(text.firstIndex(of: "@") ?? text.endIndex)]
        let mallory = SigningKeyPair.generate()
        self.listener = listener
        self.code = "\(words)@127.0.0.1:\(listener.port)"
        self.key = mallory.publicKey
        let result = self.result
        task = Task {
            try? await listener.accept { newDevice in
                do {
                    try await Self.relay(newDevice, to: host, port: port, code: code, as: mallory)
                    result.set("relayed")
                } catch {
                    result.set("\(error)")
                }
            }
        }
    }

    /// How the relay's attempt ended: the pairing device's answer to it (nil while running).
    package var outcome: String? { result.value }

    package func stop() { task.cancel() }

    private static func relay(
        _ newDevice: PairingConnection, to host: String, port: Int, code: PairingCode, as mallory: SigningKeyPair
    ) async throws {
        let join = try await newDevice.receive(within: .seconds(30))
        try await PairingConnection.dial(host: host, port: port) { pairing in
            var towardsPairing = PairingJoiner(code: code, keyPair: mallory, name: "phone")
            let ownJoin = towardsPairing.join()
            try await pairing.send(ownJoin)
            let offer = try await pairing.receive(within: .seconds(30))
            let (reveal, _) = try towardsPairing.receiveOffer(offer)
            guard let identity = towardsPairing.identity else { return }
            var towardsNew = PairingInviter(code: code, identity: identity, keyPair: mallory)
            let ownOffer = try towardsNew.receiveJoin(join)
            try await newDevice.send(ownOffer)
            let newReveal = try await newDevice.receive(within: .seconds(30))
            _ = try towardsNew.receiveReveal(newReveal)
            try await pairing.send(reveal)
            // Whatever the pairing device says next is sealed to the relay.
            let answer = try await pairing.receive(within: .seconds(600))
            _ = try towardsPairing.receive(answer)
        }
    }
}
