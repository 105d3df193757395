import ArgumentParser
import Foundation
import LarderCore
import LarderOffline

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
        return (configuration, try OfflineStore(path: configuration.offlinePath, options: options))
    }
}
