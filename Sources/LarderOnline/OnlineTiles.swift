import LarderCore

/// A feature view's aggregation tiles in Redis: one hash per entity,
/// `larder:<project>:_tiles:<view>:v<version>:{<keys>}`, with a field per tile,
/// `<hop µs>:<hop start µs>`, whose value is the tile's watermark (16 hex digits) then its
/// encoded partial aggregates (``TileLayout``). `schemas/online.md` documents it.
///
/// Writes go through one Lua script that
/// - writes each tile by one of two rules: a materialized tile replaces the stored one unless
///   that holds a later event (greater watermark); a pushed tile replaces exactly the value it
///   was merged from, or nothing at all (a concurrent push changed it: the caller re-reads and
///   merges again, so no event is lost or counted twice);
/// - removes tiles older than any window can reach (the newest tile of their hop, minus the
///   longest window on that hop);
/// - sets the hash to expire after the longest window plus a hop and an hour of grace
///   without writes: by then no window holds any of its events.
public struct OnlineTiles: Sendable {
    public let view: OnlineViewLayout
    public let tiles: TileLayout

    public init(view: OnlineViewLayout, tiles: TileLayout) {
        self.view = view
        self.tiles = tiles
    }

    /// KEYS[1] the entity's hash. ARGV[1] expiry (ms); ARGV[2] number of hops G; then G pairs
    /// (hop, longest window); then triples (field, value, expected): expected '' writes by
    /// watermark, '-' requires the field absent, anything else requires that exact value.
    /// Returns the number of fields written, or -1 (nothing written) when an expectation fails.
    static let writeScript = RedisScript(
        """
        local g = tonumber(ARGV[2])
        local first = 3 + 2 * g
        for i = first, #ARGV, 3 do
          local expected = ARGV[i + 2]
          if expected ~= '' then
            local current = redis.call('HGET', KEYS[1], ARGV[i])
            if expected == '-' then
              if current then return -1 end
            elseif current ~= expected then
              return -1
            end
          end
        end
        local written = 0
        for i = first, #ARGV, 3 do
          local write = true
          if ARGV[i + 2] == '' then
            local current = redis.call('HGET', KEYS[1], ARGV[i])
            if current and string.sub(current, 1, 16) > string.sub(ARGV[i + 1], 1, 16) then write = false end
          end
          if write then
            redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
            written = written + 1
          end
        end
        local spans = {}
        for k = 0, g - 1 do spans[ARGV[3 + 2 * k]] = tonumber(ARGV[4 + 2 * k]) end
        local fields = redis.call('HKEYS', KEYS[1])
        local newest = {}
        for _, f in ipairs(fields) do
          local hop, start = string.match(f, '^(%d+):(%-?%d+)$')
          if hop then
            local s = tonumber(start)
            if newest[hop] == nil or s > newest[hop] then newest[hop] = s end
          end
        end
        for _, f in ipairs(fields) do
          local hop, start = string.match(f, '^(%d+):(%-?%d+)$')
          if hop == nil or spans[hop] == nil or tonumber(start) < newest[hop] - spans[hop] then
            redis.call('HDEL', KEYS[1], f)
          end
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        return written
        """)

    /// The field of a tile.
    func field(group: Int, hopStart: Int64) -> [UInt8] { Array("\(tiles.groups[group].hop):\(hopStart)".utf8) }

