import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

@Suite struct RegistryTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }

    func store() throws -> OfflineStore { try OfflineStore(path: dir.file("offline.sqlite")) }

    @Test func applyRegistersEverythingOnceAndIsIdempotent() throws {
        let store = try store()
        let plan = try store.registry.plan(for: Features.repository)
        #expect(plan.changes.map(\.change) == Array(repeating: .added, count: 7))
        #expect(plan.changes.allSatisfy { $0.version == 1 })
        try store.registry.apply(plan)

        let again = try store.registry.plan(for: Features.repository)
        #expect(again.isEmpty)
        #expect(try store.registry.definitions().count == 7)
        #expect(try store.registry.definitions(kind: .featureView).map(\.name) == ["driver_hourly_stats", "driver_trips"])
        let view = try #require(try store.registry.definition(named: "driver_hourly_stats"))
        #expect(view.version == 1)
        guard case .featureView(let spec) = view.spec else { Issue.record("not a feature view"); return }
        #expect(spec.ttlMicroseconds == Duration.hours(2).microseconds)
        #expect(spec.features.map(\.name) == ["conv_rate", "acc_rate", "avg_daily_trips"])
        #expect(try store.registry.history(named: "driver_hourly_stats").map(\.change) == [.added])
        // The source tables exist.
        #expect(try store.count("source_driver_stats") == 0)
        #expect(try store.count("source_trips") == 0)
    }

    @Test func dryRunPlanWritesNothing() throws {
        let store = try store()
        _ = try store.registry.plan(for: Features.repository)
        #expect(try store.registry.definitions().isEmpty)
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

    @Test func changesMakeNewVersionsWithHistory() throws {
        let store = try store()
        try store.registry.apply(try store.registry.plan(for: Self.repository(ttl: .hours(2))))
        let plan = try store.registry.plan(for: Self.repository(ttl: .hours(3), extraFeature: true))
        #expect(plan.changes.count == 1)
        let change = try #require(plan.changes.first)
        #expect(change.change == .changed)
        #expect(change.name == "payment_stats")
        #expect(change.previousVersion == 1 && change.version == 2)
        #expect(change.details == ["ttl: 2h -> 3h", "feature added: amount_x2"])
        try store.registry.apply(plan)
        #expect(try store.registry.definition(named: "payment_stats")?.version == 2)
        let history = try store.registry.history(named: "payment_stats")
        #expect(history.map(\.version) == [1, 2])
        #expect(history.map(\.change) == [.added, .changed])
        #expect(history[1].details == ["ttl: 2h -> 3h", "feature added: amount_x2"])
        #expect(history[0].fingerprint != history[1].fingerprint)

        // Removing, then adding back, continues the version numbers.
        let removal = try store.registry.plan(
            for: FeatureRepository {
                Self.entity; Self.source
            })
        #expect(removal.changes.map(\.change) == [.removed])
        try store.registry.apply(removal)
        #expect(try store.registry.definition(named: "payment_stats") == nil)
        let back = try store.registry.plan(for: Self.repository(ttl: .hours(2)))
        #expect(back.changes.first?.version == 3)
    }

    @Test func invalidDefinitionsAreRejectedBeforeAnythingIsWritten() throws {
        let store = try store()
        let bad = FeatureRepository { Source("Bad", columns: [Self.key]) }
        #expect(throws: DefinitionErrors.self) { try store.registry.plan(for: bad) }
        #expect(try store.registry.definitions().isEmpty)
    }

    @Test func sourceTablesMigrateOnlyWhenSafe() throws {
        let store = try store()
        try store.registry.apply(try store.registry.plan(for: Self.repository(ttl: .hours(1))))
        try store.db.write { db in
            try db.execute(sql: "INSERT INTO source_payments (_ingest, event_timestamp, driver_id, amount) VALUES (1, 0, 7, 1.5)")
        }
        // A nullable column is added in place; the existing row reads null.
        let withNote = Source("payments", columns: [Self.key, Self.amount, Column<String?>("note")])
        let plan = try store.registry.plan(for: Self.repository(ttl: .hours(1), source: withNote))
        #expect(plan.changes.first?.details.contains("table source_payments: add nullable column(s) note") == true)
        try store.registry.apply(plan)
        #expect(try store.rows("SELECT note FROM source_payments") == [[.null]])

        // A type change on a table with rows is refused, naming the problem.
        let retyped = Source("payments", columns: [Self.key, Column<Int64>("amount"), Column<String?>("note")])
        let retypedView = FeatureView("payment_stats", entity: Self.entity, source: retyped, ttl: .hours(1)) {
            Feature(Column<Int64>("amount"))
        }
        #expect {
            try store.registry.plan(
                for: FeatureRepository {
                    Self.entity; retyped; retypedView
                })
        } throws: { error in
            "\(error)".contains("column amount: double changed to amount: int64 cannot be applied to a table with 1 rows")
        }
        #expect(try store.count("source_payments") == 1)
    }

    @Test func staleApplyIsRefused() throws {
        let store = try store()
        let first = try store.registry.plan(for: Self.repository(ttl: .hours(1)))
        let second = try store.registry.plan(for: Self.repository(ttl: .hours(2)))
        try store.registry.apply(first)
        #expect(throws: OfflineStoreError.self) { try store.registry.apply(second) }
    }

    @Test func reopeningAStoreKeepsItAndMigratesOnce() throws {
        try store().registry.apply(try store().registry.plan(for: Features.repository))
        let reopened = try store()
        #expect(try reopened.registry.definitions().count == 7)
        #expect(
            try reopened.rows("SELECT identifier FROM grdb_migrations ORDER BY identifier") == [
                ["v1: registry, ingests, materializations".databaseValue], ["v2: online push marker".databaseValue],
                ["v3: serving log".databaseValue], ["v4: a push marker per Redis Cluster primary".databaseValue],
                ["v5: fingerprints of the computation only".databaseValue],
                ["v6: feature statistics per materialization run".databaseValue],
            ])
    }

    static func described(_ description: String, owner: String = "", tags: [String: String] = [:], ttl: Duration = .hours(2))
        -> FeatureRepository
    {
        let view = FeatureView("payment_stats", entity: entity, source: source, ttl: ttl, description: description) {
            Feature(amount, description: description, owner: owner, tags: tags)
            Feature("amount_x2", from: amount, description: description, tags: tags) { $0 * 2 }
        }
        return FeatureRepository {
            entity; source; view
        }
    }

    /// Metadata is not part of the computation: editing a view's or a feature's description,
    /// owner or tags is recorded in place, with no new version, and the compiled view stays
    /// the registered one.
    @Test func metadataEditsAreRecordedInPlaceWithoutANewVersion() throws {
        let store = try store()
        try store.registry.apply(try store.registry.plan(for: Self.described("")))
        let before = try #require(try store.registry.definition(named: "payment_stats"))
        let edited = Self.described("Payments in EUR", owner: "risk@", tags: ["pii": "no"])
        let plan = try store.registry.plan(for: edited)
        #expect(plan.changes.map(\.change) == [.described])
        #expect(plan.changes.first?.version == 1)
        #expect(plan.changes.first?.details.contains(#"description: "" -> "Payments in EUR""#) == true)
        #expect(plan.changes.first?.details.contains { $0.hasPrefix("feature changed: amount (description") } == true)
        try store.registry.apply(plan)
        let after = try #require(try store.registry.definition(named: "payment_stats"))
        #expect(after.version == 1 && after.fingerprint == before.fingerprint)
        guard case .featureView(let spec) = after.spec else {
            Issue.record("not a view")
            return
        }
        #expect(spec.description == "Payments in EUR" && spec.features[0].owner == "risk@" && spec.features[1].tags == ["pii": "no"])
        #expect(try store.registry.history(named: "payment_stats").map(\.change) == [.added, .described])
        let view = try #require(edited.featureViews.first)
        #expect(Registration(.featureView(view.spec), registered: after) == .current(version: 1))
        #expect(try store.registry.plan(for: edited).isEmpty)
        // A change of computation still makes a version.
        #expect(try store.registry.plan(for: Self.described("Payments in EUR", ttl: .hours(3))).changes.map(\.version) == [2])
    }

    /// A store made before metadata left the fingerprints (Fixtures/store-made-before-metadata-
    /// fingerprints.sqlite, made by the release before, from the example features/): opened, its
    /// fingerprints are recomputed, no version changes number, nothing is stale, and `apply`
    /// has nothing to do.
    @Test func aStoreMadeByTheReleaseBeforeUpgradesWithoutNewVersions() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/store-made-before-metadata-fingerprints.sqlite")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: dir.file("offline.sqlite"))
        let old = try DatabaseQueue(path: dir.file("offline.sqlite")).read { db in
            try Dictionary(
                uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT name, fingerprint FROM larder_registry").map {
                    ($0["name"] as String, $0["fingerprint"] as String)
                })
        }
        #expect(old["driver_hourly_stats"] == "f375c4c3d12af137")
        let store = try store()
        let registered = try store.registry.definitions()
        #expect(registered.count == 7 && registered.allSatisfy { $0.version == 1 })
        #expect(registered.allSatisfy { old[$0.name] != $0.fingerprint }, "every fingerprint recomputed")
        let standing = try store.registry.registrations(of: Features.repository.specs)
        #expect(standing.values.allSatisfy { $0 == .current(version: 1) }, "\(standing)")
        // The example's features have gained descriptions and tags since (fare_per_km's in its
        // declaring call, whose code hash is unchanged): recorded in place, versions kept.
        let plan = try store.registry.plan(for: Features.repository)
        #expect(
            plan.changes.map { "\($0.change) \($0.name) v\($0.version)" } == [
                "described driver_hourly_stats v1", "described driver_trips v1",
            ])
        try store.registry.apply(plan)
        #expect(try store.registry.plan(for: Features.repository).isEmpty)
        #expect(try store.registry.definitions().allSatisfy { $0.version == 1 })
        let history = try store.registry.history(named: "driver_hourly_stats")
        #expect(history.map(\.change) == [.added, .described])
        #expect(history.allSatisfy { $0.fingerprint == registered.first { $0.name == "driver_hourly_stats" }!.fingerprint })
        // Its materialization is still there, under the same version.
        #expect(try store.materializationState(view: "driver_hourly_stats", version: 1) != nil)
    }

    @Test func schemaFileMatchesTheCode() throws {
        // schemas/offline.sql documents the DDL; the code must create exactly those tables.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let documented = try String(contentsOf: root.appendingPathComponent("schemas/offline.sql"), encoding: .utf8)
        func schema(_ setUp: (DatabaseQueue) throws -> Void) throws -> [String] {
            let queue = try DatabaseQueue()
            try setUp(queue)
            return try queue.read { db in
                var out: [String] = []
                for row in try Row.fetchAll(
                    db, sql: "SELECT type, name, tbl_name FROM sqlite_master WHERE tbl_name NOT LIKE 'grdb_%' ORDER BY name")
                {
                    out.append("\(row["type"] as String) \(row["name"] as String) on \(row["tbl_name"] as String)")
                    let pragma = (row["type"] as String) == "table" ? "table_xinfo" : "index_xinfo"
                    for column in try Row.fetchAll(db, sql: "PRAGMA \(pragma)(\(row["name"] as String))") {
                        out.append("  " + column.databaseValues.map(\.description).joined(separator: " "))
                    }
                }
                return out
            }
        }
        let fromFile = try schema { queue in try queue.write { try $0.execute(sql: documented) } }
        let migrated = try schema { queue in try OfflineSchema.migrator.migrate(queue) }
        #expect(fromFile == migrated)
        #expect(!migrated.isEmpty)
    }
}
