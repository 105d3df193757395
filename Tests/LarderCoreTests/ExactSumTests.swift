import LarderTestSupport
import Testing

@testable import LarderCore

@Suite struct ExactSumTests {
    struct Vector: Sendable {
        var name: String
        var values: [Double]
        var sum: Double
        init(_ name: String, _ values: [UInt64], _ sum: UInt64) {
            (self.name, self.values, self.sum) = (name, values.map(Double.init(bitPattern:)), Double(bitPattern: sum))
        }
    }

    /// Generated once with Python: the oracle is `math.fsum`, which is correctly rounded,
    /// cross-checked against `float(sum of Fractions)`; where fsum raises OverflowError the
    /// oracle applies the IEEE rule (exact sum >= max + ulp/2 overflows) to the Fraction sum.
    /// fsum gives `-0.0` for an all-`-0.0` input; our rule is `+0.0`, checked separately.
    static let vectors: [Vector] = [
        Vector("no overflow of the exact sum", [0x7FE1CCF385EBC8A0, 0x7FE1CCF385EBC8A0, 0xFFE1CCF385EBC8A0], 0x7FE1CCF385EBC8A0),
        Vector("overflow to +inf", [0x7FE1CCF385EBC8A0, 0x7FE1CCF385EBC8A0], 0x7FF0000000000000),
        Vector("overflow to -inf", [0xFFE1CCF385EBC8A0, 0xFFE1CCF385EBC8A0], 0xFFF0000000000000),
        Vector("max + ulp/2 is a tie: rounds to inf", [0x7FEFFFFFFFFFFFFF, 0x7C90000000000000], 0x7FF0000000000000),
        Vector("just below the tie: stays max", [0x7FEFFFFFFFFFFFFF, 0x7C90000000000000, 0x8000000000000001], 0x7FEFFFFFFFFFFFFF),
        Vector("negative just below the tie", [0xFFEFFFFFFFFFFFFF, 0xFC90000000000000, 0x0000000000000001], 0xFFEFFFFFFFFFFFFF),
        Vector("below ulp/2 is dropped", [0x3FF0000000000000, 0x3C9CD2B297D889BC], 0x3FF0000000000000),
        Vector("tie to even, down", [0x3FF0000000000000, 0x3CA0000000000000], 0x3FF0000000000000),
        Vector("tie to even, up", [0x3FF0000000000001, 0x3CA0000000000000], 0x3FF0000000000002),
        Vector("sticky bit breaks the tie", [0x3FF0000000000000, 0x3CA0000000000000, 0x0000000000000001], 0x3FF0000000000001),
        Vector("negative tie", [0xBFF0000000000000, 0xBCA0000000000000], 0xBFF0000000000000),
        Vector("2^53 + 1 tie", [0x4340000000000000, 0x3FF0000000000000], 0x4340000000000000),
        Vector("2^53 + 1 + sticky", [0x4340000000000000, 0x3FF0000000000000, 0x39B4484BFEEBC2A0], 0x4340000000000001),
        Vector("2^53 + 1 - sticky", [0x4340000000000000, 0x3FF0000000000000, 0xB9B4484BFEEBC2A0], 0x4340000000000000),
        Vector("massive cancellation", [0x4415AF1D78B58C40, 0x3FF0000000000000, 0xC415AF1D78B58C40], 0x3FF0000000000000),
        Vector("huge spread", [0x7E37E43C8800759C, 0x01A56E1FC2F8F359, 0xFE37E43C8800759C], 0x01A56E1FC2F8F359),
        Vector(
            "0.1 ten times",
            [
                0x3FB999999999999A, 0x3FB999999999999A, 0x3FB999999999999A, 0x3FB999999999999A, 0x3FB999999999999A, 0x3FB999999999999A,
                0x3FB999999999999A, 0x3FB999999999999A, 0x3FB999999999999A, 0x3FB999999999999A,
            ], 0x3FF0000000000000),
        Vector("0.1 + 0.2 - 0.3", [0x3FB999999999999A, 0x3FC999999999999A, 0xBFD3333333333333], 0x3C80000000000000),
        Vector("subnormals add exactly", [0x0000000000000001, 0x0000000000000001, 0x0000000000000001], 0x0000000000000003),
        Vector("normal minus subnormal", [0x0010000000000000, 0x8000000000000001], 0x000FFFFFFFFFFFFF),
        Vector("subnormals into normal range", [0x000FFFFFFFFFFFFF, 0x0000000000000001, 0x0000000000000003], 0x0010000000000003),
        Vector(
            "subnormal cancellation", [0x000012688B70E62B, 0x800012688B70E62B, 0x00000000000017B8, 0x8000000000000001], 0x00000000000017B7),
        Vector("exact zero from cancellation (+0.0)", [0x3FF8000000000000, 0xBFF8000000000000], 0x0000000000000000),
        Vector("-0.0 alone (+0.0 by our rule)", [0x8000000000000000], 0x0000000000000000),
        Vector("-0.0 twice", [0x8000000000000000, 0x8000000000000000], 0x0000000000000000),
        Vector("empty", [], 0x0000000000000000),
        Vector(
            "random mixed magnitudes 0",
            [
                0x3D58487DAB3C309B, 0x43137DECC183AEFA, 0x3DFAB581D8118D44, 0x3D266BA3AD30477D, 0xC21D0688F96EB8B4, 0x3CD2ED09B9341646,
                0xBDB3FE26A41FC32F, 0x3E801B3E94F08D00, 0x3F65330A54D4847A, 0xBFE5178403F290AC, 0x42DD33E0E3BDF665, 0xBCA5B18BD76BF4B6,
            ], 0x4315510DC93694EF),
        Vector(
            "random mixed magnitudes 1",
            [
                0x3F2BDA11AD1D8D52, 0xC07557DCAE6F9322, 0xC1A6F65ED6DB7719, 0xC185176447BAC7A5, 0x42A0F7B44150E296, 0x417B901F34619DF6,
                0x3FB6A394AB6F1DB4, 0x3CA4A1AB21C20620, 0xBDA108A3E334E430, 0xC184C31D7B52369D, 0x41F36B81ED8D1390, 0x40533C7B886AB994,
            ], 0x42A0FA03B691223C),
        Vector(
            "random mixed magnitudes 2",
            [
                0xC07AB3AFCF591089, 0xBE27339A68799136, 0x405BE9C8B31667EB, 0x40932A57E617562A, 0xC356A70DF3DA41D7, 0xC323E38FCA8174DE,
                0x41F050DD9E7F560F, 0x41187D28667CDD33, 0xC2F2C5B0B8F43449, 0x3FDB244E61C16F74, 0x3E618CF4584FE2ED, 0xC3550EB459F8EE69,
            ], 0xC3673EA56461183E),
        Vector(
            "random mixed magnitudes 3",
            [
                0x3E65F0C59CBCA911, 0xC2C3DEF9F5C440A6, 0xC29349FE4CE4055E, 0x42A2C7A0C5636169, 0xC33C01F6E97C5D80, 0x41B3215F7FC6AE1E,
                0x41C015CC4571B3C3, 0xBEB5592A98DE122D, 0xBF76AD5C03C68B83, 0xBEAB181A6A61D1D2, 0x3E64AD8F6BD059D0, 0xBC81F3C555FD9BDD,
            ], 0xC33C2523594B7547),
        Vector(
            "random mixed magnitudes 4",
            [
                0x40812A74C2F317E6, 0x3E198FB5D32402EF, 0x3D7344AC6515C810, 0xC32619CFA09B99DE, 0x3D903AB0C0719224, 0x419C428EF57C831D,
                0xBF9467977FFF5E0D, 0x3E23E6F3D60D5BE5, 0xBF03644F6B5BAFD4, 0xBEEA1C5C02662D86, 0xC3B06E6994E87918, 0x41206CF6AA0B4F52,
            ], 0xC3B079767CB1AE09),
        Vector(
            "random mixed magnitudes 5",
            [
                0xC2B4F949277037BE, 0xC10E0E0324BD776C, 0xC0410076B7B5918C, 0x3F71BAF63F4E73A8, 0x3C26740FEB25822C, 0x3D991C8D18BC3C5A,
                0x3F35DE3AA799CCE8, 0xBD84E2F3074203D6, 0xC2D039B1B30C34A9, 0x3CF4C390C124AF29, 0x3F27069472FE6ADE, 0x3F2479AF8481AA94,
            ], 0xC2D57803FDD8BB32),
        Vector(
            "random mixed magnitudes 6",
            [
                0xBF44704013BA2C3B, 0x4112FFE166507BEC, 0x40063DCC48057E1A, 0x3CACCFB7139670E5, 0xBF625F153787E10A, 0x43860E3D788743F8,
                0x3FD910EB24AABBF9, 0x42BEC9F45A53D1B4, 0x408A5E0E535E8916, 0x414052FDF74AB28A, 0xC3924648B7778E7B, 0xBC256A53C35906E4,
            ], 0xC37CFABB4D87B62B),
        Vector(
            "random mixed magnitudes 7",
            [
                0x43A2EE6E100458CD, 0x4117F99C88CEDD12, 0xBE57E58A2F100E7E, 0x3C52E7E018A88BDA, 0xBC958D3FD0E7D06C, 0xBD45AC9FC8B48EB0,
                0xBFF3C4D12133D4A1, 0x40F3BA333393D2A0, 0xC0225366E626081C, 0x4292E22DB835FF1B, 0x41CE4236B3243371, 0x40102DF199960D0E,
            ], 0x43A2EE7781944C37),
        Vector(
            "random cancellation 0",
            [
                0x3D64F9E57F662CD0, 0x45713246892C90BC, 0x498B34D68CCF6309, 0xBD1ED45B51CC1A50, 0x4BC4943FD0FE9185, 0x46FB999989FA017C,
                0x466B181B42D3F247, 0xCBC4943FD0FE9185, 0x4889C033EBC4D5A7, 0xC889C033EBC4D5A7, 0xBC6E3C55216739DA, 0xC6FB999989FA017C,
                0xC98B34D68CCF6309, 0xC66B181B42D3F247, 0xC5713246892C90BC,
            ], 0x3D6403246882AA96),
        Vector(
            "random cancellation 1",
            [
                0x4A5389F7ECAF085C, 0x3F6F6CAE6B846EF7, 0xC9CF57D47AF0171C, 0x400238B061F2A9DC, 0x49CF57D47AF0171C, 0xBF6F6CAE6B846EF7,
                0xC153F9582A90BB49, 0xBD4D4184D94DD07A, 0xBCE6CC2A447A89E0, 0x3D383A53C978089F, 0xCA5389F7ECAF085C, 0x4153F9582A90BB49,
                0x3E2826E1E0C1FA27, 0xBE2826E1E0C1FA27, 0xC00238B061F2A9DC,
            ], 0xBD417F8B9DA3B652),
        Vector(
            "random cancellation 2",
            [
                0xCA34081B76EBF98B, 0xCAB6B5C142616334, 0xC7055EBFC2E44315, 0x3B1273C81802743B, 0x42348E8FFCC5B93C, 0x4AB6B5C142616334,
                0xC01413927A142102, 0x3CC07803CFEF33A0, 0x3C934980333EC42C, 0x4A34081B76EBF98B, 0xC623F62DAF557C23, 0x4623F62DAF557C23,
                0x401413927A142102, 0xC2348E8FFCC5B93C, 0x47055EBFC2E44315,
            ], 0x3CC2E133D8A58529),
        Vector(
            "random cancellation 3",
            [
                0x3ED70A821BB0B0FF, 0xBED70A821BB0B0FF, 0x3E15BC062CFD04B4, 0xBE46C1805AC8DB56, 0xC90AD5B538338350, 0x4C5266FA2DD8196E,
                0xCC5266FA2DD8196E, 0x3E5655AB06CEEDE1, 0x490AD5B538338350, 0xBC312CE53CA502D5, 0x420623DB3BC8F1A0, 0xBDCEFA06151773CF,
                0xBE15BC062CFD04B4, 0xC20623DB3BC8F1A0, 0xBE5655AB06CEEDE1,
            ], 0xBE46E07A60E6893C),
        Vector(
            "random subnormals and small normals 0",
            [
                0x000251426C235629, 0x00039C4A4925914D, 0x80046F7E1C061CD5, 0x00068A8EBC63297A, 0x800BEF1A57BBDF35, 0x800D11A354EC9E74,
                0x00022C601C911418, 0x00150E05C0204853,
            ], 0x0006424585AED2DD),
        Vector(
            "random subnormals and small normals 1",
            [
                0x800C3F6066B735BD, 0x000AADF07A45647B, 0x8018CB5229E9A82D, 0x801F541A8986EC19, 0x000F4DD16B9068DE, 0x8009A7EC2B52EE7D,
                0x801068DA6C5BDF48, 0x800B86A0F2AA167E,
            ], 0x8033FE9CAFAAB83B),
        Vector(
            "random subnormals and small normals 2",
            [
                0x800B38ED096D9E03, 0x8016811B5DC6443F, 0x8014799DB9A62674, 0x800B867B0C4381B6, 0x800F2B98C317E633, 0x800A4BE3A21B1F12,
                0x0008750D7D66CCDC, 0x0009D6C094A7F2BD,
            ], 0x80323973E0107406),
        Vector(
            "random near overflow 0",
            [
                0x7F5E46E8B94BD2FE, 0xFF4769922DDC34C7, 0xFF059CEC91A745E4, 0x7EA40B7617FE650B, 0x7E6677C4ADC94AA2, 0x7EE7FFA34AD3CB22,
                0x7F3320F92CF3D583, 0x7EEAED9DD553E694,
            ], 0x7F5715FF699A1E8F),
        Vector(
            "random near overflow 1",
            [
                0xFF432981D33632D8, 0x7FA3EB57CA252465, 0x7FA3C77152AF047D, 0xFED417E5C7F2098F, 0xFF68D91E84838CC4, 0x7EEA0D2433BCD819,
                0xFE753AEAB5B85274, 0x7EE6FE06BF899601,
            ], 0x7FB2ED7F3CB15AB5),
        Vector(
            "random near overflow 2",
            [
                0x7F93F696568E8374, 0x7EB02E8EE75C829F, 0xFF77CD39F1E4A27A, 0x7EFF8141C017083E, 0xFF626B47C047666F, 0x7F7521EF4E296BFC,
                0x7F5272C1137F39CF, 0x7FC2A010CA87C023,
            ], 0x7FC4E5C5C4B70C1E),
    ]

