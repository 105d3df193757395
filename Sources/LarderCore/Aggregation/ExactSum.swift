/// An exact sum of doubles whose result depends only on the multiset of values added.
///
/// Windowed `sum`/`mean` features are computed twice: offline, adding and removing values in
/// time order as a window slides, and online, merging per-hop partial sums built in arrival
/// order. Floating-point addition is not associative, so both paths agree to the bit only if
/// nothing is rounded until the end. `ExactSum` keeps the exact sum and rounds once, in
/// ``value``: the result is the correctly rounded (to nearest, ties to even) sum of the values.
///
/// Representation: every finite double is an integer multiple of 2^-1074 (the least
/// subnormal) below 2^1024, so the finite part is one big integer counted in units of 2^-1074,
/// held as 67 limbs of 32 bits (2,144 bits: 2,098 for one double plus headroom). Limbs are
/// `Int64` so that adds and subtracts need no carry propagation: a double touches at most
/// three limbs, and carries are resolved only every 2^29 operations and when the state is
/// read. Infinities and NaNs are counted rather than added, so that ``subtract(_:)``
/// can remove them again.
public struct ExactSum: Sendable, Hashable {
    static let limbCount = 67
    /// Operations allowed between carry normalizations. A normalized limb and each operation
    /// are below 2^32 in magnitude, and a merge of two sums under budget counts under 2^30
    /// operations, so limbs stay below 2^30 * 2^32 = 2^62: far from Int64 overflow.
    static let carryBudget = 1 << 29

    /// Limbs, least significant first; empty until the first finite value, so an empty sum
    /// costs no allocation. Value = Σ limbs[i] * 2^(32i) * 2^-1074.
    private var limbs: [Int64] = []
    /// Operations since carries were last normalized (see ``carryBudget``).
    private(set) var pendingCarries = 0
    // Signed so that subtract is an exact inverse, even if merged before the matching add.
    private var positiveInfinities: Int64 = 0
    private var negativeInfinities: Int64 = 0
    private var nans: Int64 = 0

    /// An empty sum, whose ``value`` is `0.0`.
    public init() {}

    /// Adds `x` exactly. `-0.0` and `0.0` add nothing.
    public mutating func add(_ x: Double) { accumulate(x, negated: false) }

    /// Removes a previously added `x` exactly: `add(x)` then `subtract(x)` restores an equal
    /// state, for infinities and NaN too. Subtracting a non-finite value never added leaves
    /// a negative count, which ``value`` reads as present until the value is added back.
    public mutating func subtract(_ x: Double) { accumulate(x, negated: true) }

    @inline(__always)
    private mutating func accumulate(_ x: Double, negated: Bool) {
        let bits = x.bitPattern
        let biasedExponent = Int(truncatingIfNeeded: (bits >> 52) & 0x7FF)
        guard biasedExponent != 0x7FF else {
            let delta: Int64 = negated ? -1 : 1
            if x.isNaN { nans &+= delta } else if x > 0 { positiveInfinities &+= delta } else { negativeInfinities &+= delta }
            return
        }
        if limbs.isEmpty { limbs = Array(repeating: 0, count: Self.limbCount) }
        // x = significand * 2^(position - 1074): normal doubles have the implicit bit and
        // exponent biasedExponent - 1075; subnormals have exponent -1074, like biasedExponent 1.
        let fraction = bits & 0x000F_FFFF_FFFF_FFFF
        let significand = biasedExponent == 0 ? fraction : fraction | (1 << 52)
        let position = biasedExponent == 0 ? 0 : biasedExponent - 1
        let shift = UInt64(position & 31)
        let low = significand << shift  // bits 0..<64 of the up to 85-bit shifted significand
        let high = (significand >> 1) &>> (63 &- shift)  // bits 64..<85 (shift 0 gives 0)
        // Conditional negation without branching: (v ^ -1) - (-1) == -v.
        let mask: Int64 = (x.sign == .minus) != negated ? -1 : 0
        limbs.withUnsafeMutableBufferPointer { limb in
            let i = position >> 5  // at most 2045 >> 5 = 63, so i + 2 < limbCount - 1
            // Wrapping is safe: the carry budget keeps every limb far from Int64 overflow.
            limb[i] &+= (Int64(low & 0xFFFF_FFFF) ^ mask) &- mask
            limb[i + 1] &+= (Int64(low >> 32) ^ mask) &- mask
            limb[i + 2] &+= (Int64(high) ^ mask) &- mask
        }
        pendingCarries += 1
        if pendingCarries == Self.carryBudget { normalizeCarries() }
    }

    /// Adds all the values of `other`, as if each had been added to this sum.
    public mutating func add(_ other: ExactSum) {
        positiveInfinities &+= other.positiveInfinities
        negativeInfinities &+= other.negativeInfinities
        nans &+= other.nans
        guard !other.limbs.isEmpty else { return }
        guard !limbs.isEmpty else {  // share other's storage until the next write
            limbs = other.limbs
            pendingCarries = other.pendingCarries
            return
        }
        limbs.withUnsafeMutableBufferPointer { limb in
            for i in 0..<Self.limbCount { limb[i] &+= other.limbs[i] }
        }
        pendingCarries += other.pendingCarries + 1
        if pendingCarries >= Self.carryBudget { normalizeCarries() }
    }

