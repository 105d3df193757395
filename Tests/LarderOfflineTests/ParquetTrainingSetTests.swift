import Foundation
import LarderCore
import LarderParquet
import LarderTestSupport
import Testing

@testable import LarderOffline

/// Training sets written as Parquet, read back by pyarrow, pandas and DuckDB (the oracles,
/// through Oracles/dump_parquet.py): the types the issue names, and the same values as the
/// JSON Lines output of the same request, nulls and `last(n)` lists included; request files
/// in CSV, JSON Lines and Parquet; every codec; both stores.
@Suite struct ParquetTrainingSetTests {
    static let driverID = Column<Int64>("driver_id")
    static let score = Column<Double?>("score")
    static let trips = Column<Int64?>("trips")
    static let active = Column<Bool?>("active")
    static let name = Column<String?>("name")
    static let seen = Column<Timestamp?>("seen")
    static let tag = Column<String>("tag")
    static let driver = Entity("driver", joinKeys: [driverID])
    static let pings = Source("pings", columns: [driverID, score, trips, active, name, seen, tag])
    static let view = FeatureView("ping_view", entity: driver, source: pings, ttl: .seconds(3 * 3600)) {
        Feature(score)
        Feature(trips)
        Feature(active)
        Feature(name)
        Feature(seen)
    } aggregations: {
        Aggregate(.last(3), of: tag, windows: .hours(12))
        Aggregate(.count, windows: .hours(1))
    }
    static let repository = FeatureRepository {
        driver
        pings
        view
    }

    static let base: Int64 = 1_767_225_600_000_000  // 2026-01-01
    static let minute: Int64 = 60_000_000

    static func oracle(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Oracles/\(name)").path
    }

    /// Pings for drivers 1...5 over two days, every value sometimes null; ingested and materialized.
    static func populate(_ store: any OfflineBackend, dir: TemporaryDirectory) async throws {
        try await store.registry.apply(try await store.registry.plan(for: Self.repository))
        var rng = SeededGenerator(seed: 16)
        var csv = "driver_id,event_timestamp,score,trips,active,name,seen,tag\n"
        for i in 0..<400 {
            let t = base + Int64(i) * 7 * minute
            func maybe(_ text: String) -> String { Int.random(in: 0..<6, using: &rng) == 0 ? "" : text }
            csv += "\(Int64.random(in: 1...5, using: &rng)),\(Timestamp(microseconds: t)),"
            csv += maybe(String(Double(Int.random(in: -500..<500, using: &rng)) / 8)) + ","
            csv += maybe(String(Int.random(in: 0..<90, using: &rng))) + ","
            csv += maybe(Bool.random(using: &rng) ? "true" : "false") + ","
            csv += maybe(["ana", "\"b,é\"", "cy"].randomElement(using: &rng)!) + ","
            csv += maybe(Timestamp(microseconds: t - Int64.random(in: 0..<100_000_000, using: &rng)).description) + ","
            csv += "t\(i % 7)\n"
        }
        _ = try await store.ingest(source: "pings", file: dir.write("pings.csv", csv), format: nil, allowEmpty: false, progress: nil)
        _ = try await store.materialize(
            Self.view, mode: .range(start: nil, end: Timestamp(microseconds: base + 3 * 24 * 60 * minute)), now: .now(),
            progress: nil)
    }

    /// Request rows: drivers 1...6 (6 is unknown) at instants across the data.
    static func requests(_ count: Int) -> [(driver: Int64, t: Int64)] {
        var rng = SeededGenerator(seed: 61)
        return (0..<count).map { _ in (Int64.random(in: 1...6, using: &rng), base + Int64.random(in: -60...2900, using: &rng) * minute) }
    }

    static let featureTypes: [(String, String)] = [
        ("score", "double"), ("trips", "int64"), ("active", "bool"), ("name", "string"), ("seen", "timestamp[us, tz=UTC]"),
        ("tag_last3_12h", "list<element: string>"), ("count_1h", "int64"),
    ]

    /// What pyarrow, pandas and DuckDB read from `file`.
    static func dump(_ file: String) async throws -> JSONValue {
        let output = try await PythonOracle.run(oracle("dump_parquet.py"), [file])
        return try JSONParser.parse(Array(output.utf8))
    }

