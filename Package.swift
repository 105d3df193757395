// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Larder",
    platforms: [.macOS(.v15)],
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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),  // NIOThreadPool for blocking work
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),  // sslmode for PostgreSQL
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),  // the catalog's pages
    ],
    targets: [
        // Parquet's file format, written for Larder (no Swift package for it is available): the
        // Thrift compact metadata, the value encodings, page compression. Byte buffers only.
        .target(name: "LarderParquet", dependencies: ["CZstd", "CSnappy", "CZlib"]),
        // Parquet's page compression codecs, Debian's C libraries (as hiredis, no pkgConfig).
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Definitions DSL, values, time, validation. No I/O.
        .target(
            name: "LarderCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // SQLite: registry, sources, ingestion. Its API is async: the blocking SQLite work
        // runs on bounded thread pools of its own (NIOPosix's NIOThreadPool).
        .target(
            name: "LarderOffline",
            dependencies: [
                "LarderCore", "LarderParquet",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The offline store on PostgreSQL, for a team that shares one: the same registry,
        // sources and feature tables as the SQLite store, through PostgresNIO.
        .target(
            name: "LarderPostgres",
            dependencies: [
                "LarderCore", "LarderOffline",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // hiredis, the Redis C client (Debian: libhiredis-dev). No pkgConfig: with it every
        // build warns about a dropped -D_FILE_OFFSET_BITS flag; the header path is standard.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // Redis through hiredis: connections, pipelining, the online key layout.
        .target(
            name: "LarderOnline",
            dependencies: ["LarderCore", "CHiredis", .product(name: "Crypto", package: "swift-crypto")]  // script SHA-1s
        ),
        // The rules the command line and the service share: which definitions are deployed,
        // which views may be served, how lookups are assembled.
        .target(
            name: "LarderEngine",
            dependencies: [
                "LarderCore", "LarderOffline", "LarderOnline",
                .product(name: "Crypto", package: "swift-crypto"),  // token digests
            ]
        ),
        // The HTTP service: online lookups, Feast-compatible lookups, push, health, metrics.
        .target(
            name: "LarderServer",
            dependencies: [
                "LarderCore", "LarderOnline", "LarderOffline", "LarderEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),  // SIGHUP re-reads the tokens
            ]
        ),
        // The team's feature definitions, compiled into `larder`. The build embeds their
        // text, so fingerprints cover transformation code.
        .target(name: "Features", dependencies: ["LarderCore"], path: "features", plugins: ["EmbedSources"]),
        .executableTarget(name: "embed-sources", path: "Sources/EmbedSourcesTool"),
        .plugin(name: "EmbedSources", capability: .buildTool(), dependencies: ["embed-sources"]),
        // The command line: parses, loads configuration, calls the libraries.
        .executableTarget(
            name: "larder",
            dependencies: [
                "LarderCore", "LarderOffline", "LarderOnline", "LarderEngine", "LarderServer", "LarderPostgres", "LarderParquet",
                "Features", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Benchmarks/bench.py catalog: a generated repository of 500 features, materialized and
        // served by the real FeatureServer, for the catalog pages' latency.
        .executableTarget(
            name: "larder-catalog-bench",
            dependencies: [
                "LarderCore", "LarderOffline", "LarderOnline", "LarderEngine", "LarderServer",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/CatalogBench",
            plugins: ["EmbedSources"]  // its own source text, so feature pages show the transformations' code
        ),
        // Shared by the test targets: a real redis-server on a free port, temp directories, the
        // Python virtualenv of the oracles (pyarrow, DuckDB, pandas, Polars from PyPI).
        .target(name: "LarderTestSupport", path: "Tests/LarderTestSupport"),
        // A test process that leaves a redis-server running, to check that it never outlives it.
        .executableTarget(name: "larder-test-helper", dependencies: ["LarderTestSupport"], path: "Tests/LarderTestHelper"),
        .testTarget(
            name: "LarderOnlineTests", dependencies: ["LarderOnline", "LarderTestSupport", "Features", "larder-test-helper"]),
        .testTarget(
            name: "LarderServerTests",
            dependencies: [
                "LarderServer", "LarderEngine", "LarderOffline", "LarderOnline", "LarderTestSupport", "Features",
                .product(name: "Yams", package: "Yams"),  // reads the examples of schemas/openapi.yaml
                .product(name: "GRDB", package: "GRDB.swift"),  // holds the store's write lock from outside
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),  // graceful shutdown of the harness
            ]
        ),
        .testTarget(
            name: "LarderEngineTests",
            dependencies: ["LarderEngine", "LarderTestSupport", "Features", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "LarderCoreTests", dependencies: ["LarderCore", "Features", "LarderTestSupport"]),
        .testTarget(
            name: "LarderOfflineTests",
            dependencies: [
                "LarderOffline", "Features", "LarderTestSupport", "LarderParquet",
                "LarderPostgres",  // the store-level tests run against both offline stores
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),  // fails a step on purpose (ReadErrorTests)
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Fixtures", "Oracles"]  // Oracles: the scripts that make files with pyarrow, DuckDB, pandas, Polars
        ),
        .testTarget(
            name: "LarderPostgresTests",
            dependencies: [
                "LarderPostgres", "LarderOffline", "Features", "LarderTestSupport", "larder-test-helper",
                .product(name: "GRDB", package: "GRDB.swift"),  // compares with the SQLite store's rows
            ]
        ),
        // The fixtures are Parquet files written by pyarrow, read through #filePath.
        .testTarget(name: "LarderParquetTests", dependencies: ["LarderParquet", "LarderTestSupport"], exclude: ["Fixtures"]),
        // Runs the built `larder` binary as a user would.
        .testTarget(
            name: "LarderCLITests",
            dependencies: ["larder", "LarderTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
