import Features
import Foundation
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The statistics materialization runs record, in either store: over the feature table as it
/// stands after each run, whether the run observed what it wrote, merged it into the previous
/// run's, or read the table again.
@Suite struct RunStatisticsTests {
    static let header = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
    static let day = try! Timestamp(rfc3339: "2026-01-01T00:00:00Z").microseconds
    static let end = Timestamp(microseconds: day + 86_400_000_000)

    /// Rows of driver_stats at minutes `minutes` of the day (seeded values), and the values
    /// of its features, in the feature table's order: conv_rate, acc_rate, avg_daily_trips.
    static func rows(minutes: Range<Int>, seed: UInt64) -> (csv: String, values: [[Value]]) {
        var random = SeededGenerator(seed: seed)
        var csv = header
        var values: [[Value]] = []
        for minute in minutes {
            let conv = Double(Int.random(in: 0..<1_000_000, using: &random)) / 1e6
            let acc = Double.random(in: 0..<1, using: &random)
            let trips = Int64.random(in: 0...500, using: &random)
            let time = Timestamp(microseconds: day + Int64(minute) * 60_000_000)
            csv += "\(minute % 37),\(time),,\(conv),\(acc),\(trips)\n"
            values.append([.double(conv), .double(acc), .int64(trips)])
        }
        return (csv, values)
    }

    /// Statistics of `values`, observed one by one: what the table holds.
    static func expected(_ values: [[Value]]) -> [String: FeatureStatistics] {
        var out: [String: FeatureStatistics] = [:]
        for (index, (name, type)) in [("conv_rate", ValueType.double), ("acc_rate", .double), ("avg_daily_trips", .int64)].enumerated() {
            var statistics = FeatureStatistics(type: type)!
            for row in values { statistics.observe(row[index]) }
            out[name] = statistics
        }
        return out
    }

