import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline
@testable import LarderPostgres

/// Materialization on PostgreSQL gives the SQLite store's feature tables and tiles, value for
/// value and byte for byte: a first run, then an incremental run with late rows.
@Suite struct PostgresMaterializeTests {
    let server: PostgresServer
    let database: String
    let url: String
    let dir: TemporaryDirectory

    init() throws {
        server = try PostgresServer.shared()
        url = try server.createDatabase()
        database = String(url.split(separator: "/").last!)
        dir = try TemporaryDirectory()
    }

    static let start = ExampleData.start

    func files(seed: UInt64, hours: ClosedRange<Int>) throws -> (stats: String, trips: String) {
        try ExampleData.files(in: dir, seed: seed, hours: hours)
    }

    /// A table's rows in a form both stores can print alike: doubles as IEEE bits, blobs as hex.
    func sqliteRows(_ store: OfflineStore, _ sql: String) throws -> [String] {
        try store.db.read { db in
            try Row.fetchAll(db, sql: sql).map { row in
                row.databaseValues.map { value -> String in
                    switch value.storage {
                    case .null: "null"
                    case .int64(let v): "\(v)"
                    case .double(let d): String(format: "%016llx", d.bitPattern)
                    case .string(let s): s
                    case .blob(let data): data.map { String(format: "%02x", $0) }.joined()
                    }
                }.joined(separator: "|")
            }
        }
    }

    func postgresRows(_ table: String, orderBy: String) throws -> [String] {
        try server.printedRows(database: database, table: table, orderBy: orderBy)
    }

