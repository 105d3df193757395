import Foundation
import LarderCore
import LarderOffline
import LarderOnline
import LarderTestSupport
import Testing

/// Serving and materialization project source rows the same way: the same events pushed
/// through the service, or ingested, materialized and pushed as `larder materialize` does,
/// leave the same bytes in Redis, for row features and for aggregation tiles.
@Suite struct PushParityTests {
    static let minute: Int64 = 60_000_000
    static let hour = 60 * minute

    /// Events of 20 accounts within the 6 hours before `now` (so no tile ages out
    /// differently), as JSON objects in arrival order (not time order): some on hop
    /// boundaries, some at the same instant, null amounts, amounts of very different sizes.
    static func events(now: Int64) -> [String] {
        var rng = SeededGenerator(seed: 12)
        var out: [(time: Int64, line: String)] = []
        var created = now - 7 * hour
        for a in 0..<20 {
            var t = now - Int64.random(in: (5 * hour)..<(6 * hour), using: &rng)
            for _ in 0..<Int.random(in: 1...15, using: &rng) {
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: t = (t / (5 * minute) + 1) * 5 * minute  // on a 5-minute (maybe hour) boundary
                case 1: break  // the same instant as the previous event
                default: t += Int64.random(in: 0..<(40 * minute), using: &rng)
                }
                t = min(t, now - minute)
                created += Int64.random(in: 1...1_000, using: &rng)
                let magnitude = [1e-3, 1.0, 37.5, 1e6, 1e12][Int.random(in: 0..<5, using: &rng)]
                let amount: Double? =
                    Int.random(in: 0..<6, using: &rng) == 0 ? nil : Double.random(in: -magnitude...magnitude, using: &rng)
                var line: [UInt8] = []
                line += "{\"account_id\": \(100 + a), \"event_timestamp\": ".utf8
                JSONText.appendString(Timestamp(microseconds: t).description, to: &line)
                line += ", \"created\": ".utf8
                JSONText.appendString(Timestamp(microseconds: created).description, to: &line)
                line += ", \"amount\": ".utf8
                if let amount { JSONText.appendValue(.double(amount), to: &line) } else { line += "null".utf8 }
                line +=
                    ", \"units\": \(Int64.random(in: -50...500, using: &rng)), \"tag\": \"t\(Int.random(in: 0..<6, using: &rng))\"}".utf8
                out.append((t, String(decoding: line, as: UTF8.self)))
            }
        }
        return out.shuffled(using: &rng).map(\.line)
    }

    /// What `larder materialize` pushes after a full run (`MaterializedPush.push` without a
    /// previous push): each entity's latest row, every retained tile, then the push marker.
    static func pushMaterialized(
        _ view: FeatureView, summary: MaterializationSummary, store: OfflineStore, online: OnlineStore, project: String
    ) async throws {
        let (spec, version) = try await store.registeredView(view)
        let layout = OnlineViewLayout(project: project, spec: spec, version: version)
        for try await batch in store.latestRows(of: view, end: summary.state.end, changedSince: nil) {
            try await online.write(batch, layout: layout)
        }
        let tiles = OnlineTiles(view: layout, tiles: view.tileLayout)
        for try await batch in store.retainedTiles(of: view, from: nil) {
            try await online.writeTiles(batch, layout: tiles)
        }
        try await online.setPushMarker(UUID().uuidString, layout: layout, slots: try await online.markerSlots())
    }

    /// A Redis value as compared: a string's bytes or a hash's field-to-value map.
    enum Stored: Equatable {
        case string([UInt8])
        case hash([[UInt8]: [UInt8]])
    }

    /// Every key in the Redis database but the push markers, with its value.
    /// Every key of `redis` but the push markers, with its value, read through `online`'s client.
    static func contents(of redis: TestRedis, through online: OnlineStore) async throws -> [[UInt8]: Stored] {
        var out: [[UInt8]: Stored] = [:]
        for name in try redis.keys(matching: "*") where !name.hasPrefix("larder:test:_pushed:") {
            let key = Array(name.utf8)
            func send(_ command: String) async throws -> RedisReply {
                try await online.redis.send([RoutedCommand([Array(command.utf8), key], key: key)])[0]
            }
            switch try await send("TYPE").stringValue {
            case "string":
                out[key] = .string(try await send("GET").bytesValue ?? [])
            case "hash":
                guard case .array(let items) = try await send("HGETALL") else {
                    throw OnlineStoreError("HGETALL did not answer an array")
                }
                var fields: [[UInt8]: [UInt8]] = [:]
                for i in stride(from: 0, to: items.count - 1, by: 2) { fields[items[i].bytesValue ?? []] = items[i + 1].bytesValue ?? [] }
                out[key] = .hash(fields)
            case let other:
                throw OnlineStoreError("unexpected type \(other ?? "?") of key \(name)")
            }
        }
        return out
    }

    static func name(_ key: [UInt8]) -> String { String(decoding: key, as: UTF8.self) }

    @Test func pushAndIngestPlusMaterializeLeaveTheSameBytesInRedis() async throws {
        let server = try await ServerHarness(repository: Activity.repository)
        defer { Task { await server.stop() } }
        let lines = Self.events(now: server.now.microseconds)
        #expect(lines.count > 100)

        // 1. Through the service, in a few requests in a fixed order.
        for start in stride(from: 0, to: lines.count, by: 40) {
            let batch = lines[start..<min(start + 40, lines.count)].joined(separator: ",")
            let reply = try await server.post("/v1/push", #"{"source": "events", "rows": [\#(batch)]}"#)
            #expect(reply.status == 200, "\(reply.text)")
        }

        // 2. The same lines ingested (same order, so the same ingest sequences) into a second
        // store, materialized, and pushed to a second Redis.
        let directory = try TemporaryDirectory()
        let offline = try OfflineStore(path: directory.file("offline.sqlite"))
        try await offline.registry.apply(try offline.registry.plan(for: Activity.repository))
        let ingested = try await offline.ingest(
            source: "events", file: directory.write("events.jsonl", lines.joined(separator: "\n") + "\n"))
        #expect(ingested.rows == lines.count)
        let summary = try await offline.materialize(
            Activity.view, mode: .range(start: nil, end: Timestamp(microseconds: server.now.microseconds + 1)))
        #expect(summary.rows == lines.count)
        let redis = try await TestRedis.start()
        let online = OnlineStore(
            redis: try OnlineRedisURL(redis.url).client(poolSize: 1, connectTimeout: .milliseconds(500), commandTimeout: .milliseconds(500))
        )
        try await Self.pushMaterialized(Activity.view, summary: summary, store: offline, online: online, project: "test")

        // 3. The same keys, and the same bytes under each.
        let pushed = try await Self.contents(of: server.redis, through: server.online)
        let materialized = try await Self.contents(of: redis, through: online)
        let rowKeys = pushed.keys.filter { !Self.name($0).hasPrefix("larder:test:_tiles:") }
        let tileKeys = pushed.keys.filter { Self.name($0).hasPrefix("larder:test:_tiles:") }
        #expect(rowKeys.count == 20)
        #expect(tileKeys.count == 20)
        #expect(
            Set(pushed.keys.map(Self.name)) == Set(materialized.keys.map(Self.name)),
            "only pushed: \(Set(pushed.keys).subtracting(materialized.keys).map(Self.name).sorted()); only materialized: \(Set(materialized.keys).subtracting(pushed.keys).map(Self.name).sorted())"
        )
        var differences: [String] = []
        for (key, value) in pushed.sorted(by: { Self.name($0.key) < Self.name($1.key) }) {
            guard let other = materialized[key], other != value else { continue }
            switch (value, other) {
            case (.hash(let a), .hash(let b)):
                let fields = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.map(Self.name).sorted()
                differences.append(
                    "\(Self.name(key)): \(fields.count) fields differ, e.g. \(fields.prefix(3)) (pushed \(a.count), materialized \(b.count) fields)"
                )
            default:
                differences.append("\(Self.name(key)): pushed \(value), materialized \(other)")
            }
        }
        #expect(differences.count == 0, "\(differences.count) keys differ:\n\(differences.prefix(10).joined(separator: "\n"))")
        redis.stop()
    }
}
