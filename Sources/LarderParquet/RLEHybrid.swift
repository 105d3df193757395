/// Parquet's RLE / bit-packing hybrid encoding of small unsigned integers: definition and
/// repetition levels, dictionary indices, and booleans in data pages v2.
///
/// The data is a sequence of runs, each starting with a ULEB128 header. A header with its low
/// bit clear is a repeated run: `header >> 1` copies of one value stored in the next
/// `ceil(bitWidth / 8)` bytes, little-endian. A header with its low bit set is a bit-packed
/// run of `header >> 1` groups of 8 values, each value `bitWidth` bits, packed from the least
/// significant bit of each byte.
public enum RLEHybrid {
    /// The bit width of values up to `maximum` (0 for 0).
    public static func bitWidth(of maximum: UInt64) -> Int {
        maximum == 0 ? 0 : 64 - maximum.leadingZeroBitCount
    }

    /// Decodes `count` values of `bitWidth` bits from `bytes[start..<end]`.
    ///
    /// A writer may pad the last bit-packed run to a multiple of 8 values: the padding is
    /// dropped. Data that ends before `count` values throws.
    public static func decode(
        _ bytes: [UInt8], from start: Int = 0, to end: Int? = nil, bitWidth: Int, count: Int
    ) throws(ParquetDecodingError) -> [UInt32] {
        var cursor = ByteCursor(bytes, from: start, to: end)
        guard (0...32).contains(bitWidth) else { throw cursor.failure("bit width \(bitWidth) is not in 0...32") }
        var out: [UInt32] = []
        // Runs can promise far more values than the input holds bytes: grow, do not trust.
        out.reserveCapacity(min(count, 1 << 20))
        let valueBytes = (bitWidth + 7) / 8
        while out.count < count {
            guard !cursor.isAtEnd else {
                throw cursor.failure("the runs end after \(out.count) of \(count) values")
            }
            let header = try cursor.uleb128()
            if header & 1 == 0 {
                let run = header >> 1
                let value = try cursor.littleEndian(width: valueBytes)
                guard bitWidth == 32 || value >> UInt64(bitWidth) == 0 else {
                    throw cursor.failure("repeated value \(value) does not fit in \(bitWidth) bits")
                }
                let n = Int(min(run, UInt64(count - out.count)))
                out.append(contentsOf: repeatElement(UInt32(value), count: n))
            } else {
                let groups = header >> 1
                guard groups <= UInt64(Int32.max) else { throw cursor.failure("a bit-packed run of \(groups) groups") }
                let range = try cursor.take(Int(groups) * bitWidth, "a bit-packed run of \(groups) groups of \(bitWidth)-bit values")
                let values = Int(groups) * 8
                let wanted = min(values, count - out.count)
                BitPacking.unpack(bytes, range.lowerBound, bitWidth: bitWidth, count: wanted, into: &out)
            }
        }
        return out
    }

    /// Encodes `values` (each below `1 << bitWidth`): repeated runs where 8 or more equal
    /// values follow each other, bit-packed runs elsewhere.
    public static func encode(_ values: [UInt32], bitWidth: Int) -> [UInt8] {
        precondition((0...32).contains(bitWidth), "bit width is in 0...32")
        var out: [UInt8] = []
        var i = 0
        var packedStart = 0  // values from here to `i` wait for a bit-packed run
        func flushPacked(upTo end: Int) {
            guard end > packedStart else { return }
            var count = end - packedStart
            // A bit-packed run holds whole groups of 8; the last group is padded with zeros.
            let groups = (count + 7) / 8
            ByteWriter.uleb128(UInt64(groups) << 1 | 1, to: &out)
            var chunk = Array(values[packedStart..<end])
            count = groups * 8
            chunk += repeatElement(0, count: count - chunk.count)
            BitPacking.pack(chunk, bitWidth: bitWidth, to: &out)
            packedStart = end
        }
        while i < values.count {
            var run = 1
            while i + run < values.count, values[i + run] == values[i] { run += 1 }
            // Only worth a repeated run from 8 values, and a bit-packed run must hold whole
            // groups: pad the pending values into the run where they fall short of a group.
            if run >= 8 {
                let pending = i - packedStart
                let borrow = pending % 8 == 0 ? 0 : 8 - pending % 8
                if run - borrow >= 8 {
                    flushPacked(upTo: i + borrow)
                    let repeated = run - borrow
                    ByteWriter.uleb128(UInt64(repeated) << 1, to: &out)
                    ByteWriter.littleEndian(UInt64(values[i]), width: (bitWidth + 7) / 8, to: &out)
                    i += run
                    packedStart = i
                    continue
                }
            }
            i += run
        }
        flushPacked(upTo: values.count)
        return out
    }
}

/// Values of `bitWidth` bits packed from the least significant bit of each byte, as the
/// hybrid's bit-packed runs, PLAIN booleans and DELTA_BINARY_PACKED miniblocks store them.
enum BitPacking {
    /// Appends `count` values unpacked from `bytes` starting at `start` (the caller checked
    /// that `ceil(count * bitWidth / 8)` bytes are there). 32-bit values for levels and
    /// dictionary indices, 64-bit ones for DELTA_BINARY_PACKED's miniblocks.
    static func unpack<Value: FixedWidthInteger>(
        _ bytes: [UInt8], _ start: Int, bitWidth: Int, count: Int, into out: inout [Value]
    ) {
        var bit = 0
        for _ in 0..<count {
            var value: UInt64 = 0
            var got = 0
            while got < bitWidth {
                let byte = UInt64(bytes[start + (bit >> 3)])
                let shift = bit & 7
                let take = min(8 - shift, bitWidth - got)
                value |= ((byte >> UInt64(shift)) & ((1 << UInt64(take)) - 1)) << UInt64(got)
                got += take
                bit += take
            }
            out.append(Value(truncatingIfNeeded: value))
        }
    }

    /// Appends `values` packed in `ceil(values.count * bitWidth / 8)` bytes.
    static func pack(_ values: [UInt32], bitWidth: Int, to out: inout [UInt8]) {
        pack64(values.map(UInt64.init), bitWidth: bitWidth, to: &out)
    }

    static func pack64(_ values: [UInt64], bitWidth: Int, to out: inout [UInt8]) {
        guard bitWidth > 0 else { return }
        var current: UInt8 = 0
        var filled = 0
        for value in values {
            var left = bitWidth
            var v = value
            while left > 0 {
                let take = min(8 - filled, left)
                current |= UInt8(truncatingIfNeeded: (v & ((1 << UInt64(take)) - 1)) << UInt64(filled))
                v = take == 64 ? 0 : v >> UInt64(take)
                filled += take
                left -= take
                if filled == 8 {
                    out.append(current)
                    current = 0
                    filled = 0
                }
            }
        }
        if filled > 0 { out.append(current) }
    }
}
