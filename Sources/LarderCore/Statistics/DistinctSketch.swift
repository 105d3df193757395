/// A 64-bit hash of a value's canonical bytes that every process and platform computes alike:
/// FNV-1a over the bytes, then the SplitMix64 finalizer.
///
/// Swift's `Hasher` is seeded per process, so sketches built with it could not be merged
/// with sketches read back from the registry. FNV-1a alone mixes its last bytes poorly into
/// the high bits, which HyperLogLog reads first; the finalizer spreads every input bit over
/// the whole word.
///
/// Canonical bytes: the UTF-8 of a string; the 8 little-endian bytes of an int64, of a
/// timestamp's microseconds, or of a double's bit pattern (after `-0.0` becomes `0.0`).
enum StableHash {
    static func of(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a 64-bit offset basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3  // FNV-1a 64-bit prime
        }
        return finalize(hash)
    }

    static func of(_ string: String) -> UInt64 { of(string.utf8) }

    /// The little-endian bytes of `word`, without building an array.
    static func of(word: UInt64) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        var rest = word
        for _ in 0..<8 {
            hash ^= rest & 0xFF
            hash &*= 0x0000_0100_0000_01B3
            rest >>= 8
        }
        return finalize(hash)
    }

    /// SplitMix64's output function, a bijection with full avalanche.
    static func finalize(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A HyperLogLog sketch of the number of distinct values, with 2^14 registers.
///
/// The relative standard error is 1.04 / √16384 ≈ 0.81 % over the whole range: the estimate
/// is Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017, algorithm 6), whose σ term is the small-range correction (it plays the role
/// of linear counting, without the classic switch point at 2.5 m and the bias around it) and
/// whose τ term corrects the large range; it needs no empirical bias tables.
///
/// Merging takes the register-wise maximum, so a merge of sketches equals, register for
/// register, the sketch of all their values.
struct DistinctSketch: Sendable, Equatable {
    /// p: the top 14 bits of a hash choose the register.
    static let precision = 14
    static let registerCount = 1 << precision
    /// q: the hash bits left for the rank; a register holds 0 (empty) up to q + 1.
    static let rankBits = 64 - precision
    static let relativeStandardError = 1.04 / Double(1 << (precision / 2))

    /// Empty until the first value, so that sketches of types that never use one (bools) and
    /// empty sketches cost nothing. Otherwise `registerCount` registers.
    private(set) var registers: [UInt8] = []

    init() {}

    mutating func insert(hash: UInt64) {
        if registers.isEmpty { registers = Array(repeating: 0, count: Self.registerCount) }
        let index = Int(truncatingIfNeeded: hash >> UInt64(Self.rankBits))
        // The rank is the position of the first 1 bit among the q low bits, counted from 1;
        // q + 1 when they are all zero (the shifted-in zeros below them are not counted).
        let rank = UInt8(Swift.min((hash << UInt64(Self.precision)).leadingZeroBitCount, Self.rankBits) + 1)
        if rank > registers[index] { registers[index] = rank }
    }

    mutating func merge(_ other: DistinctSketch) {
        guard !other.registers.isEmpty else { return }
        guard !registers.isEmpty else {
            registers = other.registers
            return
        }
        for i in registers.indices where other.registers[i] > registers[i] { registers[i] = other.registers[i] }
    }

    /// The estimated number of distinct values hashed in, rounded; 0 for an empty sketch.
    var estimate: Int {
        guard !registers.isEmpty else { return 0 }
        let q = Self.rankBits
        let m = Double(Self.registerCount)
        var histogram = [Double](repeating: 0, count: q + 2)
        for register in registers { histogram[Int(register)] += 1 }
        var z = m * Self.tau(1 - histogram[q + 1] / m)
        for k in stride(from: q, through: 1, by: -1) { z = 0.5 * (z + histogram[k]) }
        z += m * Self.sigma(histogram[0] / m)
        let alphaInfinity = 0.721_347_520_444_481_7  // 1 / (2 ln 2)
        return Int((alphaInfinity * m * m / z).rounded())
    }

    /// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1), for the share x of empty registers.
    private static func sigma(_ x: Double) -> Double {
        guard x < 1 else { return .infinity }
        var x = x
        var y = 1.0
        var z = x
        while true {
            x *= x
            let previous = z
            z += x * y
            y += y
            if z == previous { return z }
        }
    }

    /// τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))² 2^−k) / 3, for the share x of full registers.
    private static func tau(_ x: Double) -> Double {
        guard x > 0 && x < 1 else { return 0 }
        var x = x
        var y = 1.0
        var z = 1 - x
        while true {
            x = x.squareRoot()
            let previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == previous { return z / 3 }
        }
    }

    // MARK: - Encoding

    // A format byte, then either (1, sparse) a 3-byte entry per nonzero register, its index
    // as UInt16 little-endian and its value, in index order; or (2, dense) every register in
    // 6 bits, four registers in three bytes, least significant bits first. Sparse is chosen
    // when shorter: below 4,096 nonzero registers, which covers features with fewer than
    // about 4,500 distinct values. The dense form is 12,289 bytes.
    private static let sparseFormat: UInt8 = 1
    private static let denseFormat: UInt8 = 2
    private static let denseByteCount = registerCount * 6 / 8

    /// The compact bytes, or an empty array for an empty sketch.
    func encoded() -> [UInt8] {
        guard !registers.isEmpty else { return [] }
        let nonzero = registers.indices.filter { registers[$0] != 0 }
        if 3 * nonzero.count < Self.denseByteCount {
            var out: [UInt8] = [Self.sparseFormat]
            out.reserveCapacity(1 + 3 * nonzero.count)
            for i in nonzero { out += [UInt8(i & 0xFF), UInt8(i >> 8), registers[i]] }
            return out
        }
        var out: [UInt8] = [Self.denseFormat]
        out.reserveCapacity(1 + Self.denseByteCount)
        for i in stride(from: 0, to: registers.count, by: 4) {
            let packed =
                UInt32(registers[i]) | UInt32(registers[i + 1]) << 6 | UInt32(registers[i + 2]) << 12
                | UInt32(registers[i + 3]) << 18
            out += [UInt8(packed & 0xFF), UInt8((packed >> 8) & 0xFF), UInt8(packed >> 16)]
        }
        return out
    }

    /// Reads ``encoded()`` bytes; nil when they are malformed (a register out of range, a
    /// sparse index out of order, a wrong length).
    init?(encoded bytes: [UInt8]) {
        guard let format = bytes.first else { return }  // empty sketch
        var registers = [UInt8](repeating: 0, count: Self.registerCount)
        let body = bytes.dropFirst()
        switch format {
        case Self.sparseFormat:
            guard body.count % 3 == 0, !body.isEmpty else { return nil }
            var previous = -1
            for entry in stride(from: body.startIndex, to: body.endIndex, by: 3) {
                let index = Int(body[entry]) | Int(body[entry + 1]) << 8
                let value = body[entry + 2]
                guard index > previous, index < Self.registerCount, value >= 1, value <= Self.rankBits + 1 else { return nil }
                registers[index] = value
                previous = index
            }
        case Self.denseFormat:
            guard body.count == Self.denseByteCount else { return nil }
            var i = 0
            for group in stride(from: body.startIndex, to: body.endIndex, by: 3) {
                let packed = UInt32(body[group]) | UInt32(body[group + 1]) << 8 | UInt32(body[group + 2]) << 16
                for j in 0..<4 {
                    let value = UInt8((packed >> (6 * UInt32(j))) & 0x3F)
                    guard value <= Self.rankBits + 1 else { return nil }
                    registers[i + j] = value
                }
                i += 4
            }
            guard registers.contains(where: { $0 != 0 }) else { return nil }  // an empty sketch encodes as []
        default:
            return nil
        }
        self.registers = registers
    }
}
