import LarderCore

/// The online store: each feature view's latest row per entity, in Redis.
///
/// Writes are compare-and-set per entity in one Lua script (loaded once, run by EVALSHA):
/// a row replaces the stored one only if it supersedes it (event time, then created time,
/// then ingest sequence), so pushes can be retried, reordered or repeated and converge.
///
/// The keys live in one Redis server or in a Redis Cluster (``RedisKeyspace``): every command
/// here names the slot of its keys, and an entity's keys share one (the layout's hash tag).
public final class OnlineStore: Sendable {
    /// The server or cluster the keys live in.
    public let redis: any RedisKeyspace

    public init(redis: any RedisKeyspace) { self.redis = redis }

    /// KEYS[1] entity key; ARGV[1] ordering; ARGV[2] record; ARGV[3] expiry (ms since epoch, 0 = none).
    static let writeScript = RedisScript(
        """
        local current = redis.call('GET', KEYS[1])
        if current and string.sub(current, 1, 48) >= ARGV[1] then return 0 end
        redis.call('SET', KEYS[1], ARGV[1] .. ARGV[2])
        if ARGV[3] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
        return 1
        """)

    /// The script call that writes `row` if it supersedes what is stored.
    static func writeCall(_ row: FeatureRow, layout: OnlineViewLayout) -> RedisScript.Call {
        let expiry = layout.expiry(of: row).map { String($0.microseconds / 1000) } ?? "0"
        return RedisScript.Call(
            keys: [layout.key(for: row.keys)],
            args: [OnlineRecord.ordering(of: row), OnlineRecord.encode(row, types: layout.featureTypes), Array(expiry.utf8)])
    }

    /// Writes rows in one pipeline on one connection. Returns how many replaced the stored value.
    @discardableResult
    public func write(_ rows: [FeatureRow], layout: OnlineViewLayout) async throws -> Int {
        guard !rows.isEmpty else { return 0 }
        let calls = rows.map { Self.writeCall($0, layout: layout) }
        return try Self.countWritten(try await redis.run(Self.writeScript, calls))
    }

    private static func countWritten(_ replies: [RedisReply]) throws -> Int {
        var written = 0
        for reply in replies {
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a write: \(message)") }
            if reply.intValue == 1 { written += 1 }
        }
        return written
    }

    /// The keys of a view version's push marker: a random id each full push leaves, so an
    /// incremental push can tell whether Redis still holds what was pushed (a Redis restarted
    /// without persistence, or flushed, has lost it). One key on one server; on a cluster one
    /// per primary (`slots` from ``markerSlots()``, a key tagged into each), since each primary
    /// can lose its data alone. Outside the entity keys' namespace. It names the layout's
    /// format, so that after an upgrade of the layout the first incremental push finds no
    /// marker and writes every entity in the new layout.
    static func markerKeys(_ layout: OnlineViewLayout, slots: [Int]?) -> [[UInt8]] {
        let key = "larder:\(layout.project):_pushed:f\(OnlineViewLayout.format):\(layout.view):v\(layout.version)"
        guard let slots else { return [Array(key.utf8)] }
        return slots.map { Array("\(key):{\(HashSlot.tag(forSlot: $0))}".utf8) }
    }

    /// Where push markers go now: `nil` on one server, one slot of each primary on a cluster.
    public func markerSlots() async throws -> [Int]? {
        try await redis.markerSlots()
    }

    /// The view version's push marker at each of `slots` (see ``markerKeys(_:slots:)``), nil
    /// where Redis holds none.
    public func pushMarkers(layout: OnlineViewLayout, slots: [Int]?) async throws -> [String?] {
        let keys = Self.markerKeys(layout, slots: slots)
        let replies = try await redis.send(keys.map { RoutedCommand([Array("GET".utf8), $0], key: $0) })
        return try replies.map { reply in
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a read: \(message)") }
            return reply.stringValue
        }
    }

    /// Leaves the push marker (no expiry) at each of `slots`.
    public func setPushMarker(_ marker: String, layout: OnlineViewLayout, slots: [Int]?) async throws {
        let keys = Self.markerKeys(layout, slots: slots)
        let replies = try await redis.send(keys.map { RoutedCommand([Array("SET".utf8), $0, Array(marker.utf8)], key: $0) })
        for reply in replies {
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a write: \(message)") }
        }
    }

    /// Reads the stored rows of several (view, entity) pairs in one round trip (MGET; on a
    /// cluster one MGET per slot, one pipeline per node). Nil where nothing is stored.
    public func read(_ lookups: [(layout: OnlineViewLayout, keys: [Value])]) async throws -> [FeatureRow?] {
        try await read(lookups, tiles: []).rows
    }

    /// MGET commands for `keys`: one, or on a cluster one per slot; with the index of each
    /// key's MGET and its place in it.
    static func mgets(_ keys: [[UInt8]], splitBySlot: Bool) -> (commands: [RoutedCommand], places: [(command: Int, item: Int)]) {
        let mget = Array("MGET".utf8)
        guard splitBySlot else {
            return ([RoutedCommand([mget] + keys, key: keys.first)], keys.indices.map { (0, $0) })
        }
        var commands: [RoutedCommand] = []
        var commandOfSlot: [Int: Int] = [:]
        var places: [(command: Int, item: Int)] = []
        places.reserveCapacity(keys.count)
        for key in keys {
            let slot = HashSlot.slot(of: key)
            let c: Int
            if let known = commandOfSlot[slot] {
                c = known
            } else {
                c = commands.count
                commandOfSlot[slot] = c
                commands.append(RoutedCommand([mget], slot: slot))
            }
            commands[c].words.append(key)
            places.append((c, commands[c].words.count - 2))
        }
        return (commands, places)
    }

    /// Decodes the MGET replies of ``mgets(_:splitBySlot:)`` into rows, in lookup order.
    static func decode(
        _ replies: ArraySlice<RedisReply>, places: [(command: Int, item: Int)], _ lookups: [(layout: OnlineViewLayout, keys: [Value])]
    ) throws -> [FeatureRow?] {
        var items: [[RedisReply]] = []
        for reply in replies {
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a read: \(message)") }
            guard let array = reply.arrayValue else { throw OnlineStoreError("unexpected reply to MGET: \(reply)") }
            items.append(array)
        }
        return try zip(places, lookups).map { place, lookup in
            guard place.command < items.count, place.item < items[place.command].count else {
                throw OnlineStoreError("unexpected reply to MGET: \(items.count) replies")
            }
            guard let bytes = items[place.command][place.item].bytesValue else { return nil }
            return try OnlineRecord.decode(bytes, keys: lookup.keys, types: lookup.layout.featureTypes)
        }
    }
}

/// A failure of the online store that is not a transport error (those are ``RedisError``).
public struct OnlineStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
