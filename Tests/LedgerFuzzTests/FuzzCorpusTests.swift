import Foundation
import LedgerFuzz
import Testing

/// Replays what the fuzzers kept (Corpus/TARGET/: inputs that crashed a target once, kept so
/// the bug stays fixed) and fresh valid seeds through every fuzz target: CI runs them without
/// the fuzzer.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    @Test("every kept input runs through its target without a crash or a broken property", arguments: FuzzTargets.names)
    func replay(_ target: String) throws {
        let folder = Self.corpus.appendingPathComponent(target)
        let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
        for file in files where !file.lastPathComponent.hasPrefix(".") {
            let data = try Data(contentsOf: file)
            #expect(throws: Never.self, "\(target)/\(file.lastPathComponent)") {
                try FuzzTargets.run(target, Array(data))
            }
        }
    }

    @Test("every target accepts its valid seeds, and their round-trip properties hold")
    func seeds() throws {
        let seeds = try FuzzSeeds.make()
        #expect(Set(seeds.keys) == Set(FuzzTargets.names))
        for (target, inputs) in seeds {
            for input in inputs {
                #expect(throws: Never.self, "\(target)") { try FuzzTargets.run(target, input) }
                // Cut and flipped copies exercise the refusal paths too.
                for cut in stride(from: 0, to: input.count, by: max(1, input.count / 16)) {
                    var flipped = input
                    flipped[cut] ^= 0x80
                    #expect(throws: Never.self) { try FuzzTargets.run(target, Array(input.prefix(cut))) }
                    #expect(throws: Never.self) { try FuzzTargets.run(target, flipped) }
                }
            }
        }
    }
}
