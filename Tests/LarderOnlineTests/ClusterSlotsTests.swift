import Foundation
import LarderOnline
import LarderTestSupport
import Testing

/// The slot map read from `CLUSTER SHARDS`, checked against `CLUSTER NODES` of a real cluster.
@Suite("ClusterSlots", .timeLimit(.minutes(2)))
struct ClusterSlotsTests {
    @Test func realClusterMapAgreesWithClusterNodes() async throws {
        try await onDedicatedThread {
            let cluster = try RedisCluster()
            let reply = try await Self.shardsReply(from: cluster.nodes[4])  // a replica answers too
            let map = try ClusterSlots(shardsReply: reply)
            try map.checkCoverage()

            let oracle = try Self.primaries(inClusterNodes: cluster.clusterNodes())
            #expect(oracle.count == 3)
            let served = map.shards.filter { !$0.slotRanges.isEmpty }
            #expect(served.count == 3)
            for shard in served {
                let primary = try #require(shard.primary)
                let expected = try #require(oracle[primary.id], "\(primary.id) is not a primary in CLUSTER NODES")
                #expect(primary.endpoint == .init(host: "127.0.0.1", port: expected.port))
                #expect(primary.role == .primary && primary.isOnline)
                #expect(shard.slotRanges == expected.ranges)
                #expect(shard.replicas.map(\.id) == expected.replicas.map(\.id))
                #expect(shard.replicas.map(\.endpoint.port) == expected.replicas.map(\.port))
                #expect(shard.replicas.allSatisfy { $0.role == .replica })
            }
            // Every slot, not only the ranges' ends.
            var wrong: [Int] = []
            for slot in 0..<HashSlot.count {
                let owner = oracle.values.first { $0.ranges.contains { $0.contains(slot) } }
                if map.primary(for: slot)?.port != owner?.port { wrong.append(slot) }
            }
            #expect(wrong.isEmpty, "slots \(wrong.prefix(10)) disagree")
            #expect(map.primary(for: -1) == nil && map.primary(for: HashSlot.count) == nil)

            // A key's slot leads to the node that holds it: written through redis-cli (which
            // follows redirections), read back without redirections from the map's primary.
            for index in 0..<12 {
                let key = index % 2 == 0 ? "driver:\(index * 977)" : "{entity\(index)}.view"
                let slot = HashSlot.slot(of: key)
                #expect(try cluster.redisCLI("CLUSTER", "KEYSLOT", key) == "\(slot)\n")
                let endpoint = try #require(map.primary(for: slot))
                #expect(endpoint.port == (try cluster.primary(forSlot: slot)).port, "\(key)")
                _ = try cluster.redisCLI("SET", key, "value \(index)")
                let direct = try RedisConnection(url: RedisURL(host: endpoint.host, port: endpoint.port))
                #expect(try direct.command("GET", key) == .bulk(Array("value \(index)".utf8)), "\(key) on \(endpoint)")
            }
        }
    }

    /// Redis 7.0 may send slot bounds (and other numbers) as strings: the same map results.
    @Test func numbersAsStringsParseTheSame() async throws {
        try await onDedicatedThread {
            let cluster = try RedisCluster()
            let reply = try await Self.shardsReply(from: cluster.nodes[0])
            let stringly = Self.numbersAsStrings(reply)
            #expect(stringly != reply)
            #expect(try ClusterSlots(shardsReply: stringly) == ClusterSlots(shardsReply: reply))
        }
    }

    /// After a primary is killed and its replica promoted, the map names the new primary; the
    /// dead one, still listed as a primary without slots, serves nothing.
    @Test func mapAfterFailover() async throws {
        try await onDedicatedThread {
            let cluster = try RedisCluster()
            let slot = HashSlot.slot(of: "failover")
            let before = try ClusterSlots(shardsReply: try await Self.shardsReply(from: cluster.nodes[0]))
            let victim = try cluster.primary(forSlot: slot)
            let replica = try #require(before.shard(for: slot)?.replicas.first)
            #expect(before.primary(for: slot)?.port == victim.port)

            victim.kill()
            let clock = ContinuousClock()
            let start = clock.now
            try cluster.waitForFailover(of: victim, timeout: 20)
            print("ClusterSlots: failover took \(clock.now - start)")

            // The survivors learn of the promotion by gossip: read the map until the one asked
            // has (at most 10 s).
            let survivor = try #require(cluster.nodes.first { $0.isRunning })
            var after = try ClusterSlots(shardsReply: try await Self.shardsReply(from: survivor))
            for _ in 0..<100 where after.primary(for: slot)?.port != replica.endpoint.port {
                try await Task.sleep(for: .milliseconds(100))
                after = try ClusterSlots(shardsReply: try await Self.shardsReply(from: survivor))
            }
            try after.checkCoverage()
            #expect(after.primary(for: slot)?.port == replica.endpoint.port)
            #expect(try cluster.primary(forSlot: slot).port == replica.endpoint.port)
            let dead = after.shards.filter { $0.primary?.endpoint.port == victim.port }
            #expect(dead.allSatisfy { $0.slotRanges.isEmpty && $0.primary?.isOnline == false }, "\(dead)")
        }
    }

