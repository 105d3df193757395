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
    private let stale: Mutex<Set<String>>

    init(deployment: Deployment, offline: any OfflineBackend, project: String, interval: Duration, logger: Logger) {
        self.repository = deployment.repository
        self.offline = offline
        self.project = project
        self.interval = interval
        self.logger = logger
        self.stale = Mutex(deployment.staleViews)
    }

    /// The views (feature and on-demand) whose values must be withheld, as last read.
    var views: Set<String> { stale.withLock { $0 } }

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
                let fresh = try await Deployment.load(
                    repository: repository, offline: offline, project: project, assemblingLookups: false
                ).staleViews
                let previous = stale.withLock { views in
                    defer { views = fresh }
                    return views
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
