import Foundation
import LarderEngine

extension Configuration {
    /// The `serve:` section of `larder.yaml`: how `larder serve` listens, its token, the limits
    /// on what one client can cost, and the serving log.
    static func parseServe(_ value: Any, into config: inout Configuration, file: String) throws(ConfigurationError) {
        guard let serve = value as? [String: Any] else { throw ConfigurationError("\(file): 'serve' must be a mapping") }
        try checkKeys(
            serve,
            allowed: [
                "host", "port", "max_body_bytes", "api_token", "tokens", "protect_metrics", "log", "header_timeout_seconds",
                "body_timeout_seconds", "idle_timeout_seconds", "max_connections", "max_entities", "max_values",
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
        if let tokens = serve["tokens"] { config.serveTokens = try parseTokens(tokens, file: file) }
        if let protect = serve["protect_metrics"] {
            guard let protect = protect as? Bool else {
                throw ConfigurationError("\(file): 'serve.protect_metrics' must be true or false; got \(protect)")
            }
            config.protectMetrics = protect
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

/// One entry of `serve.tokens`: a name, where its SHA-256 comes from, and its permissions.
struct TokenEntry: Equatable {
    enum Digest: Equatable {
        /// `sha256`: the hex digest, in the file.
        case inFile([UInt8])
        /// `sha256_env`: the name of the environment variable holding it.
        case environment(String)
    }
    var name: String
    var digest: Digest
    var allow: [Permission]
}

extension Configuration {
    /// `serve.tokens`: a list of mappings with `name`, `sha256` or `sha256_env`, and `allow`.
    static func parseTokens(_ value: Any, file: String) throws(ConfigurationError) -> [TokenEntry] {
        guard let list = value as? [Any] else {
            throw ConfigurationError("\(file): 'serve.tokens' must be a list of tokens, each with name, sha256 (or sha256_env) and allow")
        }
        var entries: [TokenEntry] = []
        for (index, item) in list.enumerated() {
            let at = "serve.tokens[\(index)]"
            guard let map = item as? [String: Any] else {
                throw ConfigurationError("\(file): '\(at)' must be a mapping with keys name, sha256 (or sha256_env), allow")
            }
            try checkKeys(map, allowed: ["name", "sha256", "sha256_env", "allow"], in: file, at: at + ".")
            guard let name = map["name"] as? String, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            else {
                throw ConfigurationError(
                    "\(file): '\(at).name' must be a name of letters, digits, '-', '_' or '.' (it labels logs and metrics)")
            }
            guard !entries.contains(where: { $0.name == name }) else {
                throw ConfigurationError("\(file): '\(at).name': token '\(name)' is configured twice; names must be unique")
            }
            let digest: TokenEntry.Digest
            switch (map["sha256"], map["sha256_env"]) {
            case (let hex?, nil):
                guard let text = hex as? String, let bytes = APIToken.digest(hex: text) else {
                    throw ConfigurationError(
                        "\(file): '\(at).sha256' (token \(name)) must be the 64 hex digits of the secret's SHA-256; `larder token new \(name)` prints one"
                    )
                }
                digest = .inFile(bytes)
            case (nil, let variable?):
                guard let variable = variable as? String, !variable.isEmpty else {
                    throw ConfigurationError("\(file): '\(at).sha256_env' (token \(name)) must name an environment variable")
                }
                digest = .environment(variable)
            default:
                throw ConfigurationError("\(file): '\(at)' (token \(name)) needs one of sha256 or sha256_env, not both or neither")
            }
            guard let allow = map["allow"] as? [Any], !allow.isEmpty else {
                throw ConfigurationError(
                    "\(file): '\(at).allow' (token \(name)) must be a non-empty list of permissions: read:NAME, push:SOURCE, catalog, metrics, *"
                )
            }
            var permissions: [Permission] = []
            for (i, entry) in allow.enumerated() {
                guard let text = entry as? String, let permission = Permission(text) else {
                    throw ConfigurationError(
                        "\(file): '\(at).allow[\(i)]' (token \(name)): '\(entry)' is not a permission; expected read:NAME, push:SOURCE, catalog, metrics or * (a NAME may end in * as a prefix)"
                    )
                }
                permissions.append(permission)
            }
            entries.append(TokenEntry(name: name, digest: digest, allow: permissions))
        }
        return entries
    }

    /// The policy of the configured tokens, their `sha256_env` read from `environment`, plus
    /// `api_token` (or `LARDER_API_TOKEN`) as a token named `api_token` with `*`.
    func accessPolicy(environment: [String: String], file: String) throws(ConfigurationError) -> AccessPolicy {
        var tokens: [APIToken] = []
        for (index, entry) in serveTokens.enumerated() {
            switch entry.digest {
            case .inFile(let bytes):
                tokens.append(APIToken(name: entry.name, sha256: bytes, allow: entry.allow))
            case .environment(let variable):
                guard let text = environment[variable], !text.isEmpty else {
                    throw ConfigurationError(
                        "\(file): 'serve.tokens[\(index)].sha256_env' (token \(entry.name)): the environment variable \(variable) is not set"
                    )
                }
                guard let bytes = APIToken.digest(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                    throw ConfigurationError(
                        "\(file): 'serve.tokens[\(index)].sha256_env' (token \(entry.name)): \(variable) must hold the 64 hex digits of a SHA-256"
                    )
                }
                tokens.append(APIToken(name: entry.name, sha256: bytes, allow: entry.allow))
            }
        }
        if let apiToken {
            guard !tokens.contains(where: { $0.name == "api_token" }) else {
                throw ConfigurationError(
                    "\(file): a token in serve.tokens is named api_token, the name serve.api_token (or LARDER_API_TOKEN) takes; rename it")
            }
            tokens.append(APIToken(name: "api_token", plainSecret: apiToken))
        }
        return AccessPolicy(tokens: tokens, protectsMetrics: protectMetrics)
    }
}
