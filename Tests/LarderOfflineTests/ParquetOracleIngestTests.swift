import Features
import Foundation
import GRDB
import LarderTestSupport
import Testing

@testable import LarderOffline

/// pyarrow, pandas, DuckDB and Polars as oracles: each writes driver_stats.csv's rows as
/// Parquet (Oracles/write_parquet_sources.py, in the virtualenv of ``PythonOracle``) with its
/// defaults and with every encoding, codec and data page version it offers, and every file
/// ingests into exactly the rows the CSV ingests into.
@Suite struct ParquetOracleIngestTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let script = here.appendingPathComponent("Oracles/write_parquet_sources.py").path
    static let csv = here.appendingPathComponent("Fixtures/driver_stats.csv").path
    static let columns = "driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips"

    /// How many files each writer makes at least (the script's matrix): a script that writes
    /// fewer, or none, fails here rather than passing over nothing.
    static let expectedFiles = ["pyarrow_": 27, "pandas_": 1, "duckdb_": 11, "polars_": 4]

    @Test func everyFileTheOraclesWriteIngestsAsTheCSVDoes() async throws {
        let dir = try TemporaryDirectory(prefix: "larder-oracle")
        let output = try await PythonOracle.run(Self.script, [Self.csv, dir.path])
        let files = output.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for (prefix, least) in Self.expectedFiles.sorted(by: { $0.key < $1.key }) {
            let made = files.filter { $0.hasPrefix(prefix) }.count
            #expect(made >= least, "the script wrote \(made) \(prefix)* files, expected at least \(least): \(files)")
        }
        #expect(files.count >= Self.expectedFiles.values.reduce(0, +))
        #expect(Set(files).count == files.count, "a file name appears twice: \(files)")

        // Off the cooperative pool: some forty SQLite ingests in a row.
        try await onDedicatedThread {
            func ingested(_ path: String) throws -> [[DatabaseValue]] {
                let store = try OfflineStore(path: dir.file("\(UUID().uuidString).sqlite"))
                try store.registry.apply(try store.registry.plan(for: Features.repository))
                let summary = try store.ingest(source: "driver_stats", file: path)
                guard summary.rows == 2000 else { throw OracleMismatch("ingested \(summary.rows) rows, not 2000") }
                return try store.rows("SELECT \(Self.columns) FROM source_driver_stats ORDER BY _seq")
            }
            let fromCSV = try ingested(Self.csv)
            try #require(fromCSV.count == 2000)
            // The nulls the comparison must carry: created, every 5th row.
            try #require(fromCSV.filter { $0[2].isNull }.count == 400)
            for file in files {
                do {
                    let fromParquet = try ingested(dir.file(file))
                    guard fromParquet.count == fromCSV.count else {
                        throw OracleMismatch("\(fromParquet.count) rows read back, the CSV's ingest has \(fromCSV.count)")
                    }
                    if let r = fromCSV.indices.first(where: { !Self.same(fromCSV[$0], fromParquet[$0]) }) {
                        let differing = zip(fromCSV, fromParquet).filter { !Self.same($0, $1) }.count
                        throw OracleMismatch(
                            "\(differing) rows differ from the CSV's ingest; the first, row \(r + 1): \(fromParquet[r]), CSV \(fromCSV[r])")
                    }
                } catch {
                    Issue.record("\(file): \(error)")
                }
            }
        }
    }

    /// Rows equal value for value, in the same storage class, doubles to the bit (GRDB's `==`
    /// takes 1 and 1.0 as equal, and -0.0 and 0.0).
    static func same(_ a: [DatabaseValue], _ b: [DatabaseValue]) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { x, y in
                switch (x.storage, y.storage) {
                case (.double(let p), .double(let q)): p.bitPattern == q.bitPattern
                default: x.storage == y.storage
                }
            }
    }
}

private struct OracleMismatch: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
