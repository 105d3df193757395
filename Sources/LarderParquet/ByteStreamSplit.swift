/// Parquet's BYTE_STREAM_SPLIT encoding of fixed-width values (FLOAT, DOUBLE, and since format
/// 2.11 INT32 and INT64): the values' first bytes one after another, then their second bytes,
/// and so on. DuckDB writes doubles so in its Parquet version 2 files; pyarrow on request.
public enum ByteStreamSplit {
    /// Decodes `count` values of `width` bytes from `bytes[start..<end]` into their little-endian
    /// bit patterns (zero-extended). The streams' length is the data's: `(end - start) / width`
    /// values, of which the first `count` are wanted (the page's non-null values).
    public static func decode(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, width: Int, count: Int
    ) throws(ParquetDecodingError) -> [UInt64] {
        let end = end ?? bytes.count
        guard width > 0, width <= 8, start >= 0, start <= end, end <= bytes.count else {
            throw ParquetDecodingError(offset: start, "BYTE_STREAM_SPLIT data of \(width)-byte values out of range")
        }
        let stride = (end - start) / width
        guard count >= 0, count <= stride else {
            throw ParquetDecodingError(
                offset: start, "BYTE_STREAM_SPLIT streams of \(stride) \(width)-byte values, the page holds \(count)")
        }
        var values = [UInt64](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { out in
            bytes.withUnsafeBufferPointer { data in
                for k in 0..<width {
                    let stream = start + k * stride
                    let shift = UInt64(8 * k)
                    for i in 0..<count { out[i] |= UInt64(data[stream + i]) << shift }
                }
            }
        }
        return values
    }

    /// Encodes the low `width` bytes of each value's bit pattern (for tests and symmetry).
    public static func encode(_ values: [UInt64], width: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * width)
        for (i, value) in values.enumerated() {
            for k in 0..<width { out[k * values.count + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * k)) }
        }
        return out
    }
}
