import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import LarderPostgres
import Yams

/// The project configuration: `larder.yaml`, then the environment.
///
/// ```yaml
/// project: quickstart              # namespaces online keys
/// max_event_time_skew: 5m          # rows more than this ahead of the clock are rejected (ingest and push)
/// offline:
///   path: data/offline.sqlite      # relative to this file; or, for a shared store:
///   # url: postgres://larder@db.example.com/larder?sslmode=verify-full
///   busy_timeout: 5m               # how long a write waits for another one
/// online:
///   redis_url: redis://127.0.0.1:6379/0
///   # or a Redis Cluster, by any of its nodes: redis-cluster://10.0.0.1:7000,10.0.0.2:7000
/// serve:                           # larder serve
///   host: 127.0.0.1
///   port: 6566
///   max_body_bytes: 1048576
///   api_token: secret              # optional: one plain-text token that may do everything
///   tokens:                        # tokens and what each may do (docs/CLI.md, serve)
///     - name: ranking-service
///       sha256: "9f86d0…"          # hex SHA-256 of its secret (`larder token new NAME`)
///       allow: ["read:driver_ranking"]
///   protect_metrics: false         # true: /metrics needs the metrics permission
///   header_timeout_seconds: 10     # a request's head must arrive within this, else 408
///   body_timeout_seconds: 30       # its body within this of the head, else 408
///   idle_timeout_seconds: 60       # keep-alive connections without a request are closed
///   max_connections: 1024          # more get 503 (default lowered to fit `ulimit -n`)
///   max_entities: 10000            # entities per lookup, else 413
///   max_values: 200000             # entities × features per lookup, else 413
///   log:                           # the serving log (off by default)
///     sample_rate: 0.1             # share of entities logged: 0 (off) to 1 (all)
///     queue_capacity: 10000        # entries waiting to be written; past it, dropped and counted
/// ```
///
/// `LARDER_OFFLINE_PATH` or `LARDER_OFFLINE_URL` (the store, replacing `offline.path` and
/// `offline.url`), `LARDER_REDIS_URL`, `LARDER_API_TOKEN`, `LARDER_SERVE_LOG_SAMPLE_RATE` and
/// `LARDER_MAX_EVENT_TIME_SKEW` override the file.
struct Configuration: Equatable {
    /// Which offline store: a SQLite file (the default) or a PostgreSQL database.
    enum OfflineLocation: Equatable {
        /// An absolute path once loaded.
        case sqlite(path: String)
        /// Checked when loaded; the password may come from the environment (``PostgresURL``).
        case postgres(url: String)
    }

    var project: String
    /// `max_event_time_skew`: governs every way rows enter (ingest and push), so top level.
    var maxEventTimeSkew = EventTimePolicy.defaultMaxFutureSkew
    var offline: OfflineLocation
    /// `offline.busy_timeout`: how long a write waits for another process's write.
    var busyTimeout = OfflineStoreOptions.defaultBusyTimeout
    var redisURL: String
    var serveHost = "127.0.0.1"
    var servePort = 6566
    var maxBodyBytes = 1 << 20
    /// `serve.api_token` or `LARDER_API_TOKEN`: a secret in plain text that may do everything.
    var apiToken: String?
    /// `serve.tokens`: the tokens as configured (their digests resolved by ``access``).
    var serveTokens: [TokenEntry] = []
    /// `serve.protect_metrics`: `/metrics` needs the `metrics` permission.
    var protectMetrics = false
    /// The tokens and their permissions: `serve.tokens`, plus `api_token` as one more token
    /// with `*`. Resolved (`sha256_env` read) when the file is loaded.
    var access = AccessPolicy.open
    /// `serve.log.sample_rate`: 0 (off) to 1.
    var logSampleRate = 0.0
    /// `serve.log.queue_capacity`: at least 1.
    var logQueueCapacity = 10_000
    /// `serve.header_timeout_seconds`, `serve.body_timeout_seconds`,
    /// `serve.idle_timeout_seconds`, `serve.max_connections`, `serve.max_entities`,
    /// `serve.max_values`; nil: the service's default (``ServerConfiguration``).
    var headerTimeout: Duration?
    var bodyTimeout: Duration?
    var idleTimeout: Duration?
    var maxConnections: Int?
    var maxEntities: Int?
    var maxValues: Int?

