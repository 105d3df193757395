import Foundation
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The serving log in either store: entries read back as written (doubles to the bit, nulls,
/// text), in order and by range, and `--from-log`'s table the same bytes from both.
@Suite struct ServingLogStoreTests {
    static let entries: [ServingLogEntry] = (0..<7).map(entry)

    static func entry(_ i: Int) -> ServingLogEntry {
        let n = Int64(i)
        let servedAt = Timestamp(microseconds: 1_767_225_600_000_000 + n * 1_000_000)
        let rate: JSONValue = i == 3 ? .null : .double(0.1 * Double(i) + 1e-17)
        let eventTime: Timestamp? = i == 3 ? nil : Timestamp(microseconds: 1_767_225_000_000_000)
        let conv = LoggedFeature(
            reference: "driver_hourly_stats:conv_rate", value: rate, status: i == 3 ? "missing" : "present", eventTime: eventTime)
        let trips = LoggedFeature(
            reference: "driver_trips:trips_1h", value: .string("naïve \u{1F600} \"q\"\t"), status: "present", eventTime: nil)
        let request: [JSONMember] = i % 2 == 0 ? [] : [JSONMember(key: "val_to_add", value: .int(n))]
        return ServingLogEntry(
            servedAt: servedAt, endpoint: i % 2 == 0 ? "/v1/features" : "/get-online-features",
            service: i % 3 == 0 ? nil : "driver_ranking",
            entity: [JSONMember(key: "driver_id", value: .int(1000 + n))], request: request, features: [conv, trips])
    }

    @Test func entriesAndTheirTrainingSetAreTheSameInEitherStore() async throws {
        var outputs: [Data] = []
        for backend in Backend.allCases {
            let dir = try TemporaryDirectory()
            let store = try await backend.open(dir)
            defer { store.close() }
            try await store.appendServingLog(Array(Self.entries.prefix(4)))
            try await store.appendServingLog(Array(Self.entries.dropFirst(4)))
            var read: [ServingLogEntry] = []
            for try await batch in store.servingLogEntries(since: nil, until: nil, batchSize: 3) { read += batch }
            #expect(read.map(\.id) == Array(1...7), "\(backend)")
            #expect(
                read.map {
                    var e = $0; e.id = 0; return e
                } == Self.entries, "\(backend)")
            var ranged: [ServingLogEntry] = []
            for try await batch in store.servingLogEntries(since: Self.entries[2].servedAt, until: Self.entries[5].servedAt) {
                ranged += batch
            }
            #expect(ranged.map(\.id) == [3, 4, 5], "\(backend)")

            let out = dir.file("served.csv")
            let summary = try await store.buildTrainingSetFromServingLog(ServingLogTrainingSetRequest(output: out))
            #expect(summary.rows == 7)
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(outputs[0] == outputs[1])
        #expect(String(decoding: outputs[0], as: UTF8.self).hasPrefix("driver_id,event_timestamp,val_to_add,conv_rate,trips_1h\n"))
    }

    /// In Parquet: the features typed as the repository declares them (`featureTypes`), keys,
    /// request fields and undeclared features by their logged values; read back by pyarrow.
    @Test func theServingLogTableIsTypedInParquet() async throws {
        var outputs: [Data] = []
        for backend in Backend.allCases {
            let dir = try TemporaryDirectory()
            let store = try await backend.open(dir)
            defer { store.close() }
            try await store.appendServingLog(Self.entries)
            for out in ["served.parquet", "served.jsonl"] {
                _ = try await store.buildTrainingSetFromServingLog(
                    ServingLogTrainingSetRequest(output: dir.file(out), featureTypes: ["driver_hourly_stats:conv_rate": .double]))
            }
            try ParquetTrainingSetTests.expectSameTable(
                try await ParquetTrainingSetTests.dump(dir.file("served.parquet")), jsonl: dir.file("served.jsonl"),
                schema: [
                    ("driver_id", "int64"), ("event_timestamp", "timestamp[us, tz=UTC]"), ("val_to_add", "int64"),
                    ("conv_rate", "double"), ("trips_1h", "string"),
                ])
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: dir.file("served.parquet"))))
        }
        #expect(outputs[0] == outputs[1])
    }
}
