import Crypto
import Foundation
import LarderCore
import LarderParquet

/// Writes a training set as CSV, JSON Lines or Parquet into a temporary file beside the
/// destination, hashing what it writes; `commit()` renames it into place, so a failure never
/// leaves a half-written file at the destination.
final class TableWriter {
    let format: InputFormat
    let destination: String
    private let temporary: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var digest = SHA256()
    private let columns: [String]
    /// Each column's type in a Parquet file (nil: settled by its values); CSV and JSON Lines
    /// write values as they are.
    private let types: [ValueType?]
    /// The row groups being built, for Parquet.
    private var parquet: ParquetTable?
    private var column = 0
    private(set) var rows = 0
    private var committed = false

    /// A writer of `columns` (with their `types`, for Parquet) to `destination`; `compression`
    /// is Parquet's codec (zstd when nil).
    init(
        destination: String, format: InputFormat, columns: [String], types: [ValueType?], compression: PageCompression? = nil
    ) throws {
        precondition(columns.count == types.count, "a type (or nil) for every column")
        self.destination = destination
        self.format = format
        self.columns = columns
        self.types = types
        let directory = (destination as NSString).deletingLastPathComponent
        temporary = (directory.isEmpty ? "." : directory) + "/.\((destination as NSString).lastPathComponent).tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw OfflineStoreError("cannot write \(destination): cannot create a file in \(directory.isEmpty ? "." : directory)")
        }
        self.handle = handle
        buffer.reserveCapacity(1 << 20)
        switch format {
        case .csv:
            for (i, name) in columns.enumerated() {
                if i > 0 { buffer.append(0x2C) }
                appendCSVText(Array(name.utf8), forceQuotes: false)
            }
            buffer.append(0x0A)
        case .jsonl:
            break
        case .parquet:
            parquet = ParquetTable(
                columns: zip(columns, types).map { ($0, $1) }, compression: compression ?? .zstd,
                sink: { [unowned self] bytes in try self.take(bytes) })
        }
    }

    deinit {
        if !committed {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
        }
    }

    // MARK: Rows

    func beginRow() {
        column = 0
        if format == .jsonl { buffer.append(0x7B) }
    }

    func endRow() throws {
        rows += 1
        if parquet != nil { return try parquet!.endRow() }
        buffer.append(format == .jsonl ? 0x7D : 0x0A)
        if format == .jsonl { buffer.append(0x0A) }
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func beginCell() {
        switch format {
        case .csv:
            if column > 0 { buffer.append(0x2C) }
        case .jsonl:
            if column > 0 { buffer.append(0x2C) }
            appendJSONString(columns[column])
            buffer.append(0x3A)
        case .parquet:
            preconditionFailure("Parquet cells go to the ParquetTable")
        }
        column += 1
    }

    /// One training-set row from a request file: the request's fields as read, then the
    /// plan's outputs from the joined row; progress every 16,384 rows. Both stores' joins
    /// write through it, so their files are the same bytes.
    func writeRow(
        _ requests: RequestFile, plan: FeaturePlan, joined row: [Value], progress: (@Sendable (TrainingSetProgress) -> Void)?
    ) throws {
        beginRow()
        if parquet != nil {
            for c in requests.columns.indices {
                // CSV text into a string column goes as its bytes, with no String made.
                if types[c] == .string, case .csv(let bytes, let quoted) = requests.field(c), !bytes.isEmpty || quoted {
                    guard FieldParsing.isValidUTF8(bytes) else {
                        throw requests.location.error(column: requests.columns[c], value: FieldParsing.display(bytes), "not valid UTF-8")
                    }
                    parquet!.append(utf8: bytes, column: column)
                    column += 1
                    continue
                }
                try write(requests.carriedValue(c, as: types[c]))
            }
        } else {
            for c in requests.columns.indices { write(requests.field(c)) }
        }
        for i in plan.outputs.indices { try write(plan.value(i, in: row)) }
        try endRow()
        if rows & 0x3FFF == 0 {
            progress?(TrainingSetProgress(rows: rows, bytesRead: requests.bytesRead, totalBytes: requests.file.size))
        }
    }

    /// A request field carried through as it was read, to CSV or JSON Lines.
    private func write(_ field: RequestField) {
        // From a Parquet request file: a typed value, written as a computed one is.
        if case .value(let value) = field { return writeText(value) }
        beginCell()
        switch (format, field) {
        case (.csv, .csv(let bytes, let quoted)):
            appendCSVText(bytes, forceQuotes: quoted && bytes.isEmpty)
        case (.csv, .json(let json)):
            switch json {
            case .null: break
            case .string(let s): appendCSVText(Array(s.utf8), forceQuotes: s.isEmpty)
            default: buffer.append(contentsOf: json.text.utf8)
            }
        case (.parquet, _):
            preconditionFailure("Parquet cells go to the ParquetTable")
        case (_, .value):
            preconditionFailure("typed values are written by writeText")
        case (.jsonl, .json(let json)):
            JSONText.appendValue(json.scalar ?? .null, to: &buffer)
        case (.jsonl, .csv(let bytes, let quoted)):
            // From CSV text, the JSON value it reads as: null, a number, a boolean or a string.
            if bytes.isEmpty && !quoted {
                buffer.append(contentsOf: "null".utf8)
            } else if !quoted, FieldParsing.int64(bytes) != nil || FieldParsing.double(bytes) != nil, Self.isJSONNumber(bytes) {
                buffer.append(contentsOf: bytes)
            } else if !quoted, bytes.elementsEqual("true".utf8) || bytes.elementsEqual("false".utf8) {
                buffer.append(contentsOf: bytes)
            } else {
                appendJSONString(String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    /// A computed value: nulls as empty CSV fields or JSON null, doubles in shortest
    /// round-trip form, timestamps in RFC 3339 UTC; in Parquet, a value of its column's type.
    func write(_ value: Value) throws {
        guard parquet == nil else {
            try parquet!.append(value, column: column)
            column += 1
            return
        }
        writeText(value)
    }

    private func writeText(_ value: Value) {
        beginCell()
        switch value {
        case .null:
            if format == .jsonl { buffer.append(contentsOf: "null".utf8) }
        case .int64(let v):
            buffer.append(contentsOf: String(v).utf8)
        case .double(let v):
            if format == .jsonl {
                JSONText.appendValue(value, to: &buffer)
            } else {
                buffer.append(contentsOf: v.description.utf8)
            }
        case .bool(let v):
            buffer.append(contentsOf: (v ? "true" : "false").utf8)
        case .string(let s):
            if format == .jsonl { appendJSONString(s) } else { appendCSVText(Array(s.utf8), forceQuotes: s.isEmpty) }
        case .timestamp(let t):
            if format == .jsonl { appendJSONString(t.description) } else { buffer.append(contentsOf: t.description.utf8) }
        case .list:
            // A JSON array: in a CSV cell, quoted as text.
            var json: [UInt8] = []
            JSONText.appendValue(value, to: &json)
            if format == .jsonl { buffer.append(contentsOf: json) } else { appendCSVText(json, forceQuotes: false) }
        }
    }

    // MARK: Finishing

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { digest.update(bufferPointer: $0) }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw OfflineStoreError("cannot write \(destination): \(error.localizedDescription)")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Bytes the Parquet writer made.
    private func take(_ bytes: [UInt8]) throws {
        buffer += bytes
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Flushes, syncs and renames the file into place. Returns the SHA-256 of its bytes.
    func commit() throws -> String {
        try parquet?.finish()
        try flush()
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, destination) == 0 else {
            throw OfflineStoreError("cannot move the training set into \(destination): \(String(cString: strerror(errno)))")
        }
        committed = true
        return digest.finalize().map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Encoding

    private func appendCSVText<C: Collection>(_ bytes: C, forceQuotes: Bool) where C.Element == UInt8 {
        let needsQuotes = forceQuotes || bytes.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }
        guard needsQuotes else {
            buffer.append(contentsOf: bytes)
            return
        }
        buffer.append(0x22)
        for b in bytes {
            if b == 0x22 { buffer.append(0x22) }
            buffer.append(b)
        }
        buffer.append(0x22)
    }

    private func appendJSONString(_ s: String) { JSONText.appendString(s, to: &buffer) }

    /// JSON's number grammar is stricter than what CSV parsing accepts (no `+`, `.5`, `1.`).
    private static func isJSONNumber(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        switch try? JSONParser.parse(b) {
        case .int?, .double?: true
        default: false
        }
    }
}
