// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "ledgerlink",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ledgerlink", targets: ["ledgerlink"]),
        .executable(name: "ledgerlink-bench", targets: ["ledgerlink-bench"]),
        .executable(name: "ledgerlink-fuzz", targets: ["ledgerlink-fuzz"]),
        .library(name: "LedgerCore", targets: ["LedgerCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // No pkgConfig: SwiftPM would drop its -D flags with a warning; the shim header sets
        // NCURSES_WIDECHAR itself and the module map links ncursesw and tinfo.
        .systemLibrary(name: "CNCursesw", providers: [.apt(["libncurses-dev"])]),
        // glibc's malloc.h (part of libc6-dev, which the Swift toolchain needs anyway).
        .systemLibrary(name: "CMalloc"),
        .target(name: "LedgerCrypto", dependencies: ["CSodium"]),
        .target(
            name: "LedgerCore",
            dependencies: [
                "LedgerCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .target(name: "LedgerIdentity", dependencies: ["LedgerCrypto", "LedgerCore"]),
        .target(
            name: "LedgerSync",
            dependencies: [
                "LedgerCore", "LedgerCrypto", "LedgerIdentity", "LedgerRemote",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "LedgerRemote", dependencies: ["LedgerCore", "LedgerCrypto"]),
        .target(
            name: "LedgerServer",
            dependencies: [
                "LedgerCore", "LedgerCrypto", "LedgerIdentity", "LedgerRemote", "CMalloc",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        .target(name: "LedgerTUI", dependencies: ["LedgerCore", "LedgerCrypto", "LedgerIdentity", "CNCursesw"]),
        .executableTarget(
            name: "ledgerlink",
            dependencies: [
                "LedgerCrypto", "LedgerCore", "LedgerIdentity", "LedgerTUI", "LedgerSync", "LedgerServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ledgerlink-bench",
            dependencies: [
                "LedgerCrypto", "LedgerCore", "LedgerIdentity", "LedgerTUI", "LedgerSync", "LedgerTestSupport",
                "LedgerServer", "LedgerRemote", .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .target(
            name: "LedgerFuzz",
            dependencies: ["LedgerCore", "LedgerCrypto", "LedgerIdentity", "LedgerRemote", "LedgerSync"]),
        .executableTarget(name: "ledgerlink-fuzz", dependencies: ["LedgerFuzz"]),
        .target(
            name: "LedgerTestSupport",
            dependencies: [
                "LedgerCrypto", "LedgerCore", "LedgerIdentity", "LedgerSync",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "LedgerServerTests",
            dependencies: [
                "LedgerServer", "LedgerSync", "LedgerRemote", "LedgerCore", "LedgerCrypto", "LedgerIdentity",
                "LedgerTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        .testTarget(name: "LedgerCryptoTests", dependencies: ["LedgerCrypto", "CNCursesw"]),
        .testTarget(
            name: "LedgerFuzzTests", dependencies: ["LedgerFuzz", "LedgerCore", "LedgerCrypto", "LedgerTestSupport"],
            exclude: ["Corpus"]),
        .testTarget(
            name: "LedgerCoreTests",
            dependencies: [
                "LedgerCore", "LedgerCrypto", "LedgerTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "LedgerSyncTests", dependencies: ["LedgerSync", "LedgerCore", "LedgerCrypto", "LedgerTestSupport"]),
        .testTarget(
            name: "LedgerTUITests", dependencies: ["LedgerTUI", "LedgerCore", "LedgerIdentity"], exclude: ["Golden"]),
        .testTarget(
            name: "LedgerIdentityTests",
            dependencies: ["LedgerIdentity", "LedgerCore", "LedgerCrypto", "LedgerTestSupport"]),
        .testTarget(
            name: "ledgerlinkTests",
            dependencies: ["LedgerTestSupport", "LedgerCore", "LedgerCrypto", "LedgerIdentity"]),
    ],
    swiftLanguageModes: [.v6]
)
