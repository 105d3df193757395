/// One command and the hash slot its keys lie in, so that a cluster can route it.
public struct RoutedCommand: Sendable {
    /// The command and its arguments.
    public var words: [[UInt8]]
    /// The slot of every key the command touches; `nil` for a command without keys.
    public var slot: Int?

    /// A command whose keys all share `key`'s slot (`nil`: a command without keys).
    public init(_ words: [[UInt8]], key: [UInt8]?) {
        self.init(words, slot: key.map(HashSlot.slot(of:)))
    }

    /// A command whose keys lie in `slot` (`nil`: no keys).
    public init(_ words: [[UInt8]], slot: Int?) {
        self.words = words
        self.slot = slot
    }
}

/// What `/health` says about Redis.
public struct RedisHealth: Sendable {
    /// `ok`, or what is wrong.
    public var status: String
    /// For a cluster: its state as its nodes see it, and each primary's answer to PING.
    public var cluster: ClusterHealth?

    public var isHealthy: Bool { status == "ok" }
}

/// A Redis Cluster's state for `/health`.
public struct ClusterHealth: Sendable {
    /// `cluster_state` from `CLUSTER INFO` (`ok` or `fail`).
    public var state: String
    /// Slots assigned to a primary, of 16384.
    public var slotsCovered: Int
    /// Each primary and `ok` or why it did not answer PING.
    public var primaries: [(endpoint: String, status: String)]
}

/// The Redis that online keys live in: one server (``RedisClient``) or a Redis Cluster
/// (``RedisClusterClient``). The online store states every command with the slot of its keys;
/// a single server ignores the slots, a cluster sends each command to the primary that holds
/// its slot and follows redirections. Error replies are returned, not thrown; transport
/// failures, and a cluster that cannot answer, throw ``RedisError``.
public protocol RedisKeyspace: Sendable {
    /// Sends the commands and returns their replies in command order: one round trip per
    /// node involved, nodes concurrently, in one pipeline with other callers' commands.
    func send(_ commands: [RoutedCommand]) async throws -> [RedisReply]

    /// Runs `script` once per call (each call's keys in one slot); a node that does not know
    /// the script (`NOSCRIPT`: first use, restarted, or a replica just promoted) gets it loaded
    /// and the calls it refused sent again.
    func run(_ script: RedisScript, _ calls: [RedisScript.Call]) async throws -> [RedisReply]

    /// Whether keys in different slots must go in different commands (a cluster refuses a
    /// multi-key command across slots with `CROSSSLOT`).
    var splitsBySlot: Bool { get }

    /// Where to put push markers, one per place that can lose its data independently: `nil`
    /// for one server (one marker), one slot owned by each primary for a cluster.
    func markerSlots() async throws -> [Int]?

    /// Whether Redis answers, for `/health`.
    func health() async -> RedisHealth
}

extension RedisClient: RedisKeyspace {
    public func send(_ commands: [RoutedCommand]) async throws -> [RedisReply] {
        try await batchedCommands(commands.map(\.words))
    }

    public func run(_ script: RedisScript, _ calls: [RedisScript.Call]) async throws -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        return try await withConnection { connection in try script.runPipelined(on: connection, calls) }
    }

    public var splitsBySlot: Bool { false }

    public func markerSlots() async throws -> [Int]? { nil }

    public func health() async -> RedisHealth {
        do {
            let reply = try await command(["PING"])
            return RedisHealth(status: reply.errorMessage.map { "error: \($0)" } ?? "ok")
        } catch {
            return RedisHealth(status: "unavailable: \(error)")
        }
    }
}