    static func sum(_ values: some Sequence<Double>) -> ExactSum {
        var s = ExactSum()
        for v in values { s.add(v) }
        return s
    }

    /// Doubles from several regimes: ordinary feature values, wide exponents, subnormals.
    static func randomDouble(using rng: inout SeededGenerator) -> Double {
        let sign: Double = Bool.random(using: &rng) ? 1 : -1
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return Double.random(in: 0.01...10_000, using: &rng)
        case 1:
            return sign
                * Double(
                    sign: .plus, exponent: Int.random(in: -1000...1000, using: &rng), significand: Double.random(in: 1..<2, using: &rng))
        case 2: return sign * Double(bitPattern: UInt64.random(in: 1..<(1 << 52), using: &rng))  // subnormal
        default: return sign * Double(Int.random(in: 0...1_000_000, using: &rng)) / 64
        }
    }

    @Test func matchesTheCorrectlyRoundedOracle() {
        for vector in Self.vectors {
            // An exact zero is +0.0 under our rule, whatever fsum says about its sign.
            let expected = vector.sum == 0 ? 0.0 : vector.sum
            let forward = Self.sum(vector.values)
            #expect(forward.value.bitPattern == expected.bitPattern, "\(vector.name): \(forward.value) != \(expected)")
            let backward = Self.sum(vector.values.reversed())
            #expect(backward.value.bitPattern == expected.bitPattern, "\(vector.name), reversed")
            #expect(backward == forward, "\(vector.name)")
            // Subtracting everything from nothing gives the negated sum (rounding is symmetric).
            var negated = ExactSum()
            for v in vector.values { negated.subtract(v) }
            let expectedNegation = expected == 0 ? 0.0 : -expected
            #expect(negated.value.bitPattern == expectedNegation.bitPattern, "\(vector.name), negated")
        }
    }

    @Test func exactZeroIsPositiveZero() {
        #expect(ExactSum().value.bitPattern == 0)
        #expect(Self.sum([-0.0, -0.0]).value.bitPattern == 0)
        #expect(Self.sum([-1e-300, 1e-300, -0.0]).value.bitPattern == 0)
        #expect(Self.sum([-0.0]).isZero)
        #expect(!Self.sum([.leastNonzeroMagnitude]).isZero)
        #expect(!Self.sum([Double.nan]).isZero)
        #expect(Self.sum([-0.0]) == ExactSum())
    }

    @Test func orderAndGroupingDoNotMatter() {
        var rng = SeededGenerator(seed: 0xE5AC7)
        for _ in 0..<20 {
            let values = (0..<Int.random(in: 1...400, using: &rng)).map { _ in Self.randomDouble(using: &rng) }
            let reference = Self.sum(values)
            for _ in 0..<5 {
                let shuffled = values.shuffled(using: &rng)
                // Random groups, each summed in order, merged in a random order.
                var groups = Array(repeating: ExactSum(), count: Int.random(in: 1...12, using: &rng))
                for v in shuffled { groups[Int.random(in: 0..<groups.count, using: &rng)].add(v) }
                var merged = ExactSum()
                for group in groups.shuffled(using: &rng) { merged.add(group) }
                // And a pairwise tree of merges, the other extreme of grouping.
                var level = shuffled.map { Self.sum([$0]) }
                while level.count > 1 {
                    level = stride(from: 0, to: level.count, by: 2).map { i in
                        var pair = level[i]
                        if i + 1 < level.count { pair.add(level[i + 1]) }
                        return pair
                    }
                }
                for other in [Self.sum(shuffled), merged, level[0]] {
                    #expect(other.value.bitPattern == reference.value.bitPattern)
                    #expect(other == reference)
                    #expect(other.hashValue == reference.hashValue)
                    #expect(other.encoded() == reference.encoded())
                }
            }
        }
    }

    @Test func slidingWindowMatchesAFreshSum() {
        var rng = SeededGenerator(seed: 7)
        let stream = (0..<3000).map { _ in Self.randomDouble(using: &rng) }
        var window = ExactSum()
        var start = 0
        for end in stream.indices {
            window.add(stream[end])
            while start <= end && (end - start >= 50 || Int.random(in: 0..<10, using: &rng) == 0) {
                window.subtract(stream[start])
                start += 1
            }
            if end % 97 == 0 || end == stream.count - 1 {
                let fresh = Self.sum(stream[start...end])
                #expect(window == fresh)
                #expect(window.value.bitPattern == fresh.value.bitPattern)
                #expect(window.encoded() == fresh.encoded())
            }
        }
        for v in stream[start...] { window.subtract(v) }
        #expect(window.isZero && window == ExactSum())
    }

    @Test func nonFiniteRules() {
        let inf = Double.infinity
        #expect(Self.sum([1, inf, 2]).value == inf)
        #expect(Self.sum([1, -inf]).value == -inf)
        #expect(Self.sum([inf, inf]).value == inf)
        #expect(Self.sum([inf, -inf]).value.isNaN)
        #expect(Self.sum([1, .nan]).value.isNaN)
        #expect(Self.sum([inf, .nan]).value.isNaN)
        #expect(Self.sum([-inf, .signalingNaN]).value.isNaN)
        // Removing the infinity brings the finite sum back.
        var s = Self.sum([1.5, inf, -inf, .nan, 2.25])
        s.subtract(.nan)
        #expect(s.value.isNaN)
        s.subtract(-inf)
        #expect(s.value == inf)
        s.subtract(inf)
        #expect(s.value == 3.75 && s == Self.sum([1.5, 2.25]))
    }

    @Test func subtractIsAnExactInverse() {
        var rng = SeededGenerator(seed: 11)
        let specials: [Double] = [.infinity, -.infinity, .nan, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        for _ in 0..<200 {
            let before = Self.sum((0..<Int.random(in: 0...20, using: &rng)).map { _ in Self.randomDouble(using: &rng) })
            let x = Bool.random(using: &rng) ? specials.randomElement(using: &rng)! : Self.randomDouble(using: &rng)
            var after = before
            after.add(x)
            after.subtract(x)
            #expect(after == before && after.encoded() == before.encoded())
            // The subtraction may reach a merge before the add does.
            var removal = ExactSum()
            removal.subtract(x)
            var merged = before
            merged.add(removal)
            merged.add(Self.sum([x]))
            #expect(merged == before)
        }
    }

    @Test func encodingRoundTrips() throws {
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<300 {
            var s = Self.sum((0..<Int.random(in: 0...30, using: &rng)).map { _ in Self.randomDouble(using: &rng) })
            for special in [Double.infinity, -.infinity, .nan] where Int.random(in: 0..<4, using: &rng) == 0 {
                if Bool.random(using: &rng) { s.add(special) } else { s.subtract(special) }  // negative counts too
            }
            let bytes = s.encoded()
            let decoded = try #require(ExactSum(encoded: bytes[...]))
            #expect(decoded == s && decoded.encoded() == bytes)
            #expect(decoded.value.bitPattern == s.value.bitPattern || (decoded.value.isNaN && s.value.isNaN))
            // A decoded state keeps working as a sum, from a slice that does not start at 0.
            let framed = [0xAA] + bytes + [0xBB]
            var resumed = try #require(ExactSum(encoded: framed[1..<(framed.count - 1)]))
            resumed.add(1.25)
            s.add(1.25)
            #expect(resumed == s)
        }
        #expect(ExactSum().encoded() == [0])
        // Equality is by exact value, not by the rounded one: both of these are +inf.
        #expect(Self.sum([1e308, 1e308, 1e308]) != Self.sum([1e308, 1e308]))
        #expect(Self.sum([1e308, 1e308, 1e308, -1e308]) == Self.sum([1e308, 1e308]))
    }

    @Test func typicalSumEncodesCompactly() {
        var rng = SeededGenerator(seed: 42)
        let s = Self.sum((0..<3000).map { _ in Double.random(in: 0.01...10_000, using: &rng) })
        #expect(s.encoded().count < 32, "\(s.encoded().count) bytes")
        // 1.0 is bit 1074 of the magnitude: flags, a two-byte offset (134), count, one byte.
        #expect(Self.sum([1.0]).encoded() == [0x02, 0x86, 0x01, 0x01, 0x04])
        #expect(Self.sum([-1.0]).encoded() == [0x03, 0x86, 0x01, 0x01, 0x04])
    }

    @Test func malformedBytesAreRejected() {
        var rng = SeededGenerator(seed: 99)
        // Every strict prefix of a valid encoding is malformed, and so is one extra byte.
        let valid = Self.sum([3.5, -1e-300, .infinity, .nan, -.infinity, 1e300]).encoded()
        for n in 0..<valid.count { #expect(ExactSum(encoded: valid[..<n]) == nil) }
        #expect(ExactSum(encoded: (valid + [0])[...]) == nil)
        let cases: [[UInt8]] = [
            [0x01],  // negative zero
            [0x20],  // unknown flag
            [0x04, 0x00],  // a flagged count of zero
            [0x02, 0x00, 0x00],  // empty magnitude
            [0x02, 0x00, 0x02, 0x01, 0x00],  // magnitude with a trailing zero byte
            [0x02, 0x00, 0x02, 0x00, 0x01],  // magnitude with a leading zero byte
            [0x02, 0x80, 0x00, 0x01, 0x01],  // non-minimal varint
            [0x02, 0x90, 0x02, 0x01, 0x01],  // offset 272: past the end
            [0x02, 0x8F, 0x02, 0x01, 0x80],  // top byte would make the last limb negative
            [0x02, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // 2^64 - 1 bytes
            [0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x01],  // varint too long
            [0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],  // count beyond 64 bits
        ]
        for bytes in cases { #expect(ExactSum(encoded: bytes[...]) == nil, "\(bytes)") }
        #expect(ExactSum(encoded: [0x02, 0x8F, 0x02, 0x01, 0x7F][...]) != nil)  // the largest limb offset
        // Random bytes: never a crash, and whatever decodes is canonical.
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty && Bool.random(using: &rng) { bytes[0] &= 0x1F }  // get past the flags check
            if let decoded = ExactSum(encoded: bytes[...]) {
                #expect(decoded.encoded() == bytes)
                _ = decoded.value
            }
        }
    }

    @Test func manyAddsKeepCarriesExact() {
        // 53 one-bits at limb offset 31, so each add puts near-2^32 amounts into three limbs.
        let x = Double(sign: .plus, exponent: 237, significand: Double((1 << 53) - 1))
        var s = ExactSum()
        for _ in 0..<5_000_000 { s.add(x) }
        // The exact sum 5e6 * x rounds like the one floating-point product of exact factors.
        #expect(s.value == 5_000_000 * Double((1 << 53) - 1) * 0x1p237)
        for _ in 0..<5_000_003 { s.subtract(x) }
        #expect(s.value == -3 * x)
    }

    @Test func mergingPastTheCarryBudgetStaysExact() {
        let x = -Double(sign: .plus, exponent: 237, significand: Double((1 << 53) - 1))
        var s = Self.sum(repeatElement(x, count: 1000))
        // Each self-merge doubles every limb, and the pending-operation count with it.
        for _ in 0..<40 { s.add(s) }
        #expect(s.pendingCarries < ExactSum.carryBudget)
        #expect(s.value == 1000 * Double((1 << 53) - 1) * -0x1p277)
        var half = Self.sum(repeatElement(x, count: 500))
        for _ in 0..<41 { half.add(half) }
        #expect(half == s)
    }
}
