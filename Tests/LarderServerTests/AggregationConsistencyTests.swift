import Foundation
import LarderCore
import LarderOffline
import LarderOnline
import LarderTestSupport
import Testing

/// A repository made for the consistency test: every aggregation function, on double, int64,
/// string and row-feature inputs, with 5-minute, 10-minute, 1-hour and 1-day hops.
enum Activity {
    static let accountID = Column<Int64>("account_id")
    static let amount = Column<Double?>("amount")
    static let units = Column<Int64>("units")
    static let tag = Column<String>("tag")

    static let account = Entity("account", joinKeys: [accountID])
    static let source = Source(
        "events", eventTimestamp: "event_timestamp", createdTimestamp: "created", columns: [accountID, amount, units, tag])

    static let view = FeatureView("activity", entity: account, source: source, ttl: .zero) {
        Feature("scaled", from: units) { u in Double(u) * 0.1 }
    } aggregations: {
        Aggregate(.count, windows: .hours(1), .days(1))  // count_1h (5m hops), count_24h (1h hops)
        Aggregate(.count, of: amount, windows: .hours(1))  // non-null amounts
        Aggregate(.sum, of: amount, windows: .hours(1), .days(7), .days(14))  // 5m, 1h and 1d hops
        Aggregate(.sum, of: units, windows: .hours(24))
        Aggregate(.mean, of: amount, windows: .days(2))
        Aggregate(.mean, of: units, windows: .minutes(30), hop: .minutes(10), name: "units_avg")
        Aggregate(.min, of: amount, windows: .hours(6))
        Aggregate(.max, of: "scaled", windows: .days(1))
        Aggregate(.last(3), of: tag, windows: .hours(12))
        Aggregate(.distinctCount, of: tag, windows: .days(1))
    }

    static let repository = FeatureRepository {
        account
        source
        view
    }
}

/// One generated event.
private struct Event {
    var account: Int64
    var time: Int64
    var created: Int64
    var amount: Double?
    var units: Int64
    var tag: String

    var json: [String: JSONValue] {
        [
            "account_id": .int(account), "event_timestamp": .string(Timestamp(microseconds: time).description),
            "created": .string(Timestamp(microseconds: created).description), "amount": amount.map(JSONValue.double) ?? .null,
            "units": .int(units), "tag": .string(tag),
        ]
    }
}

/// Training and serving agree to the bit on windowed aggregations, and both agree with a
/// brute-force oracle over the raw events.
@Suite struct AggregationConsistencyTests {
    static let base = try! Timestamp(rfc3339: "2025-03-01T00:00:00Z").microseconds
    static let minute: Int64 = 60_000_000
    static let hour = 60 * minute
    static let day = 24 * hour

