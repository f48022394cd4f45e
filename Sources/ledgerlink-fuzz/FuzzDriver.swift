import Foundation
import LedgerFuzz

// Built two ways. For fuzzing (scripts/fuzz.sh), with -sanitize=fuzzer,address and
// -DLEDGERLINK_FUZZ: libFuzzer's driver runs the target that LEDGERLINK_FUZZ_TARGET names.
// Otherwise, a small tool that replays files through a target, as `swift test` does.

#if LEDGERLINK_FUZZ
    let selected = ProcessInfo.processInfo.environment["LEDGERLINK_FUZZ_TARGET"] ?? ""

    @_silgen_name("LLVMFuzzerRunDriver")
    func llvmFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// One input through the selected target; a broken property is reported as a crash.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try FuzzTargets.run(selected, bytes)
        } catch {
            fatalError("\(selected): \(error)")
        }
        return 0
    }

    /// SwiftPM links an executable with `main` defined as `<module>_main`: this is it. (The
    /// fuzzer runtime's own `main` is linked too and calls `LLVMFuzzerTestOneInput` above.)
    @_cdecl("ledgerlink_fuzz_main")
    public func fuzzMain(
        _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Int32 {
        guard FuzzTargets.names.contains(selected) else {
            FileHandle.standardError.write(
                Data("set LEDGERLINK_FUZZ_TARGET to one of: \(FuzzTargets.names.joined(separator: ", "))\n".utf8))
            return 2
        }
        var count = argc
        var arguments = argv
        return llvmFuzzerRunDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
    }
#else
    @main
    enum FuzzReplay {
        /// `ledgerlink-fuzz TARGET FILE...`: runs each file through the target.
        /// `ledgerlink-fuzz seeds DIR`: writes valid inputs for every target to DIR/TARGET/.
        static func main() {
            let arguments = Array(CommandLine.arguments.dropFirst())
            if arguments.first == "seeds", arguments.count == 2 {
                do {
                    for (target, inputs) in try FuzzSeeds.make() {
                        let folder = URL(fileURLWithPath: arguments[1]).appendingPathComponent(target)
                        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                        for (index, input) in inputs.enumerated() {
                            try Data(input).write(to: folder.appendingPathComponent("seed-\(index)"))
                        }
                    }
                    exit(0)
                } catch {
                    print("cannot write seeds: \(error)")
                    exit(1)
                }
            }
            guard let target = arguments.first, FuzzTargets.names.contains(target) else {
                print("usage: ledgerlink-fuzz TARGET FILE...   (targets: \(FuzzTargets.names.joined(separator: ", ")))")
                print("To fuzz, run scripts/fuzz.sh (see docs/FUZZING.md).")
                exit(2)
            }
            var failed = false
            for file in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: file) else {
                    print("\(file): cannot read")
                    failed = true
                    continue
                }
                do {
                    try FuzzTargets.run(target, Array(data))
                } catch {
                    print("\(file): \(error.description)")
                    failed = true
                }
            }
            exit(failed ? 1 : 0)
        }
    }
#endif