    /// The stored value of a tile: watermark then bytes.
    static func value(_ tile: StoredTile) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + tile.bytes.count)
        let w = UInt64(bitPattern: tile.watermark)
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8((w >> UInt64(shift)) & 0xF)
            out.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
        }
        return out + tile.bytes
    }

    /// The script call writing `writes` for one entity. `expected[i]`: nil to write by
    /// watermark, `[]` to require the field absent, else the exact value to replace.
    func call(keys: [Value], writes: [StoredTile], expected: [[UInt8]?]? = nil) -> RedisScript.Call {
        let expiryMs = (tiles.longestWindow + (tiles.groups.map(\.hop).max() ?? 0) + 3_600_000_000) / 1000
        var args: [[UInt8]] = [Array(String(expiryMs).utf8), Array(String(tiles.groups.count).utf8)]
        for group in tiles.groups {
            args.append(Array(String(group.hop).utf8))
            args.append(Array(String(group.span).utf8))
        }
        for (i, tile) in writes.enumerated() {
            args.append(field(group: tile.group, hopStart: tile.hopStart))
            args.append(Self.value(tile))
            switch expected?[i] {
            case .none: args.append([])
            case .some(let bytes): args.append(bytes.isEmpty ? [0x2D] : bytes)
            }
        }
        return RedisScript.Call(keys: [view.tileKey(for: keys)], args: args)
    }

    /// The value of every aggregation at instant `t` from an entity's hash (HGETALL's flat
    /// field/value list): the tiles in each window are decoded and merged as they are met
    /// (states do not depend on merge order); tiles outside every window are skipped
    /// undecoded, and fields of unknown hops ignored (the write script removes them).
    public func values(_ reply: RedisReply, at t: Int64) throws -> [Value] {
        guard case .array(let items) = reply else {
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a read: \(message)") }
            throw OnlineStoreError("unexpected reply to HGETALL: \(reply)")
        }
        var merge = WindowMerge(layout: tiles, at: t)
        var i = 0
        while i + 1 < items.count {
            defer { i += 2 }
            guard case .bulk(let field) = items[i], case .bulk(let value) = items[i + 1],
                let (hop, start) = Self.parseField(field),
                let g = tiles.groups.firstIndex(where: { $0.hop == hop }),
                merge.wants(group: g, hopStart: start)
            else { continue }
            guard value.count >= 16 else { throw OnlineStoreError("corrupt aggregation tile in Redis: too short") }
            do {
                try merge.add(encoded: value[16...], group: g, hopStart: start)
            } catch {
                throw OnlineStoreError("\(error) (view \(view.view), field \(String(decoding: field, as: UTF8.self)))")
            }
        }
        return merge.values
    }

    /// `<hop>:<start>` in decimal (start may be negative), without building strings.
    static func parseField(_ field: [UInt8]) -> (hop: Int64, start: Int64)? {
        var numbers: (Int64, Int64) = (0, 0)
        var part = 0
        var negative = false
        var digits = 0
        for b in field {
            switch b {
            case 0x30...0x39:
                let (shifted, o1) = (part == 0 ? numbers.0 : numbers.1).multipliedReportingOverflow(by: 10)
                let (next, o2) = shifted.addingReportingOverflow(Int64(b - 0x30))
                guard !o1, !o2 else { return nil }
                if part == 0 { numbers.0 = next } else { numbers.1 = next }
                digits += 1
            case 0x3A where part == 0 && digits > 0:
                part = 1
                digits = 0
            case 0x2D where part == 1 && digits == 0 && !negative:
                negative = true
            default:
                return nil
            }
        }
        guard part == 1, digits > 0 else { return nil }
        return (numbers.0, negative ? -numbers.1 : numbers.1)
    }
}

extension OnlineStore {
    /// Writes materialized tiles, one script call per entity in one pipeline. Returns the
    /// number of tiles written.
    @discardableResult
    public func writeTiles(_ entities: [EntityTiles], layout: OnlineTiles) async throws -> Int {
        guard !entities.isEmpty else { return 0 }
        let calls = entities.map { layout.call(keys: $0.keys, writes: $0.tiles) }
        let replies = try await redis.run(OnlineTiles.writeScript, calls)
        var written = 0
        for reply in replies {
            if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a write: \(message)") }
            written += Int(reply.intValue ?? 0)
        }
        return written
    }

