import Features
import Foundation
import LarderCore
import LarderOffline
import LarderTestSupport
import Testing

@testable import LarderPostgres

/// The registry on a real PostgreSQL server (started by the tests): the same plans as the
/// SQLite store's, versions and history, safe source migrations, and two machines applying at
/// once.
@Suite struct PostgresRegistryTests {
    let server: PostgresServer
    let database: String
    let url: String

    init() throws {
        server = try PostgresServer.shared()
        url = try server.createDatabase()
        database = String(url.split(separator: "/").last!)
    }

    func store() async throws -> PostgresStore {
        try await PostgresStore(url: try PostgresURL(url, environment: [:]))
    }

    static let key = Column<Int64>("driver_id")
    static let amount = Column<Double>("amount")
    static let entity = Entity("driver", joinKeys: [key])
    static let source = Source("payments", columns: [key, amount])

    static func repository(ttl: Duration, extraFeature: Bool = false, source: Source = source) -> FeatureRepository {
        let view = FeatureView("payment_stats", entity: entity, source: source, ttl: ttl) {
            Feature(amount)
            if extraFeature { Feature("amount_x2", from: amount) { $0 * 2 } }
        }
        return FeatureRepository {
            entity; source; view
        }
    }

    @Test func applyRegistersEverythingOnceAndIsIdempotent() async throws {
        let store = try await store()
        defer { store.close() }
        let plan = try await store.registry.plan(for: Features.repository)
        #expect(plan.changes.map(\.change) == Array(repeating: .added, count: 7))
        #expect(plan.changes.allSatisfy { $0.version == 1 })
        try await store.registry.apply(plan)

        #expect(try await store.registry.plan(for: Features.repository).isEmpty)
        #expect(try await store.registry.definitions().count == 7)
        #expect(try await store.registry.definitions(kind: .featureView).map(\.name) == ["driver_hourly_stats", "driver_trips"])
        let view = try #require(try await store.registry.definition(named: "driver_hourly_stats"))
        #expect(view.version == 1)
        guard case .featureView(let spec) = view.spec else {
            Issue.record("not a feature view")
            return
        }
        #expect(spec.features.map(\.name) == ["conv_rate", "acc_rate", "avg_daily_trips"])
        #expect(try await store.registry.history(named: "driver_hourly_stats").map(\.change) == [.added])
        #expect(try await store.registry.rowCount(source: "driver_stats") == 0)
        #expect(try await store.registry.rowCount(source: "trips") == 0)
        // The aggregation view's index on its source, as in SQLite.
        let indexes = try server.psql(database: database, "SELECT indexname FROM pg_indexes WHERE tablename = 'source_trips' ORDER BY 1")
        #expect(indexes.split(separator: "\n").contains { $0.hasPrefix("source_trips_agg_") })
    }

