import Foundation
import Testing

/// `larder describe VIEW --stats` and `larder statistics-reference`, as a user runs them.
@Suite struct StatisticsCommandTests {
    let project: LarderProcess

    init() throws { project = try LarderProcess() }

    @Test func describeShowsEachRunsStatisticsAndDrift() throws {
        _ = try project.run("apply")
        let stats = try project.write("stats.csv", OfflineCommandTests.statsCSV(rows: 500))
        #expect(try project.run("ingest", "driver_stats", stats).status == 0)
        let materialize = ["materialize", "--views", "driver_hourly_stats", "--end", "2026-01-02T00:00:00Z", "--offline-only"]
        #expect(try project.run(arguments: materialize).status == 0)

        let described = try project.run("describe", "driver_hourly_stats", "--stats")
        #expect(described.status == 0, "\(described.stderr)")
        let text = described.stdout
        #expect(text.contains("statistics after run 1 ("))
        #expect(text.contains("drift against run 1 (the first with statistics)"))
        // avg_daily_trips is 0…499, once each: exact count, range, mean and std; an estimated
        // distinct count. acc_rate is 0.5 throughout: one bin of its own.
        #expect(text.contains("  avg_daily_trips (int64, row)"))
        #expect(text.contains("count 500  nulls 0  min 0  max 499  mean 249.5  std 144.482  distinct "))
        #expect(text.contains("histogram: < 0.5: 0 | 0.5: 500 | ≥ 0.5: 0"))
        #expect(text.contains("drift (PSI) by run: 1: 0.0000"))

        let json = try project.run("describe", "driver_hourly_stats", "--stats", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let statistics = try #require(object["statistics"] as? [String: Any])
        let features = try #require(statistics["features"] as? [[String: Any]])
        #expect(features.map { $0["name"] as? String } == ["conv_rate", "acc_rate", "avg_daily_trips"])
        let latest = try #require(features[2]["latest"] as? [String: Any])
        #expect(latest["count"] as? Int == 500 && latest["max"] as? Int == 499)
        let distinct = try #require(latest["distinct_count"] as? Int)
        #expect(abs(distinct - 500) <= 13)  // 3σ of the HyperLogLog estimate
        #expect((latest["quantiles"] as? [[String: Any]])?.count == 9)

        // A second run, pinned as the reference; then back to the first.
        #expect(try project.run(arguments: materialize).status == 0)
        let pinned = try project.run("statistics-reference", "driver_hourly_stats", "--run", "2")
        #expect(pinned.status == 0, "\(pinned.stderr)")
        #expect(pinned.stdout.contains("drift is measured against run 2, finished ") && pinned.stdout.contains("(pinned)"))
        #expect(try project.run("describe", "driver_hourly_stats", "--stats").stdout.contains("drift against run 2 (pinned)"))
        let unpinned = try project.run("statistics-reference", "driver_hourly_stats", "--first")
        #expect(unpinned.stdout.contains("against run 1") && unpinned.stdout.contains("the first with statistics"))

        // Refusals: a run of another view, an on-demand view, a source, both flags.
        let other = try project.run("statistics-reference", "driver_trips", "--run", "1")
        #expect(
            other.status != 0 && other.stderr.contains("materialization run 1 is a run of driver_hourly_stats v1, not of driver_trips v1"))
        let onDemand = try project.run("describe", "transformed_conv_rate", "--stats")
        #expect(onDemand.status != 0 && onDemand.stderr.contains("on-demand view: its features are computed per request"))
        let source = try project.run("describe", "driver_stats", "--stats")
        #expect(source.status != 0 && source.stderr.contains("--stats is for feature views; driver_stats is a source"))
        let both = try project.run("statistics-reference", "driver_hourly_stats", "--run", "1", "--first")
        #expect(both.status != 0 && both.stderr.contains("give one of them"))
    }
}
