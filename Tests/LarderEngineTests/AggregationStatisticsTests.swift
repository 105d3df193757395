import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderTestSupport
import Testing

/// Aggregation features' statistics describe what would be served at a run's end: they equal
/// the statistics of the point-in-time values a training set computes for every entity at
/// that instant (the rule `larder verify` proves online and offline agree on).
@Suite struct AggregationStatisticsTests {
    @Test func theyAreTheStatisticsOfTheValuesEveryEntityWouldBeServed() async throws {
        let dir = try TemporaryDirectory()
        let store = try OfflineStore(path: dir.file("offline.sqlite"))
        defer { store.close() }
        try await store.registry.apply(try store.registry.plan(for: Features.repository))
        let start = try Timestamp(rfc3339: "2026-01-01T00:00:00Z").microseconds
        var random = SeededGenerator(seed: 17)
        var csv = "driver_id,event_timestamp,fare,distance_km\n"
        for i in 0..<3000 {
            // 60 drivers over three days; some drivers only early, so their recent windows are empty.
            let driver = Int.random(in: 0..<60, using: &random)
            let minute = driver < 10 ? Int.random(in: 0..<1440, using: &random) : Int.random(in: 0..<4320, using: &random)
            let fare = Double(Int.random(in: 300...9000, using: &random)) / 100
            csv +=
                "\(driver),\(Timestamp(microseconds: start + Int64(minute) * 60_000_000 + Int64(i))),\(fare),\(Double.random(in: 0...30, using: &random))\n"
        }
        _ = try await store.ingest(source: "trips", file: dir.write("trips.csv", csv), format: nil, allowEmpty: false, progress: nil)
        let end = Timestamp(microseconds: start + 3 * 86_400_000_000)
        let summary = try await store.materialize(driverTrips, mode: .range(start: nil, end: end), now: .now(), progress: nil)
        let entities = try await AggregationStatistics.record(for: driverTrips, run: summary, offline: store)
        #expect(entities == 60)

        // The oracle: every driver's values at the run's last instant, through the training-set path.
        let names = driverTrips.aggregations.map(\.name)
        let features = try Features.repository.resolve(references: names.map { "driver_trips:\($0)" })
        let instant = Timestamp(microseconds: end.microseconds - 1)
        let rows = RequestRows(columns: ["driver_id", "at"], rows: (0..<60).map { [.int64(Int64($0)), .timestamp(instant)] })
        let values = try await store.trainingSetValues(of: features, for: rows, timestampColumn: "at", repository: Features.repository)
        let run = try #require(try await store.materializationRuns(view: "driver_trips", version: 1, limit: 1).first)
        #expect(run.id == summary.runID)
        for (index, aggregation) in driverTrips.aggregations.enumerated() {
            var expected = try #require(FeatureStatistics(type: aggregation.type))
            for row in values { expected.observe(row[index]) }
            let recorded = try #require(run.statistics[aggregation.name], "\(aggregation.name)")
            #expect(recorded.count == expected.count && recorded.nullCount == expected.nullCount, "\(aggregation.name)")
            #expect(recorded.min == expected.min && recorded.max == expected.max, "\(aggregation.name)")
            #expect(recorded.mean == expected.mean, "\(aggregation.name)")
            #expect(recorded.distinctCount == expected.distinctCount, "\(aggregation.name)")
        }
        // Some windows are empty at the end (drivers seen only on the first day): counts and
        // sums of 0 among the values.
        #expect(run.statistics["trips_1h"]!.min == .int64(0))
        #expect(run.statistics["fare_sum_24h"]!.min == .double(0))
        // The row feature's statistics came with the run itself.
        #expect(run.statistics["fare_per_km"]?.count == 3000)

        // The report the catalog and describe --stats show.
        let spec = try await store.registeredView(driverTrips).spec
        let report = try await ViewStatisticsReport.load(view: spec, version: 1, offline: store)
        #expect(report.features.map(\.name) == ["fare_per_km"] + names)
        #expect(report.features.map(\.kind) == ["row", "aggregation", "aggregation", "aggregation", "aggregation"])
        #expect(report.runs.map(\.id) == [summary.runID] && report.reference?.run == summary.runID)
        let histogram = try #require(report.features[0].histogram)
        #expect(histogram.map(\.count).reduce(0, +) == 3000)
        #expect(report.features[0].drift.map(\.populationStabilityIndex) == [0])
    }
}