    /// Checks the dump of a Parquet output against the JSON Lines output of the same request:
    /// the schema, then every value by its column's type.
    static func expectSameTable(_ dumped: JSONValue, jsonl: String, schema: [(String, String)]) throws {
        let expectedSchema = schema.map { "\($0.0): \($0.1)" }
        let actualSchema = dumped["schema"]?.arrayValue?.map { "\($0[0]?.stringValue ?? ""): \($0[1]?.stringValue ?? "")" } ?? []
        #expect(actualSchema == expectedSchema)
        let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
        let rows = dumped["rows"]?.arrayValue ?? []
        #expect(rows.count == lines.count && !rows.isEmpty)
        #expect(dumped["pandas_rows"] == .int(Int64(lines.count)) && dumped["duckdb_rows"] == .int(Int64(lines.count)))
        var mismatches: [String] = []
        for (r, (row, line)) in zip(rows, lines).enumerated() {
            guard case .object(let members) = line, let cells = row.arrayValue, cells.count == schema.count else {
                mismatches.append("row \(r): \(row) vs \(line)")
                continue
            }
            for (c, (name, type)) in schema.enumerated() {
                let expected = members.first { $0.key == name }?.value ?? .null
                if !same(cells[c], expected, type: type) { mismatches.append("row \(r), \(name) (\(type)): \(cells[c]) vs \(expected)") }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches; first: \(mismatches.prefix(5))")
        // DuckDB counts the same non-null values as pyarrow read.
        for (c, (name, _)) in schema.enumerated() {
            let present = rows.count { $0.arrayValue?[c] != .null }
            #expect(dumped["duckdb"]?[name] == .int(Int64(present)), "\(name)")
        }
    }

    /// A Parquet value as pyarrow read it against a JSON Lines value, for a column of `type`.
    static func same(_ parquet: JSONValue, _ jsonl: JSONValue, type: String) -> Bool {
        switch (parquet, jsonl) {
        case (.null, .null): return true
        case (.int(let micros), .string(let text)) where type.hasPrefix("timestamp"):
            return (try? Timestamp(rfc3339: text).microseconds) == micros
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { same($0, $1, type: String(type.dropFirst("list<element: ".count))) }
        case (.int(let a), .int(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return type == "double" && Double(a) == b
        case (.double(let a), .double(let b)): return a == b
        default: return parquet == jsonl
        }
    }

    @Test(arguments: Backend.allCases)
    func aCSVRequestWritesTypedFeaturesAndStringLabels(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await Self.populate(store, dir: dir)
        var csv = "driver_id,event_timestamp,label\n"
        for (i, r) in Self.requests(300).enumerated() {
            let label = i % 10 == 0 ? "" : i % 10 == 1 ? "\"a,\"\"b\"\"\"" : "L\(i)é"
            csv += "\(r.driver),\(Timestamp(microseconds: r.t)),\(label)\n"
        }
        let requests = try dir.write("requests.csv", csv)
        let features = try Self.repository.resolve(references: ["ping_view"])
        func build(_ out: String, compression: PageCompression? = nil) async throws -> TrainingSetSummary {
            try await store.buildTrainingSet(
                TrainingSetRequest(
                    features: features, rows: .file(path: requests, format: nil, timestampColumn: "event_timestamp"),
                    output: dir.file(out), compression: compression),
                repository: Self.repository, progress: nil)
        }
        _ = try await build("train.jsonl")
        let schema = [("driver_id", "int64"), ("event_timestamp", "timestamp[us, tz=UTC]"), ("label", "string")] + Self.featureTypes
        for (compression, codec) in [(nil, "ZSTD"), (.uncompressed, "UNCOMPRESSED"), (.snappy, "SNAPPY"), (.gzip, "GZIP")]
            as [(PageCompression?, String)]
        {
            let summary = try await build("train-\(codec).parquet", compression: compression)
            #expect(summary.rows == 300)
            let dumped = try await Self.dump(dir.file("train-\(codec).parquet"))
            try Self.expectSameTable(dumped, jsonl: dir.file("train.jsonl"), schema: schema)
            #expect(dumped["codecs"] == .array([.string(codec)]))
            #expect(dumped["pandas"]?["event_timestamp"] == .string("datetime64[us, UTC]"))
            #expect(dumped["pandas"]?["score"] == .string("float64"))
            // Statistics: the nulls pyarrow counts, and the keys' bounds.
            let rows = dumped["rows"]?.arrayValue ?? []
            let nullScores = rows.count { $0[3] == JSONValue.null }
            #expect(dumped["statistics"]?["score"]?[0] == .int(Int64(nullScores)) && nullScores > 0)
            #expect(dumped["statistics"]?["driver_id"] == .array([.int(0), .int(1), .int(6)]))
            // The manifest records the file's hash and format.
            let manifest = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: summary.manifest))))
            #expect(manifest["output"]?["format"] == .string("parquet"))
            #expect(manifest["output"]?["sha256"] == .string(try sha256(ofFile: dir.file("train-\(codec).parquet"))))
        }
        // The same bytes from either chunking: the file is a function of the rows.
        var small = TrainingSetRequest(
            features: features, rows: .file(path: requests, format: nil, timestampColumn: "event_timestamp"),
            output: dir.file("train-small.parquet"))
        try await backend.buildInSmallChunks(small, store: store, repository: Self.repository)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: dir.file("train-small.parquet")))
                == Data(contentsOf: URL(fileURLWithPath: dir.file("train-ZSTD.parquet"))))
        // --compression is for Parquet only; nothing is written.
        small.output = dir.file("train.csv")
        small.compression = .snappy
        await #expect(throws: OfflineStoreError.self) {
            try await store.buildTrainingSet(small, repository: Self.repository, progress: nil)
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("train.csv")))
    }

    @Test(arguments: Backend.allCases)
    func jsonLinesAndParquetRequestsKeepTheirTypes(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await Self.populate(store, dir: dir)
        // JSON Lines: a weight of integers and doubles (a double column), a flag, a note with nulls.
        var jsonl = ""
        var csv = "driver_id,event_timestamp,weight,flag,note\n"
        for (i, r) in Self.requests(120).enumerated() {
            let weight = i % 3 == 0 ? "\(i)" : "\(Double(i) / 4)"
            let note = i % 5 == 0 ? "null" : "\"n\(i)\""
            jsonl += "{\"driver_id\":\(r.driver),\"event_timestamp\":\"\(Timestamp(microseconds: r.t))\",\"weight\":\(weight),"
            jsonl += "\"flag\":\(i % 2 == 0),\"note\":\(note)}\n"
            csv += "\(r.driver),\(Timestamp(microseconds: r.t)),\(weight),\(i % 2 == 0),\(i % 5 == 0 ? "" : "n\(i)")\n"
        }
        let jsonlRequests = try dir.write("requests.jsonl", jsonl)
        // Parquet, as pyarrow writes it: INT32 keys, millisecond timestamps, FLOAT weights, row groups of 50.
        let parquetRequests = dir.file("requests.parquet")
        _ = try await PythonOracle.run(Self.oracle("write_requests.py"), [try dir.write("requests-for-parquet.csv", csv), parquetRequests])
        let features = try Self.repository.resolve(references: ["ping_view"])
        let schema =
            [
                ("driver_id", "int64"), ("event_timestamp", "timestamp[us, tz=UTC]"), ("weight", "double"), ("flag", "bool"),
                ("note", "string"),
            ] + Self.featureTypes
        for requests in [jsonlRequests, parquetRequests] {
            let request = TrainingSetRequest(
                features: features, rows: .file(path: requests, format: nil, timestampColumn: "event_timestamp"),
                output: dir.file("train.parquet"))
            #expect(try await store.buildTrainingSet(request, repository: Self.repository, progress: nil).rows == 120)
            var text = request
            text.output = dir.file("train.jsonl")
            _ = try await store.buildTrainingSet(text, repository: Self.repository, progress: nil)
            try Self.expectSameTable(try await Self.dump(dir.file("train.parquet")), jsonl: dir.file("train.jsonl"), schema: schema)
        }
    }

    @Test func aSnapshotAtAnInstantIsTyped() async throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        try await Self.populate(store, dir: dir)
        let at = Timestamp(microseconds: Self.base + 1000 * Self.minute)
        for out in ["snap.parquet", "snap.jsonl"] {
            _ = try await store.buildTrainingSet(
                TrainingSetRequest(
                    features: try Self.repository.resolve(references: ["ping_view"]), rows: .snapshot(at: at), output: dir.file(out)),
                repository: Self.repository, progress: nil)
        }
        let schema = [("driver_id", "int64"), ("event_timestamp", "timestamp[us, tz=UTC]")] + Self.featureTypes
        try Self.expectSameTable(try await Self.dump(dir.file("snap.parquet")), jsonl: dir.file("snap.jsonl"), schema: schema)
    }

    @Test func badParquetRequestFilesAreRefusedAndWriteNothing() async throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        try await Self.populate(store, dir: dir)
        let features = try Self.repository.resolve(references: ["ping_view"])
        func refusal(_ requests: String) async -> String {
            do {
                _ = try await store.buildTrainingSet(
                    TrainingSetRequest(
                        features: features, rows: .file(path: requests, format: nil, timestampColumn: "event_timestamp"),
                        output: dir.file("out.parquet")),
                    repository: Self.repository, progress: nil)
                return "built"
            } catch {
                return "\(error)"
            }
        }
        func write(_ name: String, _ columns: [ParquetWriter.ColumnSchema], _ values: [ParquetWriter.ColumnInput]) throws -> String {
            var bytes: [UInt8] = []
            var writer = try ParquetWriter(columns: columns, compression: .snappy) { bytes += $0 }
            try writer.writeRowGroup(values)
            try writer.finish()
            return try dir.write(name, bytes)
        }
        let t = Self.base + 600 * Self.minute
        // A null key in row 2.
        let nullKey = try write(
            "null-key.parquet",
            [.init(name: "driver_id", type: .int64, nullable: true), .init(name: "event_timestamp", type: .timestamp, nullable: false)],
            [.flat(.integers([1, nil])), .flat(.integers([t, t]))])
        #expect(
            await refusal(nullKey).hasSuffix("null-key.parquet: row 2: column 'driver_id': empty; every request row needs its entity key"))
        // A list column cannot be carried through.
        let list = try write(
            "list.parquet",
            [
                .init(name: "driver_id", type: .int64, nullable: false), .init(name: "event_timestamp", type: .timestamp, nullable: false),
                .init(name: "tags", type: .list(.string), nullable: true),
            ],
            [.flat(.integers([1])), .flat(.integers([t])), .lists(lengths: [1], elements: .byteArrays([Array("x".utf8)]))])
        #expect(await refusal(list).contains("column 'tags': a Parquet group"))
        // Keys as text that is not an integer.
        let textKey = try write(
            "text-key.parquet",
            [.init(name: "driver_id", type: .string, nullable: false), .init(name: "event_timestamp", type: .timestamp, nullable: false)],
            [.flat(.byteArrays([Array("7".utf8), Array("x7".utf8)])), .flat(.integers([t, t]))])
        #expect(await refusal(textKey).contains("row 2: column 'driver_id', value \"x7\": not an int64"))
        // Not Parquet at all.
        let notParquet = try dir.write("fake.parquet", "driver_id,event_timestamp\n1,2026-01-01T00:00:00Z\n")
        #expect(await refusal(notParquet).contains("not a Parquet file"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.parquet")))
    }

    // MARK: The table's types and row groups

    @Test func columnsWithoutATypeAreSettledByTheirFirstRowGroup() {
        #expect(ParquetTable.settledType(of: [.int64(1), .null, .int64(2)]) == .int64)
        #expect(ParquetTable.settledType(of: [.int64(1), .double(0.5)]) == .double)
        #expect(ParquetTable.settledType(of: [.null, .null]) == .string)
        #expect(ParquetTable.settledType(of: [.int64(1), .string("a")]) == .string)
        #expect(ParquetTable.settledType(of: [.list([.int64(1)]), .list([]), .null]) == .int64List)
        #expect(ParquetTable.settledType(of: [.list([.int64(1)]), .string("a")]) == .string)
        #expect(ParquetTable.convert(.string("2026-01-01T00:00:00Z"), to: .timestamp) == .timestamp(Timestamp(microseconds: Self.base)))
        #expect(ParquetTable.convert(.list([.int64(1), .double(2)]), to: .doubleList) == .list([.double(1), .double(2)]))
        #expect(ParquetTable.convert(.list([.int64(1)]), to: .string) == .string("[1]"))
        #expect(ParquetTable.convert(.double(1.5), to: .int64) == nil)
    }

    @Test func rowGroupsOfBoundedSizeReadBackWithListsAcrossThem() async throws {
        let dir = try TemporaryDirectory()
        var bytes: [UInt8] = []
        var table = ParquetTable(
            columns: [("n", nil), ("tags", .stringList), ("at", .timestamp)], compression: .zstd, rowGroupRows: 4,
            sink: { bytes += $0 })
        var expected: [JSONValue] = []
        for i in 0..<10 {
            let tags: Value = i % 4 == 3 ? .null : .list((0..<(i % 3)).map { .string("t\($0)") })
            try table.append(i == 0 ? .null : .int64(Int64(i)), column: 0)
            try table.append(tags, column: 1)
            // A timestamp column takes RFC 3339 text (as the serving log keeps it).
            try table.append(.string(Timestamp(microseconds: Self.base + Int64(i)).description), column: 2)
            try table.endRow()
            var tagsJSON = JSONValue.null
            if case .list(let items) = tags { tagsJSON = .array(items.map { .string($0.description) }) }
            expected.append(.array([i == 0 ? .null : .int(Int64(i)), tagsJSON, .int(Self.base + Int64(i))]))
        }
        // The first four rows settled `n` as int64: a double in row 11 is refused, naming it.
        #expect {
            try table.append(.double(0.5), column: 0)
        } throws: { error in
            "\(error)".contains("row 11, column 'n'") && "\(error)".contains("settled by the first 4 rows")
        }
        try table.finish()
        let dumped = try await Self.dump(try dir.write("table.parquet", bytes))
        #expect(dumped["row_groups"] == .int(3))
        #expect(dumped["rows"] == .array(expected))
        #expect(
            dumped["schema"]
                == .array([
                    .array([.string("n"), .string("int64")]), .array([.string("tags"), .string("list<element: string>")]),
                    .array([.string("at"), .string("timestamp[us, tz=UTC]")]),
                ]))
    }
}

