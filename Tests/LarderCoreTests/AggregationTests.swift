import Features
import LarderTestSupport
import Testing

@testable import LarderCore

@Suite struct AggregationTests {
    static let key = Column<Int64>("driver_id")
    static let amount = Column<Double?>("amount")
    static let units = Column<Int64>("units")
    static let note = Column<String>("note")
    static let entity = Entity("driver", joinKeys: [key])
    static let source = Source("payments", columns: [key, amount, units, note])

    static func view(@ListBuilder<Aggregate> _ aggregations: () -> [Aggregate]) -> FeatureView {
        FeatureView(
            "v", entity: entity, source: source, ttl: .zero, features: { Feature("double_units", from: units) { Double($0) * 2 } },
            aggregations: aggregations)
    }

    static func problems(_ view: FeatureView) -> [String] {
        do {
            try FeatureRepository {
                entity
                source
                view
            }.validate()
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test func namesAndHopsFollowTheRules() {
        let v = Self.view {
            Aggregate(.count, windows: .minutes(30), .hours(1), .hours(11), .hours(12), .hours(24), .hours(48), .days(11), .days(12))
            Aggregate(.sum, of: Self.amount, windows: .days(7), name: "spend")
            Aggregate(.last(3), of: Self.note, windows: .seconds(90))
            Aggregate(.distinctCount, of: Self.note, windows: .hours(2), hop: .minutes(30))
            Aggregate(.max, of: "double_units", windows: .days(1))
        }
        #expect(
            v.aggregations.map(\.name) == [
                "count_30m", "count_1h", "count_11h", "count_12h", "count_24h", "count_2d", "count_11d", "count_12d", "spend_7d",
                "note_last3_90s", "note_distinct_count_2h", "double_units_max_24h",
            ])
        let minute: Int64 = 60_000_000
        #expect(v.aggregations[9].hop == 90_000_000)  // never more than the window
        #expect(
            v.aggregations.map { $0.hop / minute } == [5, 5, 5, 60, 60, 60, 60, 1440, 60, 1, 30, 60])
        #expect(v.aggregations.map(\.type) == Array(repeating: .int64, count: 8) + [.double, .stringList, .int64, .double])
        #expect(v.featureNames == ["double_units"] + v.aggregations.map(\.name))
        #expect(Self.problems(v).isEmpty)
        // Registered form round trip.
        for a in v.aggregations { #expect(AggregationFunction(a.function.description) == a.function) }
    }

    @Test func invalidAggregationsAreReported() {
        let v = Self.view {
            Aggregate(.sum, of: Self.note, windows: .hours(1))
            Aggregate(.mean, of: "missing_feature", windows: .hours(1))
            Aggregate(.count, windows: .minutes(7))  // not a whole number of 5-minute hops
            Aggregate(.last(0), of: Self.note, windows: .hours(1))
            Aggregate(.min, of: Column<Double>("nope"), windows: .hours(1))
            Aggregate(.count, windows: .hours(1), .hours(1))
        }
        let found = Self.problems(v).joined(separator: "\n")
        for fragment in [
            "aggregation 'note_sum_1h': sum does not apply to a string input",
            "aggregation 'missing_feature_mean_1h' reads feature 'missing_feature', which is not a row feature of the view",
            "aggregation 'count_7m': the window (7m) must be a whole number of hops (5m)",
            "last(n) needs 1 <= n <= 1000, got 0",
            "aggregation 'nope_min_1h' reads column 'nope', which source payments lacks",
            "count_1h",
        ] {
            #expect(found.contains(fragment), "missing \(fragment) in:\n\(found)")
        }
    }

    @Test func specChangesNameAggregations() {
        let v1 = Self.view { Aggregate(.sum, of: Self.amount, windows: .hours(24)) }
        let v2 = Self.view {
            Aggregate(.sum, of: Self.amount, windows: .hours(24), hop: .minutes(30))
            Aggregate(.count, windows: .hours(1))
        }
        let changes = DefinitionSpec.featureView(v2.spec).changes(from: .featureView(v1.spec))
        #expect(changes == ["aggregation added: count_1h", "aggregation changed: amount_sum_24h (hop 1h -> 30m)"])
        // Views without aggregations keep the fingerprint they had before aggregations existed.
        #expect(!String(decoding: DefinitionSpec.featureView(driverHourlyStats.spec).json(), as: UTF8.self).contains("aggregations"))
    }

    @Test func windowRuleFloorsTowardNegativeInfinity() {
        #expect(WindowRule.floorDiv(-1, 5) == -1)
        #expect(WindowRule.floorDiv(-5, 5) == -1)
        #expect(WindowRule.floorDiv(4, 5) == 0)
        // At T = 10:07 a 1-hour window with 5-minute hops starts at 09:05.
        let m: Int64 = 60_000_000
        #expect(WindowRule.windowStart(at: 607 * m, window: 60 * m, hop: 5 * m) == 545 * m)
        #expect(WindowRule.windowStart(at: 605 * m, window: 60 * m, hop: 5 * m) == 545 * m)
        #expect(WindowRule.windowStart(at: 605 * m - 1, window: 60 * m, hop: 5 * m) == 540 * m)
    }

    /// Random streams, with NaN, -0.0, infinities, nulls and equal times: the sliding window
    /// (training sets) and merged tiles built in shuffled order (serving) give the same bits
    /// for every function, and tiles survive encoding.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func slidingWindowEqualsMergedTiles(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let v = Self.view {
            Aggregate(.count, windows: .hours(1))
            Aggregate(.count, of: Self.amount, windows: .hours(2))
            Aggregate(.sum, of: Self.amount, windows: .hours(1), .hours(3))
            Aggregate(.sum, of: Self.units, windows: .hours(1))
            Aggregate(.mean, of: Self.amount, windows: .hours(2))
            Aggregate(.mean, of: Self.units, windows: .hours(2))
            Aggregate(.min, of: Self.amount, windows: .hours(1))
            Aggregate(.max, of: Self.amount, windows: .hours(1))
            Aggregate(.min, of: Self.units, windows: .hours(1))
            Aggregate(.last(4), of: Self.note, windows: .hours(2))
            Aggregate(.last(2), of: Self.amount, windows: .minutes(30))
            Aggregate(.distinctCount, of: Self.amount, windows: .hours(3))
            Aggregate(.distinctCount, of: Self.note, windows: .hours(1))
        }
        let layout = v.tileLayout
        let minute: Int64 = 60_000_000
        var events: [(order: EventOrder, inputs: [Value])] = []
        var t: Int64 = 1_000 * minute
        let specials: [Double] = [.nan, -0.0, 0.0, .infinity, -.infinity, 1e300, -1e300, 5e-324]
        for s in 0..<400 {
            if Int.random(in: 0..<5, using: &rng) > 0 { t += Int64.random(in: 0..<(20 * minute), using: &rng) }
            let amount: Value =
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: .null
                case 1: .double(specials[Int.random(in: 0..<specials.count, using: &rng)])
                default: .double(Double.random(in: -1e6...1e6, using: &rng))
                }
            let inputs = layout.inputs.map { input -> Value in
                switch input {
                case .column(let c) where c.name == "amount": amount
                case .column(let c) where c.name == "units": .int64(Int64.random(in: -5...5, using: &rng))
                case .column: .string("n\(Int.random(in: 0..<5, using: &rng))")
                default: .null
                }
            }
            events.append((EventOrder(eventTime: t, createdTime: nil, sequence: Int64(s)), inputs))
        }
        var sweep = WindowSweep(layout: layout)
        var keyEvents = KeyEvents(inputCount: layout.inputs.count)
        for e in events { keyEvents.append(order: e.order, inputs: e.inputs) }
        sweep.reset(keyEvents)

        // Tiles from the same events in shuffled order, round-tripped through their bytes.
        var tiles = [[Int64: [AggregationState]]](repeating: [:], count: layout.groups.count)
        for e in events.shuffled(using: &rng) {
            for g in layout.groups.indices {
                let start = WindowRule.hopStart(e.order.eventTime, hop: layout.groups[g].hop)
                layout.add(e.inputs, order: e.order, to: &tiles[g][start, default: layout.emptyTile(group: g)], group: g)
            }
        }
        for g in tiles.indices {
            for (start, tile) in tiles[g] {
                let bytes = layout.encode(tile, group: g)
                tiles[g][start] = try layout.decode(bytes[...], group: g)
                #expect(layout.encode(tiles[g][start]!, group: g) == bytes)
            }
        }

        // Instants at and after each event (tiles hold every event: serving's "now").
        var instants = events.map(\.order.eventTime)
        instants += instants.map { $0 + Int64.random(in: 0..<(4 * 60 * minute), using: &rng) }
        instants.sort()
        var checked = 0
        for instant in instants {
            let swept = sweep.values(at: instant)
            guard instant >= events.last!.order.eventTime else { continue }
            var merge = WindowMerge(layout: layout, at: instant)
            var fromBytes = WindowMerge(layout: layout, at: instant)
            for g in tiles.indices {
                for (start, tile) in tiles[g] {
                    merge.add(tile, group: g, hopStart: start)
                    try fromBytes.add(encoded: layout.encode(tile, group: g)[...], group: g, hopStart: start)
                }
            }
            let merged = merge.values
            #expect(zip(merged, fromBytes.values).allSatisfy { Self.identical($0, $1) })
            for (a, (x, y)) in zip(swept, merged).enumerated() {
                #expect(Self.identical(x, y), "\(layout.aggregations[a].name) at \(instant): sweep \(x), tiles \(y)")
                checked += 1
            }
        }
        #expect(checked > 0)
    }

    @Test func corruptTilesAreErrorsNotCrashes() throws {
        let layout = Self.view {
            Aggregate(.sum, of: Self.amount, windows: .hours(1))
            Aggregate(.last(3), of: Self.note, windows: .hours(1))
            Aggregate(.distinctCount, of: Self.note, windows: .hours(1))
            Aggregate(.max, of: Self.units, windows: .hours(1))
        }.tileLayout
        var tile = layout.emptyTile(group: 0)
        for i in 0..<20 {
            layout.add(
                [.double(Double(i) * 0.1), .string("n\(i % 4)"), .int64(Int64(i))],
                order: EventOrder(eventTime: Int64(i), createdTime: nil, sequence: Int64(i)), to: &tile, group: 0)
        }
        let bytes = layout.encode(tile, group: 0)
        for cut in 0..<bytes.count { #expect(throws: TileDecodingError.self) { try layout.decode(bytes[..<cut], group: 0) } }
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<2_000 {
            var noisy = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                noisy[Int.random(in: 0..<noisy.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? layout.decode(noisy[...], group: 0)  // any answer but a crash
        }
        #expect(try layout.decode(bytes[...], group: 0) == tile)
        #expect(throws: TileDecodingError.self) { try layout.decode((bytes + [0])[...], group: 0) }
    }

    static func identical(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): x.bitPattern == y.bitPattern
        case (.list(let x), .list(let y)): x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
        default: a == b
        }
    }
}