    @Test func handBuiltReplyWithStringBounds() throws {
        let reply = Self.reply(shards: [
            (["0", "100", "200", "5460"], [("a", "10.0.0.1", 7000, "master"), ("b", "10.0.0.2", 7001, "replica")]),
            (["101", "199"], [("c", "10.0.0.3", 7002, "master")]),
            (["5461", "16383"], [("d", "10.0.0.4", 7003, "replica"), ("e", "10.0.0.5", 7004, "master")]),
        ])
        let map = try ClusterSlots(shardsReply: reply)
        try map.checkCoverage()
        #expect(map.shards.map(\.slotRanges) == [[0...100, 200...5460], [101...199], [5461...16383]])
        #expect(map.primary(for: 0) == .init(host: "10.0.0.1", port: 7000))
        #expect(map.primary(for: 150) == .init(host: "10.0.0.3", port: 7002))
        #expect(map.primary(for: 5460) == .init(host: "10.0.0.1", port: 7000))
        #expect(map.primary(for: 16383) == .init(host: "10.0.0.5", port: 7004))
        #expect(map.shard(for: 16383)?.replicas.map(\.id) == ["d"])
        #expect(map.shard(for: 0)?.replicas.first?.endpoint.description == "10.0.0.2:7001")
    }

    @Test func hostFallsBackFromIPToEndpointToHostname() throws {
        func text(_ value: String) -> RedisReply { .bulk(Array(value.utf8)) }
        func host(_ fields: [(String, RedisReply)]) throws -> String? {
            let all: [(String, RedisReply)] = [("id", text("n")), ("port", .integer(7000)), ("role", text("master"))] + fields
            let node = RedisReply.array(all.flatMap { [text($0.0), $0.1] })
            let shard = RedisReply.array([text("slots"), .array([.integer(0), .integer(16383)]), text("nodes"), .array([node])])
            return try ClusterSlots(shardsReply: .array([shard])).primary(for: 0)?.host
        }
        #expect(try host([("ip", text("10.0.0.1")), ("endpoint", text("node1.example")), ("hostname", text("h"))]) == "10.0.0.1")
        #expect(try host([("ip", text("")), ("endpoint", text("node1.example")), ("hostname", text("h"))]) == "node1.example")
        #expect(try host([("endpoint", text("?")), ("hostname", text("h.example"))]) == "h.example")
        #expect(throws: ClusterSlots.Error.self) { try host([("endpoint", text("?"))]) }
    }

    @Test func incompleteMapNamesTheFirstUncoveredSlot() throws {
        let gap = try ClusterSlots(
            shardsReply: Self.reply(shards: [
                (["0", "5460"], [("a", "127.0.0.1", 7000, "master")]),
                (["5462", "16383"], [("b", "127.0.0.1", 7001, "master")]),
            ]))
        #expect(gap.primary(for: 5461) == nil)
        #expect(throws: ClusterSlots.Error.uncoveredSlot(slot: 5461, count: 1)) { try gap.checkCoverage() }
        #expect(
            ClusterSlots.Error.uncoveredSlot(slot: 5461, count: 1).description
                == "the cluster's slot map is incomplete: no primary serves slot 5461")

