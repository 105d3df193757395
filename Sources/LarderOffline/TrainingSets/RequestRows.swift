import LarderCore

/// The request rows of a training set, read one at a time: a request file (CSV, JSON Lines
/// or Parquet) or ``RequestRows`` in memory. The point-in-time join reads both the same way.
public protocol TrainingRequestSource: SendableMetatype {
    /// The column names, in order.
    var columns: [String] { get }
    /// Advances to the next row; false at the end.
    mutating func next() throws -> Bool
    /// Column `column` of the current row as `type` (null when empty); throws naming where.
    func value(_ column: Int, as type: ValueType) throws -> Value
    /// Where the current row is in its file, for messages; nil for rows in memory.
    var requestLocation: RequestLocation? { get }
}

/// Where a request row is: its file, and its line (CSV, JSON Lines) or row (Parquet).
public struct RequestLocation: Sendable {
    public var file: String
    public var line: Int?
    public var row: Int?

    public init(file: String, line: Int? = nil, row: Int? = nil) {
        self.file = file
        self.line = line
        self.row = row
    }

    /// An error about this row.
    func error(column: String? = nil, value: String? = nil, _ reason: String) -> IngestError {
        IngestError(file: file, line: line, row: row, column: column, value: value, reason: reason)
    }
}

extension RequestFile: TrainingRequestSource {
    var requestLocation: RequestLocation? { location }
}

/// Request rows in memory: typed values, one array per row in ``columns`` order.
public struct RequestRows: TrainingRequestSource, Sendable {
    public let columns: [String]
    public let rows: [[Value]]
    /// The current row, -1 before the first.
    private var current = -1

    public init(columns: [String], rows: [[Value]]) {
        self.columns = columns
        self.rows = rows
    }

    public mutating func next() throws -> Bool {
        guard current + 1 < rows.count else { return false }
        current += 1
        guard rows[current].count == columns.count else {
            throw OfflineStoreError(
                "request row \(current + 1) has \(rows[current].count) values for \(columns.count) columns")
        }
        return true
    }

    /// The value as given; one of another type is refused, as a file's would be.
    public func value(_ column: Int, as type: ValueType) throws -> Value {
        let value = rows[current][column]
        if let given = value.type, given != type {
            throw OfflineStoreError(
                "request row \(current + 1), column '\(columns[column])': expected a \(type), got the \(given) \(value)")
        }
        return value
    }

    public var requestLocation: RequestLocation? { nil }

    /// The same rows from the first again.
    func rewound() -> RequestRows { RequestRows(columns: columns, rows: rows) }
}

extension TrainingSetBuilder {
    /// The point-in-time values of `features` for request rows in memory: one array per row,
    /// in `features` order, exactly as ``build(_:progress:)`` computes them for a request file
    /// (the same join and the same checks), with no file read or written.
    ///
    /// - Parameter timestampColumn: the column of `rows` holding each row's instant.
    /// - Throws: ``OfflineStoreError`` naming the problem (the row, for a bad value).
    public func values(of features: [ResolvedFeature], for rows: RequestRows, timestampColumn: String) async throws -> [[Value]] {
        try await store.reading { try self.values(of: features, for: rows, timestampColumn: timestampColumn) }
    }

    /// The blocking body of the async ``values(of:for:timestampColumn:)``, run on ``Blocking``'s pool.
    func values(of features: [ResolvedFeature], for rows: RequestRows, timestampColumn: String) throws -> [[Value]] {
        guard !features.isEmpty else { throw OfflineStoreError("no features requested") }
        let registered = try PointInTimeJoin.Registered(store: store, repository: repository, features: features)
        return try store.db.read { db in
            var join = try PointInTimeJoin(db, registered, features: features)
            join.chunkSize = chunkSize
            let binding = try join.bind(columns: rows.columns, file: nil, timestampColumn: timestampColumn)
            var out: [[Value]] = []
            out.reserveCapacity(rows.rows.count)
            var requests = rows
            let plan = join.plan
            try join.join(&requests, binding, rewind: { rows.rewound() }) { _, row in
                out.append(plan.outputs.indices.map { plan.value($0, in: row) })
            }
            return out
        }
    }
}
