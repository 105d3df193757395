/// Parquet's PLAIN encoding: values one after another, little-endian; booleans one bit each
/// (least significant bit first); byte arrays as a 4-byte length and the bytes.
public enum PlainEncoding {
    /// Decodes `count` little-endian integers of `width` bytes (4 for INT32, 8 for INT64),
    /// sign-extended to Int64.
    public static func integers(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, width: Int, count: Int
    ) throws(ParquetDecodingError) -> (values: [Int64], end: Int) {
        var cursor = ByteCursor(bytes, from: start, to: end)
        _ = try cursor.take(width * count, "\(count) \(width * 8)-bit integers")
        var values: [Int64] = []
        values.reserveCapacity(count)
        var at = start
        for _ in 0..<count {
            var raw: UInt64 = 0
            for i in 0..<width { raw |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            values.append(width == 4 ? Int64(Int32(truncatingIfNeeded: raw)) : Int64(bitPattern: raw))
            at += width
        }
        return (values, cursor.offset)
    }

    /// Decodes `count` DOUBLE (`width` 8) or FLOAT (`width` 4, widened exactly) values.
    public static func floatingPoint(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, width: Int, count: Int
    ) throws(ParquetDecodingError) -> (values: [Double], end: Int) {
        let (raw, next) = try integers(bytes, from: start, to: end, width: width, count: count)
        let values =
            width == 4
            ? raw.map { Double(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) }
            : raw.map { Double(bitPattern: UInt64(bitPattern: $0)) }
        return (values, next)
    }

    /// Decodes `count` booleans.
    public static func booleans(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, count: Int
    ) throws(ParquetDecodingError) -> (values: [Bool], end: Int) {
        var cursor = ByteCursor(bytes, from: start, to: end)
        let range = try cursor.take((count + 7) / 8, "\(count) booleans")
        var bits: [UInt32] = []
        BitPacking.unpack(bytes, range.lowerBound, bitWidth: 1, count: count, into: &bits)
        return (bits.map { $0 == 1 }, cursor.offset)
    }

    /// Decodes `count` byte arrays, as ranges of `bytes` (no copy).
    public static func byteArrays(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, count: Int
    ) throws(ParquetDecodingError) -> (values: [Range<Int>], end: Int) {
        var cursor = ByteCursor(bytes, from: start, to: end)
        var values: [Range<Int>] = []
        values.reserveCapacity(min(count, cursor.remaining / 4))  // each has a 4-byte length
        for i in 0..<count {
            let length = try cursor.littleEndian(width: 4)
            values.append(try cursor.take(Int(length), "byte array \(i) of \(count)"))
        }
        return (values, cursor.offset)
    }

    /// Decodes `count` INT96 timestamps (nanoseconds of the day, then the Julian day, as Spark
    /// and Impala write them) to microseconds since the Unix epoch, truncating sub-microsecond
    /// nanoseconds toward negative infinity.
    public static func int96Timestamps(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, count: Int
    ) throws(ParquetDecodingError) -> (values: [Int64], end: Int) {
        var cursor = ByteCursor(bytes, from: start, to: end)
        var values: [Int64] = []
        values.reserveCapacity(min(count, cursor.remaining / 12))
        for _ in 0..<count {
            let at = cursor.offset
            let nanos = Int64(bitPattern: try cursor.littleEndian(width: 8))
            let day = Int64(Int32(truncatingIfNeeded: try cursor.littleEndian(width: 4)))
            guard (0..<86_400_000_000_000).contains(nanos) else {
                throw ParquetDecodingError(offset: at, "INT96 nanoseconds of the day \(nanos) is not within a day")
            }
            let (days, overflow) = (day - julianDayOfUnixEpoch).multipliedReportingOverflow(by: 86_400_000_000)
            guard !overflow else { throw ParquetDecodingError(offset: at, "INT96 Julian day \(day) is out of range") }
            values.append(days + nanos / 1000)
        }
        return (values, cursor.offset)
    }

    /// The Julian day number of 1970-01-01.
    static let julianDayOfUnixEpoch: Int64 = 2_440_588

    // MARK: - Writing

    public static func append(integers values: [Int64], width: Int, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + values.count * width)
        for v in values { ByteWriter.littleEndian(UInt64(bitPattern: v), width: width, to: &out) }
    }

    public static func append(doubles values: [Double], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + values.count * 8)
        for v in values { ByteWriter.littleEndian(v.bitPattern, width: 8, to: &out) }
    }

    public static func append(booleans values: [Bool], to out: inout [UInt8]) {
        BitPacking.pack(values.map { $0 ? 1 : 0 }, bitWidth: 1, to: &out)
    }

    public static func append(byteArray value: some Collection<UInt8>, to out: inout [UInt8]) {
        ByteWriter.littleEndian(UInt64(value.count), width: 4, to: &out)
        out += value
    }
}
