import Foundation
import LarderCore
import LarderOnline
import LarderTestSupport
import Testing

/// The online layout against a real Redis (a server, or a cluster when the run's
/// ``RedisTopology`` says so): encoding, write ordering, expiry, reads.
@Suite struct OnlineStoreTests {
    let redis: TestRedis
    let store: OnlineStore

    init() async throws {
        redis = try await TestRedis.start()
        store = OnlineStore(redis: try OnlineRedisURL(redis.url).client(poolSize: 2))
    }

    static let types: [ValueType] = [.int64, .double, .string, .bool, .timestamp]
    static let layout = OnlineViewLayout(
        project: "test", view: "every_type", version: 3, keyTypes: [.int64, .string], featureTypes: types, ttl: 7_200_000_000)
    /// No ttl: Redis keeps rows whatever their (old) event times.
    static let forever = OnlineViewLayout(
        project: "test", view: "forever", version: 1, keyTypes: [.int64, .string], featureTypes: types, ttl: 0)

    static func row(_ keys: [Value], ts: Int64, created: Int64? = nil, seq: Int64 = 1, values: [Value]) -> FeatureRow {
        FeatureRow(
            keys: keys, eventTime: Timestamp(microseconds: ts), createdTime: created.map(Timestamp.init(microseconds:)), sequence: seq,
            values: values)
    }

