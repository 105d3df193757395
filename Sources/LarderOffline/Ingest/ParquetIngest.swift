import LarderCore
import LarderParquet

extension IngestFileReader {
    /// Reads a Parquet file into the sink one row group at a time (memory holds one row group
    /// of the columns, never the file), with the same rules as CSV: columns matched by name,
    /// in any order; every required column present, no unknown one; a value of the wrong
    /// type, a naive timestamp or an event time past the limit rejected, naming the row,
    /// column and value.
    ///
    /// Types: INT64 and INT32 (widened) into int64 columns, and into double columns when
    /// exact; DOUBLE and FLOAT (widened) into double; BOOLEAN into bool; UTF-8 BYTE_ARRAY into
    /// string; timestamps with `isAdjustedToUTC` in millis, micros or nanos (to the microsecond
    /// below, as CSV) and INT96 (UTC, as Spark writes it) into timestamp.
    func copyParquet(_ file: InputFile, progress: (@Sendable (IngestProgress) -> Void)?) throws -> Int {
        let parquet = try ParquetFile.open(file, path: path)
        let targets = try columnIndex(for: parquet.columns.map(\.name), line: nil)
        let conversions = try zip(parquet.columns, targets).map { column, k in try ParquetConversion(column, into: columns[k], file: path) }
        let absent = columns.indices.filter { !targets.contains($0) }
        var rows = 0
        for group in 0..<parquet.rowGroupCount {
            let values = try parquet.rowGroup(group, path: path)
            // Column by column, a slice of rows at a time: one type switch per column and
            // slice, not per value.
            let count = parquet.rowCount(ofRowGroup: group)
            for sliceStart in stride(from: 0, to: count, by: 1 << 14) {
                let slice = sliceStart..<min(sliceStart + (1 << 14), count)
                let converted = try conversions.enumerated().map { c, conversion in
                    try conversion.values(values[c], slice, firstRow: rows + 1, file: path)
                }
                for r in slice.indices {
                    let row = rows + 1
                    for c in converted.indices {
                        let k = targets[c]
                        let value = converted[c][r - sliceStart]
                        if value.isNull {
                            guard columns[k].nullable else {
                                throw IngestError(
                                    file: path, row: row, column: conversions[c].name, reason: "null, but the column is not nullable")
                            }
                            sink.setNull(k)
                            continue
                        }
                        if k == Self.eventTimeColumn, case .timestamp(let t) = value, !eventTimes.admits(t) {
                            throw IngestError(
                                file: path, row: row, column: conversions[c].name, value: t.description, reason: eventTimes.rejection(of: t)
                            )
                        }
                        sink.set(value, k)
                    }
                    for k in absent { sink.setNull(k) }
                    try sink.endRow(line: row)
                    rows += 1
                }
            }
            progress?(IngestProgress(bytesRead: file.bytesRead, totalBytes: file.size, rows: rows))
        }
        return rows
    }
}

extension ParquetFile {
    /// Opens `file` (at `path`, for messages) as Parquet: its footer, read by ranges.
    static func open(_ file: InputFile, path: String) throws -> ParquetFile {
        do {
            return try ParquetFile(size: Int(file.size)) { range in try file.bytes(in: range) }
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(file: path, reason: "not a Parquet file Larder can read: \(error)")
        }
    }

    /// Every column's values in row group `group`; an error names the group.
    func rowGroup(_ group: Int, path: String) throws -> [ColumnValues] {
        do {
            return try values(of: columns, inRowGroup: group)
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(file: path, reason: "row group \(group) does not decode: \(error)")
        }
    }
}

/// How one Parquet column's values become one source column's, decided from the schema once.
struct ParquetConversion {
    enum Kind {
        case integer, unsignedInteger64, integerAsDouble, double, bool, string
        /// An INT64 timestamp: multiply (millis) or divide (nanos) to microseconds.
        case timestamp(TimeUnit)
        case int96
    }

    let name: String
    let kind: Kind

