/// A Redis Cluster's slot map: which shard serves each hash slot, its primary and replicas,
/// read from the reply of `CLUSTER SHARDS` (Redis 7.0+).
///
/// `CLUSTER SHARDS` rather than `CLUSTER SLOTS`: it names each node's role and health, so a
/// failed primary can be told from a live one, and it is the command Redis keeps extending
/// (`CLUSTER SLOTS` is deprecated since 7.0).
///
/// Parsing accepts a map that leaves slots unserved (a cluster in the middle of a failure or a
/// reshard answers with one); ``checkCoverage()`` says whether every slot has a primary.
public struct ClusterSlots: Sendable, Equatable {
    /// Where a node accepts clients.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// An IP address, or a host name when the node announces no address.
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port`, with an IPv6 address in brackets.
        public var description: String {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// One node of a shard, as `CLUSTER SHARDS` describes it.
    public struct Node: Sendable, Hashable {
        public enum Role: Sendable, Hashable {
            case primary
            case replica
        }

        /// The node's 40-character cluster id.
        public var id: String
        public var endpoint: Endpoint
        public var role: Role
        /// `online`, `failed` or `loading`, as Redis says it. Redis 7.0 reports `loading` for
        /// a replica whose replication offset is still 0, which it is until the first write
        /// reaches it, so a replica of an empty primary is `loading` however long it has been
        /// in sync.
        public var health: String
        /// The node's replication offset, when reported.
        public var replicationOffset: Int64?

        public init(id: String, endpoint: Endpoint, role: Role, health: String, replicationOffset: Int64? = nil) {
            self.id = id
            self.endpoint = endpoint
            self.role = role
            self.health = health
            self.replicationOffset = replicationOffset
        }

        /// Whether Redis reports the node as `online`.
        public var isOnline: Bool { health == "online" }
    }

    /// A primary and its replicas, and the slots they serve.
    public struct Shard: Sendable, Hashable {
        /// The slot ranges the shard serves, in the order Redis lists them; empty for a primary
        /// that lost all its slots (to a failover or a reshard) but is still known.
        public var slotRanges: [ClosedRange<Int>]
        /// The shard's primary. Redis may list none while a failover is under way.
        public var primary: Node?
        /// Every node of the shard that is not its primary, in the order Redis lists them.
        public var replicas: [Node]

        public init(slotRanges: [ClosedRange<Int>], primary: Node?, replicas: [Node]) {
            self.slotRanges = slotRanges
            self.primary = primary
            self.replicas = replicas
        }
    }

    /// Why a reply could not be read as a slot map, or why a map is incomplete.
    public enum Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        /// The reply is not shaped like a reply of `CLUSTER SHARDS`; `reason` says where.
        case malformedReply(reason: String)
        /// No shard with a primary serves `slot` (the first such slot; `count` in all).
        case uncoveredSlot(slot: Int, count: Int)

        public var description: String {
            switch self {
            case .malformedReply(let reason):
                return "unexpected reply to CLUSTER SHARDS: \(reason)"
            case .uncoveredSlot(let slot, let count):
                return "the cluster's slot map is incomplete: no primary serves slot \(slot)"
                    + (count > 1 ? " (\(count) of \(HashSlot.count) slots are unserved)" : "")
            }
        }
    }

    /// Every shard the reply listed, in its order.
    public let shards: [Shard]
    /// For each slot, the index in ``shards`` of the shard serving it, or -1: an array
    /// lookup, since a batched lookup asks once per key.
    private let shardOfSlot: [Int16]

    /// The map of `shards`. Where ranges of two shards overlap, the later shard wins.
    ///
    /// - Throws: ``Error/malformedReply(reason:)`` if a range lies outside `0..<16384`.
    public init(shards: [Shard]) throws(Error) {
        var shardOfSlot = [Int16](repeating: -1, count: HashSlot.count)
        for (index, shard) in shards.enumerated() {
            for range in shard.slotRanges {
                guard range.lowerBound >= 0, range.upperBound < HashSlot.count else {
                    throw .malformedReply(reason: "slot range \(range.lowerBound)-\(range.upperBound) is outside 0-16383")
                }
                for slot in range { shardOfSlot[slot] = Int16(index) }
            }
        }
        self.shards = shards
        self.shardOfSlot = shardOfSlot
    }

    /// Reads the reply of `CLUSTER SHARDS`: an array of shards, each a flat list of
    /// field/value pairs with `slots` (start and end slot of each range, alternating) and
    /// `nodes` (each a flat list of field/value pairs: `id`, `ip`, `endpoint`, `hostname`,
    /// `port` or `tls-port`, `role`, `replication-offset`, `health`).
    ///
    /// Numbers are accepted as integers or as strings: Redis 7.0 may send slot bounds as
    /// strings. A node's host is its `ip`, else its `endpoint` (unless `?`, Redis's "unknown"),
    /// else its `hostname`. Fields Redis adds in later versions are ignored.
    ///
    /// - Throws: ``Error/malformedReply(reason:)`` naming the first thing that does not fit.
    public init(shardsReply reply: RedisReply) throws(Error) {
        if let message = reply.errorMessage { throw .malformedReply(reason: "the server answered an error: \(message)") }
        guard let elements = reply.arrayValue else { throw .malformedReply(reason: "expected an array, got \(reply)") }
        var shards: [Shard] = []
        shards.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            shards.append(try Self.shard(element, at: index))
        }
        try self.init(shards: shards)
    }

    /// The primary's endpoint for `slot`, or nil if no shard with a primary serves it (or
    /// `slot` is not in `0..<16384`).
    ///
    /// The primary may be failing (see its ``Node/health``): only the cluster decides when a
    /// replica takes over, and a client that finds it unreachable reads the map again.
    public func primary(for slot: Int) -> Endpoint? {
        shard(for: slot)?.primary?.endpoint
    }

    /// The shard serving `slot`, or nil if none does (or `slot` is not in `0..<16384`).
    public func shard(for slot: Int) -> Shard? {
        guard slot >= 0, slot < HashSlot.count else { return nil }
        let index = shardOfSlot[slot]
        return index < 0 ? nil : shards[Int(index)]
    }

    /// Checks that a primary serves every one of the 16384 slots.
    ///
    /// - Throws: ``Error/uncoveredSlot(slot:count:)`` naming the first slot that has none.
    public func checkCoverage() throws(Error) {
        var first: Int?
        var count = 0
        for slot in 0..<HashSlot.count where shard(for: slot)?.primary == nil {
            if first == nil { first = slot }
            count += 1
        }
        if let first { throw .uncoveredSlot(slot: first, count: count) }
    }

    // MARK: - Parsing

    private static func shard(_ reply: RedisReply, at index: Int) throws(Error) -> Shard {
        let place = "shard \(index)"
        let fields = try fields(of: reply, place)
        guard let slots = fields["slots"]?.arrayValue else { throw .malformedReply(reason: "\(place) has no slots array") }
        guard slots.count % 2 == 0 else {
            throw .malformedReply(reason: "\(place) lists \(slots.count) slot bounds, not pairs of start and end")
        }
        var ranges: [ClosedRange<Int>] = []
        for pair in stride(from: 0, to: slots.count, by: 2) {
            let start = try integer(slots[pair], "a slot bound of \(place)")
            let end = try integer(slots[pair + 1], "a slot bound of \(place)")
            guard start <= end else { throw .malformedReply(reason: "\(place) has the slot range \(start)-\(end)") }
            ranges.append(Int(start)...Int(end))
        }
        guard let nodeReplies = fields["nodes"]?.arrayValue else { throw .malformedReply(reason: "\(place) has no nodes array") }
        var primary: Node?
        var replicas: [Node] = []
        for (nodeIndex, nodeReply) in nodeReplies.enumerated() {
            let node = try node(nodeReply, "node \(nodeIndex) of \(place)")
            // A shard lists one primary; should a second appear (a stale view mid-failover),
            // the one reported online is the one to talk to.
            if node.role == .primary, primary == nil || (!primary!.isOnline && node.isOnline) {
                if let previous = primary { replicas.append(previous) }
                primary = node
            } else {
                replicas.append(node)
            }
        }
        return Shard(slotRanges: ranges, primary: primary, replicas: replicas)
    }

    private static func node(_ reply: RedisReply, _ place: String) throws(Error) -> Node {
        let fields = try fields(of: reply, place)
        func text(_ name: String) -> String? {
            guard let value = fields[name]?.stringValue, !value.isEmpty else { return nil }
            return value
        }
        guard let id = text("id") else { throw .malformedReply(reason: "\(place) has no id") }
        guard let host = text("ip") ?? text("endpoint").flatMap({ $0 == "?" ? nil : $0 }) ?? text("hostname") else {
            throw .malformedReply(reason: "\(place) (\(id)) has no ip, endpoint or hostname")
        }
        // A cluster with TLS reports `tls-port` and, unless it also accepts plain
        // connections, no `port`.
        guard let portReply = fields["port"] ?? fields["tls-port"] else {
            throw .malformedReply(reason: "\(place) (\(id)) has no port")
        }
        let port = try integer(portReply, "the port of \(place)")
        guard (1...65535).contains(port) else { throw .malformedReply(reason: "\(place) (\(id)) has port \(port)") }
        let role: Node.Role
        switch text("role") {
        case "master", "primary": role = .primary
        case "replica", "slave": role = .replica
        case let other: throw .malformedReply(reason: "\(place) (\(id)) has role \(other ?? "(none)")")
        }
        let offset = try fields["replication-offset"].map { (reply) throws(Error) in try integer(reply, "the offset of \(place)") }
        return Node(
            id: id, endpoint: Endpoint(host: host, port: Int(port)), role: role, health: text("health") ?? "unknown",
            replicationOffset: offset)
    }

    /// A flat array of field names and values as a dictionary (the first of repeated names).
    private static func fields(of reply: RedisReply, _ place: String) throws(Error) -> [String: RedisReply] {
        guard let elements = reply.arrayValue, elements.count % 2 == 0 else {
            throw .malformedReply(reason: "\(place) is not a list of field names and values: \(reply)")
        }
        var fields: [String: RedisReply] = [:]
        for index in stride(from: 0, to: elements.count, by: 2) {
            guard let name = elements[index].stringValue else {
                throw .malformedReply(reason: "\(place) has a field name that is not a string: \(elements[index])")
            }
            if fields[name] == nil { fields[name] = elements[index + 1] }
        }
        return fields
    }

    /// An integer reply, or a bulk or status string holding a decimal integer.
    private static func integer(_ reply: RedisReply, _ what: String) throws(Error) -> Int64 {
        if let value = reply.intValue { return value }
        if let text = reply.stringValue, let value = Int64(text) { return value }
        throw .malformedReply(reason: "\(what) is not an integer: \(reply)")
    }
}
