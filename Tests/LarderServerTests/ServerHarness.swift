import Features
import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import LarderServer
import LarderTestSupport
import Logging
import ServiceLifecycle

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The service's clock in tests: fixed, and set by the test.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Timestamp

    init(_ value: Timestamp) { self.value = value }

    var now: Timestamp {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// A running service on a free port, over a fresh offline store and a real Redis (a server, or
/// a cluster when the run's ``RedisTopology`` says so),
/// with a feature repo (the example one by default) applied and a fixed clock.
final class ServerHarness: @unchecked Sendable {
    let directory: TemporaryDirectory
    let redis: TestRedis
    let offline: OfflineStore
    let online: OnlineStore
    let now: Timestamp
    /// The service's clock: `now` until a test sets it.
    let clock: TestClock
    /// The service's serving log writer, when logging is on (or one was injected).
    let servingLog: ServingLogWriter?
    /// Runs the application as `larder serve` does, so that `stop()` can shut it down
    /// gracefully (as SIGTERM does) instead of cancelling it.
    private let group: ServiceGroup
    private var task: Task<Void, Error>?
    private(set) var port = 0

    /// The clock is fixed at the current minute: Redis expires keys by its real clock, so
    /// event times in tests must be near the real now.
    ///
    /// - Parameter logger: the service's logger; by default one that prints warnings and errors.
    init(
        repository: FeatureRepository = Features.repository, redis topology: RedisTopology = .current, apiToken: String? = nil,
        maxBodyBytes: Int = 1 << 20,
        now: Timestamp = Timestamp(microseconds: Timestamp.now().microseconds / 60_000_000 * 60_000_000),
        configure: (inout ServerConfiguration) -> Void = { _ in },
        storeOptions: OfflineStoreOptions = OfflineStoreOptions(),
        servingLog makeServingLog: ((OfflineStore) -> ServingLogWriter)? = nil,
        logger: Logger? = nil
    ) async throws {
        directory = try TemporaryDirectory()
        redis = try await TestRedis.start(topology)
        offline = try OfflineStore(path: directory.file("offline.sqlite"), options: storeOptions)
        try await offline.registry.apply(try offline.registry.plan(for: repository))
        online = OnlineStore(
            redis: try OnlineRedisURL(redis.url).client(poolSize: 2, connectTimeout: .milliseconds(500), commandTimeout: .milliseconds(500))
        )
        self.now = now
        let clock = TestClock(now)
        self.clock = clock
        let logger = logger ?? Self.warningsOnly
        var configuration = ServerConfiguration(
            host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes, apiToken: apiToken, project: "test", clock: { clock.now })
        configure(&configuration)
        let server = try await FeatureServer(
            repository: repository, offline: offline, online: online, configuration: configuration, logger: logger,
            servingLog: makeServingLog?(offline))
        servingLog = server.servingLog
        let started = AsyncStream<Int>.makeStream()
        let app = server.makeApplication { port in started.continuation.yield(port) }
        var groupConfiguration = ServiceGroupConfiguration(services: [app], logger: logger)
        // A request a test left hanging cannot hold `stop()` for ever: past this, cancel.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        self.group = group
        task = Task { try await group.run() }
        for await p in started.stream {
            port = p
            break
        }
    }

    /// The default logger: prints warnings and errors only.
    static var warningsOnly: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// Shuts the service down gracefully: it stops accepting connections, finishes the
    /// requests in flight, then stops its services (flushing the serving log). Cancelling its
    /// task instead makes Hummingbird log an error ("Waiting on child channel").
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task?.value
        // Stopping a cluster's six nodes blocks: not on the cooperative pool.
        _ = try? await onDedicatedThread { [redis] in redis.stop() }
    }

    struct Reply {
        var status: Int
        var body: Data
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        var text: String { String(decoding: body, as: UTF8.self) }
        var errorMessage: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["message"] as? String }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, token: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        return Reply(status: (response as! HTTPURLResponse).statusCode, body: data)
    }

    func post(_ path: String, _ json: String, token: String? = nil) async throws -> Reply {
        try await request("POST", path, body: Data(json.utf8), token: token)
    }

    func get(_ path: String) async throws -> Reply {
        try await request("GET", path)
    }

    /// `T` shifted by whole minutes, as RFC 3339.
    func at(minutes: Int64) -> String {
        Timestamp(microseconds: now.microseconds + minutes * 60_000_000).description
    }
}