        // Slots whose shard lists no primary are not served either.
        let headless = try ClusterSlots(
            shardsReply: Self.reply(shards: [
                (["0", "9999"], [("a", "127.0.0.1", 7000, "master")]),
                (["10000", "16383"], [("b", "127.0.0.1", 7001, "replica")]),
            ]))
        #expect(headless.primary(for: 10000) == nil)
        #expect(throws: ClusterSlots.Error.uncoveredSlot(slot: 10000, count: 6384)) { try headless.checkCoverage() }
        #expect(
            ClusterSlots.Error.uncoveredSlot(slot: 10000, count: 6384).description
                == "the cluster's slot map is incomplete: no primary serves slot 10000 (6384 of 16384 slots are unserved)")

        let empty = try ClusterSlots(shardsReply: .array([]))
        #expect(throws: ClusterSlots.Error.uncoveredSlot(slot: 0, count: 16384)) { try empty.checkCoverage() }
    }

    @Test func malformedRepliesAreRefused() {
        func refusal(_ reply: RedisReply) -> String? {
            do {
                _ = try ClusterSlots(shardsReply: reply)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(.error("ERR This instance has cluster support disabled"))?.contains("cluster support disabled") == true)
        #expect(refusal(.bulk([])) != nil)
        #expect(refusal(Self.reply(shards: [(["0"], [("a", "h", 1, "master")])]))?.contains("not pairs") == true)
        #expect(refusal(Self.reply(shards: [(["0", "16384"], [("a", "h", 1, "master")])]))?.contains("outside") == true)
        #expect(refusal(Self.reply(shards: [(["9", "1"], [("a", "h", 1, "master")])]))?.contains("9-1") == true)
        #expect(refusal(Self.reply(shards: [(["0", "x"], [("a", "h", 1, "master")])]))?.contains("not an integer") == true)
        #expect(refusal(Self.reply(shards: [(["0", "1"], [("a", "h", 1, "leader")])]))?.contains("role leader") == true)
        #expect(refusal(Self.reply(shards: [(["0", "1"], [("a", "h", 0, "master")])]))?.contains("port 0") == true)
    }

    // MARK: - Helpers

    /// `CLUSTER SHARDS` sent through the client the store uses.
    static func shardsReply(from node: RedisCluster.Node) async throws -> RedisReply {
        let client = try RedisClient(url: "redis://127.0.0.1:\(node.port)/0", poolSize: 1)
        return try await client.command(["CLUSTER", "SHARDS"])
    }

    /// Each primary in `CLUSTER NODES` text (by id): its port, slot ranges (in the listed
    /// order), and replicas (id and port, in the listed order of lines).
    static func primaries(inClusterNodes text: String) throws
        -> [String: (port: Int, ranges: [ClosedRange<Int>], replicas: [(id: String, port: Int)])]
    {
        var result: [String: (port: Int, ranges: [ClosedRange<Int>], replicas: [(id: String, port: Int)])] = [:]
        var replicas: [(id: String, port: Int, primary: String)] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            let port = try #require(Int(fields[1].split(separator: "@")[0].split(separator: ":").last ?? ""))
            if fields[2].contains("master") {
                let ranges = fields.dropFirst(8).map { range in
                    let bounds = range.split(separator: "-").compactMap { Int($0) }
                    return bounds[0]...bounds[bounds.count - 1]
                }
                result[fields[0]] = (port, ranges, [])
            } else {
                replicas.append((fields[0], port, fields[3]))
            }
        }
        for replica in replicas { result[replica.primary]?.replicas.append((replica.id, replica.port)) }
        return result
    }

    /// `reply` with every integer replaced by its decimal string.
    static func numbersAsStrings(_ reply: RedisReply) -> RedisReply {
        switch reply {
        case .integer(let value): return .bulk(Array(String(value).utf8))
        case .array(let elements): return .array(elements.map(numbersAsStrings))
        default: return reply
        }
    }

    /// A `CLUSTER SHARDS` reply, slot bounds as strings.
    static func reply(shards: [(slots: [String], nodes: [(id: String, ip: String, port: Int, role: String)])]) -> RedisReply {
        func text(_ value: String) -> RedisReply { .bulk(Array(value.utf8)) }
        return .array(
            shards.map { shard in
                .array([
                    text("slots"), .array(shard.slots.map(text)),
                    text("nodes"),
                    .array(
                        shard.nodes.map { node in
                            .array([
                                text("id"), text(node.id), text("port"), .integer(Int64(node.port)), text("ip"), text(node.ip),
                                text("endpoint"), text(node.ip), text("role"), text(node.role), text("replication-offset"),
                                .integer(0), text("health"), text("online"),
                            ])
                        }),
                ])
            })
    }
}
