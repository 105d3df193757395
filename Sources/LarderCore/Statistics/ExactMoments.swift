/// The sums Σx and Σx² of a numeric feature's values, both exact (``ExactSum``), from which the
/// mean and the sample variance are computed with one or two roundings.
///
/// Why exact sums rather than Welford's or Chan's running mean and M2 in doubles: those round
/// at every step, so their result depends on the order of values and of merges, and their
/// relative error grows with n and with mean² / variance (timestamps, large offsets). Here
/// the state is a function of the multiset of values only: merging partial states gives the
/// same state, bit for bit, as observing everything at once. Each square x² is added as the
/// two doubles whose sum it is exactly, `x * x` and its rounding error (a fused multiply-add).
///
/// Exactness holds while the squares stay in the range of doubles, for values of magnitude
/// between about 1e-140 and 1e140. Past 1e150 the squares overflow and the variance is
/// infinite; below 1e-150 squares lose bits to underflow and the variance precision.
struct ExactMoments: Sendable, Equatable {
    private(set) var sum = ExactSum()
    private(set) var sumOfSquares = ExactSum()

    init() {}

    init(sum: ExactSum, sumOfSquares: ExactSum) { (self.sum, self.sumOfSquares) = (sum, sumOfSquares) }

    mutating func add(_ x: Double) {
        sum.add(x)
        Self.addProduct(x, x, to: &sumOfSquares)
    }

    mutating func add(_ x: Int64) {
        // Up to 2^53 in magnitude an Int64 is a double exactly.
        guard x.magnitude > 1 << 53 else { return add(Double(x)) }
        // Beyond, x = high + low, both doubles exactly: `x >> 11` has at most 53 significant
        // bits, and low = x mod 2^11 is in 0..<2048.
        let high = Double((x >> 11) << 11)
        let low = Double(x & 0x7FF)
        sum.add(high)
        sum.add(low)
        Self.addSquare(of: [high, low], to: &sumOfSquares)
    }

    mutating func merge(_ other: ExactMoments) {
        sum.add(other.sum)
        sumOfSquares.add(other.sumOfSquares)
    }

    /// The mean of `count` values (`count` > 0): S / n, within half an ulp and a hair,
    /// correctly rounded in all but the rarest near-ties. ±infinity or NaN when values were.
    func mean(count: Int) -> Double {
        let n = Double(count)
        let s = sum.value
        guard s.isFinite else { return s / n }
        let estimate = s / n
        // One correction step: the residual S − estimate · n, computed exactly, divided by n.
        var residual = sum
        Self.addProduct(estimate, n, to: &residual, subtracting: true)
        return estimate + residual.value / n
    }

    /// The sample variance (n − 1 in the denominator) of `count` values (`count` ≥ 2):
    /// (n·Q − S²) / (n(n − 1)), where n·Q − S² is computed exactly and rounded once. NaN when
    /// a value was infinite (as pandas gives), +infinity when squares overflowed.
    func variance(count: Int) -> Double {
        guard sum.value.isFinite else { return .nan }
        guard sumOfSquares.value.isFinite else { return .infinity }
        let n = Double(count)
        // Q and S are expanded into doubles that sum to them exactly; their products are
        // exact with their FMA errors, so the ExactSum holds n·Q − S² exactly.
        var difference = ExactSum()
        for part in Self.expansion(of: sumOfSquares) { Self.addProduct(part, n, to: &difference) }
        Self.addSquare(of: Self.expansion(of: sum), to: &difference, subtracting: true)
        // n·Q − S² = Σ_{i<j} (x_i − x_j)² ≥ 0; only underflowed squares could make it negative.
        return Swift.max(difference.value, 0) / (n * (n - 1))
    }

    /// Doubles whose exact sum is `exact` (finite), largest first: each is the rounding of
    /// what the previous ones leave, 53 bits at a time, so a handful suffice.
    static func expansion(of exact: ExactSum) -> [Double] {
        var parts: [Double] = []
        var rest = exact
        while true {
            let part = rest.value
            if part == 0 { return parts }
            parts.append(part)
            rest.subtract(part)
        }
    }

    /// Adds (or subtracts) a · b exactly: the rounded product and its rounding error, which
    /// a fused multiply-add gives exactly unless it underflows.
    @inline(__always)
    static func addProduct(_ a: Double, _ b: Double, to sum: inout ExactSum, subtracting: Bool = false) {
        let product = a * b
        let error = product.isFinite ? (-product).addingProduct(a, b) : 0
        if subtracting {
            sum.subtract(product)
            sum.subtract(error)
        } else {
            sum.add(product)
            sum.add(error)
        }
    }

    /// Adds (or subtracts) (Σ parts)² exactly, as Σ a_i² + Σ_{i<j} 2 a_i a_j.
    static func addSquare(of parts: [Double], to sum: inout ExactSum, subtracting: Bool = false) {
        for i in parts.indices {
            addProduct(parts[i], parts[i], to: &sum, subtracting: subtracting)
            for j in parts.indices where j > i { addProduct(2 * parts[i], parts[j], to: &sum, subtracting: subtracting) }
        }
    }
}
