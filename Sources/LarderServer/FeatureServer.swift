import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization

/// How the service listens and behaves.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Larger request bodies are refused with 413.
    public var maxBodyBytes: Int
    /// Who may call what: the tokens and their permissions (``AccessPolicy``). Without any
    /// token every route is open; with some, every route but `/health` (and `/metrics`, unless
    /// the policy protects it) needs one, and each route checks its permission.
    public var access: AccessPolicy = .open
    /// How to re-read ``access`` while the service runs (nil: it is fixed).
    public var accessReload: AccessReload?
    /// Namespaces online keys, as in `larder.yaml`.
    public var project: String
    /// The request instant for ttl checks; injectable for tests.
    public var clock: @Sendable () -> Timestamp
    /// How often the registry is read again to notice definitions applied while the service
    /// runs (their values are then `stale-definition`).
    public var definitionCheckInterval: Duration = .seconds(5)
    /// Which served rows are logged to the offline store's serving log (off by default).
    public var servingLog = ServingLogConfiguration()
    /// How long a client may take to send a request's head (request line and headers), from
    /// its first byte or from connecting: past it, 408 and the connection is closed.
    public var headerTimeout: Duration = .seconds(10)
    /// How long a client may take to send a request's body, from its head: past it, 408 and
    /// the connection is closed.
    public var bodyTimeout: Duration = .seconds(30)
    /// How long a keep-alive connection may wait for its next request before it is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Open connections at most; more get 503 and are closed. Each holds a file descriptor.
    public var maxConnections = ServerConfiguration.defaultMaxConnections
    /// Entities in one lookup at most; more get 413.
    public var maxEntities = 10_000
    /// Values (entities × features) in one lookup at most; more get 413. A `/v1/features`
    /// response takes about 100 bytes per value, and answering it as much again in memory.
    public var maxValues = 200_000

    /// `maxConnections` unless configured (and unless the open-files limit is lower).
    public static let defaultMaxConnections = 1024

    public init(
        host: String = "127.0.0.1", port: Int = 6566, maxBodyBytes: Int = 1 << 20, apiToken: String? = nil,
        project: String, clock: @escaping @Sendable () -> Timestamp = { .now() }
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        // `apiToken`: one plain-text token that may do everything (`serve.api_token`).
        if let apiToken, !apiToken.isEmpty { access = AccessPolicy(tokens: [APIToken(name: "api_token", plainSecret: apiToken)]) }
        self.project = project
        self.clock = clock
    }
}

/// Larder's HTTP service over the online store: lookups (`/v1/features`, Feast's
/// `/get-online-features`), pushes (`/v1/push`), `/health` and `/metrics`.
///
/// It serves the definitions compiled into the binary, which must be the registered ones;
/// lookups for each feature service are prepared at start, other feature lists on first use.
public final class FeatureServer: Sendable {
    let repository: FeatureRepository
    let offline: any OfflineBackend
    let online: OnlineStore
    let configuration: ServerConfiguration
    /// The definitions as registered at start: the service serves these until restarted.
    let deployment: Deployment
    /// The registered version of every feature view (read per request: computed once).
    let versions: [String: Int]
    let listLookups = Mutex<[String: OnlineLookup]>([:])
    let logger: Logger
    /// Re-reads the registry for the views whose online values the compiled definitions must
    /// not serve; runs as a service of the application.
    let definitions: DefinitionWatcher
    /// Freshness metrics per feature view.
    let viewMetrics: [String: ViewMetrics]
    /// Where a push to each source goes online, bound once at start (see ``PushTargets``).
    let pushTargets: [String: PushTargets]
    /// Logs served rows when `configuration.servingLog` is on; runs as a service of the application.
    public let servingLog: ServingLogWriter?
    /// The access policy in force, re-read while the service runs when `configuration.accessReload` is set.
    let access: AccessState

    /// Checks that the registry holds exactly the compiled definitions and prepares lookups.
    /// `servingLog` replaces the writer `configuration.servingLog` would make (tests inject one).
    public init(
        repository: FeatureRepository, offline: any OfflineBackend, online: OnlineStore, configuration: ServerConfiguration,
        logger: Logger = Logger(label: "larder.server"), servingLog: ServingLogWriter? = nil
    ) async throws {
        self.repository = repository
        self.offline = offline
        self.online = online
        self.configuration = configuration
        self.logger = logger
        self.access = AccessState(configuration.access)
        self.servingLog =
            servingLog
            ?? (configuration.servingLog.isEnabled
                ? ServingLogWriter(configuration: configuration.servingLog, store: offline, logger: logger) : nil)
        let deployment = try await Deployment.load(repository: repository, offline: offline, project: configuration.project)
        try deployment.requireCurrent()
        for service in repository.services { _ = try deployment.lookup(service: service.name) }  // each fails here, not per request
        self.deployment = deployment
        self.versions = deployment.versions
        self.pushTargets = try PushTargets.all(repository: repository, versions: deployment.versions, project: configuration.project)
        _ = Self.metrics  // metrics are created below: bootstrap first
        self.viewMetrics = Dictionary(uniqueKeysWithValues: repository.featureViews.map { ($0.name, ViewMetrics(view: $0.name)) })
        self.definitions = DefinitionWatcher(
            deployment: deployment, offline: offline, project: configuration.project,
            interval: configuration.definitionCheckInterval, logger: logger)
    }

