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
    /// another process's write says so on standard error.
    func openStore() throws -> (Configuration, OfflineStore) {
        let configuration = try load()
        let options = OfflineStoreOptions(
            eventTimePolicy: EventTimePolicy(maxFutureSkew: configuration.maxEventTimeSkew), busyTimeout: configuration.busyTimeout,
            onWait: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
        return (configuration, try OfflineStore(path: configuration.offlinePath, options: options))
    }
}
