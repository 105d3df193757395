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
    let redis: TestRedis
    let offline: OfflineStore
    let online: OnlineStore
    /// The start of the current hour: the latest stats rows are stamped with it.
    let hour: Int64

    static let hourMicros: Int64 = 3_600_000_000
    static let drivers = 1...30
    static let statsHeader = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"

    static func iso(_ t: Int64) -> String { Timestamp(microseconds: t).description }
    static func convRate(driver: Int, hoursAgo: Int) -> Double { Double((driver * 7 + hoursAgo * 3) % 16 + 1) / 32 }

    init() async throws {
        dir = try TemporaryDirectory()
        redis = try await TestRedis.start()
        offline = try OfflineStore(path: dir.file("offline.sqlite"))
        online = OnlineStore(redis: try OnlineRedisURL(redis.url).client(poolSize: 1))
        try await offline.registry.apply(try offline.registry.plan(for: Features.repository))
        hour = Timestamp.now().microseconds / Self.hourMicros * Self.hourMicros
    }

    /// Three hours of stats for drivers 1-20 and a day of trips for 1-30, materialized up to
    /// now and pushed to Redis as `larder materialize` does.
    func ingestMaterializeAndPush() async throws {
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
        _ = try await offline.ingest(source: "driver_stats", file: dir.write("stats.csv", stats))
        _ = try await offline.ingest(source: "trips", file: dir.write("trips.csv", trips))
        let end = Timestamp(microseconds: Timestamp.now().microseconds + 1)
        for view in [driverHourlyStats, driverTrips] {
            let summary = try await offline.materialize(view, mode: .range(start: nil, end: end))
            _ = try await MaterializedPush.push(view, summary: summary, store: offline, online: online, project: "test")
        }
    }

    func verify(sample: Int = 100) async throws -> VerificationReport {
        let deployment = try await Deployment.load(repository: Features.repository, offline: offline, project: "test")
        return try await VerificationRun.sampled(
            deployment, offline: offline, online: online,
            requested: try Features.repository.resolve(serviceNamed: "driver_ranking"), sample: sample, seed: 0, at: nil)
    }

    func tally(_ report: VerificationReport, _ reference: String) throws -> FeatureComparison {
        try #require(report.comparisons.first { $0.feature == reference }, "no tally of \(reference)")
    }

    @Test func aCleanPushVerifiesConsistent() async throws {
        try await ingestMaterializeAndPush()
        let report = try await verify()
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

    @Test func aCorrectedOfflineRowIsReportedAsMismatched() async throws {
        try await ingestMaterializeAndPush()
        #expect(try await verify().comparisons.allSatisfy(\.isConsistent))

        // Driver 1's latest conv_rate is corrected (same event time, created later) in the
        // offline store only: materialized, never pushed.
        let served = Self.convRate(driver: 1, hoursAgo: 0)
        let corrected = served + 0.25
        let fix = Self.statsHeader + "1,\(Self.iso(hour)),\(Self.iso(hour + 600_000_000)),\(corrected),0.15,3\n"
        _ = try await offline.ingest(source: "driver_stats", file: dir.write("fix.csv", fix))
        _ = try await offline.materialize(
            driverHourlyStats, mode: .incremental(end: Timestamp(microseconds: Timestamp.now().microseconds + 1)))

        let report = try await verify()
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
