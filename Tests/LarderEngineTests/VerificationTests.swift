import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import LarderTestSupport
import Testing

/// `larder verify`'s engine in process: a real SQLite store, a real redis-server, the example
/// repository (features/). The recomputation runs in memory.
@Suite struct VerificationTests {
    let dir: TemporaryDirectory
    let redis: RedisServer
    let offline: OfflineStore
    let online: OnlineStore
    /// The start of the current hour: the latest stats rows are stamped with it.
    let hour: Int64

    static let hourMicros: Int64 = 3_600_000_000
    static let drivers = 1...30
    static let statsHeader = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"

    static func iso(_ t: Int64) -> String { Timestamp(microseconds: t).description }
    static func convRate(driver: Int, hoursAgo: Int) -> Double { Double((driver * 7 + hoursAgo * 3) % 16 + 1) / 32 }

    init() throws {
        dir = try TemporaryDirectory()
        redis = try RedisServer()
        offline = try OfflineStore(path: dir.file("offline.sqlite"))
        online = OnlineStore(client: try RedisClient(url: redis.url, poolSize: 1))
        try offline.registry.apply(try offline.registry.plan(for: Features.repository))
        hour = Timestamp.now().microseconds / Self.hourMicros * Self.hourMicros
    }

    /// Three hours of stats for drivers 1-20 and a day of trips for 1-30, materialized up to
    /// now and pushed to Redis as `larder materialize` does.
    func ingestMaterializeAndPush() throws {
        var stats = Self.statsHeader
        for h in 0..<3 {
            let t = hour - Int64(h) * Self.hourMicros
            for d in 1...20 {
                stats +=
                    "\(d),\(Self.iso(t)),\(Self.iso(t + 300_000_000)),\(Self.convRate(driver: d, hoursAgo: h)),0.\(d % 10)5,\(d * 3 + h)\n"
            }
        }
        var trips = "driver_id,event_timestamp,fare,distance_km\n"
        var rng = SeededGenerator(seed: 4)
        let now = Timestamp.now().microseconds
        for _ in 0..<600 {
            let t = now - Int64.random(in: 60_000_000..<(24 * Self.hourMicros), using: &rng)
            trips +=
                "\(Int.random(in: Self.drivers, using: &rng)),\(Self.iso(t)),\(Double(Int.random(in: 300...8000, using: &rng)) / 100),\(Double(Int.random(in: 0...4000, using: &rng)) / 100)\n"
        }
        _ = try offline.ingest(source: "driver_stats", file: dir.write("stats.csv", stats))
        _ = try offline.ingest(source: "trips", file: dir.write("trips.csv", trips))
        let end = Timestamp(microseconds: Timestamp.now().microseconds + 1)
        for view in [driverHourlyStats, driverTrips] {
            let summary = try offline.materialize(view, mode: .range(start: nil, end: end))
            let (spec, version) = try offline.registeredView(view)
            let layout = OnlineViewLayout(project: "test", spec: spec, version: version)
            try offline.latestRows(of: view, end: summary.state.end) { _ = try online.writeSync($0, layout: layout) }
            if !view.aggregations.isEmpty {
                try offline.retainedTiles(of: view, from: nil) {
                    _ = try online.writeTilesSync($0, layout: OnlineTiles(view: layout, tiles: view.tileLayout))
                }
            }
        }
    }

    func verify(sample: Int = 100) throws -> VerificationReport {
        let deployment = try Deployment.load(repository: Features.repository, offline: offline, project: "test")
        return try VerificationRun.sampled(
            deployment, offline: offline, online: online,
            requested: try Features.repository.resolve(serviceNamed: "driver_ranking"), sample: sample, seed: 0, at: nil)
    }

    func tally(_ report: VerificationReport, _ reference: String) throws -> FeatureComparison {
        try #require(report.comparisons.first { $0.feature == reference }, "no tally of \(reference)")
    }

    @Test func aCleanPushVerifiesConsistent() throws {
        try ingestMaterializeAndPush()
        let report = try verify()
        #expect(report.sampled == Self.drivers.count)
        #expect(report.newer == 0)
        #expect(report.features.map(\.reference) == report.comparisons.map(\.feature))
        #expect(report.comparisons.count == 10)
        for c in report.comparisons {
            #expect(c.isConsistent, "\(c.feature): \(c.examples)")
            #expect(c.compared == Self.drivers.count, "\(c.feature)")
            #expect(c.equal > 0, "\(c.feature) compared no value")
        }
        // Drivers 21-30 have trips but no stats: null on both sides, for the view and its
        // on-demand features alike.
        #expect(try tally(report, "driver_hourly_stats:conv_rate").bothNull == 10)
        #expect(try tally(report, "transformed_conv_rate:conv_rate_plus_val1").bothNull >= 10)
    }

    @Test func aCorrectedOfflineRowIsReportedAsMismatched() throws {
        try ingestMaterializeAndPush()
        #expect(try verify().comparisons.allSatisfy(\.isConsistent))

        // Driver 1's latest conv_rate is corrected (same event time, created later) in the
        // offline store only: materialized, never pushed.
        let served = Self.convRate(driver: 1, hoursAgo: 0)
        let corrected = served + 0.25
        let fix = Self.statsHeader + "1,\(Self.iso(hour)),\(Self.iso(hour + 600_000_000)),\(corrected),0.15,3\n"
        _ = try offline.ingest(source: "driver_stats", file: dir.write("fix.csv", fix))
        _ = try offline.materialize(driverHourlyStats, mode: .incremental(end: Timestamp(microseconds: Timestamp.now().microseconds + 1)))

        let report = try verify()
        let conv = try tally(report, "driver_hourly_stats:conv_rate")
        #expect(conv.mismatched == 1)
        #expect(!conv.isConsistent)
        let example = try #require(conv.examples.first)
        #expect(example.agreement == .mismatched)
        #expect(example.context.hasPrefix("driver_id=1,"), "\(example.context)")
        #expect(example.online == .double(served))
        #expect(example.offline == .double(corrected))
        // The other features of the row agree; acc_rate was corrected to the value it had.
        for reference in ["driver_hourly_stats:avg_daily_trips", "driver_trips:trips_1h", "driver_trips:fare_sum_24h"] {
            #expect(try tally(report, reference).isConsistent, "\(reference)")
        }
    }
}
