import Foundation
import LarderCore
import LarderOffline
import PostgresNIO

extension PostgresStore {
    /// Appends the rows of `file` to the table of the registered source `source`, in one
    /// transaction, as the SQLite store does and with the same errors: every row, or (on the
    /// first bad value anywhere, an event time beyond the store's ``EventTimePolicy``, or a
    /// file that changes while it is read) none.
    ///
    /// The file is read and checked on a thread of ``Blocking``'s pool by the reader the SQLite
    /// store uses (`IngestFileReader`), and its rows stream to the server as one `COPY` in
    /// chunks of about 1 MiB, at most one chunk ahead: memory stays bounded for any file. The
    /// ingest holds the source's advisory lock, so `_seq` numbers rows after the largest
    /// committed one and grows in commit order.
    public func ingest(
        source: String,
        file path: String,
        format: InputFormat? = nil,
        allowEmpty: Bool = false,
        progress: (@Sendable (IngestProgress) -> Void)? = nil
    ) async throws -> IngestSummary {
        let format = try InputFormat.resolve(format, path: path)
        let started = Date()
        let policy = eventTimePolicy
        let (rows, firstSeq) = try await transaction("ingest into \(source) from \(path)") { connection in
            let logger = self.logger
            try await AdvisoryLock.take("source \(source)", on: connection, logger: logger)
            let spec = try RegisteredDefinition.source(
                named: source, in: try await PostgresRegistry.definitions(connection, store: self))
            let table = PostgresSourceTable(spec: spec)
            let columns = SourceTable(spec: spec).storedColumns
            // The clock once the lock is held, as in SQLite.
            let eventTimes = policy.limit(at: .now())
            let startedAt = Timestamp.now().microseconds
            var ingestID: Int64 = 0
            for try await id in try await connection.query(
                """
                INSERT INTO larder_ingests (source, file, rows, started_at, finished_at)
                VALUES (\(source), \(path), 0, \(startedAt), \(startedAt)) RETURNING id
                """, logger: logger
            ).decode(Int64.self) {
                ingestID = id
            }
            var firstSeq: Int64 = 1
            for try await seq in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT coalesce(max(_seq), 0) + 1 FROM \(table.name)"), logger: logger
            ).decode(Int64.self) {
                firstSeq = seq
            }
            var rows = 0
            try await connection.copyFrom(table: table.name, columns: table.columnNames, logger: logger) { writer in
                let (startSeq, ingest) = (firstSeq, ingestID)
                let chunks = Blocking.stream { (emit: (CopyChunk) throws -> Void) in
                    let file = try InputFile(path: path)
                    try withoutActuallyEscaping(emit) { emit in
                        let sink = CopyTextSink(path: path, columns: columns.count, firstSeq: startSeq, ingest: ingest, emit: emit)
                        let rows = try IngestFileReader(path: path, columns: columns, eventTimes: eventTimes, sink: sink)
                            .read(file, format: format, allowEmpty: allowEmpty, progress: progress)
                        try sink.flush()
                        try emit(.finished(rows: rows))
                    }
                }
                for try await chunk in chunks {
                    switch chunk {
                    case .bytes(let bytes): try await writer.write(ByteBuffer(bytes: bytes))
                    case .finished(let count): rows = count
                    }
                }
            }
            try await connection.query(
                """
                UPDATE larder_ingests SET rows = \(rows), first_seq = \(rows > 0 ? firstSeq : nil),
                last_seq = \(rows > 0 ? firstSeq + Int64(rows) - 1 : nil), finished_at = \(Timestamp.now().microseconds)
                WHERE id = \(ingestID)
                """, logger: logger)
            return (rows, firstSeq)
        }
        return IngestSummary(
            source: source, file: path, rows: rows, seconds: Date().timeIntervalSince(started),
            sequences: rows > 0 ? firstSeq...(firstSeq + Int64(rows) - 1) : nil)
    }
}

