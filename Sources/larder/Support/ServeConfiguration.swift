import Foundation

extension Configuration {
    /// The `serve:` section of `larder.yaml`: how `larder serve` listens, its token, the limits
    /// on what one client can cost, and the serving log.
    static func parseServe(_ value: Any, into config: inout Configuration, file: String) throws(ConfigurationError) {
        guard let serve = value as? [String: Any] else { throw ConfigurationError("\(file): 'serve' must be a mapping") }
        try checkKeys(
            serve,
            allowed: [
                "host", "port", "max_body_bytes", "api_token", "log", "header_timeout_seconds", "body_timeout_seconds",
                "idle_timeout_seconds", "max_connections", "max_entities", "max_values",
            ], in: file, at: "serve.")
        if let host = serve["host"] {
            guard let host = host as? String, !host.isEmpty else {
                throw ConfigurationError("\(file): 'serve.host' must be a non-empty string")
            }
            config.serveHost = host
        }
        if let port = serve["port"] {
            guard let port = port as? Int, (1...65535).contains(port) else {
                throw ConfigurationError("\(file): 'serve.port' must be a port number 1-65535")
            }
            config.servePort = port
        }
        if let limit = serve["max_body_bytes"] {
            guard let limit = limit as? Int, limit > 0 else {
                throw ConfigurationError("\(file): 'serve.max_body_bytes' must be a positive integer")
            }
            config.maxBodyBytes = limit
        }
        if let token = serve["api_token"] {
            guard let token = token as? String, !token.isEmpty else {
                throw ConfigurationError("\(file): 'serve.api_token' must be a non-empty string")
            }
            config.apiToken = token
        }
        // A positive number of seconds (YAML reads `10` as an integer, `0.5` as a double).
        func seconds(_ key: String) throws(ConfigurationError) -> Duration? {
            guard let value = serve[key] else { return nil }
            guard !(value is Bool), let seconds = (value as? Int).map(Double.init) ?? (value as? Double), seconds > 0,
                seconds <= 86_400
            else {
                throw ConfigurationError(
                    "\(file): 'serve.\(key)' must be a number of seconds above 0 (at most 86400), e.g. 10; got \(value)")
            }
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        func count(_ key: String, what: String) throws(ConfigurationError) -> Int? {
            guard let value = serve[key] else { return nil }
            guard !(value is Bool), let count = value as? Int, count >= 1 else {
                throw ConfigurationError("\(file): 'serve.\(key)' must be an integer of at least 1 (\(what)); got \(value)")
            }
            return count
        }
        config.headerTimeout = try seconds("header_timeout_seconds")
        config.bodyTimeout = try seconds("body_timeout_seconds")
        config.idleTimeout = try seconds("idle_timeout_seconds")
        config.maxConnections = try count("max_connections", what: "open connections")
        config.maxEntities = try count("max_entities", what: "entities per lookup")
        config.maxValues = try count("max_values", what: "entities × features per lookup")
        if let log = serve["log"] {
            guard let log = log as? [String: Any] else {
                throw ConfigurationError("\(file): 'serve.log' must be a mapping with keys sample_rate, queue_capacity")
            }
            try checkKeys(log, allowed: ["sample_rate", "queue_capacity"], in: file, at: "serve.log.")
            if let rate = log["sample_rate"] {
                // YAML reads `1` as an integer and `0.1` as a double.
                guard !(rate is Bool), let value = (rate as? Int).map(Double.init) ?? (rate as? Double), (0...1).contains(value) else {
                    throw ConfigurationError(
                        "\(file): 'serve.log.sample_rate' must be a number from 0 (off) to 1 (every entity), e.g. 0.1; got \(rate)")
                }
                config.logSampleRate = value
            }
            if let capacity = log["queue_capacity"] {
                guard !(capacity is Bool), let entries = capacity as? Int, entries >= 1 else {
                    throw ConfigurationError(
                        "\(file): 'serve.log.queue_capacity' must be an integer of at least 1 (entries); got \(capacity)")
                }
                config.logQueueCapacity = entries
            }
        }
    }
}
