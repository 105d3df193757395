/// A Parquet file: its footer, its top-level columns, and their values one row group at a
/// time.
public struct ParquetFile {
    /// One top-level field of the schema.
    public struct Column: Sendable, Equatable {
        public var name: String
        /// The physical type of a leaf; nil for a group (a LIST, a struct), which this reader
        /// does not read.
        public var physicalType: PhysicalType?
        public var logicalType: LogicalType?
        public var convertedType: ConvertedType?
        /// Whether the field may be null (OPTIONAL).
        public var isOptional: Bool
        /// The index of its column chunk in each row group (its first leaf's, for a group).
        public var leafIndex: Int
    }

    /// The file's size in bytes.
    public let size: Int
    /// Reads a range of the file's bytes.
    let read: (Range<Int>) throws -> [UInt8]
    public let metadata: FileMetaData
    public let columns: [Column]

    /// A file of `size` bytes read through `read`, which returns the bytes of a range of the
    /// file: the footer now, then one read per row group (``values(of:inRowGroup:)``), so
    /// memory holds one row group at a time, never the whole file.
    public init(size: Int, read: @escaping (Range<Int>) throws -> [UInt8]) throws {
        self.size = size
        self.read = read
        self.metadata = try ParquetFooter.read(size: size, read)
        self.columns = Self.topLevelColumns(metadata.schema)
    }

    /// A file already in memory.
    public init(bytes: [UInt8]) throws {
        try self.init(size: bytes.count) { Array(bytes[$0]) }
    }

    public var rowGroupCount: Int { metadata.rowGroups.count }

    /// The rows of row group `index`.
    public func rowCount(ofRowGroup index: Int) -> Int { Int(clamping: metadata.rowGroups[index].numRows) }

    /// The values of flat columns in row group `rowGroup`, one per row, from one read of the
    /// bytes their chunks span.
    public func values(of wanted: [Column], inRowGroup rowGroup: Int) throws -> [ColumnValues] {
        let chunks = metadata.rowGroups[rowGroup].columns
        var readers: [ColumnChunkReader] = []
        var span: Range<Int>?
        for column in wanted {
            guard column.physicalType != nil else {
                throw ParquetDecodingError(offset: 0, "column \(column.name) is a group (a list or a struct); only flat columns are read")
            }
            guard column.leafIndex < chunks.count, let chunk = chunks[column.leafIndex].metaData else {
                throw ParquetDecodingError(offset: 0, "row group \(rowGroup) has no column chunk for \(column.name)")
            }
            if let path = chunks[column.leafIndex].filePath {
                throw ParquetDecodingError(offset: 0, "column \(column.name) is in another file (\(path)), which Larder does not read")
            }
            // A flat column has one value per row: a chunk that says otherwise is refused before
            // anything is decoded.
            guard chunk.numValues == metadata.rowGroups[rowGroup].numRows else {
                throw ParquetDecodingError(
                    offset: Int(clamping: chunk.dataPageOffset),
                    "column \(column.name) has \(chunk.numValues) values in row group \(rowGroup) of \(rowCount(ofRowGroup: rowGroup)) rows"
                )
            }
            let reader = ColumnChunkReader(metadata: chunk, maxDefinitionLevel: column.isOptional ? 1 : 0)
            let range = try reader.byteRange(fileSize: size)
            span = span.map { min($0.lowerBound, range.lowerBound)..<max($0.upperBound, range.upperBound) } ?? range
            readers.append(reader)
        }
        guard let span else { return [] }
        let region = try read(span)
        return try zip(wanted, readers).map { column, reader in
            let values = try reader.read(region: region, base: span.lowerBound)
            guard values.count == rowCount(ofRowGroup: rowGroup) else {
                throw ParquetDecodingError(
                    offset: span.lowerBound,
                    "column \(column.name) has \(values.count) values in row group \(rowGroup) of \(rowCount(ofRowGroup: rowGroup)) rows")
            }
            return values
        }
    }

    /// The values of one flat column in row group `rowGroup`.
    public func values(of column: Column, inRowGroup rowGroup: Int) throws -> ColumnValues {
        try values(of: [column], inRowGroup: rowGroup)[0]
    }

    /// The root's children, in order; a group's leaves are counted so that later columns
    /// find their chunks.
    static func topLevelColumns(_ schema: [SchemaElement]) -> [Column] {
        guard let root = schema.first else { return [] }
        var columns: [Column] = []
        var element = 1
        var leaf = 0
        /// The number of schema elements and of leaves under (and including) `index`.
        func extent(_ index: Int) -> (elements: Int, leaves: Int) {
            guard index < schema.count else { return (1, 0) }
            let children = Int(schema[index].numChildren ?? 0)
            guard children > 0 else { return (1, 1) }
            var elements = 1
            var leaves = 0
            for _ in 0..<children {
                let child = extent(index + elements)
                elements += child.elements
                leaves += child.leaves
            }
            return (elements, leaves)
        }
        for _ in 0..<Int(root.numChildren ?? 0) where element < schema.count {
            let field = schema[element]
            let (elements, leaves) = extent(element)
            columns.append(
                Column(
                    name: field.name, physicalType: (field.numChildren ?? 0) > 0 ? nil : field.type, logicalType: field.logicalType,
                    convertedType: field.convertedType, isOptional: field.repetitionType != .required, leafIndex: leaf))
            element += elements
            leaf += leaves
        }
        return columns
    }
}