    @Test func everyTypeAndNullRoundTrips() async throws {
        let cases: [[Value]] = [
            [.int64(.min), .double(-0.0), .string(""), .bool(false), .timestamp(Timestamp(microseconds: -1))],
            [
                .int64(.max), .double(.greatestFiniteMagnitude), .string("ünï:cödé ✓\n\u{0}"), .bool(true),
                .timestamp(Timestamp(microseconds: 1_767_225_600_123_456)),
            ],
            [.null, .null, .null, .null, .null],
            [.int64(7), .null, .string(String(repeating: "x", count: 300)), .null, .timestamp(Timestamp(microseconds: 0))],
            [.int64(0), .double(0.1), .null, .bool(true), .null],
        ]
        for (i, values) in cases.enumerated() {
            let original = Self.row(
                [.int64(Int64(i)), .string("a:b%c")], ts: 1_767_225_600_000_000, created: i % 2 == 0 ? nil : 5, seq: Int64(i),
                values: values)
            let encoded = OnlineRecord.ordering(of: original) + OnlineRecord.encode(original, types: Self.types)
            #expect(try OnlineRecord.decode(encoded, keys: original.keys, types: Self.types) == original)
            // Through Redis too.
            try await store.write([original], layout: Self.forever)
            #expect(try await store.read([(Self.forever, original.keys)]) == [original])
        }
        #expect(throws: OnlineRecord.DecodingError.self) {
            try OnlineRecord.decode(Array(repeating: 0x30, count: 50), keys: [], types: Self.types)
        }
        // Corrupt records (every truncation, a huge string length) are errors, never crashes.
        let sample = Self.row(
            [.int64(1), .string("k")], ts: 5,
            values: [.int64(1), .double(2), .string("abc"), .bool(true), .timestamp(Timestamp(microseconds: 3))])
        let stored = OnlineRecord.ordering(of: sample) + OnlineRecord.encode(sample, types: Self.types)
        for cut in OnlineRecord.orderingLength..<stored.count {
            #expect(throws: OnlineRecord.DecodingError.self) {
                try OnlineRecord.decode(Array(stored[..<cut]), keys: sample.keys, types: Self.types)
            }
        }
        var huge =
            OnlineRecord.ordering(of: sample)
            + OnlineRecord.encode(
                Self.row([], ts: 5, values: [.null, .null, .string(""), .null, .null]), types: Self.types)
        huge.removeLast()  // the empty string's length byte
        huge += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        #expect(throws: OnlineRecord.DecodingError.self) { try OnlineRecord.decode(huge, keys: [], types: Self.types) }
    }

    @Test func keysAreNamespacedAndUnambiguous() {
        let layout = Self.layout
        #expect(String(decoding: layout.key(for: [.int64(1001), .string("ams")]), as: UTF8.self) == "larder:test:every_type:v3:{1001:ams}")
        #expect(
            String(decoding: layout.key(for: [.int64(1), .string("a:b %")]), as: UTF8.self) == "larder:test:every_type:v3:{1:a%3Ab%20%25}")
        #expect(layout.key(for: [.int64(1), .string("a:b")]) != layout.key(for: [.int64(1), .string("a%3Ab")]))

        // The entity's keys are the Redis Cluster hash tag: its row, its tiles and another
        // view's row of the same entity share a slot, and braces in a value cannot end the tag.
        let keys: [Value] = [.int64(7), .string("x}{y}")]
        #expect(String(decoding: layout.key(for: keys), as: UTF8.self) == "larder:test:every_type:v3:{7:x%7D%7By%7D}")
        let other = OnlineViewLayout(project: "other", view: "other", version: 1, keyTypes: layout.keyTypes, featureTypes: [], ttl: 0)
        let slot = HashSlot.slot(of: layout.key(for: keys))
        #expect(HashSlot.slot(of: layout.tileKey(for: keys)) == slot)
        #expect(HashSlot.slot(of: other.key(for: keys)) == slot)
        #expect(HashSlot.slot(of: "7:x%7D%7By%7D") == slot)
        #expect(HashSlot.slot(of: layout.key(for: [.int64(8), .string("x}{y}")])) != slot)
    }

    @Test func orderingBytesFollowTheTimeRule() {
        func ord(_ ts: Int64, _ created: Int64?, _ seq: Int64) -> [UInt8] {
            OnlineRecord.ordering(of: Self.row([], ts: ts, created: created, seq: seq, values: []))
        }
        #expect(ord(-5, nil, 1).lexicographicallyPrecedes(ord(3, nil, 1)))
        #expect(ord(3, nil, 9).lexicographicallyPrecedes(ord(3, -100, 1)))  // any created beats none
        #expect(ord(3, 1, 9).lexicographicallyPrecedes(ord(3, 2, 1)))
        #expect(ord(3, 2, 1).lexicographicallyPrecedes(ord(3, 2, 2)))  // then later ingested
    }

    @Test func olderWritesNeverReplaceNewerOnes() async throws {
        let key: [Value] = [.int64(1), .string("x")]
        let values: (Int64) -> [Value] = { [.int64($0), .null, .null, .null, .null] }
        let newer = Self.row(key, ts: 2_000, seq: 5, values: values(2))
        #expect(try await store.write([newer], layout: Self.forever) == 1)
        // Older event time: ignored, whatever its sequence.
        #expect(try await store.write([Self.row(key, ts: 1_000, seq: 99, values: values(1))], layout: Self.forever) == 0)
        // The same row again: nothing changes.
        #expect(try await store.write([newer], layout: Self.forever) == 0)
        // Equal event time, a created time: wins over none.
        let created = Self.row(key, ts: 2_000, created: 10, seq: 1, values: values(3))
        #expect(try await store.write([created], layout: Self.forever) == 1)
        // Equal event time, older created time: ignored; newer created time: wins.
        #expect(try await store.write([Self.row(key, ts: 2_000, created: 9, seq: 50, values: values(4))], layout: Self.forever) == 0)
        let latest = Self.row(key, ts: 2_000, created: 11, seq: 2, values: values(5))
        #expect(try await store.write([latest], layout: Self.forever) == 1)
        // Equal event and created time: the later ingested wins (a corrected row).
        let corrected = Self.row(key, ts: 2_000, created: 11, seq: 3, values: values(6))
        #expect(try await store.write([corrected], layout: Self.forever) == 1)
        #expect(try await store.read([(Self.forever, key)]) == [corrected])
        // In one pipeline, in any order, the winner is the same.
        let other: [Value] = [.int64(2), .string("x")]
        let batch = (0..<20).map { Self.row(other, ts: Int64($0 % 7), seq: Int64($0), values: values(Int64($0))) }.shuffled()
        try await store.write(batch, layout: Self.forever)
        #expect(try await store.read([(Self.forever, other)]).first??.values == values(13))
    }

    @Test func valuesPastTheirTTLAreExpiredThenDropped() async throws {
        let now = Timestamp.now()
        let ttl = Self.layout.ttl
        let fresh = Self.row([.int64(1), .string("a")], ts: now.microseconds - 1_000_000, values: [.int64(1), .null, .null, .null, .null])
        let stale = Self.row([.int64(2), .string("a")], ts: now.microseconds - ttl - 1, values: [.int64(2), .null, .null, .null, .null])
        let gone = Self.row([.int64(3), .string("a")], ts: now.microseconds - 3 * ttl, values: [.int64(3), .null, .null, .null, .null])
        try await store.write([fresh, stale, gone], layout: Self.layout)
        let read = try await store.read([fresh, stale, gone].map { (Self.layout, $0.keys) })
        #expect(read[0]?.status(at: now, ttl: ttl) == .present)
        #expect(read[1]?.status(at: now, ttl: ttl) == .expired)  // kept for a grace period, reported expired
        #expect(read[2] == nil)  // Redis dropped it: no pile-up
        // Exactly ttl old is still present (as offline).
        #expect(fresh.status(at: Timestamp(microseconds: fresh.eventTime.microseconds + ttl), ttl: ttl) == .present)
        #expect(fresh.status(at: Timestamp(microseconds: fresh.eventTime.microseconds + ttl + 1), ttl: ttl) == .expired)
        // Redis holds an expiry on the stale key, none on a view without ttl.
        let staleKey = Self.layout.key(for: stale.keys)
        let pttl = try await store.redis.send([RoutedCommand([Array("PTTL".utf8), staleKey], key: staleKey)])[0]
        #expect((pttl.intValue ?? -1) > 0)
    }
}