    static let defaultFileName = "larder.yaml"
    static let defaultOfflinePath = "data/offline.sqlite"
    static let defaultRedisURL = "redis://127.0.0.1:6379/0"

    /// Loads `path` (or `larder.yaml` in the working directory) and applies the environment.
    static func load(
        path: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(ConfigurationError) -> Configuration {
        let file = path ?? (workingDirectory as NSString).appendingPathComponent(defaultFileName)
        guard let data = FileManager.default.contents(atPath: file) else {
            if path == nil {
                throw ConfigurationError(
                    "no \(defaultFileName) in \(workingDirectory). Run larder from your project's directory, or pass --config PATH. A minimal file is one line: `project: my_project`."
                )
            }
            throw ConfigurationError("cannot read the configuration file \(file): no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError("\(file): not valid UTF-8")
        }
        var config = try parse(text, file: file)
        // Relative paths in the file are relative to the file, so larder works from anywhere.
        let base = (file as NSString).deletingLastPathComponent
        if case .sqlite(let path) = config.offline, !path.hasPrefix("/") {
            config.offline = .sqlite(path: ((base.isEmpty ? workingDirectory : base) as NSString).appendingPathComponent(path))
        }
        // The environment replaces the file's whole choice of store.
        let pathOverride = environment["LARDER_OFFLINE_PATH"].flatMap { $0.isEmpty ? nil : $0 }
        let urlOverride = environment["LARDER_OFFLINE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        switch (pathOverride, urlOverride) {
        case (.some, .some):
            throw ConfigurationError(
                "LARDER_OFFLINE_PATH and LARDER_OFFLINE_URL are both set; set one: the path selects a SQLite store, the URL a PostgreSQL one"
            )
        case (let path?, nil):
            config.offline = .sqlite(path: path.hasPrefix("/") ? path : (workingDirectory as NSString).appendingPathComponent(path))
        case (nil, let url?):
            try checkPostgresURL(url, origin: "LARDER_OFFLINE_URL", environment: environment)
            config.offline = .postgres(url: url)
        case (nil, nil):
            if case .postgres(let url) = config.offline { try checkPostgresURL(url, origin: file, environment: environment) }
        }
        if let override = environment["LARDER_REDIS_URL"], !override.isEmpty {
            config.redisURL = override
        }
        if let token = environment["LARDER_API_TOKEN"], !token.isEmpty {
            config.apiToken = token
        }
        if let skew = environment["LARDER_MAX_EVENT_TIME_SKEW"], !skew.isEmpty {
            config.maxEventTimeSkew = try duration(skew, key: EventTimePolicy.configurationKey, origin: "LARDER_MAX_EVENT_TIME_SKEW")
        }
        if let rate = environment["LARDER_SERVE_LOG_SAMPLE_RATE"], !rate.isEmpty {
            guard let value = Double(rate), (0...1).contains(value) else {
                throw ConfigurationError(
                    "LARDER_SERVE_LOG_SAMPLE_RATE: '\(rate)' is not a sample rate; expected a number from 0 (off) to 1 (every entity)")
            }
            config.logSampleRate = value
        }
        try checkRedisURL(config.redisURL, origin: environment["LARDER_REDIS_URL"].map { _ in "LARDER_REDIS_URL" } ?? file)
        config.access = try config.accessPolicy(environment: environment, file: file)
        return config
    }

    /// Parses the YAML text of a configuration file, rejecting unknown keys.
    static func parse(_ text: String, file: String) throws(ConfigurationError) -> Configuration {
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw ConfigurationError("\(file): not valid YAML: \(error)")
        }
        guard let top = root as? [String: Any] else {
            throw ConfigurationError("\(file): expected a mapping with keys project, offline, online")
        }
        try checkKeys(top, allowed: ["project", EventTimePolicy.configurationKey, "offline", "online", "serve"], in: file, at: "")
        guard let project = top["project"] as? String else {
            throw ConfigurationError("\(file): 'project' is required and must be a string, e.g. `project: my_project`")
        }
        guard isSafeIdentifier(project) else {
            throw ConfigurationError(
                "\(file): project '\(project)' is not a safe name: use lower-case letters, digits and single underscores, starting with a letter"
            )
        }
        var config = Configuration(project: project, offline: .sqlite(path: defaultOfflinePath), redisURL: defaultRedisURL)
        if let skew = top[EventTimePolicy.configurationKey] {
            config.maxEventTimeSkew = try duration(skew, key: EventTimePolicy.configurationKey, origin: file)
        }
        if let offline = top["offline"] {
            guard let offline = offline as? [String: Any] else {
                throw ConfigurationError("\(file): 'offline' must be a mapping with keys path or url, busy_timeout")
            }
            try checkKeys(offline, allowed: ["path", "url", "busy_timeout"], in: file, at: "offline.")
            if offline["path"] != nil, offline["url"] != nil {
                throw ConfigurationError(
                    "\(file): 'offline.path' and 'offline.url' are both set; keep one: the path selects a SQLite store, the URL a PostgreSQL one"
                )
            }
            if let path = offline["path"] {
                guard let path = path as? String, !path.isEmpty else {
                    throw ConfigurationError("\(file): 'offline.path' must be a non-empty string")
                }
                config.offline = .sqlite(path: path)
            }
            if let url = offline["url"] {
                guard let url = url as? String, !url.isEmpty else {
                    throw ConfigurationError(
                        "\(file): 'offline.url' must be a non-empty string, e.g. postgres://larder@db.example.com/larder")
                }
                config.offline = .postgres(url: url)
            }
            if let timeout = offline["busy_timeout"] {
                config.busyTimeout = try duration(timeout, key: "offline.busy_timeout", origin: file)
            }
        }
        if let online = top["online"] {
            guard let online = online as? [String: Any] else {
                throw ConfigurationError("\(file): 'online' must be a mapping with key redis_url")
            }
            try checkKeys(online, allowed: ["redis_url"], in: file, at: "online.")
            if let url = online["redis_url"] {
                guard let url = url as? String else { throw ConfigurationError("\(file): 'online.redis_url' must be a string") }
                config.redisURL = url
            }
        }
        if let serve = top["serve"] { try parseServe(serve, into: &config, file: file) }
        return config
    }

    /// A duration: text such as `5m`, `90s` or `1h30m`, or a whole number of seconds.
    private static func duration(_ value: Any, key: String, origin: String) throws(ConfigurationError) -> Duration {
        if !(value is Bool), let seconds = value as? Int, seconds >= 0, seconds <= 1_000_000_000 { return .seconds(seconds) }
        if let text = value as? String, let duration = Duration(compactDescription: text) { return duration }
        throw ConfigurationError(
            "\(origin): '\(key)' must be a duration such as 30s, 5m or 1h30m (units d, h, m, s, ms, us), or a whole number of seconds; got \(value)"
        )
    }

    static func checkKeys(_ map: [String: Any], allowed: [String], in file: String, at prefix: String) throws(ConfigurationError) {
        for key in map.keys.sorted() where !allowed.contains(key) {
            throw ConfigurationError(
                "\(file): unknown key '\(prefix)\(key)'; known keys here: \(allowed.map { prefix + $0 }.joined(separator: ", "))")
        }
    }

    /// Parses a PostgreSQL URL as the store will, so a bad one fails when the configuration is
    /// read; the message hides any password.
    private static func checkPostgresURL(_ url: String, origin: String, environment: [String: String]) throws(ConfigurationError) {
        do {
            _ = try PostgresURL(url, environment: environment)
        } catch {
            throw ConfigurationError("\(origin): \(error)")
        }
    }

    private static func checkRedisURL(_ url: String, origin: String) throws(ConfigurationError) {
        do {
            _ = try OnlineRedisURL(url)
        } catch {
            throw ConfigurationError(
                "\(origin): '\(url)' is not a Redis URL (\(error)); expected redis://[user:password@]host:port/db or redis-cluster://[user:password@]host:port[,host:port...]"
            )
        }
    }
}

struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
