// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Larder",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "larder", targets: ["larder"]),
        .library(name: "LarderCore", targets: ["LarderCore"]),
        .library(name: "LarderOffline", targets: ["LarderOffline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Definitions DSL, values, time, validation. No I/O.
        .target(
            name: "LarderCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // SQLite: registry, sources, ingestion.
        .target(
            name: "LarderOffline",
            dependencies: [
                "LarderCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The team's feature definitions, compiled into `larder`.
        .target(name: "Features", dependencies: ["LarderCore"], path: "features"),
        // The command line: parses, loads configuration, calls the libraries.
        .executableTarget(
            name: "larder",
            dependencies: [
                "LarderCore", "LarderOffline", "Features",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(name: "LarderCoreTests", dependencies: ["LarderCore", "Features"]),
        .testTarget(
            name: "LarderOfflineTests",
            dependencies: [
                "LarderOffline", "Features",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Runs the built `larder` binary as a user would.
        .testTarget(name: "LarderCLITests", dependencies: ["larder", .product(name: "GRDB", package: "GRDB.swift")]),
    ],
    swiftLanguageModes: [.v6]
)
