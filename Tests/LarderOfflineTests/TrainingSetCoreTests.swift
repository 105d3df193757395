import Features
import Foundation
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The training-set core reads request rows from a file or from memory: the same requests
/// give the same values either way (`larder verify` recomputes in memory and must agree with
/// the training sets built from files).
@Suite struct TrainingSetCoreTests {
    let dir: TemporaryDirectory
    let store: OfflineStore
    let builder: TrainingSetBuilder
    let end: Timestamp

    /// Every feature of the example repo: row features, on-demand features reading request
    /// fields, and aggregations.
    static let references = [
        "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
        "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2", "driver_trips:fare_per_km",
        "driver_trips:trips_1h", "driver_trips:fare_sum_24h", "driver_trips:fare_mean_7d", "driver_trips:fare_per_km_max_24h",
    ]

    static func iso(_ t: Int64) -> String { Timestamp(microseconds: t).description }

    init() throws {
        dir = try TemporaryDirectory()
        store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
        builder = TrainingSetBuilder(store: store, repository: Features.repository)
        let (stats, trips) = Self.sources()
        _ = try store.ingest(source: "driver_stats", file: dir.write("stats.csv", stats))
        _ = try store.ingest(source: "trips", file: dir.write("trips.csv", trips))
        end = Self.end
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: end))
        _ = try store.materialize(driverTrips, mode: .range(start: nil, end: end))
    }

    static let hour: Int64 = 3_600_000_000
    static let base = Timestamp(microseconds: 1_767_225_600_000_000)  // 2026-01-01T00:00:00Z
    static let end = Timestamp(microseconds: base.microseconds + 7 * hour)

    /// The example repo's two sources: hourly driver statistics and trips (seeded).
    static func sources() -> (stats: String, trips: String) {
        let base = Self.base.microseconds
        var rng = SeededGenerator(seed: 12)
        var stats = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        for h in 0..<6 {
            for d in 1...8 where Int.random(in: 0..<4, using: &rng) > 0 {
                stats += "\(d),\(Self.iso(base + Int64(h) * hour)),,\(Double(Int.random(in: 1...99, using: &rng)) / 100),0.5,\(d * 3 + h)\n"
            }
        }
        var trips = "driver_id,event_timestamp,fare,distance_km\n"
        for _ in 0..<200 {
            let t = base + Int64.random(in: 0..<(6 * hour), using: &rng)
            trips +=
                "\(Int.random(in: 1...9, using: &rng)),\(Self.iso(t)),\(Double(Int.random(in: 300...8000, using: &rng)) / 100),\(Double(Int.random(in: 0...4000, using: &rng)) / 100)\n"
        }
        return (stats, trips)
    }

    /// Every feature of the example repo (row, on-demand, aggregations), from the same data in
    /// each store: the same bytes from a request file (CSV and JSON Lines) and as a snapshot,
    /// and the same values from rows in memory as from the file.
    @Test func bothStoresGiveTheSameTrainingSets() async throws {
        let features = try Features.repository.resolve(references: Self.references)
        let rows = requestRows(count: 400, seed: 7)
        let requestPath = try requestFile(rows)
        var outputs: [[String: Data]] = []
        for backend in Backend.allCases {
            let dir = try TemporaryDirectory()
            let store = try await backend.open(dir)
            defer { store.close() }
            try await store.registry.apply(try await store.registry.plan(for: Features.repository))
            let (stats, trips) = Self.sources()
            _ = try await store.ingest(
                source: "driver_stats", file: dir.write("stats.csv", stats), format: nil, allowEmpty: false, progress: nil)
            _ = try await store.ingest(source: "trips", file: dir.write("trips.csv", trips), format: nil, allowEmpty: false, progress: nil)
            for view in [driverHourlyStats, driverTrips] {
                _ = try await store.materialize(view, mode: .range(start: nil, end: Self.end), now: .now(), progress: nil)
            }
            var files: [String: Data] = [:]
            for name in ["train.csv", "train.jsonl"] {
                let out = dir.file(name)
                _ = try await store.buildTrainingSet(
                    TrainingSetRequest(
                        features: features, rows: .file(path: requestPath, format: nil, timestampColumn: "event_timestamp"), output: out,
                        fullNames: true), repository: Features.repository, progress: nil)
                files[name] = try Data(contentsOf: URL(fileURLWithPath: out))
            }
            let inMemory = try await store.trainingSetValues(
                of: features, for: rows, timestampColumn: "event_timestamp", repository: Features.repository)
            #expect(inMemory == (try readValues(dir.file("train.jsonl"), features: features)), "\(backend)")
            let snapshot = dir.file("snapshot.csv")
            _ = try await store.buildTrainingSet(
                TrainingSetRequest(
                    features: try Features.repository.resolve(references: [
                        "driver_hourly_stats:conv_rate", "driver_trips:trips_1h", "driver_trips:fare_sum_24h",
                    ]), rows: .snapshot(at: Timestamp(microseconds: Self.end.microseconds - Self.hour)), output: snapshot),
                repository: Features.repository, progress: nil)
            files["snapshot.csv"] = try Data(contentsOf: URL(fileURLWithPath: snapshot))
            outputs.append(files)
        }
        for (name, sqlite) in outputs[0] {
            #expect(sqlite.count > 300, "\(name)")
            #expect(outputs[1][name] == sqlite, "\(name) differs between SQLite and PostgreSQL")
        }
    }

    /// Request rows in memory: driver, instant, and the two request fields (one null at times).
    func requestRows(count: Int, seed: UInt64) -> RequestRows {
        var rng = SeededGenerator(seed: seed)
        let start = end.microseconds - 8 * 3_600_000_000
        let rows: [[Value]] = (0..<count).map { _ in
            [
                .int64(Int64.random(in: 1...10, using: &rng)),
                .timestamp(Timestamp(microseconds: Int64.random(in: start..<end.microseconds, using: &rng))),
                .int64(Int64.random(in: -5...5, using: &rng)),
                Int.random(in: 0..<5, using: &rng) == 0 ? .null : .int64(Int64.random(in: -5...5, using: &rng)),
            ]
        }
        return RequestRows(columns: ["driver_id", "event_timestamp", "val_to_add", "val_to_add_2"], rows: rows)
    }

    /// The same rows as a JSON Lines request file.
    func requestFile(_ rows: RequestRows) throws -> String {
        var text: [UInt8] = []
        for row in rows.rows {
            for (c, (name, value)) in zip(rows.columns, row).enumerated() {
                text.append(c == 0 ? 0x7B : 0x2C)
                JSONText.appendString(name, to: &text)
                text.append(0x3A)
                JSONText.appendValue(value, to: &text)
            }
            text += "}\n".utf8
        }
        return try dir.write("requests.jsonl", String(decoding: text, as: UTF8.self))
    }

    /// The feature values of a JSON Lines training set, typed: the last columns, in order.
    func readValues(_ path: String, features: [ResolvedFeature]) throws -> [[Value]] {
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        return try bytes.split(separator: 0x0A).map { line in
            guard case .object(let members) = try line.withUnsafeBufferPointer({ try JSONParser.parse($0) }) else {
                throw OfflineStoreError("not an object")
            }
            return try zip(members.suffix(features.count), features).map { member, feature in
                try member.value.featureValue(as: feature.type)
            }
        }
    }

    @Test func rowsInMemoryGiveTheValuesOfTheFileBuild() throws {
        let features = try Features.repository.resolve(references: Self.references)
        let rows = requestRows(count: 300, seed: 5)
        let output = dir.file("train.jsonl")
        let summary = try builder.build(
            TrainingSetRequest(
                features: features, rows: .file(path: try requestFile(rows), format: nil, timestampColumn: "event_timestamp"),
                output: output, fullNames: true))
        #expect(summary.rows == 300)
        let fromFile = try readValues(output, features: features)
        let inMemory = try builder.values(of: features, for: rows, timestampColumn: "event_timestamp")
        #expect(inMemory.count == 300)
        #expect(inMemory == fromFile)
        // Real values of every kind of feature, not only nulls.
        for (f, reference) in Self.references.enumerated() {
            #expect(inMemory.contains { !$0[f].isNull }, "\(reference) is null in every row")
        }
        // On-demand features follow the request fields of their row.
        let plusVal1 = try #require(Self.references.firstIndex(of: "transformed_conv_rate:conv_rate_plus_val1"))
        for (row, values) in zip(rows.rows, inMemory) {
            if case .double(let rate) = values[0], case .int64(let add) = row[2] {
                #expect(values[plusVal1] == .double(rate + Double(add)))
            }
        }

        // A subset of the features, in another order, gives the same values as the file too.
        let subset = try Features.repository.resolve(references: ["driver_trips:trips_1h", "transformed_conv_rate:conv_rate_plus_val2"])
        let subsetOutput = dir.file("subset.jsonl")
        _ = try builder.build(
            TrainingSetRequest(
                features: subset, rows: .file(path: try requestFile(rows), format: nil, timestampColumn: "event_timestamp"),
                output: subsetOutput, fullNames: true))
        #expect(try builder.values(of: subset, for: rows, timestampColumn: "event_timestamp") == readValues(subsetOutput, features: subset))
    }

    /// With aggregations the instants are read in a first pass, which checks the views with
    /// aggregations first: the error names driver_trips, from a file and in memory alike.
    @Test func anInstantPastTheMaterializedEndIsRefusedTheSameWay() throws {
        let features = try Features.repository.resolve(references: ["driver_hourly_stats:conv_rate", "driver_trips:trips_1h"])
        var rows = requestRows(count: 3, seed: 9).rows
        rows[1][1] = .timestamp(end)
        let late = RequestRows(columns: ["driver_id", "event_timestamp", "val_to_add", "val_to_add_2"], rows: rows)
        let path = try requestFile(late)
        let reason =
            "the request instant \(end) is at or after the end of what feature view driver_trips has materialized (\(end)); run `larder materialize --incremental`, or `larder materialize --end T` past it"
        let fileError = #expect(throws: IngestError.self) {
            try builder.build(
                TrainingSetRequest(
                    features: features, rows: .file(path: path, format: nil, timestampColumn: "event_timestamp"),
                    output: dir.file("late.jsonl")))
        }
        #expect(fileError?.reason == reason)
        #expect(fileError?.line == 2)
        #expect(!FileManager.default.fileExists(atPath: dir.file("late.jsonl")))
        let memoryError = #expect(throws: OfflineStoreError.self) {
            try builder.values(of: features, for: late, timestampColumn: "event_timestamp")
        }
        #expect(memoryError?.description == reason)
    }

    @Test func aValueOfAnotherTypeOrAMissingColumnInMemoryIsRefusedNamingIt() throws {
        let features = try Features.repository.resolve(references: ["driver_hourly_stats:conv_rate"])
        let wrongType = RequestRows(
            columns: ["driver_id", "event_timestamp"], rows: [[.string("1"), .timestamp(Timestamp(microseconds: end.microseconds - 1))]])
        let typeError = #expect(throws: OfflineStoreError.self) {
            try builder.values(of: features, for: wrongType, timestampColumn: "event_timestamp")
        }
        #expect(
            typeError?.description.hasPrefix("request row 1, column 'driver_id': expected a int64, got the string") == true,
            "\(String(describing: typeError))")
        let noInstant = RequestRows(columns: ["driver_id"], rows: [[.int64(1)]])
        let columnError = #expect(throws: OfflineStoreError.self) {
            try builder.values(of: features, for: noInstant, timestampColumn: "event_timestamp")
        }
        #expect(columnError?.description.hasPrefix("no 'event_timestamp' column") == true)
    }

    /// The join looks row features up a chunk of rows at a time, in key and time order, and
    /// emits rows in request order: chunks of 7 rows give what one chunk gives, and an error
    /// in a later chunk comes after the rows before it, naming its row.
    @Test func chunksOfRowsGiveTheSameValuesAndErrorsInRequestOrder() throws {
        let features = try Features.repository.resolve(references: Self.references)
        let rows = requestRows(count: 300, seed: 21)
        var small = builder
        small.chunkSize = 7
        let whole = try builder.values(of: features, for: rows, timestampColumn: "event_timestamp")
        #expect(try small.values(of: features, for: rows, timestampColumn: "event_timestamp") == whole)
        #expect(whole.contains { !$0[0].isNull })

        // From a file: the same values and, for a bad row in the 4th chunk, the same error.
        let output = dir.file("chunks.jsonl")
        _ = try small.build(
            TrainingSetRequest(
                features: features, rows: .file(path: try requestFile(rows), format: nil, timestampColumn: "event_timestamp"),
                output: output, fullNames: true))
        #expect(try readValues(output, features: features) == whole)
        var bad = rows.rows
        bad[25][0] = .string("x")
        let message = "request row 26, column 'driver_id': expected a int64, got the string"
        for chunkSize in [7, PointInTimeJoin.Chunk.size] {
            var b = builder
            b.chunkSize = chunkSize
            let error = #expect(throws: OfflineStoreError.self) {
                try b.values(of: features, for: RequestRows(columns: rows.columns, rows: bad), timestampColumn: "event_timestamp")
            }
            #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
        }
    }
}
