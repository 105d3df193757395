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
        let busyTimeout = min(configuration.busyTimeout, busyTimeoutCap ?? configuration.busyTimeout)
        let options = OfflineStoreOptions(
            eventTimePolicy: EventTimePolicy(maxFutureSkew: configuration.maxEventTimeSkew), busyTimeout: busyTimeout,
            onWait: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
        switch configuration.offline {
        case .sqlite(let path):
            return (configuration, try OfflineStore(path: path, options: options))
        case .postgres(let url):
            // The PostgreSQL store holds the registry so far (LarderPostgres); the commands
            // still run on the SQLite store only. Said plainly rather than half-working.
            throw OfflineStoreError(
                "offline.url selects a PostgreSQL offline store (\(PostgresURL.redacted(url))), which this version of Larder's commands cannot use yet; set offline.path (or LARDER_OFFLINE_PATH) to use a SQLite store"
            )
        }
    }
}
