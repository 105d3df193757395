import ArgumentParser
import Foundation
import LarderCore
import LarderOffline
import LarderPostgres

/// Options every command that touches the project takes.
struct ProjectOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (default: ./larder.yaml).")
    var config: String?

    func load() throws -> Configuration {
        try Configuration.load(path: config)
    }

    /// Opens the offline store with the configured rules; a write that has to wait for
    /// another process's write says so on standard error. `busyTimeoutCap` shortens
    /// `offline.busy_timeout` (the service answers a push 503 rather than hold it for minutes).
    func openStore(busyTimeoutCap: Duration? = nil) throws -> (Configuration, OfflineStore) {
        let configuration = try load()
        switch configuration.offline {
        case .sqlite(let path):
            return (configuration, try OfflineStore(path: path, options: Self.storeOptions(configuration, busyTimeoutCap: busyTimeoutCap)))
        case .postgres(let url):
            // The PostgreSQL store does part of what the SQLite store does so far (the
            // commands that use openBackend); the other commands say so rather than half work.
            throw OfflineStoreError(
                "offline.url selects a PostgreSQL offline store (\(PostgresURL.redacted(url))); this version of Larder runs only larder apply, list, describe, ingest, materialize and get on it, and this command cannot use it yet; set offline.path (or LARDER_OFFLINE_PATH) to use a SQLite store"
            )
        }
    }

    /// The configuration and the configured offline store, SQLite or PostgreSQL, for the
    /// commands that run on either (``OfflineBackend``). Call `close()` when done.
    func openBackend() async throws -> (Configuration, any OfflineBackend) {
        let configuration = try load()
        let options = Self.storeOptions(configuration, busyTimeoutCap: nil)
        switch configuration.offline {
        case .sqlite(let path): return (configuration, try OfflineStore(path: path, options: options))
        case .postgres(let url): return (configuration, try await PostgresStore(url: try PostgresURL(url), options: options))
        }
    }

    private static func storeOptions(_ configuration: Configuration, busyTimeoutCap: Duration?) -> OfflineStoreOptions {
        OfflineStoreOptions(
            eventTimePolicy: EventTimePolicy(maxFutureSkew: configuration.maxEventTimeSkew),
            busyTimeout: min(configuration.busyTimeout, busyTimeoutCap ?? configuration.busyTimeout),
            onWait: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
    }
}
