import Features
import Testing

@testable import LarderCore

/// The rules values follow where they enter Larder: canonical doubles, event times not too
/// far ahead of the clock, input text escaped in messages.
@Suite struct EntryRulesTests {
    static let positiveZero = (0.0).bitPattern

    func bits(_ value: Value) -> UInt64? {
        if case .double(let d) = value { d.bitPattern } else { nil }
    }

    // MARK: -0.0

    @Test func negativeZeroIsCanonicalAndNothingElseChanges() {
        #expect((-0.0).canonical.bitPattern == Self.positiveZero)
        for d in [0.0, 1.5, -1.5, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.infinity] {
            #expect(d.canonical.bitPattern == d.bitPattern)
        }
        #expect(Double.nan.canonical.isNaN)
        #expect(bits(Value.double(-0.0).canonical) == Self.positiveZero)
        guard case .list(let items) = Value.list([.double(-0.0), .double(2)]).canonical else {
            Issue.record("not a list")
            return
        }
        #expect(items.map(bits) == [Self.positiveZero, (2.0).bitPattern])
    }

    /// JSON Lines ingest, pushes and the service's request fields convert through this.
    @Test func jsonNegativeZeroBecomesPositiveZero() throws {
        let parsed = try JSONParser.parse(Array("-0.0".utf8))
        #expect(bits(try parsed.value(as: .double)) == Self.positiveZero)
        #expect(bits(try JSONValue.double(-0.0).value(as: .double)) == Self.positiveZero)
        #expect(bits(try JSONValue.int(0).value(as: .double)) == Self.positiveZero)
    }

    /// A transformation that computes -0.0 (here -0.0 / 3 in `fare_per_km`) gives +0.0, so
    /// materialization, `/v1/push` and on-demand features all store and serve +0.0.
    @Test func computedNegativeZeroBecomesPositiveZero() throws {
        let layout = RowLayout(keys: ["driver_id", "fare", "distance_km"])
        let farePerKm = try #require(driverTrips.features.first?.transformation.evaluator(for: layout))
        #expect(bits(farePerKm([.int64(1), .double(-0.0), .double(3)])) == Self.positiveZero)
        #expect(bits(farePerKm([.int64(1), .double(-3), .double(3)])) == (-1.0).bitPattern)

        let negate = Feature("negated", from: Column<Double>("x")) { -$0 }
        let evaluate = try #require(negate.transformation.evaluator(for: RowLayout(keys: ["x"])))
        #expect(bits(evaluate([.double(0)])) == Self.positiveZero)
        let onDemand = try #require(
            TransformedConvRate.view.features[0].transformation.evaluator(
                for: RowLayout(keys: ["driver_hourly_stats:conv_rate", "val_to_add", "val_to_add_2"])))
        #expect(bits(onDemand([.double(-0.5), .int64(0), .int64(0)])) == (-0.5).bitPattern)
    }

    // MARK: Event times in the future

    @Test func eventTimesUpToTheSkewAreAdmittedAndLaterOnesRejected() throws {
        let now = try Timestamp(rfc3339: "2026-11-30T12:00:00Z")
        let limit = EventTimePolicy(maxFutureSkew: .minutes(5)).limit(at: now)
        #expect(limit.admits(now))
        #expect(limit.admits(try Timestamp(rfc3339: "2020-01-01T00:00:00Z")))
        #expect(limit.admits(try Timestamp(rfc3339: "2026-11-30T12:05:00Z")))
        #expect(!limit.admits(try Timestamp(rfc3339: "2026-11-30T12:05:00.000001Z")))
        let far = try Timestamp(rfc3339: "9999-12-31T23:59:59.999999Z")
        #expect(!limit.admits(far))
        let reason = limit.rejection(of: far)
        #expect(
            reason.hasSuffix(
                "d11h59m59s ahead of the clock (2026-11-30T12:00:00Z); event times more than 5m in the future are rejected, by ingest and push alike (max_event_time_skew at the top level of larder.yaml)"
            ), "\(reason)")
        #expect(
            limit.rejection(of: try Timestamp(rfc3339: "2026-11-30T12:07:30Z")).hasPrefix("7m30s ahead of the clock"))
        let strict = EventTimePolicy(maxFutureSkew: .zero).limit(at: now)
        #expect(strict.admits(now))
        #expect(!strict.admits(Timestamp(microseconds: now.microseconds + 1)))
        #expect(EventTimePolicy().maxFutureSkew == .minutes(5))
    }

    @Test(arguments: [
        ("5m", Int64(300_000_000)), ("90s", 90_000_000), ("1h30m", 5_400_000_000), ("2d", 172_800_000_000), ("250ms", 250_000),
        ("7us", 7), ("0s", 0), (" 10s ", 10_000_000),
    ])
    func compactDurationsParse(text: String, microseconds: Int64) {
        #expect(Duration(compactDescription: text)?.microseconds == microseconds)
    }

    @Test func compactDurationsRoundTripAndOtherTextIsRefused() {
        for us: Int64 in [1, 999, 1_000_000, 61_000_000, 86_400_000_001, 3_723_000_000] {
            #expect(Duration(compactDescription: Duration.compact(microseconds: us))?.microseconds == us)
        }
        for bad in ["", "5", "m", "-5m", "5 m", "5x", "1m2h", "5m5m", "1.5h", "99999999999999d"] {
            #expect(Duration(compactDescription: bad) == nil, "\(bad)")
        }
    }

    // MARK: Text from the input, in messages

    @Test func controlCharactersAreEscapedInMessages() {
        #expect(MessageText.escaped("plain café, \"quoted\" \\ kept") == "plain café, \"quoted\" \\ kept")
        #expect(MessageText.escaped("a\nb\r\tc") == "a\\nb\\r\\tc")
        #expect(MessageText.escaped("\u{1B}[31mred\u{1B}[0m") == "\\u{1B}[31mred\\u{1B}[0m")
        #expect(MessageText.escaped("\u{0}\u{7F}\u{85}") == "\\u{0}\\u{7F}\\u{85}")
        #expect(MessageText.escaped("abc\u{202E}def\u{2028}") == "abc\\u{202E}def\\u{2028}")
    }

    @Test func jsonParserGivesTheTextOfEachMember() throws {
        let text = #"{"a": 9223372036854775808, "b" :"x\"y", "c": {"d": [1, 2.50]}, "e":1e3 }"#
        var ranges: [Range<Int>] = [0..<1]
        let bytes = Array(text.utf8)
        let value = try bytes.withUnsafeBufferPointer { try JSONParser.parse($0, memberRanges: &ranges) }
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["a", "b", "c", "e"])
        #expect(
            ranges.map { String(decoding: bytes[$0], as: UTF8.self) } == [
                "9223372036854775808", #""x\"y""#, #"{"d": [1, 2.50]}"#, "1e3",
            ])
        #expect(members[0].value == .double(9_223_372_036_854_775_808))
    }
}
