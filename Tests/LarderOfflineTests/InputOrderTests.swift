import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The order a file arrives in (by time, or grouped by entity, as per-entity exports come)
/// changes how ingest and materialization do their work (a large ingest builds its indexes
/// after the rows; a run over most of a source reads it in table order), never the results.
@Suite struct InputOrderTests {
    let dir: TemporaryDirectory
    let end: Timestamp

    init() throws {
        dir = try TemporaryDirectory()
        end = try Timestamp(rfc3339: "2026-01-03T00:00:00Z")
    }

    /// 300 drivers × 40 hours of statistics, and 6,000 trips, time-ordered; and the same rows
    /// grouped by driver.
    func files() throws -> (byTime: (stats: String, trips: String), byEntity: (stats: String, trips: String)) {
        var rng = SeededGenerator(seed: 13)
        var stats: [(driver: Int, time: Int, line: String)] = []
        for hour in 0..<40 {
            for driver in 1001...1300 where Int.random(in: 0..<10, using: &rng) > 0 {
                let t = "2026-01-01T\(String(format: "%02d", hour % 24)):00:00Z".replacingOccurrences(
                    of: "2026-01-01", with: hour < 24 ? "2026-01-01" : "2026-01-02")
                stats.append(
                    (driver, hour, "\(driver),\(t),,\(Double.random(in: 0..<1, using: &rng)),0.5,\(Int.random(in: 0..<100, using: &rng))"))
            }
        }
        var trips: [(driver: Int, time: Int, line: String)] = []
        for _ in 0..<6000 {
            let driver = Int.random(in: 1001...1300, using: &rng)
            let second = Int.random(in: 0..<(2 * 86400 - 1), using: &rng)
            let t = Timestamp(microseconds: try Timestamp(rfc3339: "2026-01-01T00:00:00Z").microseconds + Int64(second) * 1_000_000)
            trips.append((driver, second, "\(driver),\(t),\(Double(Int.random(in: 300..<8000, using: &rng)) / 100),1.5"))
        }
        trips.sort { $0.time < $1.time }
        func write(_ name: String, _ header: String, _ rows: [(driver: Int, time: Int, line: String)]) throws -> String {
            try dir.write(name, ([header] + rows.map(\.line)).joined(separator: "\n") + "\n")
        }
        let grouped = { (rows: [(driver: Int, time: Int, line: String)]) in
            rows.sorted { ($0.driver, $0.time) < ($1.driver, $1.time) }
        }
        let statsHeader = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips"
        let tripsHeader = "driver_id,event_timestamp,fare,distance_km"
        return (
            (try write("stats.csv", statsHeader, stats), try write("trips.csv", tripsHeader, trips)),
            (try write("stats_by_driver.csv", statsHeader, grouped(stats)), try write("trips_by_driver.csv", tripsHeader, grouped(trips)))
        )
    }

    /// A store with both files ingested and both views materialized.
    func store(_ name: String, stats: String, trips: String) async throws -> OfflineStore {
        let store = try OfflineStore(path: dir.file("\(name).sqlite"))
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        _ = try await store.ingest(source: "driver_stats", file: stats)
        _ = try await store.ingest(source: "trips", file: trips)
        for view in [driverHourlyStats, driverTrips] { _ = try await store.materialize(view, mode: .range(start: nil, end: end)) }
        return store
    }

    @Test func aFileGroupedByEntityGivesTheSameValuesAsOneInTimeOrder() async throws {
        let (byTime, byEntity) = try files()
        let timeStore = try await store("by_time", stats: byTime.stats, trips: byTime.trips)
        let entityStore = try await store("by_entity", stats: byEntity.stats, trips: byEntity.trips)

        // The ingest dropped the source's indexes and built them again after the rows.
        for store in [timeStore, entityStore] {
            let indexes = try await store.db.read { db in
                try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'source_%' ORDER BY name")
            }
            #expect(indexes.contains("source_driver_stats_by_event_time"), "\(indexes)")
            #expect(indexes.contains("source_trips_by_event_time"), "\(indexes)")
            #expect(indexes.contains { $0.hasPrefix("source_trips_agg_") }, "\(indexes)")
        }

        var rng = SeededGenerator(seed: 7)
        let start = try Timestamp(rfc3339: "2026-01-01T00:00:00Z").microseconds
        let requests = RequestRows(
            columns: ["driver_id", "event_timestamp"],
            rows: (0..<2000).map { _ in
                [
                    .int64(Int64.random(in: 1000...1301, using: &rng)),
                    .timestamp(Timestamp(microseconds: Int64.random(in: start..<end.microseconds, using: &rng))),
                ]
            })
        let features = try Features.repository.resolve(references: [
            "driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips", "driver_trips:trips_1h",
            "driver_trips:fare_sum_24h", "driver_trips:fare_mean_7d",
        ])
        let byTimeValues = try await TrainingSetBuilder(store: timeStore, repository: Features.repository).values(
            of: features, for: requests, timestampColumn: "event_timestamp")
        let byEntityValues = try await TrainingSetBuilder(store: entityStore, repository: Features.repository).values(
            of: features, for: requests, timestampColumn: "event_timestamp")
        #expect(byTimeValues == byEntityValues)
        #expect(byTimeValues.filter { !$0[0].isNull }.count > 1000)
        #expect(byTimeValues.filter { $0[2] != .int64(0) && !$0[2].isNull }.count > 100)
    }

    /// A large run builds its tiles on a second connection while the writer writes them: the
    /// tiles are byte for byte the ones the writer builds alone (over more than one batch).
    @Test func tilesBuiltOnASecondConnectionAreTheWritersOwn() throws {
        let trips = try files().byTime.trips
        var tables: [[[DatabaseValue]]] = []
        for (name, second) in [("alone", false), ("pipelined", true)] {
            let store = try OfflineStore(path: dir.file("\(name).sqlite"))
            try store.registry.apply(try store.registry.plan(for: Features.repository))
            _ = try store.ingest(source: "trips", file: trips)
            let summary = try store.materialize(driverTrips, mode: .range(start: nil, end: end), tilesOnSecondConnection: second)
            #expect(summary.tiles > TileBatch.size)
            tables.append(
                try store.rows("SELECT driver_id, _hop, _hop_start, _watermark, hex(_tile) FROM tiles_driver_trips_v1 ORDER BY 1, 2, 3"))
        }
        #expect(tables[0].count == tables[1].count)
        #expect(
            tables[0].elementsEqual(tables[1]),
            "the first differing tile: \(String(describing: zip(tables[0], tables[1]).first { $0 != $1 }))")
    }
}
