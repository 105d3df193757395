/// Where a Redis Cluster is: `redis-cluster://[user:password@]host:port[,host:port...]`.
///
/// The hosts are seed nodes: any one that answers is enough to discover the others (the
/// client reads the cluster's layout from it). The credentials apply to every node. A cluster
/// has only database 0, so a database number is an error rather than silently ignored.
public struct RedisClusterURL: Sendable, Hashable, CustomStringConvertible {
    /// The seed nodes, each with the credentials and database 0.
    public var seeds: [RedisURL]

    /// A cluster reached through `seeds` (at least one).
    public init(seeds: [RedisURL]) {
        precondition(!seeds.isEmpty, "a Redis Cluster URL needs at least one seed node")
        self.seeds = seeds
    }

    /// Parses `redis-cluster://[user:password@]host:port[,host:port...]`.
    ///
    /// - Throws: ``RedisError/invalidURL(url:reason:)`` naming what is wrong, password masked.
    public init(_ string: String) throws(RedisError) {
        let masked = RedisURL.mask(string)
        func invalid(_ reason: String) -> RedisError { .invalidURL(url: masked, reason: reason) }
        guard let separator = string.firstRange(of: "://"),
            string[..<separator.lowerBound].lowercased() == "redis-cluster"
        else {
            throw invalid("expected redis-cluster://host:port[,host:port...]")
        }
        let rest = string[separator.upperBound...]
        if rest.contains("?") || rest.contains("#") {
            throw invalid("query parameters and fragments are not supported")
        }
        let slash = rest.firstIndex(of: "/")
        let path = slash.map { rest[rest.index(after: $0)...] } ?? ""
        if !path.isEmpty { throw invalid("a Redis Cluster has only database 0: remove '/\(path)'") }
        let authority = slash.map { rest[..<$0] } ?? rest
        let (credentials, hosts) = try RedisURL.splitUserInfo(authority, masked: masked)
        var seeds: [RedisURL] = []
        for seed in hosts.split(separator: ",", omittingEmptySubsequences: false) {
            guard !seed.isEmpty else { throw invalid("empty seed node in '\(hosts)'") }
            let (host, port) = try RedisURL.hostAndPort(seed, masked: masked)
            let url = RedisURL(host: host, port: port, username: credentials.username, password: credentials.password)
            if !seeds.contains(url) { seeds.append(url) }
        }
        self.init(seeds: seeds)
    }

    /// The URL with its password replaced by `***`, safe for logs.
    public var description: String {
        let first = seeds[0]
        var userInfo = ""
        if first.password != nil { userInfo = "\(first.username.map(RedisURL.percentEncode) ?? ""):***@" }
        return "redis-cluster://\(userInfo)" + seeds.map(\.endpoint).joined(separator: ",")
    }
}

/// What `online.redis_url` names: one Redis server (`redis://`) or a Redis Cluster
/// (`redis-cluster://`).
public enum OnlineRedisURL: Sendable, Hashable, CustomStringConvertible {
    case server(RedisURL)
    case cluster(RedisClusterURL)

    /// Parses either scheme.
    ///
    /// - Throws: ``RedisError/invalidURL(url:reason:)``.
    public init(_ string: String) throws(RedisError) {
        if string.lowercased().hasPrefix("redis-cluster://") {
            self = .cluster(try RedisClusterURL(string))
        } else {
            self = .server(try RedisURL(string))
        }
    }

    public var description: String {
        switch self {
        case .server(let url): url.description
        case .cluster(let url): url.description
        }
    }
}

extension OnlineRedisURL {
    /// A client for this server or cluster.
    ///
    /// - Parameter poolSize: connections to the server, or to each primary of a cluster.
    public func client(
        poolSize: Int = 4, connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(1)
    ) -> any RedisKeyspace {
        switch self {
        case .server(let url):
            RedisClient(
                configuration: .init(url: url, poolSize: poolSize, connectTimeout: connectTimeout, commandTimeout: commandTimeout))
        case .cluster(let url):
            RedisClusterClient(
                configuration: .init(url: url, poolSize: poolSize, connectTimeout: connectTimeout, commandTimeout: commandTimeout))
        }
    }
}
