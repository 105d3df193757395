import LarderCore

/// The online store: each feature view's latest row per entity, in Redis.
///
/// Writes are compare-and-set per entity in one Lua script (loaded once, run by EVALSHA):
/// a row replaces the stored one only if it supersedes it (event time, then created time,
/// then ingest sequence), so pushes can be retried, reordered or repeated and converge.
public final class OnlineStore: Sendable {
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

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
        let replies = try await client.withConnection { connection in
            try Self.writeScript.runPipelined(on: connection, calls)
        }
        return try Self.countWritten(replies)
    }

    private static func countWritten(_ replies: [RedisReply]) throws -> Int {
        var written = 0
        for reply in replies {
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a write: \(message)") }
            if reply.intValue == 1 { written += 1 }
        }
        return written
    }

    /// The key of a view version's push marker: a random id each full push leaves, so an
    /// incremental push can tell whether Redis still holds what was pushed (a Redis restarted
    /// without persistence, or flushed, has lost it). Outside the entity keys' namespace. It
    /// names the layout's format, so that after an upgrade of the layout the first incremental
    /// push finds no marker and writes every entity in the new layout.
    static func markerKey(_ layout: OnlineViewLayout) -> [UInt8] {
        Array("larder:\(layout.project):_pushed:f\(OnlineViewLayout.format):\(layout.view):v\(layout.version)".utf8)
    }

    /// The view version's push marker, if Redis holds one.
    public func pushMarker(layout: OnlineViewLayout) async throws -> String? {
        let reply = try await client.command([Array("GET".utf8), Self.markerKey(layout)])
        if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a read: \(message)") }
        return reply.stringValue
    }

    /// Leaves the push marker (no expiry).
    public func setPushMarker(_ marker: String, layout: OnlineViewLayout) async throws {
        let reply = try await client.command([Array("SET".utf8), Self.markerKey(layout), Array(marker.utf8)])
        if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a write: \(message)") }
    }

    /// Reads the stored rows of several (view, entity) pairs in one round trip (MGET).
    /// Nil where nothing is stored.
    public func read(_ lookups: [(layout: OnlineViewLayout, keys: [Value])]) async throws -> [FeatureRow?] {
        guard !lookups.isEmpty else { return [] }
        let command = [Array("MGET".utf8)] + lookups.map { $0.layout.key(for: $0.keys) }
        // Batched with concurrent lookups: one round trip serves several requests.
        return try Self.decode(try await client.batchedCommand(command), lookups)
    }

    static func decode(_ reply: RedisReply, _ lookups: [(layout: OnlineViewLayout, keys: [Value])]) throws -> [FeatureRow?] {
        if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a read: \(message)") }
        guard let items = reply.arrayValue, items.count == lookups.count else {
            throw OnlineStoreError("unexpected reply to MGET: \(reply)")
        }
        return try zip(items, lookups).map { item, lookup in
            guard let bytes = item.bytesValue else { return nil }
            return try OnlineRecord.decode(bytes, keys: lookup.keys, types: lookup.layout.featureTypes)
        }
    }
}

/// A failure of the online store that is not a transport error (those are ``RedisError``).
public struct OnlineStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
