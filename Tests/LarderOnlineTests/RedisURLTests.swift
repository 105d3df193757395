import LarderOnline
import Testing

@Suite("RedisURL")
struct RedisURLTests {
    struct Valid: Sendable, CustomTestStringConvertible {
        let text: String
        let host: String
        let port: Int
        let database: Int
        let username: String?
        let password: String?
        var testDescription: String { text }
    }

    static let validURLs: [Valid] = [
        Valid(text: "redis://localhost", host: "localhost", port: 6379, database: 0, username: nil, password: nil),
        Valid(text: "redis://localhost/", host: "localhost", port: 6379, database: 0, username: nil, password: nil),
        Valid(text: "redis://127.0.0.1:6380/2", host: "127.0.0.1", port: 6380, database: 2, username: nil, password: nil),
        Valid(text: "REDIS://cache.internal:1/15", host: "cache.internal", port: 1, database: 15, username: nil, password: nil),
        Valid(text: "redis://:s3cret@host:6379/0", host: "host", port: 6379, database: 0, username: nil, password: "s3cret"),
        Valid(text: "redis://app:pw@host:7000/3", host: "host", port: 7000, database: 3, username: "app", password: "pw"),
        Valid(
            text: "redis://us%65r:p%40ss%3Aw%2Frd%25@host", host: "host", port: 6379, database: 0, username: "user", password: "p@ss:w/rd%"),
        Valid(text: "redis://:p%C3%A4ss@host:65535", host: "host", port: 65535, database: 0, username: nil, password: "päss"),
        Valid(text: "redis://:a@b@host:1/1", host: "host", port: 1, database: 1, username: nil, password: "a@b"),
        Valid(text: "redis://[::1]:6390/4", host: "::1", port: 6390, database: 4, username: nil, password: nil),
        Valid(text: "redis://[::1]", host: "::1", port: 6379, database: 0, username: nil, password: nil),
    ]

    @Test("parses", arguments: validURLs)
    func parses(_ valid: Valid) throws {
        let url = try RedisURL(valid.text)
        #expect(url.host == valid.host)
        #expect(url.port == valid.port)
        #expect(url.database == valid.database)
        #expect(url.username == valid.username)
        #expect(url.password == valid.password)
    }

    static let invalidURLs: [(String, String)] = [
        ("", "missing scheme"),
        ("localhost:6379", "missing scheme"),
        ("http://localhost", "unsupported scheme"),
        ("rediss://localhost", "TLS"),
        ("redis://", "missing host"),
        ("redis://:6379/0", "missing host"),
        ("redis://host:0", "invalid port"),
        ("redis://host:65536", "invalid port"),
        ("redis://host:-1", "invalid port"),
        ("redis://host:port", "invalid port"),
        ("redis://host:", "invalid port"),
        ("redis://host:6379/x", "invalid database"),
        ("redis://host:6379/-1", "invalid database"),
        ("redis://host:6379/1/2", "invalid database"),
        ("redis://host:6379/99999999999", "invalid database"),
        ("redis://host?db=1", "query"),
        ("redis://user@host", "no password"),
        ("redis://user:@host", "empty password"),
        ("redis://:bad%zzpw@host", "percent-encoding"),
        ("redis://:bad%FFpw@host", "percent-encoding"),
        ("redis://::1:6379", "brackets"),
        ("redis://[::1:6379", "unterminated"),
        ("redis://ho st:6379", "invalid host"),
    ]

    @Test("rejects with a reason", arguments: invalidURLs)
    func rejects(_ text: String, expectedReason: String) {
        let error = redisError { try RedisURL(text) }
        guard case .invalidURL(_, let reason)? = error else {
            Issue.record("expected invalidURL for '\(text)', got \(String(describing: error))")
            return
        }
        #expect(reason.contains(expectedReason), "reason: \(reason)")
        #expect(error!.description.contains("invalid Redis URL"))
    }

    @Test func errorsAndDescriptionMaskThePassword() throws {
        let error = redisError { try RedisURL("redis://:topsecret@host:notaport") }
        let message = try #require(error).description
        #expect(!message.contains("topsecret"))
        #expect(message.contains("***"))

        let url = try RedisURL("redis://app:topsecret@host:7000/3")
        #expect(url.description == "redis://app:***@host:7000/3")
        #expect(!"\(url)".contains("topsecret"))
    }

    @Test func endpointNamesHostAndPort() throws {
        #expect(try RedisURL("redis://cache:7000").endpoint == "cache:7000")
        #expect(try RedisURL("redis://[::1]:7000").endpoint == "[::1]:7000")
        #expect(RedisURL(host: "h", port: 1).description == "redis://h:1/0")
    }
}

@Suite("RedisClusterURL")
struct RedisClusterURLTests {
    @Test func seedsAndCredentialsForEveryNode() throws {
        let url = try RedisClusterURL("redis-cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,node-4")
        #expect(url.seeds.map(\.endpoint) == ["10.0.0.1:7000", "10.0.0.2:7001", "[::1]:7002", "node-4:6379"])
        #expect(url.seeds.allSatisfy { $0.username == "app" && $0.password == "p@ss" && $0.database == 0 })
        #expect(url.description == "redis-cluster://app:***@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002,node-4:6379")
        #expect(try RedisClusterURL("REDIS-CLUSTER://h:1/").seeds.map(\.endpoint) == ["h:1"])
        #expect(try RedisClusterURL("redis-cluster://h:1,h:1").seeds.count == 1)
    }

    @Test(
        "rejects with a reason",
        arguments: [
            ("redis-cluster://h:7000/0", "only database 0"),
            ("redis-cluster://h:7000/3", "remove '/3'"),
            ("redis-cluster://h:7000,,h:7001", "empty seed node"),
            ("redis-cluster://", "empty seed node"),
            ("redis-cluster://:7000", "missing host"),
            ("redis-cluster://h:99999", "invalid port"),
            ("redis-cluster://h:1?x=1", "query parameters"),
            ("redis-cluster://user@h:1", "no password"),
            ("redis://h:7000,h:7001", "redis-cluster://"),
            ("redis-cluster://h:1", ""),  // parses as a cluster: see below
        ])
    func rejects(text: String, reason: String) throws {
        guard !reason.isEmpty else {
            #expect(throws: RedisError.self) { try RedisURL(text) }  // a cluster is not one server
            return
        }
        #expect {
            _ = try OnlineRedisURL(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test func onlineURLPicksTheSchemesKind() throws {
        guard case .server(let server) = try OnlineRedisURL("redis://h:6380/2") else { Issue.record("not one server"); return }
        #expect(server.database == 2)
        guard case .cluster(let cluster) = try OnlineRedisURL("redis-cluster://:pw@h:7000") else { Issue.record("not a cluster"); return }
        #expect(cluster.seeds.first?.password == "pw")
        #expect("\(try OnlineRedisURL("redis-cluster://:pw@h:7000"))" == "redis-cluster://:***@h:7000")
    }
}
