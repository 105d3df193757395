// The end of a Parquet file: the footer (FileMetaData in the compact protocol), its length
// as 4 little-endian bytes, and the magic "PAR1"; the file also starts with "PAR1".

/// What is wrong with a Parquet file's frame or footer.
public enum ParquetFooterError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Shorter than the two magics and the length (12 bytes).
    case fileTooShort(fileSize: Int)
    /// The first 4 bytes are not `PAR1`.
    case badLeadingMagic([UInt8])
    /// The last 4 bytes are not `PAR1` (`PARE` there is an encrypted footer).
    case badTrailingMagic([UInt8])
    /// The footer length reaches back past the leading magic.
    case footerLengthPastStart(footerLength: UInt32, fileSize: Int)
    /// The footer's bytes are not a valid FileMetaData.
    case metadata(ThriftDecodingError)

    public var description: String {
        switch self {
        case .fileTooShort(let fileSize):
            "not a Parquet file: it is \(fileSize) bytes, shorter than the 12 of an empty one"
        case .badLeadingMagic(let bytes):
            "not a Parquet file: it starts with \(Self.show(bytes)), not the magic \"PAR1\""
        case .badTrailingMagic(let bytes):
            bytes == Array("PARE".utf8)
                ? "the Parquet file has an encrypted footer (\"PARE\"), which Larder does not read"
                : "not a complete Parquet file: it ends with \(Self.show(bytes)), not the magic \"PAR1\" (truncated?)"
        case .footerLengthPastStart(let footerLength, let fileSize):
            "footer length \(footerLength) is past the start of the file (file is \(fileSize) bytes)"
        case .metadata(let error):
            "the Parquet footer is malformed: \(error)"
        }
    }

    private static func show(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16, uppercase: true)
        }.joined()
    }
}

/// Reads and writes the footer of a Parquet file.
public enum ParquetFooter {
    /// The magic at both ends of a Parquet file.
    public static let magic: [UInt8] = Array("PAR1".utf8)

    /// Reads the file metadata from a whole file's bytes.
    ///
    /// Checks both magics and that the footer length fits between them before decoding;
    /// offsets in a ``ParquetFooterError/metadata(_:)`` error are offsets in the file.
    public static func read(fileBytes: [UInt8]) throws(ParquetFooterError) -> FileMetaData {
        let size = fileBytes.count
        guard size >= 12 else { throw .fileTooShort(fileSize: size) }
        let leading = Array(fileBytes[0..<4])
        guard leading == magic else { throw .badLeadingMagic(leading) }
        let trailing = Array(fileBytes[(size - 4)..<size])
        guard trailing == magic else { throw .badTrailingMagic(trailing) }
        var length: UInt32 = 0
        for index in 0..<4 { length |= UInt32(fileBytes[size - 8 + index]) << (8 * UInt32(index)) }
        // The footer sits between the leading magic and the length.
        guard Int(length) <= size - 12 else { throw .footerLengthPastStart(footerLength: length, fileSize: size) }
        let footerStart = size - 8 - Int(length)
        do {
            var reader = try ThriftCompactReader(fileBytes, range: footerStart..<(size - 8))
            return try FileMetaData(reading: &reader)
        } catch {
            throw .metadata(error)
        }
    }

    /// Reads the file metadata of a file of `size` bytes through `read`, which returns the
    /// bytes of a range of the file: three small reads (the leading magic, the length and
    /// trailing magic, the footer), not the whole file.
    public static func read(size: Int, _ read: (Range<Int>) throws -> [UInt8]) throws -> FileMetaData {
        guard size >= 12 else { throw ParquetFooterError.fileTooShort(fileSize: size) }
        let leading = try read(0..<4)
        guard leading == magic else { throw ParquetFooterError.badLeadingMagic(leading) }
        let end = try read((size - 8)..<size)
        guard Array(end[4..<8]) == magic else { throw ParquetFooterError.badTrailingMagic(Array(end[4..<8])) }
        var length: UInt32 = 0
        for index in 0..<4 { length |= UInt32(end[index]) << (8 * UInt32(index)) }
        guard Int(length) <= size - 12 else { throw ParquetFooterError.footerLengthPastStart(footerLength: length, fileSize: size) }
        let footerStart = size - 8 - Int(length)
        // Offsets in errors are the file's: decode the footer where it sits in a sparse copy.
        let footer = try read(footerStart..<(size - 8))
        do {
            var reader = try ThriftCompactReader(footer, range: 0..<footer.count)
            return try FileMetaData(reading: &reader)
        } catch {
            throw ParquetFooterError.metadata(error.shifted(by: footerStart))
        }
    }

    /// The end of a file for `metadata`: the encoded footer, its length and the magic, to
    /// append after the last column chunk (the file starts with ``magic``).
    public static func encode(_ metadata: FileMetaData) -> [UInt8] {
        var writer = ThriftCompactWriter()
        metadata.write(to: &writer)
        var bytes = writer.bytes
        let length = UInt32(bytes.count)
        for index in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))) }
        bytes.append(contentsOf: magic)
        return bytes
    }
}