    private mutating func normalizeCarries() {
        Self.normalize(&limbs)
        pendingCarries = 0
    }

    /// Moves carries up so every limb but the last is in 0..<2^32; the last holds the sign
    /// (two's complement). It wraps only beyond 2^2175 in units, which needs more than 2^77
    /// maximal doubles: not a case real data reaches, and wrapping beats trapping on it.
    private static func normalize(_ limbs: inout [Int64]) {
        limbs.withUnsafeMutableBufferPointer { limb in
            var carry: Int64 = 0
            for i in 0..<limb.count - 1 {
                let v = limb[i] &+ carry
                limb[i] = v & 0xFFFF_FFFF
                carry = v >> 32  // arithmetic shift: floor division, correct for negatives
            }
            if !limb.isEmpty { limb[limb.count - 1] &+= carry }
        }
    }

    /// The finite part as a sign and a magnitude whose limbs are all in 0..<2^32, except the
    /// last (nonnegative barring the wrap described at `normalize`). Always `limbCount` limbs.
    private func signAndMagnitude() -> (negative: Bool, limbs: [Int64]) {
        var magnitude = limbs.isEmpty ? Array(repeating: 0, count: Self.limbCount) : limbs
        Self.normalize(&magnitude)
        let negative = magnitude[Self.limbCount - 1] < 0
        if negative {
            for i in magnitude.indices { magnitude[i] = 0 &- magnitude[i] }
            Self.normalize(&magnitude)
        }
        return (negative, magnitude)
    }

    /// True when nothing non-finite is counted and the exact sum is zero.
    public var isZero: Bool {
        encoded() == [0]  // the flags byte alone: nothing counted, finite part zero
    }

    /// The exact sum rounded once to the nearest double, ties to even.
    ///
    /// NaN if any NaN was added or both infinities were; otherwise the infinity that was added;
    /// otherwise the rounded finite sum, which overflows to ±infinity by the IEEE 754 rule
    /// (from `greatestFiniteMagnitude` + ulp/2 on). A sum that is exactly zero is always `+0.0`,
    /// even when every value added was `-0.0`: the sign of zero would otherwise depend on which
    /// zeros a window held, and it carries no information worth that.
    public var value: Double {
        if nans != 0 || (positiveInfinities != 0 && negativeInfinities != 0) { return .nan }
        if positiveInfinities != 0 { return .infinity }
        if negativeInfinities != 0 { return -.infinity }
        let (negative, m) = signAndMagnitude()
        let signBit: UInt64 = negative ? 1 << 63 : 0
        if m[Self.limbCount - 1] != 0 { return Double(bitPattern: signBit | Double.infinity.bitPattern) }
        guard let top = m.lastIndex(where: { $0 != 0 }) else { return 0.0 }
        let msb = top * 32 + 63 - UInt64(m[top]).leadingZeroBitCount
        // Keep the 53 bits from `shift` up; below 2^53 units (subnormals included) it is exact.
        let shift = max(0, msb - 52)
        var significand = Self.bits(m, from: shift) & ((1 << 53) - 1)
        if shift > 0 {
            let roundBit = Self.bits(m, from: shift - 1) & 1 == 1
            let sticky = Self.anyBitSet(m, below: shift - 1)
            if roundBit && (sticky || significand & 1 == 1) { significand += 1 }
        }
        // This is the position encoding in `accumulate` run backwards: the implicit bit
        // (2^52) lands in the exponent field, adding the 1 that `position` subtracted, and a
        // rounding carry to 2^53 bumps the exponent. Exponent field 0x7FF means overflow.
        let magnitudeBits = (UInt64(shift) << 52) &+ significand
        if magnitudeBits >= Double.infinity.bitPattern { return Double(bitPattern: signBit | Double.infinity.bitPattern) }
        return Double(bitPattern: signBit | magnitudeBits)
    }

    /// The 64 bits of the magnitude from bit `lowest` up (limbs past the end read as 0).
    private static func bits(_ m: [Int64], from lowest: Int) -> UInt64 {
        func limb(_ i: Int) -> UInt64 { i < m.count ? UInt64(m[i]) : 0 }
        let i = lowest >> 5, offset = UInt64(lowest & 31)
        return (limb(i) >> offset) | (limb(i + 1) << (32 - offset)) | (limb(i + 2) << (64 - offset))
    }

    private static func anyBitSet(_ m: [Int64], below bit: Int) -> Bool {
        let i = bit >> 5
        return m[..<i].contains { $0 != 0 } || m[i] & ((1 << Int64(bit & 31)) - 1) != 0
    }

    // MARK: - Serialization

    // Layout: a flags byte (bit 0: negative, 1: finite part nonzero, 2: +inf count,
    // 3: -inf count, 4: NaN count); when bit 1 is set, the magnitude's little-endian bytes
    // from its lowest to its highest nonzero byte, as varint(offset) varint(count) bytes;
    // then, for each count flagged, a zigzag varint. The magnitude's bytes are 4 per limb,
    // 8 for the last limb. Minimal varints and trimmed bytes make the encoding canonical.
    private static let magnitudeByteCount = 4 * (limbCount - 1) + 8

