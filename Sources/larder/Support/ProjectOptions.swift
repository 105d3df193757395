import ArgumentParser
import Foundation
import LarderCore
import LarderOffline
import LarderPostgres

/// Options every command that touches the project takes.
struct ProjectOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (default: ./larder.yaml).")
    var config: String?

    /// The configuration file's path: `--config`, else `larder.yaml` in the working directory.
    var configurationFile: String {
        config ?? (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(Configuration.defaultFileName)
    }

    func load() throws -> Configuration {
        try Configuration.load(path: config)
    }

    /// The configuration and the configured offline store, SQLite or PostgreSQL
    /// (``OfflineBackend``), with the configured rules; a write that has to wait for another
    /// process's write says so on standard error. `busyTimeoutCap` shortens
    /// `offline.busy_timeout` (the service answers a push 503 rather than hold it for
    /// minutes). Call `close()` when done.
    func openBackend(busyTimeoutCap: Duration? = nil) async throws -> (Configuration, any OfflineBackend) {
        let configuration = try load()
        let options = Self.storeOptions(configuration, busyTimeoutCap: busyTimeoutCap)
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
