import LarderCore
import LarderParquet

/// The rows of a Parquet request file, one row group decoded at a time. Each column is read
/// with its own type (see ``ParquetConversion/requestType(of:file:)``).
struct ParquetRequestRows {
    let path: String
    let columns: [String]
    /// The type each column is read as.
    let types: [ValueType]
    private let parquet: ParquetFile
    private let conversions: [ParquetConversion]
    private var group = -1
    /// The current row group's values, column by column.
    private var values: [[Value]] = []
    private var index = 0
    /// The file's row number of the current row, from 1.
    private(set) var row = 0

    init(_ file: InputFile, path: String) throws {
        self.path = path
        parquet = try ParquetFile.open(file, path: path)
        var seen = Set<String>()
        for column in parquet.columns where !seen.insert(column.name).inserted {
            throw IngestError(file: path, column: column.name, reason: "the column appears twice")
        }
        columns = parquet.columns.map(\.name)
        types = try parquet.columns.map { column throws(IngestError) in try ParquetConversion.requestType(of: column, file: path) }
        conversions = try zip(parquet.columns, types).map { column, type in
            try ParquetConversion(column, into: ColumnSpec(name: column.name, type: type), file: path)
        }
    }

    /// Advances to the next row; false at the end.
    mutating func next() throws -> Bool {
        while index + 1 >= (values.first?.count ?? 0) {
            guard group + 1 < parquet.rowGroupCount else { return false }
            group += 1
            let decoded = try parquet.rowGroup(group, path: path)
            let count = parquet.rowCount(ofRowGroup: group)
            values = try conversions.enumerated().map { c, conversion in
                try conversion.values(decoded[c], 0..<count, firstRow: row + 1, file: path)
            }
            index = -1
            if count > 0 { break }
        }
        index += 1
        row += 1
        return true
    }

    /// Column `c` of the current row.
    func value(_ c: Int) -> Value { values[c][index] }
}

extension ParquetConversion {
    /// The type a request file's Parquet column is read as, from its own: integers (INT32
    /// widened) as int64, FLOAT and DOUBLE as double, BOOLEAN as bool, byte arrays as
    /// (UTF-8) strings, timestamps adjusted to UTC and INT96 as timestamp. Groups (lists,
    /// structs) and other annotations (dates, decimals, times) are refused.
    static func requestType(of column: ParquetFile.Column, file: String) throws(IngestError) -> ValueType {
        func refuse() -> IngestError {
            IngestError(
                file: file, column: column.name,
                reason: "\(describe(column)); request columns are integers, floating point, booleans, strings or timestamps")
        }
        guard let physical = column.physicalType else { throw refuse() }
        switch column.logicalType {
        case nil, .string?, .integer?, .timestamp?: break
        default: throw refuse()
        }
        switch physical {
        case .int64, .int32:
            // A naive timestamp too: the conversion refuses it, saying why.
            if timestampUnit(column) != nil { return .timestamp }
            switch column.convertedType {
            case nil, .int8?, .int16?, .int32?, .int64?, .uint8?, .uint16?, .uint32?, .uint64?: return .int64
            default: throw refuse()
            }
        case .int96: return .timestamp
        case .float, .double: return .double
        case .boolean: return .bool
        case .byteArray:
            switch column.convertedType {
            case nil, .utf8?, .enum?, .json?: return .string
            default: throw refuse()
            }
        default: throw refuse()
        }
    }
}