    /// Adds pushed events to the entities' current tiles: read each touched tile, merge the
    /// events in, and write it back only if nobody changed it meanwhile (else read again).
    /// The events come from ``RowProjector/tileEvent(_:)``. Returns the number of tiles written.
    @discardableResult
    public func addEvents(_ events: [TileEvent], layout: OnlineTiles) async throws -> Int {
        // Per entity, the touched tiles: (group, hop start) -> events.
        var byEntity: [[Value]: [Int]] = [:]
        for (i, event) in events.enumerated() { byEntity[event.keys, default: []].append(i) }
        var pending = Array(byEntity)
        var written = 0
        for _ in 0..<16 {
            guard !pending.isEmpty else { return written }
            // The touched fields of each entity, read in one pipeline.
            let touched: [[(group: Int, hopStart: Int64)]] = pending.map { _, indexes in
                var fields: [(group: Int, hopStart: Int64)] = []
                for i in indexes {
                    for (g, group) in layout.tiles.groups.enumerated() {
                        let start = WindowRule.hopStart(events[i].order.eventTime, hop: group.hop)
                        if !fields.contains(where: { $0 == (g, start) }) { fields.append((g, start)) }
                    }
                }
                return fields
            }
            let reads: [RoutedCommand] = zip(pending, touched).map { entity, fields in
                let key = layout.view.tileKey(for: entity.key)
                return RoutedCommand(
                    [Array("HMGET".utf8), key] + fields.map { layout.field(group: $0.group, hopStart: $0.hopStart) }, key: key)
            }
            let current = try await redis.send(reads)
            var calls: [RedisScript.Call] = []
            for (e, (entity, fields)) in zip(pending, touched).enumerated() {
                if let message = current[e].errorMessage { throw OnlineStoreError("Redis refused a read: \(message)") }
                guard let stored = current[e].arrayValue, stored.count == fields.count else {
                    throw OnlineStoreError("unexpected reply to HMGET: \(current[e])")
                }
                var writes: [StoredTile] = []
                var expected: [[UInt8]?] = []
                for (f, field) in fields.enumerated() {
                    let old = stored[f].bytesValue
                    var tile = layout.tiles.emptyTile(group: field.group)
                    var watermark = Int64.min
                    if let old {
                        guard old.count >= 16 else { throw OnlineStoreError("corrupt aggregation tile in Redis: too short") }
                        tile = try layout.tiles.decode(old[16...], group: field.group)
                        watermark = Int64(bitPattern: UInt64(String(decoding: old[..<16], as: UTF8.self), radix: 16) ?? 0)
                    }
                    for i in entity.value {
                        let event = events[i]
                        guard WindowRule.hopStart(event.order.eventTime, hop: layout.tiles.groups[field.group].hop) == field.hopStart
                        else { continue }
                        layout.tiles.add(event.inputs, order: event.order, to: &tile, group: field.group)
                        watermark = max(watermark, event.order.sequence)
                    }
                    writes.append(
                        StoredTile(
                            group: field.group, hopStart: field.hopStart, watermark: watermark,
                            bytes: layout.tiles.encode(tile, group: field.group)))
                    expected.append(old ?? [])
                }
                calls.append(layout.call(keys: entity.key, writes: writes, expected: expected))
            }
            let replies = try await redis.run(OnlineTiles.writeScript, calls)
            var conflicted: [([Value], [Int])] = []
            for (e, reply) in replies.enumerated() {
                if let message = reply.errorMessage { throw OnlineStoreError("Redis refused a write: \(message)") }
                if reply.intValue == -1 {
                    conflicted.append((pending[e].key, pending[e].value))
                } else {
                    written += Int(reply.intValue ?? 0)
                }
            }
            pending = conflicted.map { (key: $0.0, value: $0.1) }
        }
        throw OnlineStoreError(
            "aggregation tiles of \(layout.view.view) kept changing under concurrent pushes; the events are stored offline")
    }

    /// Reads rows (MGET, see ``mgets(_:splitBySlot:)``) and entities' tile hashes (one
    /// HGETALL each, for ``OnlineTiles/values(_:at:)``) in one pipeline per node: one round
    /// trip for a whole lookup (one node for one entity, since its keys share a slot).
    public func read(
        _ lookups: [(layout: OnlineViewLayout, keys: [Value])], tiles: [(layout: OnlineTiles, keys: [Value])]
    ) async throws -> (rows: [FeatureRow?], tiles: [RedisReply]) {
        var commands: [RoutedCommand] = []
        var places: [(command: Int, item: Int)] = []
        if !lookups.isEmpty {
            (commands, places) = Self.mgets(lookups.map { $0.layout.key(for: $0.keys) }, splitBySlot: redis.splitsBySlot)
        }
        let mgetCount = commands.count
        for lookup in tiles {
            let key = lookup.layout.view.tileKey(for: lookup.keys)
            commands.append(RoutedCommand([Array("HGETALL".utf8), key], key: key))
        }
        guard !commands.isEmpty else { return ([], []) }
        let replies = try await redis.send(commands)
        let rows = try Self.decode(replies[..<mgetCount], places: places, lookups)
        return (rows, Array(replies[mgetCount...]))
    }
}