extension ParquetTrainingSetTests {
    /// Column chunks of several pages (a page ends at a row past 16,384 level entries), lists
    /// crossing no page, read back by pyarrow.
    @Test func chunksOfSeveralPagesReadBack() async throws {
        let dir = try TemporaryDirectory()
        var bytes: [UInt8] = []
        var table = ParquetTable(
            columns: [("n", .int64), ("tags", .int64List), ("s", .string)], compression: .snappy, rowGroupRows: 30_000,
            sink: { bytes += $0 })
        var expected: [JSONValue] = []
        for i in 0..<40_000 {
            let tags: [Int64] = (0..<(i % 4)).map { Int64(i + $0) }
            try table.append(i % 9 == 0 ? .null : .int64(Int64(i)), column: 0)
            try table.append(i % 5 == 0 ? .null : .list(tags.map(Value.int64)), column: 1)
            try table.append(.string("s\(i % 13)"), column: 2)
            try table.endRow()
            expected.append(
                .array([i % 9 == 0 ? .null : .int(Int64(i)), i % 5 == 0 ? .null : .array(tags.map(JSONValue.int)), .string("s\(i % 13)")]))
        }
        try table.finish()
        let file = try dir.write("pages.parquet", bytes)
        let metadata = try ParquetFile(bytes: bytes).metadata
        #expect(metadata.rowGroups.map(\.numRows) == [30_000, 10_000])
        // The list column's first chunk holds about 45,000 level entries: three pages.
        let listChunk = metadata.rowGroups[0].columns[1].metaData!
        #expect(listChunk.numValues > 40_000)
        var pages = 0
        var at = Int(listChunk.dataPageOffset)
        while at < Int(listChunk.dataPageOffset + listChunk.totalCompressedSize) {
            var reader = try ThriftCompactReader(bytes, range: at..<bytes.count)
            let header = try PageHeader(reading: &reader)
            at = reader.position + Int(header.compressedPageSize)
            pages += 1
        }
        #expect(pages == 3)
        let dumped = try await Self.dump(file)
        #expect(dumped["rows"] == .array(expected))
    }
}

extension JSONValue {
    /// A member of an object, or an element of an array, by key or index (test inspection).
    subscript(_ key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    subscript(_ index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    var arrayValue: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
    var stringValue: String? { if case .string(let s) = self { s } else { nil } }
}

/// The hex SHA-256 of a file's bytes.
func sha256(ofFile path: String) throws -> String { sha256(try Data(contentsOf: URL(fileURLWithPath: path))) }