    @Test func featureTablesAndTilesEqualTheSQLiteStoresAcrossIncrementalRuns() async throws {
        let sqlite = try OfflineStore(path: dir.file("offline.sqlite"))
        let postgres = try await PostgresStore(url: try PostgresURL(url, environment: [:]))
        defer {
            sqlite.close()
            postgres.close()
        }
        try await sqlite.registry.apply(try await sqlite.registry.plan(for: Features.repository))
        try await postgres.registry.apply(try await postgres.registry.plan(for: Features.repository))

        func ingest(_ files: (stats: String, trips: String)) async throws {
            for store in [sqlite as any OfflineBackend, postgres as any OfflineBackend] {
                _ = try await store.ingest(source: "driver_stats", file: files.stats, format: nil, allowEmpty: false, progress: nil)
                _ = try await store.ingest(source: "trips", file: files.trips, format: nil, allowEmpty: false, progress: nil)
            }
        }
        func compare(_ step: String) throws {
            for view in ["driver_hourly_stats", "driver_trips"] {
                let table = "features_\(view)_v1"
                let expected = try sqliteRows(sqlite, "SELECT * FROM \(table) ORDER BY _seq")
                #expect(!expected.isEmpty, "\(step): \(table)")
                #expect(try postgresRows(table, orderBy: "_seq") == expected, "\(step): \(table)")
            }
            let tiles = "tiles_driver_trips_v1"
            let expected = try sqliteRows(sqlite, "SELECT * FROM \(tiles) ORDER BY driver_id, _hop, _hop_start")
            #expect(!expected.isEmpty, "\(step): tiles")
            let actual = try postgresRows(tiles, orderBy: "driver_id, _hop, _hop_start")
            #expect(actual == expected, "\(step): tiles differ at \(zip(actual, expected).filter { $0 != $1 }.prefix(2))")
        }
        /// What the push reads: every entity's latest row (or those changed since the last
        /// push), and the tiles worth holding online (or those the run rebuilt).
        func comparePushReads(_ summary: MaterializationSummary, view: FeatureView, since: OnlinePushState?) async throws {
            var a: [[FeatureRow]] = []
            var b: [[FeatureRow]] = []
            for try await batch in sqlite.latestRows(of: view, end: summary.state.end, changedSince: since) { a.append(batch) }
            for try await batch in postgres.latestRows(of: view, end: summary.state.end, changedSince: since) { b.append(batch) }
            #expect(!a.isEmpty && a.flatMap { $0 } == b.flatMap { $0 }, "\(view.name): latest rows")
            #expect(a.map(\.count) == b.map(\.count), "\(view.name): batches")
            guard !view.aggregations.isEmpty else { return }
            let from =
                since == nil
                ? nil : summary.tilesFrom.map { t in view.tileLayout.groups.map { WindowRule.hopStart(t, hop: $0.hop) }.min()! }
            var c: [String] = []
            var d: [String] = []
            for try await batch in sqlite.retainedTiles(of: view, from: from) { c += batch.map { "\($0.keys) \($0.tiles)" } }
            for try await batch in postgres.retainedTiles(of: view, from: from) { d += batch.map { "\($0.keys) \($0.tiles)" } }
            #expect(!c.isEmpty && c == d, "\(view.name): retained tiles")
        }
        func materialize(_ mode: MaterializationMode, now: Timestamp) async throws {
            for view in [driverHourlyStats, driverTrips] {
                let since = try await sqlite.onlinePushState(view: view.name, version: 1)
                #expect(try await postgres.onlinePushState(view: view.name, version: 1) == since)
                let a = try await sqlite.materialize(view, mode: mode, now: now)
                let b = try await postgres.materialize(view, mode: mode, now: now)
                #expect(a.rows == b.rows && a.tiles == b.tiles && a.tilesFrom == b.tilesFrom, "\(view.name)")
                #expect(a.state == b.state && a.incremental == b.incremental, "\(view.name)")
                #expect(try await postgres.materializationState(view: view.name, version: 1) == b.state)
                try await comparePushReads(b, view: view, since: since)
                let (spec, _) = try await postgres.registeredView(view)
                let f = try await sqlite.freshness(of: spec, version: 1)
                let g = try await postgres.freshness(of: spec, version: 1)
                #expect(f.state == g.state && f.newestEvent == g.newestEvent && f.online == g.online, "\(view.name): freshness")
                #expect(f.lastRun?.rows == g.lastRun?.rows && f.lastRun?.incremental == g.lastRun?.incremental, "\(view.name)")
                // A cluster's marker slots (one per primary) come back as they were recorded.
                try await sqlite.recordOnlinePush(a.state, marker: "m", markerSlots: [0, 5461, 10923])
                try await postgres.recordOnlinePush(b.state, marker: "m", markerSlots: [0, 5461, 10923])
                let pushed = try await sqlite.onlinePushState(view: view.name, version: 1)
                #expect(pushed?.markerSlots == [0, 5461, 10923] && pushed?.marker == "m")
                #expect(try await postgres.onlinePushState(view: view.name, version: 1) == pushed, "\(view.name): push state")
            }
        }

        try await ingest(try files(seed: 1, hours: 0...47))
        let first = Timestamp(microseconds: Self.start.microseconds + 40 * 3_600_000_000)
        try await materialize(.range(start: nil, end: nil), now: first)
        try compare("first run")

        // New rows, late rows (back in time), and rows whose time has come since.
        try await ingest(try files(seed: 2, hours: 10...60))
        let second = Timestamp(microseconds: Self.start.microseconds + 55 * 3_600_000_000)
        try await materialize(.incremental(end: nil), now: second)
        try compare("incremental run")

        // A few late rows: a small run, which merges rather than rebuilds the indexes.
        try await ingest(try files(seed: 3, hours: 20...20))
        try await materialize(.incremental(end: nil), now: Timestamp(microseconds: second.microseconds + 1))
        try compare("small incremental run")
        #expect(
            try server.psql(database: database, "SELECT count(*), sum(incremental::int) FROM larder_materialization_runs") == "6|4\n")
    }

    @Test func anUnregisteredOrChangedViewIsRefusedAsInSQLite() async throws {
        let postgres = try await PostgresStore(url: try PostgresURL(url, environment: [:]))
        defer { postgres.close() }
        await #expect {
            try await postgres.materialize(driverHourlyStats, mode: .range(start: nil, end: nil))
        } throws: { error in
            "\(error)".contains(OfflineStore.notRegisteredMessage("driver_hourly_stats"))
        }
    }
}
