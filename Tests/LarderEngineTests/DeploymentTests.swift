import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderTestSupport
import Testing

/// What a `Deployment` answers about compiled definitions against a real registry (a SQLite
/// store in a temporary directory): versions, staleness, the start check and lookups.
@Suite struct DeploymentTests {
    static let id = Column<Int64>("account_id")
    static let amount = Column<Double>("amount")
    static let account = Entity("account", joinKeys: [id])
    static let source = Source("payments", columns: [id, amount])

    /// The same repository, its closure's code taken from `file`: the registered texts stand
    /// for two builds of `features/` that differ in one transformation. `extraView` adds a
    /// view that is never applied in these tests.
    static func repository(_ file: String, extraView: Bool = false) -> FeatureRepository {
        TransformationCode.register([
            "Deployment/v1.swift": "Feature(\"doubled\", from: amount) { $0 * 2 }",
            "Deployment/v2.swift": "Feature(\"doubled\", from: amount) { $0 * 2.5 }",
        ])
        let view = FeatureView("payments_view", entity: account, source: source, ttl: .zero) {
            Feature("doubled", from: amount, fileID: file, line: 1, column: 1) { $0 * 2 }
        } aggregations: {
            Aggregate(.count, windows: .hours(1))
        }
        let extra = FeatureView("extra_view", entity: account, source: source, ttl: .zero) { Feature("amount", from: amount) }
        let service = FeatureService("payments_service") { view.select("doubled", "count_1h") }
        if extraView {
            return FeatureRepository {
                account
                source
                view
                extra
                service
            }
        }
        return FeatureRepository {
            account
            source
            view
            service
        }
    }

    /// A store in `directory` with `repository` applied.
    static func store(_ directory: TemporaryDirectory, applying repository: FeatureRepository) async throws -> OfflineStore {
        let store = try OfflineStore(path: directory.file("offline.sqlite"))
        try await store.registry.apply(try store.registry.plan(for: repository))
        return store
    }

    static func engineError(_ body: () throws -> Void) -> EngineError? {
        do {
            try body()
            return nil
        } catch let error as EngineError {
            return error
        } catch {
            Issue.record("expected an EngineError, got \(error)")
            return nil
        }
    }

    @Test func aFreshApplyIsCurrentAndServable() async throws {
        let directory = try TemporaryDirectory()
        let v1 = Self.repository("Deployment/v1.swift")
        let store = try await Self.store(directory, applying: v1)
        let deployment = try await Deployment.load(repository: v1, offline: store, project: "test")
        try deployment.requireCurrent()
        let view = try #require(deployment.views["payments_view"])
        #expect(view.registration == .current(version: 1))
        #expect(view.isServable)  // version 1: nothing older can be in Redis
        #expect(deployment.versions == ["payments_view": 1])
        #expect(deployment.staleViews.isEmpty)
        #expect(try deployment.registered(view.view).version == 1)
    }

    @Test func aChangedDefinitionAppliedButNotMaterializedIsStale() async throws {
        let directory = try TemporaryDirectory()
        let store = try await Self.store(directory, applying: Self.repository("Deployment/v1.swift"))
        let v2 = Self.repository("Deployment/v2.swift")
        try await store.registry.apply(try store.registry.plan(for: v2))
        let deployment = try await Deployment.load(repository: v2, offline: store, project: "test")
        try deployment.requireCurrent()  // registered: the service may start, and serves it as stale
        let view = try #require(deployment.views["payments_view"])
        #expect(view.registration == .current(version: 2))
        #expect(!view.isServable)
        #expect(deployment.staleViews == ["payments_view"])
        let error = Self.engineError { _ = try deployment.materializedEnd(of: [view.view]) }
        #expect(error?.kind == .notReady)
        #expect(
            error?.message
                == "feature view payments_view (v2) has not been materialized (its definition changed since the online values were computed); run `larder materialize --views payments_view`"
        )