    init(_ column: ParquetFile.Column, into spec: ColumnSpec, file: String) throws(IngestError) {
        name = column.name
        func refuse(_ reason: String) -> IngestError { IngestError(file: file, column: column.name, reason: reason) }
        guard let physical = column.physicalType else {
            throw refuse("a Parquet group (a list or a struct); the source's column is \(spec.type)")
        }
        let described = Self.describe(column)
        switch (spec.type, physical) {
        case (.int64, .int64), (.int64, .int32):
            guard Self.timestampUnit(column) == nil else { throw refuse("\(described), but the source's column is int64") }
            if case .integer(64, false)? = column.logicalType {
                kind = .unsignedInteger64
            } else if column.convertedType == .uint64 {
                kind = .unsignedInteger64
            } else {
                kind = .integer
            }
        case (.double, .double), (.double, .float): kind = .double
        case (.double, .int64), (.double, .int32):
            guard Self.timestampUnit(column) == nil else { throw refuse("\(described), but the source's column is double") }
            kind = .integerAsDouble
        case (.bool, .boolean): kind = .bool
        case (.string, .byteArray): kind = .string
        case (.timestamp, .int96): kind = .int96
        case (.timestamp, .int64):
            if case .timestamp(false, _)? = column.logicalType {
                throw refuse(
                    "a naive timestamp (isAdjustedToUTC=false), rejected as in CSV; write it with a time zone (pyarrow: pa.timestamp('us', tz='UTC'))"
                )
            }
            guard let unit = Self.timestampUnit(column) else { throw refuse("\(described), but the source's column is a timestamp") }
            kind = .timestamp(unit)
        default:
            throw refuse("\(described), but the source's column is \(spec.type)")
        }
    }

    /// The unit of an INT64 timestamp column (legacy TIMESTAMP_MILLIS/MICROS annotations mean UTC).
    static func timestampUnit(_ column: ParquetFile.Column) -> TimeUnit? {
        if case .timestamp(_, let unit)? = column.logicalType { return unit }
        switch column.convertedType {
        case .timestampMillis?: return .millis
        case .timestampMicros?: return .micros
        default: return nil
        }
    }

    static func describe(_ column: ParquetFile.Column) -> String {
        var text = "a Parquet \(column.physicalType.map { "\($0)" } ?? "group")"
        if let logical = column.logicalType { text += " (\(logical))" }
        return text
    }

    /// The values of rows `slice` of a row group's column; `firstRow` is the file's row number
    /// of `slice.lowerBound`, for errors.
    func values(_ values: ColumnValues, _ slice: Range<Int>, firstRow: Int, file: String) throws(IngestError) -> [Value] {
        func bad(_ r: Int, _ value: String, _ reason: String) -> IngestError {
            IngestError(file: file, row: firstRow + r - slice.lowerBound, column: name, value: value, reason: reason)
        }
        var out: [Value] = []
        out.reserveCapacity(slice.count)
        switch (kind, values) {
        case (.integer, .integers(let v)):
            for r in slice { out.append(v[r].map(Value.int64) ?? .null) }
        case (.unsignedInteger64, .integers(let v)):
            for r in slice {
                guard let x = v[r] else {
                    out.append(.null)
                    continue
                }
                guard x >= 0 else { throw bad(r, String(UInt64(bitPattern: x)), "an unsigned integer past the int64 range") }
                out.append(.int64(x))
            }
        case (.integerAsDouble, .integers(let v)):
            for r in slice {
                guard let x = v[r] else {
                    out.append(.null)
                    continue
                }
                guard x.magnitude <= 1 << 53 else { throw bad(r, String(x), "an integer a double cannot hold exactly") }
                out.append(.double(Double(x)))
            }
        case (.double, .doubles(let v)):
            // One form for doubles, as everywhere values enter: -0.0 is stored as 0.0.
            for r in slice { out.append(v[r].map { .double($0 == 0 ? 0 : $0) } ?? .null) }
        case (.bool, .booleans(let v)):
            for r in slice { out.append(v[r].map(Value.bool) ?? .null) }
        case (.string, .byteArrays(let v)):
            for r in slice {
                guard let bytes = v[r] else {
                    out.append(.null)
                    continue
                }
                let text = String(decoding: bytes, as: UTF8.self)
                guard text.utf8.elementsEqual(bytes) else { throw bad(r, String(describing: bytes.prefix(32)), "not valid UTF-8") }
                out.append(.string(text))
            }
        case (.int96, .int96Timestamps(let v)):
            for r in slice { out.append(v[r].map { .timestamp(Timestamp(microseconds: $0)) } ?? .null) }
        case (.timestamp(let unit), .integers(let v)):
            for r in slice {
                guard let x = v[r] else {
                    out.append(.null)
                    continue
                }
                switch unit {
                case .micros: out.append(.timestamp(Timestamp(microseconds: x)))
                case .millis:
                    let (micros, overflow) = x.multipliedReportingOverflow(by: 1000)
                    guard !overflow else { throw bad(r, String(x), "milliseconds past the range of timestamps") }
                    out.append(.timestamp(Timestamp(microseconds: micros)))
                case .nanos:
                    // To the microsecond below, as digits of a CSV fraction past the sixth are dropped.
                    out.append(.timestamp(Timestamp(microseconds: x >= 0 ? x / 1000 : (x - 999) / 1000)))
                }
            }
        default:
            throw IngestError(file: file, column: name, reason: "values of another type than the column's chunk metadata says")
        }
        return out
    }
}
