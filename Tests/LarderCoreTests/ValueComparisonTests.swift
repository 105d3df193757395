import LarderTestSupport
import Testing

@testable import LarderCore

/// The rules `larder verify` compares online and offline values by, and its repeatable
/// sampling.
@Suite struct ValueComparisonTests {
    // MARK: Categories

    @Test func classifiesEachCategory() {
        #expect(ValueComparison.classify(online: .double(0.5), offline: .double(0.5)) == .equal)
        #expect(ValueComparison.classify(online: .null, offline: .null) == .bothNull)
        #expect(ValueComparison.classify(online: .null, offline: .int64(3)) == .onlineNull)
        #expect(ValueComparison.classify(online: .string("a"), offline: .null) == .offlineNull)
        #expect(ValueComparison.classify(online: .int64(3), offline: .int64(4)) == .mismatched)
        // Another type is a mismatch, even when the numbers are equal.
        #expect(ValueComparison.classify(online: .int64(3), offline: .double(3)) == .mismatched)
        #expect(ValueComparison.classify(online: .bool(true), offline: .bool(false)) == .mismatched)
        #expect(
            ValueComparison.classify(online: .timestamp(Timestamp(microseconds: 1)), offline: .timestamp(Timestamp(microseconds: 2)))
                == .mismatched)
    }

    @Test func doublesAreComparedBitForBit() {
        #expect(!ValueComparison.identical(.double(0.0), .double(-0.0)))
        #expect(ValueComparison.identical(.double(-0.0), .double(-0.0)))
        #expect(ValueComparison.identical(.double(.nan), .double(.nan)))
        // A NaN with another payload was computed differently.
        #expect(!ValueComparison.identical(.double(.nan), .double(Double(nan: 1, signaling: false))))
        #expect(!ValueComparison.identical(.double(0.1 + 0.2), .double(0.3)))
        #expect(ValueComparison.identical(.double(0.1 + 0.2), .double(0.30000000000000004)))
        #expect(!ValueComparison.identical(.double(1), .double(1.0000000000000002)))
    }

    @Test func listsAreComparedElementWise() {
        let a = Value.list([.double(1), .double(-0.0), .null])
        #expect(ValueComparison.identical(a, .list([.double(1), .double(-0.0), .null])))
        #expect(!ValueComparison.identical(a, .list([.double(1), .double(0.0), .null])))
        #expect(!ValueComparison.identical(a, .list([.double(1), .double(-0.0)])))
        #expect(!ValueComparison.identical(a, .list([.double(1), .double(-0.0), .null, .null])))
        #expect(ValueComparison.identical(.list([]), .list([])))
        #expect(ValueComparison.classify(online: .list([.int64(1)]), offline: .list([.int64(2)])) == .mismatched)
    }

    // MARK: SMAPE

    @Test func smapeIsSymmetricAndBounded() throws {
        let e = try #require(ValueComparison.smape(.double(0.5), .double(0.25)))
        #expect(e == 0.25 / 0.375)
        #expect(ValueComparison.smape(.double(0.25), .double(0.5)) == e)
        #expect(ValueComparison.smape(.int64(10), .int64(-10)) == 2)
        #expect(ValueComparison.smape(.double(1), .double(0)) == 2)
        #expect(ValueComparison.smape(.double(0.0), .double(-0.0)) == 0)
        #expect(ValueComparison.smape(.int64(100), .double(101))! > 0.0099)
        // Near the largest double the difference overflows; the result must not.
        #expect(ValueComparison.smape(.double(.greatestFiniteMagnitude), .double(-.greatestFiniteMagnitude)) == 2)
        #expect(ValueComparison.smape(.double(.greatestFiniteMagnitude), .double(.greatestFiniteMagnitude / 2))! > 0.66)
        // Subnormals of opposite signs: still the largest error, not 0/0.
        #expect(ValueComparison.smape(.double(5e-324), .double(-5e-324)) == 2)
        // Not numbers, or not finite: no relative error.
        #expect(ValueComparison.smape(.double(.nan), .double(1)) == nil)
        #expect(ValueComparison.smape(.double(.infinity), .double(1)) == nil)
        #expect(ValueComparison.smape(.string("1"), .string("2")) == nil)
        #expect(ValueComparison.smape(.list([.int64(1)]), .list([.int64(2)])) == nil)
    }

    @Test func percentilesUseTheNearestRank() throws {
        let hundred = try #require(SMAPESummary((1...100).map { Double($0) / 100 }.shuffled()))
        #expect(hundred == SMAPESummary(p50: 0.5, p90: 0.9, p99: 0.99, max: 1))
        let one = try #require(SMAPESummary([0.125]))
        #expect(one == SMAPESummary(p50: 0.125, p90: 0.125, p99: 0.125, max: 0.125))
        // 10 errors: p50 is the 5th, p90 the 9th, p99 the 10th.
        let ten = try #require(SMAPESummary((1...10).map(Double.init)))
        #expect(ten == SMAPESummary(p50: 5, p90: 9, p99: 10, max: 10))
        #expect(SMAPESummary([]) == nil)
    }

    // MARK: Tallies

    @Test func aComparisonCountsEveryCategoryAndKeepsExamples() throws {
        var c = FeatureComparison(feature: "v:f", exampleLimit: 2)
        c.add(online: .double(1), offline: .double(1), context: "k=1")
        c.add(online: .null, offline: .null, context: "k=2")
        c.add(online: .null, offline: .double(1), context: "k=3")
        c.add(online: .double(1), offline: .null, context: "k=4")
        c.add(online: .double(0.5), offline: .double(0.25), context: "k=5")
        c.add(online: .double(0.0), offline: .double(-0.0), context: "k=6")
        c.add(online: .string("a"), offline: .string("b"), context: "k=7")
        #expect(
            [c.compared, c.equal, c.bothNull, c.onlineNull, c.offlineNull, c.mismatched] == [7, 1, 1, 1, 1, 3])
        #expect(!c.isConsistent)
        // Numeric mismatches only: 0.5 vs 0.25 and 0.0 vs -0.0 (a zero error).
        #expect(c.errors.sorted() == [0, 0.25 / 0.375])
        #expect(c.smape?.max == 0.25 / 0.375)
        #expect(c.examples.map(\.context) == ["k=3", "k=4"])
        #expect(c.examples.map(\.agreement) == [.onlineNull, .offlineNull])

        var consistent = FeatureComparison(feature: "v:f")
        consistent.add(online: .int64(1), offline: .int64(1))
        consistent.add(online: .null, offline: .null)
        #expect(consistent.isConsistent)
        #expect(consistent.smape == nil)
        #expect(consistent.examples.isEmpty)

        consistent.merge(c)
        #expect(consistent.compared == 9)
        #expect(consistent.mismatched == 3)
        #expect(consistent.examples.map(\.context) == ["k=3", "k=4"])  // the two c kept
        #expect(!consistent.isConsistent)
    }

    @Test func featureValuesReadBackFromJSON() throws {
        #expect(try JSONValue.double(0.1).featureValue(as: .double) == .double(0.1))
        #expect(try JSONValue.int(3).featureValue(as: .double) == .double(3))
        #expect(try JSONValue.null.featureValue(as: .int64List) == .null)
        #expect(
            try JSONValue.array([.string("2026-01-01T00:00:00Z"), .null]).featureValue(as: .timestampList)
                == .list([.timestamp(try Timestamp(rfc3339: "2026-01-01T00:00:00Z")), .null]))
        #expect(throws: JSONTypeError.self) { try JSONValue.int(3).featureValue(as: .int64List) }
        #expect(throws: JSONTypeError.self) { try JSONValue.array([.double(0.5)]).featureValue(as: .int64List) }
        // -0.0 and a double's last bit survive the training set's JSON Lines.
        var text: [UInt8] = []
        JSONText.appendValue(.list([.double(-0.0), .double(0.1 + 0.2)]), to: &text)
        #expect(try JSONParser.parse(text).featureValue(as: .doubleList).description == "[-0.0, 0.30000000000000004]")
    }

    // MARK: Sampling

    @Test func theKeyHashIsStableAndSeeded() {
        // FNV-1a is fixed: these values hold on every platform and in every process.
        let keys: [Value] = [.int64(1001)]
        #expect(EntityKeyHash.canonicalText(keys) == "1001")
        #expect(EntityKeyHash.canonicalText([.string("a,b")]) == #""a,b""#)
        #expect(EntityKeyHash.canonicalText([.string("a"), .string("b")]) == #""a","b""#)
        #expect(EntityKeyHash.hash(keys, seed: 0) == EntityKeyHash.hash(keys, seed: 0))
        #expect(EntityKeyHash.hash(keys, seed: 0) != EntityKeyHash.hash(keys, seed: 1))
        #expect(EntityKeyHash.hash(text: "", seed: 0) == EntityKeyHash.avalanche(Self.fnv1a([UInt8](repeating: 0, count: 8))))
        #expect(
            EntityKeyHash.hash(text: "1001", seed: 0x0102)
                == EntityKeyHash.avalanche(Self.fnv1a([2, 1, 0, 0, 0, 0, 0, 0] + Array("1001".utf8))))
    }

    /// FNV-1a written out plainly, as the reference.
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in bytes { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return h
    }

    @Test func aSampleIsTheFirstKeysByHashWhateverTheOrder() {
        let candidates: [[Value]] = (0..<500).map { [.int64(Int64($0))] }
        let expected = candidates.sorted {
            (EntityKeyHash.hash($0, seed: 7), EntityKeyHash.canonicalText($0)) < (
                EntityKeyHash.hash($1, seed: 7), EntityKeyHash.canonicalText($1)
            )
        }.prefix(20)
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<5 {
            var sample = EntityKeySample(limit: 20, seed: 7)
            // Shuffled and offered twice (a key in a feature table and a tile table).
            for keys in (candidates + candidates).shuffled(using: &rng) { sample.offer(keys) }
            #expect(sample.keys == Array(expected))
        }
        var other = EntityKeySample(limit: 20, seed: 8)
        for keys in candidates { other.offer(keys) }
        #expect(other.keys != Array(expected))
        var all = EntityKeySample(limit: 1000, seed: 7)
        for keys in candidates { all.offer(keys) }
        #expect(all.keys.count == 500)
    }

    @Test func requestFieldsAreDrawnDeterministicallyByType() throws {
        let at = try Timestamp(rfc3339: "2026-06-01T00:00:00Z")
        for type in ValueType.scalars {
            let a = RequestFieldSample.value(of: type, field: "f", row: "1001", seed: 0, at: at)
            #expect(a.type == type)
            #expect(a == RequestFieldSample.value(of: type, field: "f", row: "1001", seed: 0, at: at))
        }
        // Different rows, fields and seeds draw different values.
        let values = Set(
            (0..<50).map { RequestFieldSample.value(of: .int64, field: "f", row: "\($0)", seed: 0, at: at) }
                + [RequestFieldSample.value(of: .int64, field: "g", row: "0", seed: 0, at: at)])
        #expect(values.count > 40)
        for row in 0..<200 {
            guard case .int64(let i) = RequestFieldSample.value(of: .int64, field: "f", row: "\(row)", seed: 3, at: at),
                case .double(let d) = RequestFieldSample.value(of: .double, field: "f", row: "\(row)", seed: 3, at: at),
                case .timestamp(let t) = RequestFieldSample.value(of: .timestamp, field: "f", row: "\(row)", seed: 3, at: at)
            else {
                Issue.record("wrong types")
                return
            }
            #expect((-1000...1000).contains(i))
            #expect(d >= -1000 && d < 1000)
            #expect(t <= at && t.microseconds > at.microseconds - 30 * 86_400_000_000)
        }
    }
}