extension PostgresStore {
    /// The newest `limit` committed ingests of `source`, newest first.
    public func ingests(source: String, limit: Int) async throws -> [IngestRecord] {
        try await transaction("reading the ingests of \(source)", readOnly: true) { connection in
            let rows = try await connection.query(
                """
                SELECT id, source, file, rows, first_seq, last_seq, started_at, finished_at FROM larder_ingests
                WHERE source = \(source) ORDER BY id DESC LIMIT \(max(0, limit))
                """, logger: logger)
            var records: [IngestRecord] = []
            for try await (id, source, file, count, firstSeq, lastSeq, startedAt, finishedAt) in rows.decode(
                (Int64, String, String, Int64, Int64?, Int64?, Int64, Int64).self)
            {
                records.append(
                    IngestRecord(
                        id: id, source: source, file: file, rows: Int(count), firstSeq: firstSeq, lastSeq: lastSeq, startedAt: startedAt,
                        finishedAt: finishedAt))
            }
            return records
        }
    }
}

/// What an ingest's reading thread hands the COPY: the rows' text, then how many rows.
enum CopyChunk: Sendable {
    case bytes([UInt8])
    case finished(rows: Int)
}

/// Writes checked rows in `COPY` text format (``CopyText``), `_seq` and `_ingest` first, and
/// hands them on about every 1 MiB.
final class CopyTextSink: IngestRowSink {
    let path: String
    private var row: [Value]
    private var buffer: [UInt8] = []
    private var seq: Int64
    private let ingest: String
    private let emit: (CopyChunk) throws -> Void
    static let chunkSize = 1 << 20

    init(path: String, columns: Int, firstSeq: Int64, ingest: Int64, emit: @escaping (CopyChunk) throws -> Void) {
        self.path = path
        self.row = Array(repeating: .null, count: columns)
        self.seq = firstSeq
        self.ingest = String(ingest)
        self.emit = emit
        buffer.reserveCapacity(Self.chunkSize + 4096)
    }

    func setNull(_ column: Int) { row[column] = .null }
    func set(_ value: Value, _ column: Int) { row[column] = value }

    func endRow(line: Int) throws {
        CopyText.appendDecimal(seq, to: &buffer)
        buffer.append(0x09)
        buffer.append(contentsOf: ingest.utf8)
        for value in row {
            buffer.append(0x09)
            try append(value, line: line)
        }
        buffer.append(0x0A)
        seq += 1
        if buffer.count >= Self.chunkSize { try flush() }
    }

