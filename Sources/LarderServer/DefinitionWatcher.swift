import LarderCore
import LarderEngine
import LarderOffline
import Logging
import ServiceLifecycle
import Synchronization

/// Reads the registry again every `interval`, so that a definition applied while the service
/// runs (or a new version not yet materialized) is served as `stale-definition`. A lifecycle
/// service of the application: it starts and stops with it, and a lookup only reads its last
/// answer (``views``), never waits for the registry.
final class DefinitionWatcher: Service, Sendable {
    let repository: FeatureRepository
    let offline: any OfflineBackend
    let project: String
    let interval: Duration
    let logger: Logger
    private let state: Mutex<(stale: Set<String>, catalog: Catalog)>

    init(deployment: Deployment, offline: any OfflineBackend, project: String, interval: Duration, logger: Logger) {
        self.repository = deployment.repository
        self.offline = offline
        self.project = project
        self.interval = interval
        self.logger = logger
        self.state = Mutex((deployment.staleViews, Catalog(deployment: deployment, offline: offline)))
    }

    /// The views (feature and on-demand) whose values must be withheld, as last read.
    var views: Set<String> { state.withLock { $0.stale } }

    /// The catalog of the deployment as last read.
    var catalog: Catalog { state.withLock { $0.catalog } }

    /// Until the application shuts down (gracefully or by cancellation).
    func run() async throws {
        await cancelWhenGracefulShutdown { await self.watch() }
    }

    private func watch() async {
        // A zero interval (tests) still yields between reads.
        let pause = max(interval, .milliseconds(10))
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: pause)
            } catch {
                return  // cancelled: the application stops
            }
            do {
                let deployment = try await Deployment.load(
                    repository: repository, offline: offline, project: project, assemblingLookups: false)
                let fresh = deployment.staleViews
                let previous = state.withLock { state in
                    defer { state = (fresh, state.catalog.with(deployment)) }
                    return state.stale
                }
                if fresh != previous {
                    logger.warning(
                        "definitions out of date: \(fresh.isEmpty ? "none" : fresh.sorted().joined(separator: ", ")); their features are served as stale-definition"
                    )
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("reading the registry for stale definitions failed: \(error)")
            }
        }
    }
}
