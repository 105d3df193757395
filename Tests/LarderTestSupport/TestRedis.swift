import Foundation

/// Which Redis the online tests run against: one `redis-server`, or a six-node Redis Cluster.
///
/// `LARDER_TEST_REDIS=cluster` picks the cluster for a whole test run: `scripts/test.sh` runs
/// the online, service and CLI suites a second time that way, so every one of their tests
/// runs against both. One server otherwise.
public enum RedisTopology: String, Sendable, CaseIterable, CustomStringConvertible {
    case server
    case cluster

    /// The topology this test run uses.
    public static var current: RedisTopology {
        ProcessInfo.processInfo.environment["LARDER_TEST_REDIS"] == "cluster" ? .cluster : .server
    }

    public var description: String { rawValue }
}

/// A running Redis of either topology for one test, stopped when released.
public final class TestRedis: @unchecked Sendable {
    // @unchecked: both stored properties are immutable and themselves thread-safe.

    /// The server, when the topology is one server.
    public let server: RedisServer?
    /// The cluster, when the topology is a cluster.
    public let cluster: RedisCluster?

    /// Starts a server or a cluster (by default the run's ``RedisTopology/current``).
    public init(_ topology: RedisTopology = .current) throws {
        switch topology {
        case .server:
            server = try RedisServer()
            cluster = nil
        case .cluster:
            server = nil
            cluster = try RedisCluster()
        }
    }

    /// Starts one off Swift's cooperative pool: a cluster takes seconds to form, and holding one
    /// of the pool's two threads that long stalls every other test.
    public static func start(_ topology: RedisTopology = .current) async throws -> TestRedis {
        try await onDedicatedThread { try TestRedis(topology) }
    }

    public var topology: RedisTopology { cluster == nil ? .server : .cluster }

    /// What `online.redis_url` takes: `redis://…` or `redis-cluster://…`.
    public var url: String { server?.url ?? cluster!.seedURL }

    /// Stops the server, or every node of the cluster.
    public func stop() {
        server?.stop()
        cluster?.stop()
    }

    /// Starts it again, empty (no persistence), on the same ports; a cluster's nodes re-form
    /// it from their saved configuration, and this waits until it is ready.
    public func restart() throws {
        if let server { try server.restart() }
        if let cluster {
            cluster.stop()
            for node in cluster.nodes { try node.restart() }
            try cluster.waitUntilReady()
        }
    }

    /// Runs one command with `redis-cli` (on a cluster, on any node, following redirections)
    /// and returns its raw output.
    public func cli(_ arguments: String...) throws -> String {
        if let cluster {
            guard let node = cluster.nodes.first(where: \.isRunning) else {
                throw RedisCluster.Failure.commandFailed("no node of the cluster is running")
            }
            return try cluster.redisCLI(on: node, arguments)
        }
        return try Self.run(["-p", String(server!.port)] + arguments)
    }

    /// Every key matching `pattern` (`SCAN`, on every primary of a cluster).
    public func keys(matching pattern: String) throws -> [String] {
        let ports = try cluster.map { cluster in try cluster.primaries().map(\.port) } ?? [server!.port]
        return try ports.flatMap { port in
            try Self.run(["-p", String(port), "--scan", "--pattern", pattern]).split(separator: "\n").map(String.init)
        }
    }

    /// Deletes every key (`FLUSHALL` on the server, or on every primary).
    public func flushAll() throws {
        let ports = try cluster.map { cluster in try cluster.primaries().map(\.port) } ?? [server!.port]
        for port in ports { _ = try Self.run(["-p", String(port), "FLUSHALL"]) }
    }

    private static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-cli", "-h", "127.0.0.1"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RedisCluster.Failure.commandFailed(
                "redis-cli \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