    /// Hands on what is buffered.
    func flush() throws {
        guard !buffer.isEmpty else { return }
        try emit(.bytes(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    private func append(_ value: Value, line: Int) throws {
        guard CopyText.append(value, to: &buffer) else {
            throw IngestError(file: path, line: line, reason: "a string holds the NUL character, which PostgreSQL's text cannot")
        }
    }
}

/// `COPY ... FROM STDIN` text format: tab-separated fields, `\N` for null, backslash escapes.
/// Values are written so the server reads back the same ones: doubles in Swift's shortest
/// round-trip form (PostgreSQL's float8 input is exact for it), instants as microseconds,
/// bytes as bytea's hex form.
enum CopyText {
    /// Appends `value`; false (nothing appended) for a string holding NUL, which PostgreSQL's
    /// text cannot store.
    static func append(_ value: Value, to buffer: inout [UInt8]) -> Bool {
        switch value {
        case .null: buffer.append(contentsOf: #"\N"#.utf8)
        case .int64(let v): appendDecimal(v, to: &buffer)
        case .timestamp(let t): appendDecimal(t.microseconds, to: &buffer)
        case .bool(let b): buffer.append(b ? 0x74 : 0x66)  // t, f
        case .double(let d):
            let text = d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : d.description
            buffer.append(contentsOf: text.utf8)
        case .string(let s):
            if s.utf8.contains(0) { return false }
            for byte in s.utf8 {
                switch byte {
                case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])  // \\
                case 0x09: buffer.append(contentsOf: [0x5C, 0x74])  // \t
                case 0x0A: buffer.append(contentsOf: [0x5C, 0x6E])  // \n
                case 0x0D: buffer.append(contentsOf: [0x5C, 0x72])  // \r
                default: buffer.append(byte)
                }
            }
        case .list:
            // No source column or row feature has a list type (only `last(n)` aggregations).
            preconditionFailure("a list value in a row")
        }
        return true
    }

    /// Appends `value` in decimal, without making a String (a run writes millions).
    static func appendDecimal(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 { buffer.append(0x2D) }  // -
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // room for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[count] = 0x30 + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for i in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[i]) }
        }
    }

    /// Appends `bytes` as a bytea in hex form (`\\x0a1b...`: the backslash escaped for COPY).
    static func appendBytes(_ bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        buffer.append(contentsOf: [0x5C, 0x5C, 0x78])
        for byte in bytes {
            buffer.append(digits[Int(byte >> 4)])
            buffer.append(digits[Int(byte & 0x0F)])
        }
    }
}

extension PostgresStore {
    /// Appends rows given as column name to JSON value (`/v1/push`) to a registered source,
    /// with the SQLite store's checks (`OfflineStore.checkedRows`) and in one transaction
    /// holding the source's lock: all rows or none, `_seq` after the largest committed one.
    public func append(source name: String, rows: [[String: JSONValue]], origin: String) async throws -> [SourceRow] {
        let policy = eventTimePolicy
        return try await transaction("\(origin) of \(rows.count) rows to \(name)") { connection in
            let logger = self.logger
            try await AdvisoryLock.take("source \(name)", on: connection, logger: logger)
            let spec = try RegisteredDefinition.source(named: name, in: try await PostgresRegistry.definitions(connection, store: self))
            let table = PostgresSourceTable(spec: spec)
            let stored = SourceTable(spec: spec).storedColumns
            let typed = try OfflineStore.checkedRows(rows, columns: stored, eventTimes: policy.limit(at: .now()))
            let now = Timestamp.now().microseconds
            var firstSeq: Int64 = 1
            for try await seq in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT coalesce(max(_seq), 0) + 1 FROM \(table.name)"), logger: logger
            ).decode(Int64.self) {
                firstSeq = seq
            }
            let lastSeq = firstSeq + Int64(typed.count) - 1
            var ingestID: Int64 = 0
            for try await id in try await connection.query(
                """
                INSERT INTO larder_ingests (source, file, rows, first_seq, last_seq, started_at, finished_at)
                VALUES (\(name), \(origin), \(typed.count), \(typed.isEmpty ? nil : firstSeq), \(typed.isEmpty ? nil : lastSeq), \(now), \(now))
                RETURNING id
                """, logger: logger
            ).decode(Int64.self) {
                ingestID = id
            }
            guard !typed.isEmpty else { return [] }
            var text: [UInt8] = []
            for (r, values) in typed.enumerated() {
                CopyText.appendDecimal(firstSeq + Int64(r), to: &text)
                text.append(0x09)
                CopyText.appendDecimal(ingestID, to: &text)
                for (value, column) in zip(values, stored) {
                    text.append(0x09)
                    guard CopyText.append(value, to: &text) else {
                        throw AppendError(
                            row: r, column: column.name, reason: "a string holds the NUL character, which PostgreSQL's text cannot")
                    }
                }
                text.append(0x0A)
            }
            let copied = text
            try await connection.copyFrom(table: table.name, columns: table.columnNames, logger: logger) { writer in
                try await writer.write(ByteBuffer(bytes: copied))
            }
            let hasCreated = spec.createdTimestamp != nil
            return typed.enumerated().compactMap { r, values -> SourceRow? in
                guard case .timestamp(let event) = values[0] else { return nil }
                let created: Timestamp? = if hasCreated, case .timestamp(let c) = values[1] { c } else { nil }
                return SourceRow(
                    values: Array(values.dropFirst(hasCreated ? 2 : 1)), eventTime: event, createdTime: created,
                    sequence: firstSeq + Int64(r))
            }
        }
    }
}
