import Features
import Foundation
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The statistics a materialization run records, against pandas on the benchmark's data: the
/// generator and parameters of `bench.py offline` (hourly driver stats with 2 % of rows
/// missing), at a tenth of its drivers (98,000 rows).
@Suite struct StatisticsOracleTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theyAgreeWithPandasOnTheBenchmarkData() async throws {
        let dir = try TemporaryDirectory()
        let csv = dir.file("driver_stats.csv")
        _ = try await PythonOracle.run(
            Self.repositoryRoot.appendingPathComponent("scripts/generate_data.py").path,
            ["driver_stats", csv, "--drivers", "1000", "--hours", "100", "--missing", "0.02", "--end", "2026-01-05T03:00:00Z"])
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        _ = try await store.ingest(source: "driver_stats", file: csv, format: nil, allowEmpty: false, progress: nil)
        _ = try await store.materialize(
            driverHourlyStats, mode: .range(start: nil, end: try Timestamp(rfc3339: "2026-01-06T00:00:00Z")), now: .now(), progress: nil)
        let run = try #require(try await store.materializationRuns(view: "driver_hourly_stats", version: 1, limit: 1).first)

        func number(_ value: Value?) -> Double? {
            switch value {
            case .double(let d)?: d
            case .int64(let i)?: Double(i)
            default: nil
            }
        }
        var quantiles: [String: [[Double]]] = [:]
        for (name, statistics) in run.statistics {
            quantiles[name] = (statistics.quantiles ?? []).map { [$0.probability, number($0.value)!] }
        }
        let request = try dir.write("quantiles.json", String(decoding: try JSONEncoder().encode(quantiles), as: UTF8.self))
        let oracle = Self.repositoryRoot.appendingPathComponent("Tests/LarderOfflineTests/Oracles/feature_statistics.py").path
        let output = try await PythonOracle.run(oracle, [dir.file("offline.sqlite"), "features_driver_hourly_stats_v1", request])
        let pandas = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]])

        #expect(Set(pandas.keys) == ["conv_rate", "acc_rate", "avg_daily_trips"])
        for (name, expected) in pandas {
            let got = try #require(run.statistics[name])
            func close(_ a: Double?, _ b: Any?, _ what: String) {
                let b = (b as? NSNumber)?.doubleValue ?? .nan
                let tolerance = 1e-12 * Swift.max(abs(b), 1e-300)
                #expect(a != nil && abs(a! - b) <= tolerance, "\(name) \(what): Larder \(String(describing: a)), pandas \(b)")
            }
            #expect(got.count == expected["count"] as? Int, "\(name) count")
            #expect(got.count > 90_000)
            #expect(got.nullCount == expected["nulls"] as? Int, "\(name) nulls")
            close(number(got.min), expected["min"], "min")
            close(number(got.max), expected["max"], "max")
            close(got.mean, expected["mean"], "mean")
            close(got.standardDeviation, expected["std"], "std")
            // Distinct counts: within 3 standard errors of the HyperLogLog estimate.
            let distinct = Double(try #require(expected["nunique"] as? Int))
            #expect(
                abs(Double(got.distinctCount) - distinct) <= 3 * FeatureStatistics.distinctCountRelativeStandardError * distinct,
                "\(name) distinct: Larder \(got.distinctCount), pandas \(distinct)")
            // Quantiles: each estimate's true rank within the stated rank error of its probability.
            let ranks = try #require(expected["ranks"] as? [[Double]])
            #expect(ranks.count == 9)
            for rank in ranks {
                let (p, below, atOrBelow) = (rank[0], rank[1], rank[2])
                #expect(
                    p >= below - FeatureStatistics.quantileRankError && p <= atOrBelow + FeatureStatistics.quantileRankError,
                    "\(name) p\(p): rank \(below)…\(atOrBelow)")
            }
        }
    }
}