        // Materialized, it is servable again, and its end is what was materialized.
        let end = Timestamp(microseconds: 1_000_000_000)
        _ = try await store.materialize(view.view, mode: .range(start: nil, end: end))
        let materialized = try await Deployment.load(repository: v2, offline: store, project: "test")
        #expect(materialized.staleViews.isEmpty)
        #expect(try materialized.materializedEnd(of: [view.view])?.end == end)
    }

    @Test func aCompiledDefinitionTheRegistryDoesNotHoldIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let store = try await Self.store(directory, applying: Self.repository("Deployment/v1.swift"))
        let v2 = Self.repository("Deployment/v2.swift")  // built, not applied
        let deployment = try await Deployment.load(repository: v2, offline: store, project: "test")
        let view = try #require(v2.featureView(named: "payments_view"))
        #expect(deployment.views["payments_view"]?.registration == .differs(registeredVersion: 1))
        #expect(deployment.staleViews == ["payments_view"])

        let start = Self.engineError { try deployment.requireCurrent() }
        #expect(start?.kind == .notReady)
        #expect(
            start?.message
                == "features/ differs from the registry (feature view payments_view); run `larder apply` and `larder materialize`, then start the service"
        )
        let registered = Self.engineError { _ = try deployment.registered(view) }
        #expect(registered?.message == "feature view payments_view in features/ differs from the registered v1; run `larder apply` first")
        // The commands' check (Materializer, TrainingSetBuilder) is the same rule, same message.
        await #expect(throws: OfflineStoreError.self) { try await store.registeredView(view) }
        #expect((try? await store.registeredView(view)) == nil)
        let lookup = Self.engineError { _ = try deployment.lookup(references: ["payments_view:doubled"]) }
        #expect(lookup?.message == registered?.message)
    }

    @Test func anUnregisteredViewIsStale() async throws {
        let directory = try TemporaryDirectory()
        let store = try await Self.store(directory, applying: Self.repository("Deployment/v1.swift"))
        let withExtra = Self.repository("Deployment/v1.swift", extraView: true)
        let deployment = try await Deployment.load(repository: withExtra, offline: store, project: "test")
        #expect(deployment.views["extra_view"]?.registration == .unregistered)
        #expect(deployment.staleViews == ["extra_view"])
        #expect(deployment.versions == ["payments_view": 1])
        let extra = try #require(withExtra.featureView(named: "extra_view"))
        let error = Self.engineError { _ = try deployment.registered(extra) }
        #expect(error?.kind == .notReady)
        #expect(error?.message == "feature view extra_view is not registered; run `larder apply`")
        #expect(
            Self.engineError { try deployment.requireCurrent() }?.message
                == "features/ differs from the registry (feature view extra_view); run `larder apply` and `larder materialize`, then start the service"
        )
    }

    @Test func lookupsForAServiceAreBuiltOnceAndMatchThePlan() async throws {
        let directory = try TemporaryDirectory()
        let v1 = Self.repository("Deployment/v1.swift")
        let store = try await Self.store(directory, applying: v1)
        let deployment = try await Deployment.load(repository: v1, offline: store, project: "test")
        let lookup = try deployment.lookup(service: "payments_service")
        #expect(lookup.plan.features.map(\.reference) == ["payments_view:doubled", "payments_view:count_1h"])
        #expect(lookup.layouts.map { "\($0.view) v\($0.version) \($0.project)" } == ["payments_view v1 test"])
        let assembled = try deployment.lookup(try v1.resolve(serviceNamed: "payments_service"))
        #expect(assembled.plan.features.map(\.reference) == lookup.plan.features.map(\.reference))
        #expect(assembled.layouts.map(\.prefix) == lookup.layouts.map(\.prefix))

        // Assembled at load: a definition applied afterwards does not change what this
        // deployment serves (the service keeps its start's lookups until restarted).
        try await store.registry.apply(try store.registry.plan(for: Self.repository("Deployment/v2.swift")))
        #expect(try deployment.lookup(service: "payments_service").layouts.map(\.version) == [1])
        let reloaded = try await Deployment.load(repository: v1, offline: store, project: "test")
        #expect(Self.engineError { _ = try reloaded.lookup(service: "payments_service") }?.kind == .notReady)

        let unknown = Self.engineError { _ = try deployment.lookup(service: "nope") }
        #expect(unknown?.kind == .notFound)
        #expect(unknown?.message == "unknown feature service 'nope'; known: payments_service")
    }
}
