/// Parquet's DELTA_BINARY_PACKED encoding of INT32 and INT64 columns (the default of some
/// writers for sorted integers and timestamps).
///
/// A header (values per block, miniblocks per block, total values, first value as a zigzag
/// varint), then blocks: the block's smallest delta (zigzag varint), one bit width per
/// miniblock, and each miniblock's deltas minus that smallest delta, bit-packed. Deltas wrap
/// around (two's complement), so any Int64 sequence round-trips.
public enum DeltaBinaryPacked {
    /// Decodes the values in `bytes[start..<end]`; returns them and the offset where the
    /// encoded data ended (a data page v1 stores levels before the values, not after).
    ///
    /// - Parameter count: when given, the number of values the page says it holds: a header
    ///   that promises another number throws before anything is decoded (miniblocks of width
    ///   0 cost no bytes, so the header alone could ask for billions).
    public static func decode(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, count: Int? = nil
    ) throws(ParquetDecodingError) -> (values: [Int64], end: Int) {
        var cursor = ByteCursor(bytes, from: start, to: end)
        let blockSize = try cursor.uleb128()
        let miniblocks = try cursor.uleb128()
        let total = try cursor.uleb128()
        var last = try cursor.zigzag()
        guard blockSize > 0, blockSize % 128 == 0, blockSize <= 1 << 20 else {
            throw cursor.failure("block size \(blockSize) is not a positive multiple of 128")
        }
        guard miniblocks > 0, blockSize % miniblocks == 0, (blockSize / miniblocks) % 32 == 0 else {
            throw cursor.failure("\(miniblocks) miniblocks do not divide a block of \(blockSize) into multiples of 32")
        }
        guard total <= UInt64(Int32.max) else { throw cursor.failure("\(total) values in one page") }
        if let count, total != UInt64(count) {
            throw cursor.failure("the header promises \(total) values, the page holds \(count)")
        }
        let perMiniblock = Int(blockSize / miniblocks)
        var values: [Int64] = []
        values.reserveCapacity(min(Int(total), 1 << 20))
        if total > 0 { values.append(last) }
        var deltas: [UInt64] = []
        deltas.reserveCapacity(perMiniblock)
        while values.count < Int(total) {
            let minDelta = try cursor.zigzag()
            let widths = try cursor.take(Int(miniblocks), "the bit widths of a block")
            for w in widths {
                guard values.count < Int(total) else { break }  // the rest of the block is absent
                let width = Int(cursor.bytes[w])
                guard width <= 64 else { throw ParquetDecodingError(offset: w, "miniblock bit width \(width) is over 64") }
                let packed = try cursor.take(perMiniblock * width / 8, "a miniblock of \(perMiniblock) \(width)-bit deltas")
                deltas.removeAll(keepingCapacity: true)
                BitPacking.unpack(cursor.bytes, packed.lowerBound, bitWidth: width, count: perMiniblock, into: &deltas)
                for delta in deltas where values.count < Int(total) {
                    last = last &+ minDelta &+ Int64(bitPattern: delta)
                    values.append(last)
                }
            }
        }
        return (values, cursor.offset)
    }

    /// Encodes `values` with blocks of 128 values in 4 miniblocks of 32 (the usual choice).
    public static func encode(_ values: [Int64]) -> [UInt8] {
        let blockSize = 128
        let miniblocks = 4
        let perMiniblock = blockSize / miniblocks
        var out: [UInt8] = []
        ByteWriter.uleb128(UInt64(blockSize), to: &out)
        ByteWriter.uleb128(UInt64(miniblocks), to: &out)
        ByteWriter.uleb128(UInt64(values.count), to: &out)
        ByteWriter.zigzag(values.first ?? 0, to: &out)
        guard values.count > 1 else { return out }
        let deltas = zip(values.dropFirst(), values).map { $0 &- $1 }
        var start = 0
        while start < deltas.count {
            let block = Array(deltas[start..<min(start + blockSize, deltas.count)])
            let minDelta = block.min()!
            ByteWriter.zigzag(minDelta, to: &out)
            let relative = block.map { UInt64(bitPattern: $0 &- minDelta) }
            var widths: [UInt8] = []
            var packed: [UInt8] = []
            for m in 0..<miniblocks {
                let lower = m * perMiniblock
                guard lower < relative.count else {
                    widths.append(0)  // no values: the miniblock is left out
                    continue
                }
                var chunk = Array(relative[lower..<min(lower + perMiniblock, relative.count)])
                chunk += repeatElement(0, count: perMiniblock - chunk.count)
                let width = chunk.map { 64 - $0.leadingZeroBitCount }.max() ?? 0
                widths.append(UInt8(width))
                BitPacking.pack64(chunk, bitWidth: width, to: &packed)
            }
            out += widths
            out += packed
            start += blockSize
        }
        return out
    }
}
