/// A Parquet file in memory: its footer, its top-level columns, and their values one row
/// group at a time.
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

    public let bytes: [UInt8]
    public let metadata: FileMetaData
    public let columns: [Column]

    /// Reads and checks the footer.
    public init(bytes: [UInt8]) throws(ParquetFooterError) {
        self.bytes = bytes
        self.metadata = try ParquetFooter.read(fileBytes: bytes)
        self.columns = Self.topLevelColumns(metadata.schema)
    }

    public var rowGroupCount: Int { metadata.rowGroups.count }

    /// The rows of row group `index`.
    public func rowCount(ofRowGroup index: Int) -> Int { Int(clamping: metadata.rowGroups[index].numRows) }

    /// The values of a flat column in row group `rowGroup`, one per row.
    public func values(of column: Column, inRowGroup rowGroup: Int) throws(ParquetDecodingError) -> ColumnValues {
        guard column.physicalType != nil else {
            throw ParquetDecodingError(offset: 0, "column \(column.name) is a group (a list or a struct); only flat columns are read")
        }
        let chunks = metadata.rowGroups[rowGroup].columns
        guard column.leafIndex < chunks.count, let chunk = chunks[column.leafIndex].metaData else {
            throw ParquetDecodingError(offset: 0, "row group \(rowGroup) has no column chunk for \(column.name)")
        }
        if let path = chunks[column.leafIndex].filePath {
            throw ParquetDecodingError(offset: 0, "column \(column.name) is in another file (\(path)), which Larder does not read")
        }
        let values = try ColumnChunkReader(metadata: chunk, maxDefinitionLevel: column.isOptional ? 1 : 0).read(file: bytes)
        guard values.count == rowCount(ofRowGroup: rowGroup) else {
            throw ParquetDecodingError(
                offset: Int(clamping: chunk.dataPageOffset),
                "column \(column.name) has \(values.count) values in row group \(rowGroup) of \(rowCount(ofRowGroup: rowGroup)) rows")
        }
        return values
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