    /// Event streams with bursts, gaps longer than any window, events on hop and window
    /// boundaries, equal event times, wide-ranging doubles (so summation order would show)
    /// and nulls.
    private static func events(seed: UInt64, accounts: Int) -> [Event] {
        var rng = SeededGenerator(seed: seed)
        var out: [Event] = []
        var created = base
        for a in 0..<accounts {
            let account = Int64(100 + a)
            var t = base + Int64.random(in: 0..<(2 * day), using: &rng)
            let count = Int.random(in: 1...80, using: &rng)
            for _ in 0..<count {
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: t += Int64.random(in: (8 * day)...(16 * day), using: &rng)  // a gap longer than most windows
                case 1: t = (t / hour + 1) * hour  // exactly on an hour (and 5-minute) boundary
                case 2: t = (t / (5 * minute) + 1) * 5 * minute
                case 3: t = (t / day + 1) * day
                case 4: break  // the same instant as the previous event
                case 5: t += Int64.random(in: 0..<(30 * minute), using: &rng)
                default: t += Int64.random(in: 0..<(3 * hour), using: &rng)
                }
                created += Int64.random(in: 1...1_000, using: &rng)  // unique: orders ties
                let magnitude = [1e-3, 1.0, 37.5, 1e6, 1e12][Int.random(in: 0..<5, using: &rng)]
                let amount: Double? =
                    Int.random(in: 0..<8, using: &rng) == 0 ? nil : Double.random(in: -magnitude...magnitude, using: &rng)
                out.append(
                    Event(
                        account: account, time: t, created: created, amount: amount, units: Int64.random(in: -50...500, using: &rng),
                        tag: "t\(Int.random(in: 0..<6, using: &rng))"))
            }
        }
        return out
    }

    /// The instants to compare at, for one account: at and after its last event (online
    /// serves "now", after every pushed event), on window and hop boundaries of its events.
    private static func instants(for events: [Event], rng: inout SeededGenerator) -> [Int64] {
        let last = events.map(\.time).max()!
        var out: Set<Int64> = [last, last + 1]
        for a in Activity.view.aggregations {
            for e in events.shuffled(using: &rng).prefix(4) {
                // T where the window starts exactly at the hop of e, the last µs before it moves
                // past it, and the first µs after.
                let t = WindowRule.hopStart(e.time, hop: a.hop) + a.window
                for candidate in [t, t + a.hop - 1, t + a.hop] where candidate >= last { out.insert(candidate) }
            }
            let nextHop = WindowRule.hopStart(last, hop: a.hop) + a.hop
            out.formUnion([nextHop - 1, nextHop])
        }
        for _ in 0..<3 { out.insert(last + Int64.random(in: 0..<(15 * day), using: &rng)) }
        return Array(out.sorted().shuffled(using: &rng).prefix(14))
    }

    /// The window rule applied plainly: every event, every instant.
    private static func oracle(_ aggregation: Aggregation, events: [Event], at t: Int64) -> JSONValue {
        let start = WindowRule.floorDiv(t - aggregation.window, aggregation.hop) * aggregation.hop
        let inWindow = events.filter { $0.time >= start && $0.time <= t }.sorted { ($0.time, $0.created) < ($1.time, $1.created) }
        let amounts = inWindow.compactMap(\.amount)
        switch (aggregation.name, aggregation.function) {
        case (_, .count): return .int(Int64(aggregation.input == .events ? inWindow.count : amounts.count))
        case ("units_sum_24h", _): return .int(inWindow.map(\.units).reduce(0, +))
        case (_, .sum): return .double(amounts.reduce(0, +))
        case ("units_avg_30m", _):
            return inWindow.isEmpty ? .null : .double(Double(inWindow.map(\.units).reduce(0, +)) / Double(inWindow.count))
        case (_, .mean): return amounts.isEmpty ? .null : .double(amounts.reduce(0, +) / Double(amounts.count))
        case (_, .min): return amounts.min().map(JSONValue.double) ?? .null
        case (_, .max): return inWindow.map { Double($0.units) * 0.1 }.max().map(JSONValue.double) ?? .null
        case (_, .last(let n)): return inWindow.isEmpty ? .null : .array(inWindow.suffix(n).map { .string($0.tag) })
        case (_, .distinctCount): return .int(Int64(Set(inWindow.map(\.tag)).count))
        }
    }

    /// Equal to the bit: doubles by bit pattern, arrays element by element.
    private static func identical(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): x.bitPattern == y.bitPattern
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
        default: a == b
        }
    }

    /// Close to the oracle: exact except floating-point sums, which the oracle adds naively
    /// in time order (Larder rounds the exact sum once), so within a bound on that error.
    private static func close(_ larder: JSONValue, _ oracle: JSONValue, magnitudes: Double) -> Bool {
        if case .double(let x) = larder, case .double(let y) = oracle {
            return abs(x - y) <= 1e-12 * max(magnitudes, 1)
        }
        return identical(larder, oracle)
    }

    @Test(arguments: [UInt64(11), 23, 47])
    func trainingAndServingAgreeToTheBit(seed: UInt64) async throws {
        let server = try await ServerHarness(repository: Activity.repository)
        defer { Task { await server.stop() } }
        var rng = SeededGenerator(seed: seed &* 7919)
        let events = Self.events(seed: seed, accounts: 30)

        // Most events arrive by ingest and materialization (tiles pushed to Redis); the rest
        // through the service's push, in shuffled order and small batches, so the current
        // tiles online are built from out-of-order arrivals merged into materialized ones.
        let shuffled = events.shuffled(using: &rng)
        let ingested = shuffled.prefix(shuffled.count * 3 / 5)
        let pushed = Array(shuffled.dropFirst(ingested.count))
        _ = try await server.offline.append(source: "events", rows: ingested.map(\.json), origin: "test")
        let end = Timestamp(microseconds: Self.base + 400 * Self.day)
        let summary = try await server.offline.materialize(Activity.view, mode: .range(start: nil, end: end))
        #expect(summary.tiles > 0)
        let (spec, version) = try await server.offline.registeredView(Activity.view)
        let layout = OnlineViewLayout(project: "test", spec: spec, version: version)
        let tiles = OnlineTiles(view: layout, tiles: Activity.view.tileLayout)
        for try await batch in server.offline.retainedTiles(of: Activity.view, from: nil) {
            try await server.online.writeTiles(batch, layout: tiles)
        }
        var i = 0
        while i < pushed.count {
            let n = Int.random(in: 1...5, using: &rng)
            let batch = pushed[i..<min(i + n, pushed.count)].map { event in
                "{" + event.json.map { key, value in "\"\(key)\": \(Self.text(value))" }.joined(separator: ", ") + "}"
            }
            let reply = try await server.post("/v1/push", #"{"source": "events", "rows": [\#(batch.joined(separator: ","))]}"#)
            #expect(reply.status == 200, "\(reply.text)")
            i += n
        }
        // The training set reads the source directly, and wants no rows pending materialization.
        _ = try await server.offline.materialize(Activity.view, mode: .incremental(end: end))

        // The instants, per account.
        let byAccount = Dictionary(grouping: events, by: \.account)
        var pairs: [(account: Int64, t: Int64)] = []
        for (account, accountEvents) in byAccount.sorted(by: { $0.key < $1.key }) {
            for t in Self.instants(for: accountEvents, rng: &rng) { pairs.append((account, t)) }
        }

        // Training set at every pair.
        var requests = "account_id,event_timestamp\n"
        for pair in pairs { requests += "\(pair.account),\(Timestamp(microseconds: pair.t))\n" }
        let requestFile = try server.directory.write("requests.csv", requests)
        let output = server.directory.file("train.jsonl")
        let features = try Activity.repository.resolve(references: ["activity"])
        _ = try await TrainingSetBuilder(store: server.offline, repository: Activity.repository).build(
            TrainingSetRequest(
                features: features, rows: .file(path: requestFile, format: nil, timestampColumn: "event_timestamp"), output: output))
        let offlineRows = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { line in
            try JSONParser.parse(Array(line.utf8))
        }
        #expect(offlineRows.count == pairs.count)

        // Serving at every pair: the service's clock set to T.
        let aggregations = Activity.view.aggregations
        var compared = 0
        var mismatches: [String] = []
        for (p, pair) in pairs.enumerated() {
            server.clock.now = Timestamp(microseconds: pair.t)
            let reply = try await server.post(
                "/v1/features",
                #"{"features": [\#(aggregations.map { "\"activity:\($0.name)\"" }.joined(separator: ","))], "entities": [{"account_id": \#(pair.account)}]}"#
            )
            #expect(reply.status == 200, "\(reply.text)")
            let served = try JSONParser.parse(Array(reply.body))
            guard case .array(let rows)? = served["rows"], let features = rows.first?["features"] else {
                Issue.record("unexpected reply \(reply.text)")
                return
            }
            let accountEvents = byAccount[pair.account]!
            for aggregation in aggregations {
                let online = features[aggregation.name]?["value"] ?? .string("absent")
                let offline = offlineRows[p][aggregation.name] ?? .string("absent")
                let expected = Self.oracle(aggregation, events: accountEvents, at: pair.t)
                let magnitudes = accountEvents.compactMap(\.amount).map(abs).reduce(0, +)
                compared += 1
                if !Self.identical(online, offline) || !Self.close(offline, expected, magnitudes: magnitudes) {
                    mismatches.append(
                        "account \(pair.account) at \(Timestamp(microseconds: pair.t)) \(aggregation.name): online \(online), training \(offline), oracle \(expected)"
                    )
                }
            }
        }
        #expect(mismatches.count == 0, "\(mismatches.count) of \(compared) differ:\n\(mismatches.prefix(10).joined(separator: "\n"))")
        #expect(compared >= 30 * 8 * aggregations.count)
    }

    private static func text(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        switch value {
        case .string(let s): JSONText.appendString(s, to: &out)
        case .int(let i): JSONText.appendInteger(i, to: &out)
        case .double(let d): JSONText.appendValue(.double(d), to: &out)
        default: out += "null".utf8
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension JSONValue {
    /// An object's member, for reading replies in tests.
    fileprivate subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }
}
