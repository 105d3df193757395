import Features
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// `entityKeys` of either store: the entity keys `larder verify` samples from.
@Suite struct EntityKeysTests {
    @Test(arguments: Backend.allCases)
    func eachMaterializedKeyOncePerTableInKeyOrder(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        func keys(of view: FeatureView) async throws -> [[Value]] {
            var out: [[Value]] = []
            for try await batch in store.entityKeys(of: view) { out += batch }
            return out
        }

        // Never materialized: no tables, no keys.
        #expect(try await keys(of: driverTrips).isEmpty)

        _ = try await store.ingest(
            source: "trips",
            file: dir.write(
                "trips.csv",
                """
                driver_id,event_timestamp,fare,distance_km
                3,2026-01-01T00:00:00Z,10,2
                1,2026-01-01T00:10:00Z,11,3
                3,2026-01-01T00:20:00Z,12,4
                2,2026-01-01T00:30:00Z,13,5
                1,2026-01-01T05:00:00Z,14,6

                """), format: nil, allowEmpty: false, progress: nil)
        _ = try await store.materialize(
            driverTrips, mode: .range(start: nil, end: try Timestamp(rfc3339: "2026-01-02T00:00:00Z")), now: .now(), progress: nil)
        // The feature table's keys, then the tile table's (the view has aggregations).
        let expected: [[Value]] = [[.int64(1)], [.int64(2)], [.int64(3)]]
        #expect(try await keys(of: driverTrips) == expected + expected)
        // A view without aggregations: its feature table only.
        _ = try await store.ingest(
            source: "driver_stats",
            file: dir.write(
                "stats.csv",
                """
                driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips
                7,2026-01-01T00:00:00Z,,0.1,0.2,3
                5,2026-01-01T00:00:00Z,,0.1,0.2,3
                7,2026-01-01T01:00:00Z,,0.1,0.2,3

                """), format: nil, allowEmpty: false, progress: nil)
        _ = try await store.materialize(
            driverHourlyStats, mode: .range(start: nil, end: try Timestamp(rfc3339: "2026-01-02T00:00:00Z")), now: .now(), progress: nil)
        #expect(try await keys(of: driverHourlyStats) == [[.int64(5)], [.int64(7)]])
    }
}
