import Foundation
import LarderCore
import LarderOnline
import LarderTestSupport
import Testing

/// The cluster client against a real six-node Redis Cluster: routing by slot, a slot that
/// moved (`MOVED`), a slot in the middle of a migration (`ASK`, `TRYAGAIN`), a node that
/// does not know the write script (`NOSCRIPT`).
@Suite(.timeLimit(.minutes(2))) struct RedisClusterClientTests {
    static let layout = OnlineViewLayout(
        project: "test", view: "stats", version: 1, keyTypes: [.string], featureTypes: [.int64], ttl: 0)
    static let other = OnlineViewLayout(
        project: "test", view: "other", version: 1, keyTypes: [.string], featureTypes: [.int64], ttl: 0)

    static func row(_ key: String, _ value: Int64, at time: Int64 = 1_000_000) -> FeatureRow {
        FeatureRow(keys: [.string(key)], eventTime: Timestamp(microseconds: time), createdTime: nil, sequence: 1, values: [.int64(value)])
    }

    static func client(_ cluster: RedisCluster) throws -> (RedisClusterClient, OnlineStore) {
        guard case .cluster(let url) = try OnlineRedisURL(cluster.seedURL) else {
            throw RedisError.invalidCommand(reason: "not a cluster URL")
        }
        let client = RedisClusterClient(configuration: .init(url: url, poolSize: 2))
        return (client, OnlineStore(redis: client))
    }

    /// Entity keys that spread over every primary, including braces that must not break the tag.
    static let keys = (0..<300).map { "driver-\($0)" } + ["{", "}", "{}", "a{b}c", "}{", "{{x}}"]

    @Test func everyKeyGoesToItsSlotsPrimaryAndReadsBackInOneCall() async throws {
        let cluster = try await onDedicatedThread { try RedisCluster() }
        let (_, store) = try Self.client(cluster)
        let rows = Self.keys.enumerated().map { Self.row($1, Int64($0)) }
        #expect(try await store.write(rows, layout: Self.layout) == rows.count)
        let read = try await store.read(rows.map { (Self.layout, $0.keys) })
        #expect(read == rows.map { Optional($0) })
        // Each key is where the cluster says its slot lives: the primary itself holds it.
        for row in rows.prefix(20) {
            let key = String(decoding: Self.layout.key(for: row.keys), as: UTF8.self)
            let owner = try cluster.primary(forSlot: HashSlot.slot(of: key))
            #expect(try cluster.redisCLI(on: owner, ["EXISTS", key]).hasPrefix("1"), "\(key) is not on \(owner)")
        }
        // An entity's keys in two views share a slot: one node, one round trip.
        #expect(
            HashSlot.slot(of: Self.layout.key(for: [.string("a{b}c")])) == HashSlot.slot(of: Self.other.key(for: [.string("a{b}c")])))
        #expect(try await store.read([]) == [])
    }

    @Test func aSlotThatMovedIsFollowedAndTheMapReadAgain() async throws {
        let cluster = try await onDedicatedThread { try RedisCluster() }
        let (client, store) = try Self.client(cluster)
        let row = Self.row("mover", 7)
        try await store.write([row], layout: Self.layout)
        let slot = HashSlot.slot(of: Self.layout.key(for: row.keys))
        let before = try #require(try await client.slotMap().primary(for: slot))
        // Move the slot to another primary behind the client's back: its map is now stale.
        let source = try cluster.primary(forSlot: slot)
        let target = try #require(try cluster.primaries().first { $0 !== source })
        try cluster.beginMigration(ofSlot: slot, to: target)
        #expect(try cluster.migrateKeys(inSlot: slot, from: source, to: target) == 1)
        try cluster.finishMigration(ofSlot: slot, to: target)

        #expect(try await store.read([(Self.layout, row.keys)]) == [row])  // MOVED, followed
        #expect(try await store.write([Self.row("mover", 8, at: 2_000_000)], layout: Self.layout) == 1)
        #expect(try await store.read([(Self.layout, row.keys)]).first??.values == [.int64(8)])
        let after = try #require(try await client.slotMap().primary(for: slot))
        #expect(after != before && after.port == target.port)
    }

    @Test func aSlotBeingMigratedIsReadAndWrittenThroughASK() async throws {
        let cluster = try await onDedicatedThread { try RedisCluster() }
        let (_, store) = try Self.client(cluster)
        // Two views' rows of one entity: the same slot, read by one MGET.
        let a = Self.row("half", 1)
        let b = Self.row("half", 2)
        try await store.write([a], layout: Self.layout)
        try await store.write([b], layout: Self.other)
        let slot = HashSlot.slot(of: Self.layout.key(for: a.keys))
        let source = try cluster.primary(forSlot: slot)
        let target = try #require(try cluster.primaries().first { $0 !== source })
        try cluster.beginMigration(ofSlot: slot, to: target)
        // Only the first view's key moves: the slot's keys are split between two nodes.
        let moved = String(decoding: Self.layout.key(for: a.keys), as: UTF8.self)
        _ = try cluster.redisCLI(on: source, ["MIGRATE", "127.0.0.1", String(target.port), moved, "0", "5000"])

        // One MGET over both keys: TRYAGAIN from the source, then a GET each (one by ASK).
        let both = try await store.read([(Self.layout, a.keys), (Self.other, b.keys)])
        #expect(both == [a, b])
        // A write to the moved key: ASK, then ASKING + EVALSHA on a node that has never run
        // the script (NOSCRIPT, loaded, sent again).
        #expect(try await store.write([Self.row("half", 10, at: 2_000_000)], layout: Self.layout) == 1)
        #expect(try cluster.redisCLI(on: target, ["EXISTS", moved]).hasPrefix("1"))
        #expect(try await store.read([(Self.layout, a.keys)]).first??.values == [.int64(10)])
        // A key that is in neither node reads as missing, not as an error.
        #expect(try await store.read([(Self.layout, [.string("nowhere")])]) == [nil])

        _ = try cluster.migrateKeys(inSlot: slot, from: source, to: target)
        try cluster.finishMigration(ofSlot: slot, to: target)
        #expect(try await store.read([(Self.layout, a.keys), (Self.other, b.keys)]).map { $0?.values } == [[.int64(10)], [.int64(2)]])
    }

    @Test func aNodeThatForgotTheScriptGetsItAgain() async throws {
        let cluster = try await onDedicatedThread { try RedisCluster() }
        let (_, store) = try Self.client(cluster)
        let rows = Self.keys.prefix(50).enumerated().map { Self.row($1, Int64($0)) }
        try await store.write(rows, layout: Self.layout)
        for node in cluster.nodes { _ = try cluster.redisCLI(on: node, ["SCRIPT", "FLUSH"]) }
        let newer = Self.keys.prefix(50).enumerated().map { Self.row($1, Int64($0) + 100, at: 2_000_000) }
        #expect(try await store.write(newer, layout: Self.layout) == newer.count)
        #expect(try await store.read(newer.map { (Self.layout, $0.keys) }) == newer.map { Optional($0) })
    }

    @Test func markersGoOnEveryPrimary() async throws {
        let cluster = try await onDedicatedThread { try RedisCluster() }
        let (client, store) = try Self.client(cluster)
        let slots = try #require(try await store.markerSlots())
        #expect(slots.count == 3)
        let map = try await client.slotMap()
        #expect(Set(slots.compactMap { map.primary(for: $0) }).count == 3, "one marker slot per primary")
        try await store.setPushMarker("m1", layout: Self.layout, slots: slots)
        #expect(try await store.pushMarkers(layout: Self.layout, slots: slots) == ["m1", "m1", "m1"])
        // One primary loses its data: only its marker is gone.
        let victim = try cluster.primary(forSlot: slots[1])
        _ = try cluster.redisCLI(on: victim, ["FLUSHALL"])
        #expect(try await store.pushMarkers(layout: Self.layout, slots: slots) == ["m1", nil, "m1"])
    }

    @Test func healthNamesEveryPrimary() async throws {
        let cluster = try await onDedicatedThread { try RedisCluster() }
        let (client, _) = try Self.client(cluster)
        let health = await client.health()
        #expect(health.isHealthy, "\(health.status)")
        #expect(health.cluster?.state == "ok" && health.cluster?.slotsCovered == 16384)
        #expect(health.cluster?.primaries.count == 3 && health.cluster?.primaries.allSatisfy { $0.status == "ok" } == true)
        cluster.stop()
        let down = await client.health()
        #expect(!down.isHealthy && down.status.contains("unavailable"), "\(down.status)")
    }
}
