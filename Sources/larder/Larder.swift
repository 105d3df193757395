import ArgumentParser

/// The `larder` command line. Thin: it parses arguments, loads the configuration and calls
/// the libraries. The definitions it applies are the ones compiled in from `features/`.
@main
struct Larder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "larder",
        abstract: "A feature store: features declared in Swift, history in SQLite, serving from Redis.",
        discussion: """
            Definitions live in features/ and are compiled into this binary: edit them, then \
            run `larder apply`, which rebuilds larder first when the files changed since the \
            build (the other commands warn). Configuration is read from ./larder.yaml \
            (or --config), overridden by LARDER_OFFLINE_PATH and LARDER_REDIS_URL.
            """,
        version: "0.1.0",
        subcommands: [
            Apply.self, List.self, Describe.self, Ingest.self, Materialize.self, TrainingSet.self, Get.self, Serve.self, Verify.self,
            CopyStore.self, StatisticsReference.self, Token.self,
        ]
    )
}
