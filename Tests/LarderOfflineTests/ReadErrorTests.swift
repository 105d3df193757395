import Features
import Foundation
import GRDB
import GRDBSQLite
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// The push's offline reads (the latest row per entity, the retained tiles) when SQLite fails a
/// step: the read fails, naming the table and SQLite's message. A failed step is never taken
/// for "this entity has no row", which would leave the entity out of a push that still records
/// success.
@Suite struct ReadErrorTests {
    let dir: TemporaryDirectory
    let store: OfflineStore
    let end: Timestamp

    init() throws {
        dir = try TemporaryDirectory()
        store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
        end = try Timestamp(rfc3339: "2026-02-01T00:00:00Z")
    }

    /// Materializes `driver_hourly_stats` for 2000 drivers, one row each (so every leaf page of
    /// the feature table holds some driver's latest row).
    func materializeStats() throws {
        var csv = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        for driver in 0..<2000 { csv += "\(driver),2026-01-01T00:00:00Z,,0.5,0.25,\(driver)\n" }
        _ = try store.ingest(source: "driver_stats", file: dir.write("stats.csv", csv))
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: end))
    }

    func latestRows(_ store: OfflineStore) async throws -> [FeatureRow] {
        var rows: [FeatureRow] = []
        for try await batch in store.latestRows(of: driverHourlyStats, end: end) { rows += batch }
        return rows
    }

    /// Tiles read per driver.
    func retainedTiles() async throws -> [Value: Int] {
        var tiles: [Value: Int] = [:]
        for try await batch in store.retainedTiles(of: driverTrips, from: nil) {
            for entity in batch { tiles[entity.keys[0], default: 0] += entity.tiles.count }
        }
        return tiles
    }

    @Test func anInterruptedLatestRowReadFailsTheReadNamingTheTable() async throws {
        try materializeStats()
        #expect(try await latestRows(store).count == 2000)
        let (spec, version) = try await store.registeredView(driverHourlyStats)
        let latestSQL = FeatureTable(view: spec, version: version).latestSQL
        let interrupt = try InterruptOnce(store) { $0 == latestSQL }
        defer { interrupt.remove() }

        let error = await #expect(throws: OfflineStoreError.self) { try await latestRows(store) }
        #expect(interrupt.fired)
        #expect(error?.description == "reading features_driver_hourly_stats_v1: interrupted")
    }

    @Test func anInterruptedNewestTileReadFailsTheReadNamingTheTable() async throws {
        let trips = """
            driver_id,event_timestamp,fare,distance_km
            1,2026-01-01T00:00:00Z,10,2
            1,2026-01-01T05:00:00Z,11,3
            2,2026-01-01T00:30:00Z,13,5

            """
        _ = try await store.ingest(source: "trips", file: dir.write("trips.csv", trips))
        _ = try await store.materialize(driverTrips, mode: .range(start: nil, end: end))
        #expect(Set(try await retainedTiles().keys) == [.int64(1), .int64(2)])
        // The seek for an entity's newest tile of a hop size.
        let interrupt = try InterruptOnce(store) { $0.contains("SELECT max(_hop_start) FROM tiles_driver_trips_v1") }
        defer { interrupt.remove() }

        let error = await #expect(throws: OfflineStoreError.self) { try await retainedTiles() }
        #expect(interrupt.fired)
        #expect(error?.description == "reading tiles_driver_trips_v1: interrupted")
    }

    /// A damaged disk under the feature table (not its key index): the key scan works, the
    /// read of the rows of some entities fails.
    @Test func aCorruptFeatureTableFailsTheReadNamingTheTable() async throws {
        try materializeStats()
        let table = "features_driver_hourly_stats_v1"
        let page = try await store.db.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path LIMIT 1 OFFSET 1",
                arguments: [table])
        }
        let damaged = try zero(page: try #require(page))

        let error = await #expect(throws: OfflineStoreError.self) { try await latestRows(damaged) }
        #expect(error?.description == "reading \(table): database disk image is malformed")
    }

    /// Zeroes page `page` of the store's file, as a failing disk would, and reopens the store.
    /// The write-ahead log is checkpointed into the file first and the store closed, so no copy
    /// of the page survives in the log, the page cache or the memory map.
    func zero(page: Int64) throws -> OfflineStore {
        let pageSize = try store.db.read { db in try Int64.fetchOne(db, sql: "PRAGMA page_size")! }
        try store.db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try store.db.close()
        let file = try #require(FileHandle(forUpdatingAtPath: store.path))
        try file.seek(toOffset: UInt64((page - 1) * pageSize))
        try file.write(contentsOf: Data(count: Int(pageSize)))
        try file.close()
        return try OfflineStore(path: store.path)
    }
}

/// Fails one step of one statement with `SQLITE_INTERRUPT`, as `sqlite3_interrupt` from another
/// thread would (a busy or I/O error ends a step the same way): a progress handler on the
/// store's reader connection, the one its next read reuses (reads here are one at a time).
final class InterruptOnce: @unchecked Sendable {
    private let store: OfflineStore
    private let matches: (String) -> Bool
    private var connection: OpaquePointer?
    /// Whether the statement was interrupted.
    private(set) var fired = false

    init(_ store: OfflineStore, statement matches: @escaping (String) -> Bool) throws {
        self.store = store
        self.matches = matches
        let context = Unmanaged.passUnretained(self).toOpaque()
        try store.db.read { db in
            connection = db.sqliteConnection  // before the handler runs (this read's own end runs it)
            sqlite3_progress_handler(
                db.sqliteConnection, 1,
                { context in
                    Unmanaged<InterruptOnce>.fromOpaque(context!).takeUnretainedValue().interruptsNow() ? 1 : 0
                }, context)
        }
    }

    /// Called between virtual machine instructions: true (interrupt) once, while a statement
    /// that `matches` runs.
    private func interruptsNow() -> Bool {
        guard !fired else { return false }
        var statement = sqlite3_next_stmt(connection, nil)
        while let current = statement {
            if sqlite3_stmt_busy(current) != 0, let sql = sqlite3_sql(current), matches(String(cString: sql)) {
                fired = true
                return true
            }
            statement = sqlite3_next_stmt(connection, current)
        }
        return false
    }

    /// Removes the handler.
    func remove() {
        _ = try? store.db.read { db in sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil) }
    }
}