    @Test func plansEqualTheSQLiteStoresPlans() async throws {
        let dir = try TemporaryDirectory()
        let sqlite = try OfflineStore(path: dir.file("offline.sqlite"))
        defer { sqlite.close() }
        let postgres = try await store()
        defer { postgres.close() }
        func same(_ repository: FeatureRepository) async throws {
            let a = try await sqlite.registry.plan(for: repository)
            let b = try await postgres.registry.plan(for: repository)
            #expect(
                a.changes.map { "\($0.change) \($0.name) v\($0.version) \($0.details)" }
                    == b.changes.map { "\($0.change) \($0.name) v\($0.version) \($0.details)" })
            try await sqlite.registry.apply(a)
            try await postgres.registry.apply(b)
        }
        try await same(Self.repository(ttl: .hours(2)))
        try await same(Self.repository(ttl: .hours(3), extraFeature: true))
        try await same(
            FeatureRepository {
                Self.entity; Self.source
            })
        try await same(Self.repository(ttl: .hours(2)))
        try await same(Features.repository)
        for name in ["payment_stats", "driver_hourly_stats", "payments"] {
            let a = try await sqlite.registry.history(named: name)
            let b = try await postgres.registry.history(named: name)
            #expect(
                a.map { "\($0.change) v\($0.version) \($0.details) \($0.fingerprint)" }
                    == b.map { "\($0.change) v\($0.version) \($0.details) \($0.fingerprint)" })
        }
    }

    @Test func sourceTablesMigrateOnlyWhenSafe() async throws {
        let store = try await store()
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Self.repository(ttl: .hours(1))))
        _ = try server.psql(
            database: database, "INSERT INTO source_payments (_seq, _ingest, event_timestamp, driver_id, amount) VALUES (1, 1, 0, 7, 1.5)")
        let withNote = Source("payments", columns: [Self.key, Self.amount, Column<String?>("note")])
        let plan = try await store.registry.plan(for: Self.repository(ttl: .hours(1), source: withNote))
        #expect(plan.changes.first?.details.contains("table source_payments: add nullable column(s) note") == true)
        try await store.registry.apply(plan)
        #expect(try server.psql(database: database, "SELECT coalesce(note, 'null') FROM source_payments") == "null\n")

        let retyped = Source("payments", columns: [Self.key, Column<Int64>("amount"), Column<String?>("note")])
        let retypedView = FeatureView("payment_stats", entity: Self.entity, source: retyped, ttl: .hours(1)) {
            Feature(Column<Int64>("amount"))
        }
        await #expect {
            try await store.registry.plan(
                for: FeatureRepository {
                    Self.entity; retyped; retypedView
                })
        } throws: { error in
            "\(error)".contains("column amount: double changed to amount: int64 cannot be applied to a table with 1 rows")
        }
        #expect(try await store.registry.rowCount(source: "payments") == 1)
    }

    /// PostgreSQL would cut the derived names at 63 bytes, making two versions one table.
    @Test func namesTooLongForPostgreSQLAreRefused() async throws {
        let store = try await store()
        defer { store.close() }
        let view = FeatureView(String(repeating: "v", count: 35), entity: Self.entity, source: Self.source, ttl: .hours(1)) {
            Feature(Self.amount)
        }
        await #expect {
            try await store.registry.plan(
                for: FeatureRepository {
                    Self.entity; Self.source; view
                })
        } throws: { error in
            "\(error)".contains("name(s) too long for PostgreSQL: feature view vvvv")
        }
        #expect(try await store.registry.definitions().isEmpty)

        // A source of 43 bytes would name its event-time index with 64: refused; 42 is taken.
        for (length, accepted) in [(43, false), (42, true)] {
            let long = Source(String(repeating: "s", count: length), columns: [Self.key, Self.amount])
            let plan = await Result {
                try await store.registry.plan(
                    for: FeatureRepository {
                        Self.entity; long
                    })
            }
            #expect(plan.isSuccess == accepted, "a source name of \(length) bytes")
        }
    }

    @Test func aStalePlanIsRefusedAndWritesNothing() async throws {
        let store = try await store()
        defer { store.close() }
        let first = try await store.registry.plan(for: Self.repository(ttl: .hours(1)))
        let second = try await store.registry.plan(for: Self.repository(ttl: .hours(2)))
        try await store.registry.apply(first)
        await #expect {
            try await store.registry.apply(second)
        } throws: { error in
            "\(error)".contains("the registry changed since this plan was made")
        }
        #expect(try await store.registry.history(named: "payment_stats").count == 1)
    }

    /// Two machines apply different plans at once: one wins, the other gets a conflict and
    /// nothing of its plan is written.
    @Test func concurrentAppliesFromTwoStoresNeverMix() async throws {
        for round in 0..<5 {
            let roundURL = try server.createDatabase()
            let a = try await PostgresStore(url: try PostgresURL(roundURL, environment: [:]))
            let b = try await PostgresStore(url: try PostgresURL(roundURL, environment: [:]))
            defer {
                a.close()
                b.close()
            }
            let planA = try await a.registry.plan(for: Self.repository(ttl: .hours(1)))
            let planB = try await b.registry.plan(for: Self.repository(ttl: .hours(2), extraFeature: true))
            async let resultA = Result { try await a.registry.apply(planA) }
            async let resultB = Result { try await b.registry.apply(planB) }
            let results = await [resultA, resultB]
            let failures = results.compactMap { result -> String? in
                if case .failure(let error) = result { return "\(error)" }
                return nil
            }
            #expect(failures.count == 1, "round \(round): \(failures)")
            #expect(failures.allSatisfy { $0.contains("the registry changed since this plan was made") }, "round \(round)")
            let history = try await a.registry.history(named: "payment_stats")
            #expect(history.count == 1, "round \(round)")
            let ttl = try await b.registry.definition(named: "payment_stats").map { definition -> Int64? in
                guard case .featureView(let view) = definition.spec else { return nil }
                return view.ttlMicroseconds
            }
            let winner = results[0].isSuccess ? Duration.hours(1) : Duration.hours(2)
            #expect(ttl == winner.microseconds, "round \(round)")
            // The loser plans again and sees the winner's state.
            let again = try await (results[0].isSuccess ? b : a).registry.plan(
                for: Self.repository(ttl: winner == .hours(1) ? .hours(1) : .hours(2), extraFeature: winner != .hours(1)))
            #expect(again.isEmpty, "round \(round)")
        }
    }

    @Test func twoMachinesOpeningANewDatabaseCreateTheTablesOnce() async throws {
        let fresh = try server.createDatabase()
        async let a = PostgresStore(url: try PostgresURL(fresh, environment: [:]))
        async let b = PostgresStore(url: try PostgresURL(fresh, environment: [:]))
        let stores = try await [a, b]
        stores.forEach { $0.close() }
        let freshName = String(fresh.split(separator: "/").last!)
        #expect(
            try server.psql(database: freshName, "SELECT name FROM larder_schema_migrations ORDER BY name")
                == PostgresSchema.migrations.map { $0.name + "\n" }.joined())
    }

    /// A database whose fingerprints were computed with metadata counted (the fingerprints
    /// the release before wrote for the example features/, as in the SQLite fixture) and
    /// without migration v6: opened, its fingerprints are recomputed, no version changes
    /// number, and nothing compiled is stale; a metadata-only edit is then recorded in place.
    @Test func fingerprintsWrittenBeforeMetadataLeftThemAreRecomputed() async throws {
        let first = try await store()
        try await first.registry.apply(try await first.registry.plan(for: Features.repository))
        let current = Dictionary(uniqueKeysWithValues: try await first.registry.definitions().map { ($0.name, $0.fingerprint) })
        first.close()
        let before = [
            "driver": "5d6d880cb2ea8c03", "driver_stats": "04c28ecd0c57eb62", "trips": "ce989ba27fb190d9",
            "driver_hourly_stats": "f375c4c3d12af137", "driver_trips": "d85410cb29502867",
            "transformed_conv_rate": "9d55b572353ea5e5", "driver_ranking": "eef6585b3ce041db",
        ]
        var sql = before.map { "UPDATE larder_registry SET fingerprint = '\($1)' WHERE name = '\($0)';" }.joined(separator: "\n")
        sql += "\nUPDATE larder_registry_history SET fingerprint = 'f375c4c3d12af137';"
        sql += "\nDELETE FROM larder_schema_migrations WHERE name = '\(PostgresSchema.fingerprintsMigration)';"
        _ = try server.psql(database: database, sql)
        let old = try await store()
        #expect(
            try await old.registry.registrations(of: Features.repository.specs).values.contains { $0 != .current(version: 1) } == false)
        let upgraded = try await old.registry.definitions()
        #expect(upgraded.allSatisfy { $0.version == 1 && $0.fingerprint == current[$0.name] })
        #expect(try await old.registry.history(named: "driver").map(\.fingerprint) == [current["driver"]])
        #expect(try await old.registry.plan(for: Features.repository).isEmpty)
        old.close()
    }

    @Test func aPasswordFromTheEnvironmentConnects() async throws {
        let bare = server.urlWithoutPassword(database: database)
        let store = try await PostgresStore(url: try PostgresURL(bare, environment: ["PGPASSWORD": server.password]))
        store.close()
        await #expect {
            try await PostgresStore(url: try PostgresURL(bare, environment: ["PGPASSWORD": "wrong"]))
        } throws: { error in
            let message = "\(error)"
            return message.contains("password authentication failed") && !message.contains(server.password)
        }
    }

    @Test func anUnreachableServerIsNamedWithoutItsPassword() async throws {
        let port = 1  // privileged: nothing listens there in a test
        await #expect {
            try await PostgresStore(url: try PostgresURL("postgres://larder:hunter2@127.0.0.1:\(port)/x?sslmode=disable", environment: [:]))
        } throws: { error in
            let message = "\(error)"
            return message.contains("127.0.0.1:\(port)") && !message.contains("hunter2")
        }
    }

    @Test func schemaFileMatchesTheCode() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let documented = try String(contentsOf: root.appendingPathComponent("schemas/offline.postgres.sql"), encoding: .utf8)
        let fromFile = String(try server.createDatabase().split(separator: "/").last!)
        _ = try server.psql(database: fromFile, documented)
        try await store().close()
        let catalog = """
            SELECT table_name || ' ' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') || ' ' || is_identity
            FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'larder_schema_migrations'
            ORDER BY table_name, ordinal_position;
            SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'larder_schema_migrations' ORDER BY indexname;
            """
        let expected = try server.psql(database: fromFile, catalog)
        #expect(try server.psql(database: database, catalog) == expected)
        #expect(expected.contains("larder_registry_history id bigint NO"))
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }

    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
