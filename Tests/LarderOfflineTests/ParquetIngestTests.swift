import Features
import Foundation
import GRDB
import LarderCore
import LarderParquet
import LarderTestSupport
import Testing

@testable import LarderOffline

/// `larder ingest` of Parquet files that pyarrow wrote (Fixtures/make_parquet_sources.py: its
/// defaults, INT96 timestamps with gzip, data page v2 with zstd; columns in another order, INT32
/// and FLOAT widened, millisecond timestamps) and one that Apache Spark 4.3.0 wrote with its
/// defaults (Fixtures/make_spark_sources.py: parquet-mr 1.17.0, snappy, every column
/// PLAIN_DICTIONARY in data page v1 and OPTIONAL, timestamps INT96 in UTC): the same rows as
/// the CSV of the same data.
@Suite struct ParquetIngestTests {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }

    static let columns = "driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips"

    @Test(arguments: ["driver_stats.parquet", "driver_stats_int96.parquet", "driver_stats_v2.parquet", "driver_stats_spark.parquet"])
    func theSameRowsAsTheCSVOfTheSameData(file: String) throws {
        let dir = try TemporaryDirectory()
        func ingested(_ path: String) throws -> [[DatabaseValue]] {
            let store = try OfflineStore(path: dir.file("\(UUID().uuidString).sqlite"))
            try store.registry.apply(try store.registry.plan(for: Features.repository))
            let summary = try store.ingest(source: "driver_stats", file: path)
            #expect(summary.rows == 2000)
            return try store.rows("SELECT \(Self.columns) FROM source_driver_stats ORDER BY _seq")
        }
        let fromCSV = try ingested(Self.fixture("driver_stats.csv"))
        let fromParquet = try ingested(Self.fixture(file))
        #expect(fromCSV.count == 2000)
        let differing = zip(fromCSV, fromParquet).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(
            differing.isEmpty, "first differing row \(differing.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "")")
        // Nulls came through as nulls (created, every 5th row).
        #expect(fromParquet.filter { $0[2].isNull }.count == 400)
    }

    @Test(arguments: Backend.allCases)
    func bothStoresIngestParquet(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        let summary = try await store.ingest(
            source: "driver_stats", file: Self.fixture("driver_stats.parquet"), format: nil, allowEmpty: false, progress: nil)
        #expect(summary.rows == 2000)
        #expect(try await store.registry.rowCount(source: "driver_stats") == 2000)
        // A bad file writes nothing, in either store.
        await #expect(throws: IngestError.self) {
            try await store.ingest(
                source: "driver_stats", file: Self.fixture("driver_stats_naive.parquet"), format: nil, allowEmpty: false, progress: nil)
        }
        #expect(try await store.registry.rowCount(source: "driver_stats") == 2000)
    }

    @Test func badFilesAreRefusedWithTheirReasonAndWriteNothing() throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
        func refusal(_ path: String, format: InputFormat? = nil) -> String {
            do {
                _ = try store.ingest(source: "driver_stats", file: path, format: format)
                return "ingested"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(Self.fixture("driver_stats_naive.parquet")).contains("column 'event_timestamp': a naive timestamp"))
        #expect(
            refusal(Self.fixture("driver_stats_null.parquet")).contains("row 3: column 'conv_rate': null, but the column is not nullable"))
        // Not Parquet at all; cut short; a column of another type.
        #expect(refusal(Self.fixture("driver_stats.csv"), format: .parquet).contains("not a Parquet file"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("driver_stats.parquet")))
        let cut = dir.file("cut.parquet")
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: cut))
        #expect(refusal(cut).contains("not a Parquet file"))
        let corrupt = dir.file("corrupt.parquet")
        var damaged = Array(bytes)
        for i in 2000..<2100 { damaged[i] ^= 0xA5 }  // inside the first row group's pages
        try Data(damaged).write(to: URL(fileURLWithPath: corrupt))
        #expect(refusal(corrupt).contains("row group 0"))
        // Spark's pages carry a CRC-32: one damaged byte in a page is refused as such, even
        // where it would still decode (as another value).
        var spark = Array(try Data(contentsOf: URL(fileURLWithPath: Self.fixture("driver_stats_spark.parquet"))))
        let chunk = try ParquetFile(bytes: spark).metadata.rowGroups[0].columns[1].metaData!
        spark[Int(chunk.dictionaryPageOffset ?? chunk.dataPageOffset) + Int(chunk.totalCompressedSize) / 2] ^= 0x01
        let flipped = try dir.write("flipped.parquet", spark)
        #expect(refusal(flipped).contains("CRC-32 does not match"), "\(refusal(flipped))")
        #expect(try store.registry.rowCount(source: "driver_stats") == 0)
        // Into a source whose columns do not match: trips has no conv_rate.
        let message: String
        do {
            _ = try store.ingest(source: "trips", file: Self.fixture("driver_stats.parquet"))
            message = "ingested"
        } catch {
            message = "\(error)"
        }
        #expect(message.contains("unknown column"), "\(message)")
    }

    /// A file Larder's writer made: the event-time rule of every way in applies.
    @Test func aFarFutureEventTimeIsRefusedAsInCSV() throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
        func write(_ name: String, eventTime: Int64) throws -> String {
            var bytes: [UInt8] = []
            var writer = try ParquetWriter(
                columns: [
                    .init(name: "driver_id", type: .int64, nullable: false),
                    .init(name: "event_timestamp", type: .timestamp, nullable: false),
                    .init(name: "conv_rate", type: .double, nullable: false), .init(name: "acc_rate", type: .double, nullable: false),
                    .init(name: "avg_daily_trips", type: .int64, nullable: false),
                ], compression: .snappy
            ) { bytes += $0 }
            try writer.writeRowGroup([.integers([7]), .integers([eventTime]), .doubles([-0.0]), .doubles([0.5]), .integers([3])])
            try writer.finish()
            let path = dir.file(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        _ = try store.ingest(source: "driver_stats", file: try write("past.parquet", eventTime: 1_767_225_600_000_000))
        let future = Timestamp.now().microseconds + 3_600_000_000
        #expect(throws: IngestError.self) { try store.ingest(source: "driver_stats", file: try write("future.parquet", eventTime: future)) }
        #expect(try store.registry.rowCount(source: "driver_stats") == 1)
    }
}
