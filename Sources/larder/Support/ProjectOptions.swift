import ArgumentParser
import LarderOffline

/// Options every command that touches the project takes.
struct ProjectOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (default: ./larder.yaml).")
    var config: String?

    func load() throws -> Configuration {
        try Configuration.load(path: config)
    }

    func openStore() throws -> (Configuration, OfflineStore) {
        let configuration = try load()
        return (configuration, try OfflineStore(path: configuration.offlinePath))
    }
}