    /// The exact parts are equal (counts, range, sums: mean and std bit for bit, distinct
    /// registers); quantiles, which a merge samples differently, within their rank error.
    static func expectSame(_ actual: [String: FeatureStatistics], _ expected: [String: FeatureStatistics], values: [[Value]]) {
        #expect(Set(actual.keys) == Set(expected.keys))
        for (name, want) in expected {
            guard let got = actual[name] else { continue }
            #expect(got.count == want.count, "\(name)")
            #expect(got.nullCount == want.nullCount, "\(name)")
            #expect(got.min == want.min && got.max == want.max, "\(name)")
            #expect(got.mean == want.mean && got.standardDeviation == want.standardDeviation, "\(name)")
            #expect(got.distinctCount == want.distinctCount, "\(name)")
            // Each quantile's true rank is within the stated error of its probability.
            let column = values.compactMap { row -> Double? in
                switch row[["conv_rate", "acc_rate", "avg_daily_trips"].firstIndex(of: name)!] {
                case .double(let d): d
                case .int64(let i): Double(i)
                default: nil
                }
            }.sorted()
            for quantile in got.quantiles ?? [] {
                let v: Double =
                    switch quantile.value {
                    case .double(let d): d
                    case .int64(let i): Double(i)
                    default: .nan
                    }
                let below = Double(column.count { $0 < v }) / Double(column.count)
                let atOrBelow = Double(column.count { $0 <= v }) / Double(column.count)
                let error = FeatureStatistics.quantileRankError
                #expect(
                    quantile.probability >= below - error && quantile.probability <= atOrBelow + error,
                    "\(name) p\(quantile.probability): \(v) has rank \(below)…\(atOrBelow)")
            }
        }
    }

    func open(_ backend: Backend, _ dir: TemporaryDirectory) async throws -> any OfflineBackend {
        let store = try await backend.open(dir)
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        return store
    }

    func ingest(_ store: any OfflineBackend, _ dir: TemporaryDirectory, _ name: String, _ csv: String) async throws {
        _ = try await store.ingest(source: "driver_stats", file: dir.write(name, csv), format: nil, allowEmpty: false, progress: nil)
    }

    func lastRun(_ store: any OfflineBackend) async throws -> MaterializationRun {
        try #require(try await store.materializationRuns(view: "driver_hourly_stats", version: 1, limit: 1).first)
    }

    @Test(arguments: Backend.allCases)
    func eachRunRecordsTheStatisticsOfTheWholeTable(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await open(backend, dir)
        defer { store.close() }

        // A first run: the rows written are the table.
        let first = Self.rows(minutes: 0..<600, seed: 1)
        try await ingest(store, dir, "a.csv", first.csv)
        let run1 = try await store.materialize(driverHourlyStats, mode: .range(start: nil, end: Self.end), now: .now(), progress: nil)
        var recorded = try await lastRun(store)
        #expect(recorded.id == run1.runID && recorded.rows == 600)
        #expect(recorded.newestEvent == Timestamp(microseconds: Self.day + 599 * 60_000_000))
        Self.expectSame(recorded.statistics, Self.expected(first.values), values: first.values)

        // An incremental run adding rows merges them into the first run's statistics.
        let second = Self.rows(minutes: 600..<1000, seed: 2)
        try await ingest(store, dir, "b.csv", second.csv)
        let run2 = try await store.materialize(driverHourlyStats, mode: .incremental(end: Self.end), now: .now(), progress: nil)
        #expect(run2.incremental && run2.rows == 400)
        recorded = try await lastRun(store)
        let all = first.values + second.values
        Self.expectSame(recorded.statistics, Self.expected(all), values: all)
        #expect(recorded.newestEvent == Timestamp(microseconds: Self.day + 999 * 60_000_000))

        // A range re-run rewrites rows already in the table: it reads the table again rather
        // than counting them twice.
        _ = try await store.materialize(
            driverHourlyStats, mode: .range(start: Timestamp(microseconds: Self.day), end: Self.end), now: .now(), progress: nil)
        recorded = try await lastRun(store)
        Self.expectSame(recorded.statistics, Self.expected(all), values: all)

        // Late rows written by a range run beyond the coverage, then an incremental run that
        // writes them again: still each row once.
        let late = Self.rows(minutes: 1500..<1600, seed: 3)
        try await ingest(store, dir, "c.csv", late.csv)
        let beyond = Timestamp(microseconds: Self.day + 1440 * 60_000_000 + 86_400_000_000)
        _ = try await store.materialize(
            driverHourlyStats, mode: .range(start: Timestamp(microseconds: Self.day + 1500 * 60_000_000), end: beyond), now: .now(),
            progress: nil)
        _ = try await store.materialize(driverHourlyStats, mode: .incremental(end: beyond), now: .now(), progress: nil)
        recorded = try await lastRun(store)
        Self.expectSame(recorded.statistics, Self.expected(all + late.values), values: all + late.values)

        // Every run is listed, newest first, each with its own statistics.
        let runs = try await store.materializationRuns(view: "driver_hourly_stats", version: 1, limit: 10)
        #expect(runs.map(\.statistics["conv_rate"]?.count) == [1100, 1100, 1000, 1000, 600])
        #expect(runs.map(\.id) == runs.map(\.id).sorted(by: >))
    }

    @Test(arguments: Backend.allCases)
    func driftIsMeasuredAgainstTheFirstRunOrAPinnedOne(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await open(backend, dir)
        defer { store.close() }
        #expect(try await store.statisticsReference(view: "driver_hourly_stats", version: 1) == nil)
        let first = Self.rows(minutes: 0..<500, seed: 4)
        try await ingest(store, dir, "a.csv", first.csv)
        let run1 = try await store.materialize(driverHourlyStats, mode: .range(start: nil, end: Self.end), now: .now(), progress: nil)
        // A shift: the next rows' conv_rate is ten times smaller.
        let shifted = Self.rows(minutes: 500..<1400, seed: 5)
        let csv = shifted.csv.split(separator: "\n").enumerated().map { i, line -> String in
            guard i > 0 else { return String(line) }
            var fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields[3] = "\(Double(fields[3])! / 10)"
            return fields.joined(separator: ",")
        }.joined(separator: "\n")
        try await ingest(store, dir, "b.csv", csv + "\n")
        let run2 = try await store.materialize(driverHourlyStats, mode: .incremental(end: Self.end), now: .now(), progress: nil)

        var reference = try #require(try await store.statisticsReference(view: "driver_hourly_stats", version: 1))
        #expect(reference.run.id == run1.runID && !reference.pinned)
        let runs = try await store.materializationRuns(view: "driver_hourly_stats", version: 1, limit: 5)
        let conv = { (run: MaterializationRun) in run.statistics["conv_rate"]! }
        #expect(conv(runs[1]).drift(against: conv(reference.run)) == 0)
        #expect(try #require(conv(runs[0]).drift(against: conv(reference.run))) > 0.25)  // a significant shift
        #expect(try #require(runs[0].statistics["acc_rate"]!.drift(against: reference.run.statistics["acc_rate"]!)) < 0.05)

        try await store.pinStatisticsReference(view: "driver_hourly_stats", version: 1, run: run2.runID, at: .now())
        reference = try #require(try await store.statisticsReference(view: "driver_hourly_stats", version: 1))
        #expect(reference.run.id == run2.runID && reference.pinned)
        try await store.pinStatisticsReference(view: "driver_hourly_stats", version: 1, run: nil, at: .now())
        #expect(try await store.statisticsReference(view: "driver_hourly_stats", version: 1)?.run.id == run1.runID)

        // Only a run of this view version with statistics may be pinned.
        await #expect {
            try await store.pinStatisticsReference(view: "driver_trips", version: 1, run: run1.runID, at: .now())
        } throws: { "\($0)".contains("is a run of driver_hourly_stats v1, not of driver_trips v1") }
        await #expect {
            try await store.pinStatisticsReference(view: "driver_hourly_stats", version: 1, run: 9999, at: .now())
        } throws: { "\($0)".contains("there is no materialization run 9999") }
    }

    @Test func damagedStatisticsAreRefusedNamingTheirRun() async throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        try await ingest(store, dir, "a.csv", Self.rows(minutes: 0..<10, seed: 6).csv)
        let run = try await store.materialize(driverHourlyStats, mode: .range(start: nil, end: Self.end), now: .now(), progress: nil)
        try await store.db.write { db in
            try db.execute(
                sql: "UPDATE larder_feature_statistics SET statistics = '{\"format\":1}' WHERE run_id = ? AND feature = 'acc_rate'",
                arguments: [run.runID])
        }
        await #expect {
            _ = try await store.materializationRuns(view: "driver_hourly_stats", version: 1, limit: 1)
        } throws: { "\($0)".contains("the stored statistics of feature acc_rate in materialization run \(run.runID) are damaged") }
    }
}