    /// A compact canonical encoding: equal sums give equal bytes. A sum of a few thousand
    /// ordinary values takes about 15 bytes.
    public func encoded() -> [UInt8] {
        let (negative, m) = signAndMagnitude()
        let counts = [positiveInfinities, negativeInfinities, nans]
        var flags: UInt8 = 0
        for (bit, count) in counts.enumerated() where count != 0 { flags |= 4 << bit }
        var out: [UInt8] = [flags]
        // The magnitude's bytes are only produced between its lowest and highest nonzero
        // limbs (byte k of the whole is byte k % 4 of limb k / 4; the last limb has 8).
        if let firstLimb = m.firstIndex(where: { $0 != 0 }), let lastLimb = m.lastIndex(where: { $0 != 0 }) {
            func byte(_ k: Int) -> UInt8 {
                let i = min(k / 4, Self.limbCount - 1)
                return UInt8(truncatingIfNeeded: m[i] >> (8 * (k - 4 * i)))
            }
            var first = 4 * firstLimb
            while byte(first) == 0 { first += 1 }
            var last = lastLimb == Self.limbCount - 1 ? Self.magnitudeByteCount - 1 : 4 * lastLimb + 3
            while byte(last) == 0 { last -= 1 }
            out[0] |= (negative ? 1 : 0) | 2
            Self.appendVarint(UInt64(first), to: &out)
            Self.appendVarint(UInt64(last - first + 1), to: &out)
            out.reserveCapacity(out.count + last - first + 1 + 4)
            for k in first...last { out.append(byte(k)) }
        }
        for count in counts where count != 0 {
            Self.appendVarint(UInt64(bitPattern: (count << 1) ^ (count >> 63)), to: &out)  // zigzag
        }
        return out
    }

    /// Decodes ``encoded()`` output. Returns nil for any other byte string (malformed,
    /// truncated, trailing bytes, non-canonical), so decoding and re-encoding is the identity.
    public init?(encoded bytes: ArraySlice<UInt8>) {
        var reader = ByteReader(bytes: bytes)
        guard let flags = reader.byte(), flags & ~0x1F == 0 else { return nil }
        if flags & 2 != 0 {
            guard let offset = reader.varint(), let count = reader.varint(), count > 0,
                offset < UInt64(Self.magnitudeByteCount), count <= UInt64(Self.magnitudeByteCount) - offset,
                let magnitude = reader.bytes(Int(count)),
                magnitude.first != 0, magnitude.last != 0
            else { return nil }
            // The last limb is an Int64: its top byte must leave the sign bit clear.
            if Int(offset + count) == Self.magnitudeByteCount && magnitude.last! >= 0x80 { return nil }
            var limbs = [Int64](repeating: 0, count: Self.limbCount)
            limbs.withUnsafeMutableBufferPointer { limb in
                var index = Int(offset)
                for byte in magnitude {
                    let i = min(index / 4, Self.limbCount - 1)
                    limb[i] |= Int64(byte) << (8 * (index - 4 * i))
                    index += 1
                }
            }
            if flags & 1 != 0 {
                for i in limbs.indices { limbs[i] = -limbs[i] }
                Self.normalize(&limbs)
            }
            self.limbs = limbs
        } else if flags & 1 != 0 {
            return nil  // no negative zero
        }
        var counts: [Int64] = [0, 0, 0]  // +inf, -inf, NaN
        for k in counts.indices where flags & (4 << k) != 0 {
            guard let raw = reader.varint(), raw != 0 else { return nil }
            counts[k] = Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)  // zigzag
        }
        guard reader.atEnd else { return nil }
        (positiveInfinities, negativeInfinities, nans) = (counts[0], counts[1], counts[2])
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    private struct ByteReader {
        let bytes: ArraySlice<UInt8>
        var index: Int
        init(bytes: ArraySlice<UInt8>) { (self.bytes, index) = (bytes, bytes.startIndex) }
        var atEnd: Bool { index == bytes.endIndex }

        mutating func byte() -> UInt8? {
            guard index < bytes.endIndex else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
            guard count <= bytes.endIndex - index else { return nil }
            defer { index += count }
            return bytes[index..<index + count]
        }

        /// LEB128, minimal form only (no trailing zero groups), at most 64 bits.
        mutating func varint() -> UInt64? {
            var result: UInt64 = 0
            for group in 0..<10 {
                guard let b = byte() else { return nil }
                if group == 9 && b > 1 { return nil }
                result |= UInt64(b & 0x7F) << (7 * group)
                if b & 0x80 == 0 { return group > 0 && b == 0 ? nil : result }
            }
            return nil
        }
    }

    // MARK: - Equality by value

    public static func == (lhs: ExactSum, rhs: ExactSum) -> Bool { lhs.encoded() == rhs.encoded() }
    public func hash(into hasher: inout Hasher) { hasher.combine(encoded()) }
}
