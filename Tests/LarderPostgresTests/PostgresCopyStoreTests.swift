import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Synchronization
import Testing

@testable import LarderOffline
@testable import LarderPostgres

/// `copy(from:)` moves a SQLite store into an empty PostgreSQL one: every table equal row for
/// row and bit for bit, the registry's history, the materializations and their online
/// watermarks, then later applies, ingests and materializations carry on there. A store that
/// is not empty is refused, a failure half-way leaves nothing, and the SQLite file is not
/// touched.
@Suite struct PostgresCopyStoreTests {
    let server: PostgresServer
    let dir: TemporaryDirectory

    init() throws {
        server = try PostgresServer.shared()
        dir = try TemporaryDirectory()
    }

    static let start = ExampleData.start

    // A small repository applied before the example's and then removed by it, so the store
    // holds a removed source's table and two versions of a removed view's feature table, and
    // columns of every stored type: bool, nullable string, double, int64.
    static let payer = Column<Int64>("payer_id")
    static let amount = Column<Double>("amount")
    static let paid = Column<Bool>("paid")
    static let note = Column<String?>("note")
    static let payers = Entity("payer", joinKeys: [payer])
    static let payments = Source("payments", columns: [payer, amount, paid, note])

    static func paymentStats(version: Int) -> (FeatureRepository, FeatureView) {
        let view = FeatureView("payment_stats", entity: payers, source: payments, ttl: .hours(2)) {
            Feature(amount)
            Feature(paid)
            Feature(note)
            if version > 1 { Feature("amount_x2", from: amount) { $0 * 2 } }
        }
        return (
            FeatureRepository {
                payers; payments; view
            }, view
        )
    }

    struct Target {
        let url: String
        let database: String
    }

    func newDatabase() throws -> Target {
        let url = try server.createDatabase()
        return Target(url: url, database: String(url.split(separator: "/").last!))
    }

    func open(_ target: Target) async throws -> PostgresStore {
        try await PostgresStore(url: try PostgresURL(target.url, environment: [:]))
    }

    func files(seed: UInt64, hours: ClosedRange<Int>) throws -> (stats: String, trips: String) {
        try ExampleData.files(in: dir, seed: seed, hours: hours, drivers: 1001...1006)
    }

    /// A SQLite store with a history: the payments repository (v1, then v2), then the
    /// example's, which removes it; ingests, materializations (tiles included), an online
    /// push, serving log entries, and a table that is not Larder's.
    func buildSQLiteStore(_ path: String) async throws {
        let sqlite = try OfflineStore(path: path)
        defer { sqlite.close() }
        func apply(_ repository: FeatureRepository, at seconds: Int64) async throws {
            try await sqlite.registry.apply(
                try await sqlite.registry.plan(for: repository), at: Timestamp(microseconds: Self.start.microseconds + seconds * 1_000_000))
        }
        let (first, firstView) = Self.paymentStats(version: 1)
        try await apply(first, at: 1)
        // Text COPY must escape: tabs, newlines, backslashes; an empty string is not null.
        let rows = [
            "1,2026-01-01T00:00:00Z,12.5,true,plain", "1,2026-01-01T01:00:00Z,-0.0,false,\"tab\there\"",
            "2,2026-01-01T00:30:00Z,1e300,1,\"two\nlines\"", "2,2026-01-01T02:00:00Z,5e-324,0,back\\slash \\N",
            "3,2026-01-01T00:10:00Z,0.1,TRUE,", "3,2026-01-01T00:20:00Z,3,false,\"\"", "4,2026-01-01T00:40:00Z,7,true,émoji 🚕 | pipe",
        ]
        let file = try dir.write("payments.csv", "payer_id,event_timestamp,amount,paid,note\n" + rows.joined(separator: "\n") + "\n")
        _ = try await sqlite.ingest(source: "payments", file: file)
        let end = Timestamp(microseconds: Self.start.microseconds + 10 * 3_600_000_000)
        _ = try await sqlite.materialize(firstView, mode: .range(start: nil, end: nil), now: end)
        let (second, secondView) = Self.paymentStats(version: 2)
        try await apply(second, at: 2)
        _ = try await sqlite.materialize(secondView, mode: .range(start: nil, end: nil), now: end)

        try await apply(Features.repository, at: 3)
        let data = try files(seed: 1, hours: 0...29)
        _ = try await sqlite.ingest(source: "driver_stats", file: data.stats)
        _ = try await sqlite.ingest(source: "trips", file: data.trips)
        let now = Timestamp(microseconds: Self.start.microseconds + 24 * 3_600_000_000)
        for view in [driverHourlyStats, driverTrips] {
            let summary = try await sqlite.materialize(view, mode: .range(start: nil, end: nil), now: now)
            #expect(summary.rows > 0)
            if view.name == driverHourlyStats.name {
                try await sqlite.recordOnlinePush(summary.state, marker: "marker-1", markerSlots: [7])
            }
        }
        let later = Timestamp(microseconds: now.microseconds + 3_600_000_000)
        _ = try await sqlite.materialize(driverTrips, mode: .incremental(end: nil), now: later)
        try await sqlite.appendServingLog([
            ServingLogEntry(
                servedAt: later, endpoint: "/v1/features", service: "driver_ranking",
                entity: [JSONMember(key: "driver_id", value: .int(1001))],
                request: [JSONMember(key: "val_to_add", value: .int(3))],
                features: [
                    LoggedFeature(reference: "driver_hourly_stats:conv_rate", value: .double(0.1), status: "present", eventTime: now)
                ]
            ),
            ServingLogEntry(
                servedAt: later, endpoint: "/get-online-features", service: nil,
                entity: [JSONMember(key: "driver_id", value: .int(9999))],
                features: [LoggedFeature(reference: "driver_hourly_stats:acc_rate", value: .null, status: "missing", eventTime: nil)]),
        ])
        try await sqlite.db.write { db in try db.execute(sql: "CREATE TABLE team_notes (note TEXT); INSERT INTO team_notes VALUES ('hi')") }
    }

