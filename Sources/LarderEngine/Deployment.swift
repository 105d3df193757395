import LarderCore
import LarderOffline
import LarderOnline

/// The compiled definitions as the registry and the offline store see them, read once: for
/// every feature view its registered version and whether its online values may be served,
/// and the lookups assembled from them. Commands load one per run; the service loads one at
/// start, and again to notice definitions applied while it runs.
public struct Deployment: Sendable {
    /// A compiled feature view against the registry and its materialization.
    public struct ViewVersion: Sendable {
        public let view: FeatureView
        public let registration: Registration
        /// The materialization of the registered version, when the compiled one is registered
        /// and was ever materialized.
        public let materialization: MaterializationState?

        /// The registered version, when the compiled definition is the registered one.
        public var version: Int? { registration.version }

        /// Whether the online store holds values computed by this definition: it is the
        /// registered one, and it is the first version or its version was materialized (a
        /// changed definition's new version has, until then, only an older one's values).
        public var isServable: Bool {
            guard let version else { return false }
            return version == 1 || materialization != nil
        }
    }

    public let repository: FeatureRepository
    /// Namespaces online keys, as in `larder.yaml`.
    public let project: String
    /// Every compiled definition's standing, by name.
    public let registrations: [String: Registration]
    /// Every compiled feature view, by name.
    public let views: [String: ViewVersion]
    /// Each feature service's lookup, assembled at load (or why it could not be); nil when the
    /// deployment was loaded only to read its standing (then assembled per call).
    private let serviceLookups: [String: Result<OnlineLookup, any Error>]?
    /// The registered versions of the views whose compiled definition is the registered one.
    public let versions: [String: Int]

    /// Reads the registry once and each registered view's materialization. `assemblingLookups`
    /// false skips building the feature services' lookups (the service's periodic staleness
    /// check needs only ``staleViews``).
    public static func load(
        repository: FeatureRepository, offline: some OfflineBackend, project: String, assemblingLookups: Bool = true
    ) async throws -> Deployment {
        let registrations = try await offline.registry.registrations(of: repository.specs)
        var views: [String: ViewVersion] = [:]
        for view in repository.featureViews {
            let registration = registrations[view.name] ?? .unregistered
            var state: MaterializationState? = nil
            if let version = registration.version { state = try await offline.materializationState(view: view.name, version: version) }
            views[view.name] = ViewVersion(view: view, registration: registration, materialization: state)
        }
        return Deployment(
            repository: repository, project: project, registrations: registrations, views: views, assemblingLookups: assemblingLookups)
    }

    private init(
        repository: FeatureRepository, project: String, registrations: [String: Registration], views: [String: ViewVersion],
        assemblingLookups: Bool
    ) {
        self.repository = repository
        self.project = project
        self.registrations = registrations
        self.views = views
        self.versions = views.compactMapValues(\.version)
        self.serviceLookups =
            assemblingLookups
            ? Dictionary(
                uniqueKeysWithValues: repository.services.map { service in
                    (service.name, Result { try Self.assemble(try repository.resolve(service: service), repository, project, views) })
                }) : nil
    }

    /// The views (feature and on-demand) whose online values the compiled definitions must not
    /// serve: the registry holds another definition or none, or a changed feature view's new
    /// version has not been materialized yet.
    public var staleViews: Set<String> {
        var stale = Set(views.values.filter { !$0.isServable }.map(\.view.name))
        for view in repository.onDemandViews where registrations[view.name]?.version == nil { stale.insert(view.name) }
        return stale
    }

    /// Refuses to serve unless the registry holds exactly the compiled definitions.
    public func requireCurrent() throws(EngineError) {
        let differing = repository.specs.filter { registrations[$0.name]?.version == nil }
        guard differing.isEmpty else {
            throw EngineError(
                .notReady,
                "features/ differs from the registry (\(differing.map { "\($0.kind.label) \($0.name)" }.joined(separator: ", "))); run `larder apply` and `larder materialize`, then start the service"
            )
        }
    }

    /// The view as registered; refused when its compiled definition is not the registered one.
    public func registered(_ view: FeatureView) throws(EngineError) -> ViewVersion {
        try Self.registered(view, in: views)
    }

    /// The lookup of `features`: their plan and the registered version of every view it reads.
    /// Throws `FeatureLookupError` and `LookupError` unchanged (the service's statuses rest on
    /// them), and ``EngineError/Kind/notReady`` for a view whose definition is not registered.
    public func lookup(_ features: [ResolvedFeature]) throws -> OnlineLookup {
        try Self.assemble(features, repository, project, views)
    }

    /// The lookup of a feature service, assembled once at load.
    public func lookup(service name: String) throws -> OnlineLookup {
        guard let service = repository.services.first(where: { $0.name == name }) else {
            throw EngineError(
                .notFound, "unknown feature service '\(name)'; known: \(repository.services.map(\.name).sorted().joined(separator: ", "))")
        }
        if let assembled = serviceLookups?[name] { return try assembled.get() }
        return try Self.assemble(try repository.resolve(service: service), repository, project, views)
    }

    /// The lookup of `view:feature` (or `view`) references.
    public func lookup(references: [String]) throws -> OnlineLookup {
        try lookup(repository.resolve(references: references))
    }

    /// The earliest end of what `views` have materialized, and its view (nil for no view):
    /// offline values exist only for instants before it.
    public func materializedEnd(of views: [FeatureView]) throws(EngineError) -> (view: String, end: Timestamp)? {
        var earliest: (view: String, end: Timestamp)? = nil
        for view in views {
            let registered = try registered(view)
            guard let state = registered.materialization else {
                // A changed definition's new version: the online values, if any, come from an
                // older one, and nothing offline comes from this one yet.
                let version = registered.version ?? 0
                let why = version > 1 ? " (its definition changed since the online values were computed)" : ""
                throw EngineError(
                    .notReady,
                    "feature view \(view.name) (v\(version)) has not been materialized\(why); run `larder materialize --views \(view.name)`"
                )
            }
            if earliest == nil || state.end < earliest!.end { earliest = (view.name, state.end) }
        }
        return earliest
    }

    private static func registered(_ view: FeatureView, in views: [String: ViewVersion]) throws(EngineError) -> ViewVersion {
        switch views[view.name]?.registration {
        case .current: return views[view.name]!
        case .differs(let registeredVersion)?:
            throw EngineError(.notReady, OfflineStore.differsMessage(view.name, registeredVersion: registeredVersion))
        case .unregistered?, nil:
            throw EngineError(.notReady, OfflineStore.notRegisteredMessage(view.name))
        }
    }

    /// The one assembly of a lookup: plan, versions, `OnlineLookup`.
    private static func assemble(
        _ features: [ResolvedFeature], _ repository: FeatureRepository, _ project: String, _ views: [String: ViewVersion]
    ) throws -> OnlineLookup {
        let plan = try FeaturePlan(repository: repository, features: features)
        var versions: [String: Int] = [:]
        for view in plan.views { versions[view.name] = try registered(view, in: views).version }
        return try OnlineLookup(plan: plan, project: project, versions: versions)
    }
}
