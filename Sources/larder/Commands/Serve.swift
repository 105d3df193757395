import ArgumentParser
import Features
import Hummingbird
import LarderEngine
import LarderOffline
import LarderServer
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the online feature service (HTTP).",
        discussion: """
            POST /v1/features, POST /get-online-features (Feast's JSON), POST /v1/push, \
            GET /v1/catalog... (the feature catalog as JSON), GET /health, GET /metrics, and \
            the catalog's pages at /ui. Stops gracefully on SIGINT or SIGTERM. The OpenAPI \
            document is schemas/openapi.yaml. With serve.tokens in larder.yaml, every route but \
            /health (and /metrics, unless serve.protect_metrics) needs a bearer token holding the \
            permission it checks (docs/CLI.md; `larder token new NAME` makes one); tokens are \
            re-read when the file changes or on SIGHUP. \
            With serve.log.sample_rate (or \
            LARDER_SERVE_LOG_SAMPLE_RATE) above 0, served rows of that share of entities are \
            logged to the offline store (see training-set --from-log).
            """
    )

    @OptionGroup var project: ProjectOptions

    @Option(help: "Address to listen on (default: serve.host in larder.yaml, else 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (default: serve.port in larder.yaml, else 6566).")
    var port: Int?

    @Option(help: "Redis connections in the pool (to each primary of a Redis Cluster).")
    var connections = 4

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0-65535") }
        if connections < 1 { throw ValidationError("--connections must be at least 1") }
    }

    /// How long the service's writes wait for another process's write (at most `offline.busy_timeout`).
    static let maxWriteWait: Duration = .seconds(10)

    func run() async throws {
        var logger = Logger(label: "larder")
        logger.logLevel = .info
        // A push (or the serving log) that finds another process writing waits at most 10 s,
        // then answers 503 naming that write: an HTTP client should not hang for minutes.
        let (configuration, store) = try await project.openBackend(ifDefinitionsStale: .log(logger), busyTimeoutCap: Self.maxWriteWait)
        defer { store.close() }  // after the graceful shutdown, which flushes the serving log
        // Each connection holds a file descriptor: the cap must leave room for the others.
        let fileLimit = OpenFileLimit.raise()
        let maxConnections = try OpenFileLimit.connectionCap(
            configured: configuration.maxConnections, fileLimit: fileLimit, otherFiles: OpenFileLimit.reservedFiles + connections)
        let online = try configuration.onlineStore(poolSize: connections)
        var serverConfiguration = ServerConfiguration(
            host: host ?? configuration.serveHost, port: port ?? configuration.servePort,
            maxBodyBytes: configuration.maxBodyBytes, project: configuration.project)
        serverConfiguration.access = configuration.access
        // Tokens are re-read when larder.yaml changes or on SIGHUP: revoking or rotating one
        // needs no restart. A file that no longer reads keeps the tokens in force.
        let file = project.configurationFile
        serverConfiguration.accessReload = AccessReload(file: file) {
            try Configuration.load(path: file).access
        }
        if configuration.apiToken != nil {
            logger.warning(
                "serve.api_token (or LARDER_API_TOKEN) keeps a token in plain text, and it may do everything; prefer serve.tokens, which stores SHA-256 digests (`larder token new NAME`)"
            )
        }
        logger.info("access: \(configuration.access.summary)")
        serverConfiguration.servingLog = ServingLogConfiguration(
            sampleRate: configuration.logSampleRate, queueCapacity: configuration.logQueueCapacity)
        if let timeout = configuration.headerTimeout { serverConfiguration.headerTimeout = timeout }
        if let timeout = configuration.bodyTimeout { serverConfiguration.bodyTimeout = timeout }
        if let timeout = configuration.idleTimeout { serverConfiguration.idleTimeout = timeout }
        if let limit = configuration.maxEntities { serverConfiguration.maxEntities = limit }
        if let limit = configuration.maxValues { serverConfiguration.maxValues = limit }
        serverConfiguration.maxConnections = maxConnections
        if configuration.maxConnections == nil, maxConnections < ServerConfiguration.defaultMaxConnections {
            logger.warning("at most \(maxConnections) connections (ulimit -n is \(fileLimit ?? 0)); raise the open-files limit for more")
        }
        let server = try await FeatureServer(
            repository: Features.repository, offline: store, online: online, configuration: serverConfiguration, logger: logger)
        if serverConfiguration.servingLog.isEnabled {
            logger.info(
                "serving log on: sample rate \(configuration.logSampleRate), queue capacity \(configuration.logQueueCapacity) entries")
        }
        try await server.makeApplication().runService()
    }
}