    /// The stale views as last read from the registry (every `definitionCheckInterval`, by
    /// ``DefinitionWatcher``): a request never waits for the registry.
    func currentStaleViews() -> Set<String> { definitions.views }

    /// The lookup for a service or a feature list.
    func lookup(service: String?, features: [String]?) throws -> OnlineLookup {
        switch (service, features) {
        case (let name?, nil):
            return try deployment.lookup(service: name)
        case (nil, let references?):
            guard !references.isEmpty else { throw APIError.badRequest("'features' is empty") }
            let key = references.joined(separator: ",")
            if let cached = listLookups.withLock({ $0[key] }) { return cached }
            let lookup = try deployment.lookup(references: references)
            // A feature listed twice (also through a whole view) is refused, as Feast refuses
            // colliding names: its columns would share a name. Checked once, before caching.
            var seen = Set<String>()
            for feature in lookup.plan.features where !seen.insert(feature.reference).inserted {
                var error = APIError.unprocessable("feature \(feature.reference) is requested twice in 'features'; name each feature once")
                error.feastClass = "FeatureNameCollisionError"
                throw error
            }
            listLookups.withLock { cache in
                if cache.count >= 1024 { cache.removeAll() }  // bounded: ad-hoc lists are rare
                cache[key] = lookup
            }
            return lookup
        default:
            throw APIError.badRequest("give either a feature service or a list of features, not both or neither")
        }
    }

    /// Refuses with 413 a lookup larger than `serve.max_entities` or `serve.max_values`, before
    /// its rows are built: what a lookup costs (Redis reads, memory, the response) grows with
    /// entities × features. Both lookup routes call it once the entity count is known.
    func checkLookupSize(entities: Int, _ lookup: OnlineLookup) throws {
        guard entities <= configuration.maxEntities else {
            throw APIError(
                status: .contentTooLarge,
                message:
                    "too many entities: \(entities) in one lookup; the service accepts at most \(configuration.maxEntities) (serve.max_entities): split the lookup into several requests"
            )
        }
        let features = lookup.plan.features.count
        guard entities * features <= configuration.maxValues else {
            throw APIError(
                status: .contentTooLarge,
                message:
                    "too many values: \(entities) entities × \(features) features = \(entities * features) in one lookup; the service accepts at most \(configuration.maxValues) (serve.max_values): split the lookup into several requests"
            )
        }
    }

    /// The Prometheus registry behind `GET /metrics`; bootstrapped once per process.
    public static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Hummingbird's metric names have dots; Prometheus allows [a-zA-Z0-9_:].
        factory.nameAndLabelSanitizer = { name, labels in
            // Called for every metric update: a byte scan, allocating only when a name changes.
            func clean(_ s: String) -> String {
                let valid = s.utf8.allSatisfy {
                    ($0 >= 0x30 && $0 <= 0x3A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
                }
                return valid
                    ? s
                    : String(
                        decoding: s.utf8.map {
                            ($0 >= 0x30 && $0 <= 0x3A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) ? $0 : 0x5F
                        }, as: UTF8.self)
            }
            return (clean(name), labels.map { (clean($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// The Hummingbird application serving the routes. `onServerRunning` receives the bound
    /// port (useful with port 0).
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        _ = Self.metrics
        let router = Router(context: ServiceRequestContext.self)
        // Metrics outermost, so they record the status the error middleware answered with.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: JSONErrorMiddleware())
        router.add(
            middleware: MethodNotAllowedMiddleware(allowed: [
                "/v1/features": .post, "/get-online-features": .post, "/v1/push": .post, "/health": .get, "/metrics": .get,
                "/v1/catalog": .get, "/v1/catalog/features": .get, "/ui/logout": .post,
            ]))
        addRoutes(to: router)
        return Application(
            router: router,
            server: .http1(limits: ConnectionLimits(configuration, logger: logger)),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "larder"),
            // Started before the server, stopped after it (the serving log flushes).
            services: [definitions as any Service] + (servingLog.map { [$0 as any Service] } ?? [])
                + (configuration.accessReload.map { [AccessReloader(reload: $0, access: access, logger: logger) as any Service] } ?? []),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
