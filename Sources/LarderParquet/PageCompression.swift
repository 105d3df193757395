import CSnappy
import CZlib
import CZstd

/// The compression codecs of Parquet pages Larder reads and writes, through Debian's C
/// libraries: Snappy (raw blocks, not the framing format), GZIP (RFC 1952; zlib-wrapped data
/// is accepted too, as some writers produce it), and Zstandard (one or more frames).
public enum PageCompression: String, Sendable, CaseIterable {
    case uncompressed
    case snappy
    case gzip
    case zstd

    /// Compresses one page.
    public func compress(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .uncompressed:
            return bytes
        case .snappy:
            // Output buffers are left uninitialized: zero-filling a page's bound costs as much
            // as compressing it.
            return [UInt8](unsafeUninitializedCapacity: snappy_max_compressed_length(bytes.count)) { output, count in
                var length = output.count
                let status = bytes.withUnsafeBufferPointer { input in
                    input.withMemoryRebound(to: CChar.self) { input in
                        output.withMemoryRebound(to: CChar.self) { output in
                            snappy_compress(input.baseAddress, input.count, output.baseAddress, &length)
                        }
                    }
                }
                precondition(status == SNAPPY_OK, "snappy_compress failed with a buffer of its own maximum size")
                count = length
            }
        case .zstd:
            // Level 1, Arrow's default: about twice level 3's speed for a few percent of size.
            return [UInt8](unsafeUninitializedCapacity: ZSTD_compressBound(bytes.count)) { output, count in
                let written = bytes.withUnsafeBytes { input in
                    ZSTD_compress(output.baseAddress, output.count, input.baseAddress, input.count, 1)
                }
                precondition(ZSTD_isError(written) == 0, "ZSTD_compress failed with a buffer of its own bound")
                count = written
            }
        case .gzip:
            return Self.deflate(bytes)
        }
    }

    /// Decompresses one page whose header says it holds `uncompressedSize` bytes; anything
    /// else (corrupt data, another size) throws.
    public func decompress(_ bytes: ArraySlice<UInt8>, uncompressedSize: Int) throws(ParquetDecodingError) -> [UInt8] {
        guard uncompressedSize >= 0, uncompressedSize <= 1 << 31 else {
            throw ParquetDecodingError(offset: 0, "an uncompressed page size of \(uncompressedSize) bytes")
        }
        switch self {
        case .uncompressed:
            guard bytes.count == uncompressedSize else {
                throw ParquetDecodingError(offset: 0, "an uncompressed page of \(bytes.count) bytes, its header says \(uncompressedSize)")
            }
            return Array(bytes)
        case .snappy:
            var length = 0
            var out = [UInt8](repeating: 0, count: uncompressedSize)
            let status = bytes.withUnsafeBufferPointer { input in
                input.withMemoryRebound(to: CChar.self) { input -> snappy_status in
                    guard snappy_uncompressed_length(input.baseAddress, input.count, &length) == SNAPPY_OK,
                        length == uncompressedSize
                    else { return SNAPPY_INVALID_INPUT }
                    return out.withUnsafeMutableBufferPointer { output in
                        output.withMemoryRebound(to: CChar.self) { output in
                            snappy_uncompress(input.baseAddress, input.count, output.baseAddress, &length)
                        }
                    }
                }
            }
            guard status == SNAPPY_OK, length == uncompressedSize else {
                throw ParquetDecodingError(offset: 0, "the page does not decompress as Snappy to \(uncompressedSize) bytes")
            }
            return out
        case .zstd:
            var out = [UInt8](repeating: 0, count: uncompressedSize)
            let written = bytes.withUnsafeBytes { input in
                out.withUnsafeMutableBytes { output in
                    ZSTD_decompress(output.baseAddress, uncompressedSize, input.baseAddress, input.count)
                }
            }
            guard ZSTD_isError(written) == 0, written == uncompressedSize else {
                let reason = ZSTD_isError(written) != 0 ? String(cString: ZSTD_getErrorName(written)) : "\(written) bytes"
                throw ParquetDecodingError(offset: 0, "the page does not decompress as Zstandard to \(uncompressedSize) bytes (\(reason))")
            }
            return out
        case .gzip:
            return try Self.inflate(bytes, uncompressedSize: uncompressedSize)
        }
    }

    // MARK: - zlib

    /// gzip-wrapped deflate (window bits 15 + 16).
    private static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        var status = deflateInit2_(
            &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")
        defer { deflateEnd(&stream) }
        let capacity = Int(deflateBound(&stream, uLong(bytes.count)))
        var out = [UInt8](repeating: 0, count: capacity)
        var input = bytes
        status = input.withUnsafeMutableBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                stream.next_in = input.baseAddress
                stream.avail_in = uInt(input.count)
                stream.next_out = output.baseAddress
                stream.avail_out = uInt(output.count)
                return CZlib.deflate(&stream, Z_FINISH)
            }
        }
        precondition(status == Z_STREAM_END, "deflate into its own bound did not finish: \(status)")
        out.removeLast(out.count - Int(stream.total_out))
        return out
    }

    /// gzip or zlib data (window bits 15 + 32: the header says which), possibly several
    /// gzip members one after another.
    private static func inflate(_ bytes: ArraySlice<UInt8>, uncompressedSize: Int) throws(ParquetDecodingError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: uncompressedSize)
        var input = Array(bytes)
        var produced = 0
        var consumed = 0
        while consumed < input.count {
            var stream = z_stream()
            guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ParquetDecodingError(offset: consumed, "zlib could not start inflating")
            }
            let status = input.withUnsafeMutableBufferPointer { input in
                out.withUnsafeMutableBufferPointer { output in
                    stream.next_in = input.baseAddress! + consumed
                    stream.avail_in = uInt(input.count - consumed)
                    stream.next_out = output.baseAddress.map { $0 + produced }
                    stream.avail_out = uInt(output.count - produced)
                    return CZlib.inflate(&stream, Z_FINISH)
                }
            }
            let read = Int(stream.total_in)
            let wrote = Int(stream.total_out)
            inflateEnd(&stream)
            guard status == Z_STREAM_END else {
                throw ParquetDecodingError(
                    offset: consumed,
                    "the page does not decompress as GZIP to \(uncompressedSize) bytes (zlib status \(status))")
            }
            consumed += read
            produced += wrote
        }
        guard produced == uncompressedSize else {
            throw ParquetDecodingError(offset: 0, "the page decompresses to \(produced) bytes, its header says \(uncompressedSize)")
        }
        return out
    }
}

extension PageCompression {
    /// The CRC-32 (zlib's, as the format's page checksum is) of `bytes`.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
    }
}