    // MARK: Rows as text both stores print alike

    /// Larder's, source, feature and tile tables of the SQLite file.
    func sqliteTables(_ store: OfflineStore) throws -> [String] {
        try store.db.read { db in
            try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        }.filter { $0 != "grdb_migrations" && $0 != "team_notes" }
    }

    /// A table's rows, sorted: integers in decimal, doubles as IEEE bits, text and blobs as
    /// hex (text may hold tabs and newlines).
    func sqliteRows(_ store: OfflineStore, _ table: String) throws -> [String] {
        try store.db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM \(table)").map { row in
                row.databaseValues.map { value -> String in
                    switch value.storage {
                    case .null: "null"
                    case .int64(let v): "\(v)"
                    case .double(let d): String(format: "%016llx", d.bitPattern)
                    case .string(let s): s.utf8.map { String(format: "%02x", $0) }.joined()
                    case .blob(let data): data.map { String(format: "%02x", $0) }.joined()
                    }
                }.joined(separator: "|")
            }.sorted()
        }
    }

    func postgresRows(_ target: Target, _ table: String) throws -> [String] {
        try server.printedRows(database: target.database, table: table, textAsHex: true)
    }

    func postgresTables(_ target: Target) throws -> [String] {
        try server.psql(
            database: target.database,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'larder_schema_migrations' ORDER BY 1"
        ).split(separator: "\n").map(String.init)
    }

    /// Every table with its row count: what a refused copy must leave as it was.
    func postgresContents(_ target: Target) throws -> [String] {
        try postgresTables(target).map { table in
            "\(table): \(try server.psql(database: target.database, "SELECT count(*) FROM \(table)"))"
        }
    }

    func fileContents(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    // MARK: Tests

    @Test func everyTableArrivesEqualAndPostgreSQLCarriesOn() async throws {
        let path = dir.file("offline.sqlite")
        try await buildSQLiteStore(path)
        let before = try fileContents(path)

        let target = try newDatabase()
        let sqlite = try OfflineStore(path: path, options: OfflineStoreOptions(readOnly: true))
        let postgres = try await open(target)
        defer { postgres.close() }
        let reported = Mutex((calls: 0, rows: 0))
        let summary = try await postgres.copy(from: sqlite) { progress in
            reported.withLock { $0 = (calls: $0.calls + 1, rows: progress.rows) }
        }

        // Every table, row for row; nothing else.
        let tables = try sqliteTables(sqlite)
        #expect(tables.contains("source_payments") && tables.contains("features_payment_stats_v2"), "\(tables)")
        #expect(tables.contains("tiles_driver_trips_v1") && tables.contains("larder_serving_log"), "\(tables)")
        #expect(try postgresTables(target) == tables)
        #expect(Set(summary.tables.map(\.name)) == Set(tables))
        #expect(summary.ignored == ["team_notes"])
        for table in tables {
            let expected = try sqliteRows(sqlite, table)
            #expect(try postgresRows(target, table) == expected, "\(table)")
            #expect(summary.tables.first { $0.name == table }?.rows == expected.count, "\(table)")
        }
        #expect(summary.rows > 500)
        #expect(reported.withLock { $0.calls > 0 && $0.rows == summary.rows })

        // The registry and its history, read through each store's API.
        let definitions = try await sqlite.registry.definitions()
        #expect(
            try await postgres.registry.definitions().map { "\($0.name) v\($0.version) \($0.fingerprint) \($0.createdAt) \($0.updatedAt)" }
                == definitions.map { "\($0.name) v\($0.version) \($0.fingerprint) \($0.createdAt) \($0.updatedAt)" })
        for name in definitions.map(\.name) + ["payments", "payment_stats", "payer"] {
            let history = try await sqlite.registry.history(named: name)
            #expect(!history.isEmpty)
            #expect(try await postgres.registry.history(named: name).map { "\($0)" } == history.map { "\($0)" }, "\(name)")
        }
        // Materializations, online watermarks and last runs.
        for (view, version) in [("payment_stats", 1), ("payment_stats", 2), ("driver_hourly_stats", 1), ("driver_trips", 1)] {
            let state = try await sqlite.materializationState(view: view, version: version)
            #expect(state != nil)
            #expect(try await postgres.materializationState(view: view, version: version) == state, "\(view) v\(version)")
            #expect(
                try await postgres.onlinePushState(view: view, version: version)
                    == (try await sqlite.onlinePushState(view: view, version: version)), "\(view) v\(version)")
        }
        #expect(try await postgres.onlinePushState(view: "driver_hourly_stats", version: 1)?.marker == "marker-1")
        for view in [driverHourlyStats, driverTrips] {
            let (spec, version) = try await postgres.registeredView(view)
            let a = try await sqlite.freshness(of: spec, version: version)
            let b = try await postgres.freshness(of: spec, version: version)
            #expect(a.newestEvent == b.newestEvent && a.online == b.online, "\(view.name)")
            #expect(a.lastRun?.finishedAt == b.lastRun?.finishedAt && a.lastRun?.incremental == b.lastRun?.incremental, "\(view.name)")
        }

        // Indexes as apply and materialize make them.
        let indexes = Set(
            try server.psql(database: target.database, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'").split(
                separator: "\n"
            ).map(String.init))
        for table in tables where table.hasPrefix("source_") {
            #expect(indexes.contains("\(table)_by_seq") && indexes.contains("\(table)_by_event_time"), "\(table)")
        }
        #expect(indexes.contains { $0.hasPrefix("source_trips_agg_") })
        for table in tables where table.hasPrefix("features_") {
            #expect(indexes.contains("\(table)_pkey") && indexes.contains("\(table)_by_key_time"), "\(table)")
        }
        #expect(indexes.contains("tiles_driver_trips_v1_pkey"))

        // Identity sequences continue after the largest id.
        for table in ["larder_registry_history", "larder_ingests", "larder_materialization_runs", "larder_serving_log"] {
            let last = try server.psql(
                database: target.database, "SELECT pg_sequence_last_value(pg_get_serial_sequence('\(table)', 'id'))")
            let max = try server.psql(database: target.database, "SELECT max(id) FROM \(table)")
            #expect(last == max && last != "\n", "\(table)")
        }

        // PostgreSQL carries on: the same definitions plan nothing, an ingest numbers its rows
        // after the largest _seq and its ingest after the largest id, and an incremental run
        // continues from the copied watermark.
        #expect(try await postgres.registry.plan(for: Features.repository).isEmpty)
        let maxSeq = try await sqlite.db.read { db in try Int64.fetchOne(db, sql: "SELECT max(_seq) FROM source_driver_stats") ?? 0 }
        let maxIngest = try await sqlite.db.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM larder_ingests") ?? 0 }
        let more = try files(seed: 2, hours: 30...31)
        let ingest = try await postgres.ingest(source: "driver_stats", file: more.stats)
        #expect(ingest.sequences?.lowerBound == maxSeq + 1)
        #expect(try server.psql(database: target.database, "SELECT max(id) FROM larder_ingests") == "\(maxIngest + 1)\n")
        // The run takes the new rows, and the old ones whose time has come since the last run
        // (from 24 h on).
        let (from, to) = (Self.start.microseconds + 24 * 3_600_000_000, Self.start.microseconds + 40 * 3_600_000_000)
        let waiting = try await sqlite.db.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM source_driver_stats WHERE event_timestamp >= ? AND event_timestamp < ?",
                arguments: [from, to])
                ?? 0
        }
        let run = try await postgres.materialize(driverHourlyStats, mode: .incremental(end: nil), now: Timestamp(microseconds: to))
        #expect(waiting > 0 && run.incremental && run.rows == ingest.rows + waiting)

        // The SQLite file was only read.
        sqlite.close()
        #expect(try fileContents(path) == before)
    }

    @Test func aTargetThatIsNotEmptyIsRefusedAndLeftAsItWas() async throws {
        let path = dir.file("offline.sqlite")
        let sqlite = try OfflineStore(path: path)
        defer { sqlite.close() }
        try await sqlite.registry.apply(try await sqlite.registry.plan(for: Features.repository))
        _ = try await sqlite.ingest(source: "driver_stats", file: try files(seed: 3, hours: 0...2).stats)

        // Applied definitions; an ingest row alone; a stray tile table alone.
        let applied = try newDatabase()
        let store = try await open(applied)
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        let ingested = try newDatabase()
        let stray = try newDatabase()
        for target in [ingested, stray] { try await open(target).close() }
        _ = try server.psql(
            database: ingested.database,
            "INSERT INTO larder_ingests (source, file, rows, started_at, finished_at) VALUES ('trips', 'x.csv', 0, 0, 0)")
        _ = try server.psql(database: stray.database, "CREATE TABLE tiles_old_v1 (a BIGINT)")

        for (target, found) in [
            (applied, "7 rows in larder_registry"), (ingested, "1 row in larder_ingests"), (stray, "table tiles_old_v1"),
        ] {
            let contents = try postgresContents(target)
            let postgres = try await open(target)
            await #expect {
                try await postgres.copy(from: sqlite)
            } throws: { error in
                "\(error)".contains("is not empty (") && "\(error)".contains(found) && "\(error)".contains("nothing was written")
            }
            postgres.close()
            #expect(try postgresContents(target) == contents)
        }
    }

    @Test func aFailureHalfWayWritesNothing() async throws {
        let sqlite = try OfflineStore(path: dir.file("offline.sqlite"))
        defer { sqlite.close() }
        let (repository, _) = Self.paymentStats(version: 1)
        try await sqlite.registry.apply(try await sqlite.registry.plan(for: repository))
        let file = try dir.write("payments.csv", "payer_id,event_timestamp,amount,paid,note\n1,2026-01-01T00:00:00Z,1,true,a\n")
        _ = try await sqlite.ingest(source: "payments", file: file)
        // PostgreSQL's text cannot hold NUL (SQLite's can): the source table, copied after
        // Larder's tables, fails the copy once its own COPY has begun.
        try await sqlite.db.write { db in
            try db.execute(
                sql: "INSERT INTO source_payments VALUES (2, 1, 1767225600000000, 1, 2.5, 0, 'a' || char(0) || 'b')")
        }
        let target = try newDatabase()
        let postgres = try await open(target)
        defer { postgres.close() }
        await #expect {
            try await postgres.copy(from: sqlite)
        } throws: { error in
            "\(error)".contains("copying source_payments, row 2 (in table order), column note") && "\(error)".contains("NUL")
        }
        #expect(try postgresTables(target).allSatisfy { $0.hasPrefix("larder_") })
        let contents = try postgresContents(target)
        #expect(contents.allSatisfy { $0.hasSuffix(": 0\n") }, "\(contents)")
        #expect(try await postgres.registry.definitions().isEmpty)
    }

    @Test func aTableNoDefinitionAccountsForIsRefused() async throws {
        let sqlite = try OfflineStore(path: dir.file("offline.sqlite"))
        defer { sqlite.close() }
        try await sqlite.registry.apply(try await sqlite.registry.plan(for: Features.repository))
        try await sqlite.db.write { db in try db.execute(sql: "CREATE TABLE features_ghost_v1 (_seq INTEGER PRIMARY KEY)") }
        let target = try newDatabase()
        let postgres = try await open(target)
        defer { postgres.close() }
        await #expect {
            try await postgres.copy(from: sqlite)
        } throws: { error in
            "\(error)".contains("features_ghost_v1") && "\(error)".contains("cannot be copied")
        }
        #expect(try postgresTables(target).allSatisfy { $0.hasPrefix("larder_") })
    }
}
