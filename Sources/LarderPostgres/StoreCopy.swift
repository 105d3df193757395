import Foundation
import LarderCore
import LarderOffline
import Logging
import PostgresNIO

/// What ``PostgresStore/copy(from:progress:)`` copied.
public struct StoreCopySummary: Sendable {
    /// A table and the rows it received (equal to the SQLite table's, checked).
    public struct Table: Sendable, Equatable {
        public var name: String
        public var rows: Int
    }

    /// In the order they were copied: Larder's own tables, the sources' tables, the feature
    /// tables, the tile tables.
    public var tables: [Table]
    /// Tables of the SQLite file that are not Larder's (made by hand, say): not copied.
    public var ignored: [String]
    public var seconds: Double

    /// The rows copied, over all tables.
    public var rows: Int { tables.reduce(0) { $0 + $1.rows } }
}

/// How far a copy has got, reported after each chunk of rows is sent.
public struct StoreCopyProgress: Sendable {
    /// The table being copied.
    public var table: String
    /// Rows of that table sent so far, and how many it has.
    public var tableRows: Int
    public var tableTotal: Int
    /// Rows of every table sent so far, and how many there are.
    public var rows: Int
    public var totalRows: Int
}

extension PostgresStore {
    /// Copies every table of the SQLite store `sqlite` into this store, which must be empty:
    /// the registry and its history, the ingests, the materializations (with their online
    /// watermarks) and their runs, the serving log, every source table, feature table and
    /// tile table. Values come out equal bit for bit; ids and `_seq` are kept, and the
    /// identity sequences continue after the largest id, so later applies, ingests and
    /// materializations carry on where the SQLite store left off.
    ///
    /// All or nothing: one transaction holding ``AdvisoryLock/registry``, which first checks
    /// that this store is empty (no row in Larder's tables, no source, feature or tile table)
    /// and at the end that every table holds as many rows as in SQLite. The SQLite store is
    /// only read, in one snapshot, through a cursor whose rows stream to the server as `COPY`
    /// text about 1 MiB at a time, at most one chunk ahead: memory stays bounded for any size.
    /// Tables are created as `apply` and `materialize` create them (``PostgresSourceTable``,
    /// ``PostgresFeatureTable``, ``PostgresTileTable``), their indexes and keys built after
    /// their rows are in.
    ///
    /// - Throws: ``OfflineStoreError`` when this store is not empty, when a table of the SQLite
    ///   store cannot be matched with the definition that made it, when a name is too long for
    ///   PostgreSQL, when a value does not fit its column, or when a count differs; nothing is
    ///   written then.
    public func copy(
        from sqlite: OfflineStore, progress: (@Sendable (StoreCopyProgress) -> Void)? = nil
    ) async throws -> StoreCopySummary {
        let started = Date()
        return try await transaction("copying the SQLite store at \(sqlite.path)") { connection in
            let logger = self.logger
            try await connection.query("SELECT pg_advisory_xact_lock(\(AdvisoryLock.registry))", logger: logger)
            let larderTables = try await StoreCopyPlan.larderTables(connection, logger: logger)
            try await Self.requireEmpty(connection, larderTables: larderTables.map(\.name), url: self.url, logger: logger)

            // One read of the SQLite store for every table, so it is one snapshot: its iterator
            // is passed from one table's COPY to the next, used by one of them at a time (the
            // compiler cannot see that the COPY's closure does not run concurrently).
            nonisolated(unsafe) var items = sqlite.export { snapshot, emit in
                try StoreCopyPlan.read(snapshot, larderTables: larderTables, emit: emit)
            }.makeAsyncIterator()
            guard case .plan(let plan)? = try await items.next() else {
                throw OfflineStoreError("copying the SQLite store at \(sqlite.path): its read ended before it began")
            }
            let totalRows = plan.tables.reduce(0) { $0 + $1.rows }
            var copied: [StoreCopySummary.Table] = []
            var rows = 0
            for table in plan.tables {
                try await table.prepare(on: connection, logger: logger)
                var tableRows = 0
                try await connection.copyFrom(table: table.name, columns: table.columns.map(\.name), logger: logger) { writer in
                    while let item = try await items.next() {
                        switch item {
                        case .rows(let text, let count):
                            try await writer.write(ByteBuffer(bytes: text))
                            tableRows += count
                            rows += count
                            progress?(
                                StoreCopyProgress(
                                    table: table.name, tableRows: tableRows, tableTotal: table.rows, rows: rows, totalRows: totalRows))
                        case .end: return
                        case .plan: throw OfflineStoreError("copying \(table.name): the read of the SQLite store planned twice")
                        }
                    }
                    throw OfflineStoreError("copying \(table.name): the read of the SQLite store ended in the middle of the table")
                }
                try await table.finish(on: connection, aggregationIndexes: plan.aggregationIndexes, logger: logger)
                copied.append(StoreCopySummary.Table(name: table.name, rows: tableRows))
            }
            // The read's end: its snapshot is released before the store can be closed.
            if try await items.next() != nil {
                throw OfflineStoreError("copying the SQLite store at \(sqlite.path): its read sent more than it planned")
            }

            // Every table holds as many rows as SQLite counted in the snapshot, and as the read sent.
            var differences: [String] = []
            for (table, sent) in zip(plan.tables, copied) {
                let count = Int(try await Self.int64(connection, "SELECT count(*) FROM \(table.name)", logger: logger) ?? 0)
                if count != table.rows || sent.rows != table.rows {
                    differences.append("\(table.name): \(table.rows) in SQLite, \(sent.rows) read, \(count) in PostgreSQL")
                }
            }
            guard differences.isEmpty else {
                throw OfflineStoreError(
                    "copying the SQLite store at \(sqlite.path): the row counts differ (\(differences.joined(separator: "; "))); nothing was written"
                )
            }
            return StoreCopySummary(tables: copied, ignored: plan.ignored, seconds: Date().timeIntervalSince(started))
        }
    }

    /// Refuses a store that holds anything: a row in one of Larder's tables (a registered
    /// definition, its history, an ingest, ...) or a source, feature or tile table.
    static func requireEmpty(_ connection: PostgresConnection, larderTables: [String], url: PostgresURL, logger: Logger) async throws {
        var found: [String] = []
        for table in larderTables {
            let rows = try await int64(connection, "SELECT count(*) FROM \(table)", logger: logger) ?? 0
            if rows > 0 { found.append("\(rows) row\(rows == 1 ? "" : "s") in \(table)") }
        }
        let tables = try await connection.query(
            #"""
            SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()
            AND (tablename LIKE 'source\_%' OR tablename LIKE 'features\_%' OR tablename LIKE 'tiles\_%') ORDER BY 1
            """#, logger: logger)
        for try await table in tables.decode(String.self) { found.append("table \(table)") }
        guard found.isEmpty else {
            let shown = found.count > 8 ? found.prefix(7) + ["\(found.count - 7) more"] : found[...]
            throw OfflineStoreError(
                "the PostgreSQL store at \(url) is not empty (\(shown.joined(separator: ", "))): a SQLite store is copied into an empty one only; nothing was written"
            )
        }
    }
}

/// What a copy reads from the SQLite store, in order: the plan, then each table's rows as
/// `COPY` text in chunks, each table closed by ``end``.
enum StoreCopyItem: Sendable {
    case plan(StoreCopyPlan)
    case rows(text: [UInt8], count: Int)
    case end
}

/// How a column is held in SQLite and read by PostgreSQL: INTEGER as BIGINT, INTEGER 0 or 1
/// as BOOLEAN, REAL as DOUBLE PRECISION, TEXT as TEXT, BLOB as BYTEA.
enum StoredForm: Sendable {
    case integer, bool, real, text, blob

    init(_ type: ValueType) {
        switch type {
        case .int64, .timestamp: self = .integer
        case .bool: self = .bool
        case .double: self = .real
        case .string: self = .text
        // No column has a list type (only `last(n)` aggregations produce lists).
        case .int64List, .doubleList, .stringList, .boolList, .timestampList: self = .blob
        }
    }

    /// The form of a column of PostgreSQL type `type` (as `information_schema` names it).
    init?(postgresType type: String) {
        switch type {
        case "bigint": self = .integer
        case "boolean": self = .bool
        case "double precision": self = .real
        case "text": self = .text
        case "bytea": self = .blob
        default: return nil
        }
    }
}

/// One of Larder's own tables as the PostgreSQL store's schema declares it.
struct LarderTable: Sendable {
    let name: String
    var columns: [CopyColumn]
    /// Its `id` is an identity column.
    var identity: Bool
}

struct CopyColumn: Sendable {
    let name: String
    let form: StoredForm
}

/// One table to copy: where it goes, its columns in the order the `COPY` text holds them,
/// and its row count in the SQLite snapshot.
struct CopyTable: Sendable {
    enum Kind: Sendable {
        /// One of Larder's own tables, which the schema's migrations made; `identity`: its
        /// `id` is an identity column.
        case larder(identity: Bool)
        case source(PostgresSourceTable)
        case features(PostgresFeatureTable)
        case tiles(PostgresTileTable)
    }

    let name: String
    let kind: Kind
    let columns: [CopyColumn]
    let rows: Int

    /// Before the rows: the table as `apply` (a source's) or `materialize` (a feature or tile
    /// table) creates it, without the indexes and key, which are built once from all the rows.
    func prepare(on connection: PostgresConnection, logger: Logger) async throws {
        let statements: [String]
        switch kind {
        case .larder: return
        case .source(let table): statements = table.createStatements.filter(Self.createsTable)
        case .features(let table): statements = table.createStatements + table.merge.dropKeyAndIndexes
        case .tiles(let table): statements = [table.createTable] + table.merge.dropKeyAndIndexes
        }
        for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
    }

    /// After the rows: a source's indexes (those `apply` creates, aggregation indexes
    /// included), a feature or tile table's key and indexes; for an identity column, its
    /// sequence moved past the largest id (`COPY` writes identity values as given, as
    /// `OVERRIDING SYSTEM VALUE` does, and leaves the sequence where it was).
    func finish(on connection: PostgresConnection, aggregationIndexes: [String: [String: String]], logger: Logger) async throws {
        let statements: [String]
        switch kind {
        case .larder(let identity):
            statements =
                identity ? ["SELECT setval(pg_get_serial_sequence('\(name)', 'id'), max(id)) FROM \(name)"] : []
        case .source(let table):
            statements =
                table.createStatements.filter { !Self.createsTable($0) }
                + (aggregationIndexes[table.spec.name] ?? [:]).values.sorted()
        case .features(let table): statements = table.merge.buildKeyAndIndexes
        case .tiles(let table): statements = table.merge.buildKeyAndIndexes
        }
        for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
    }

    private static func createsTable(_ statement: String) -> Bool { statement.hasPrefix("CREATE TABLE") }

    /// Appends the current row as a line of `COPY` text; `line` (from 1) names it in errors.
    func append(_ row: StoredRow, line: Int, to text: inout [UInt8]) throws {
        for (i, column) in columns.enumerated() {
            if i > 0 { text.append(0x09) }
            let storage = row.storage(i)
            switch (column.form, storage) {
            case (_, .null): text.append(contentsOf: #"\N"#.utf8)
            case (.integer, .integer): CopyText.appendDecimal(row.integer(i), to: &text)
            case (.bool, .integer):
                let value = row.integer(i)
                guard value == 0 || value == 1 else { throw refusal(line, column, "the bool column holds \(value)") }
                text.append(value == 1 ? 0x74 : 0x66)  // t, f
            case (.real, .real): _ = CopyText.append(.double(row.real(i)), to: &text)
            case (.text, .text):
                // Kept as stored: text that is not UTF-8 is refused rather than repaired.
                guard let string = row.withText(i, { String(validating: $0, as: UTF8.self) }) else {
                    throw refusal(line, column, "the text is not valid UTF-8")
                }
                guard CopyText.append(.string(string), to: &text) else {
                    throw refusal(line, column, "the text holds the NUL character, which PostgreSQL's text cannot store")
                }
            case (.blob, .blob): row.withBlob(i) { CopyText.appendBytes($0, to: &text) }
            default: throw refusal(line, column, "SQLite holds \(storage) where \(column.form) was expected")
            }
        }
        text.append(0x0A)
    }

    private func refusal(_ line: Int, _ column: CopyColumn, _ reason: String) -> OfflineStoreError {
        OfflineStoreError("copying \(name), row \(line) (in table order), column \(column.name): \(reason); nothing was written")
    }
}

/// Which tables a copy takes and how, worked out from one snapshot of the SQLite store.
struct StoreCopyPlan: Sendable {
    /// Larder's tables first (in the PostgreSQL schema's order of names), then sources,
    /// feature tables and tile tables, each sorted by name.
    var tables: [CopyTable]
    /// By source name, then index name: the aggregation indexes `apply` makes for the
    /// registered definitions (``SourceTable/aggregationIndexes(_:)``).
    var aggregationIndexes: [String: [String: String]]
    var ignored: [String]

    /// Names PostgreSQL would cut (63 bytes) are refused, by the registry's rule
    /// (`PostgresRegistry.checkIdentifiers`): the longest name Larder derives from each table.
    static let longestSuffix = (source: "_agg_00000000", features: "_by_key_time", tiles: "_pkey")

    /// Larder's own tables in the PostgreSQL store, with their columns' forms as its schema
    /// declares them: the migrations are the one description of those tables (and the
    /// schema-migration record is not copied).
    static func larderTables(_ connection: PostgresConnection, logger: Logger) async throws -> [LarderTable] {
        let rows = try await connection.query(
            #"""
            SELECT table_name::text, column_name::text, data_type::text, is_identity::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name LIKE 'larder\_%' AND table_name <> 'larder_schema_migrations'
            ORDER BY table_name, ordinal_position
            """#, logger: logger)
        var tables: [LarderTable] = []
        for try await (table, column, type, identity) in rows.decode((String, String, String, String).self) {
            guard let form = StoredForm(postgresType: type) else {
                throw OfflineStoreError("\(table).\(column) is of type \(type), which a copy from SQLite does not know")
            }
            if tables.last?.name != table { tables.append(LarderTable(name: table, columns: [], identity: false)) }
            tables[tables.count - 1].columns.append(CopyColumn(name: column, form: form))
            if identity == "YES" { tables[tables.count - 1].identity = true }
        }
        return tables
    }

    /// The body of the SQLite store's export (on a thread of ``Blocking``'s pool, in one
    /// snapshot): the plan, then each table's rows in its order, as `COPY` text.
    static func read(
        _ snapshot: StoreSnapshot, larderTables: [LarderTable],
        emit: (StoreCopyItem) throws -> Void
    ) throws {
        let plan = try StoreCopyPlan(snapshot, larderTables: larderTables)
        try emit(.plan(plan))
        var text: [UInt8] = []
        text.reserveCapacity(CopyTextSink.chunkSize + 4096)
        for table in plan.tables {
            let select = "SELECT \(table.columns.map(\.name).joined(separator: ", ")) FROM \(table.name)"
            var rows = 0
            var pending = 0
            try snapshot.forEachRow(select, reading: table.name) { row in
                rows += 1
                try table.append(row, line: rows, to: &text)
                pending += 1
                if text.count >= CopyTextSink.chunkSize {
                    try emit(.rows(text: text, count: pending))
                    text.removeAll(keepingCapacity: true)
                    pending = 0
                }
            }
            if pending > 0 { try emit(.rows(text: text, count: pending)) }
            text.removeAll(keepingCapacity: true)
            try emit(.end)
        }
    }

    /// Matches every table of the snapshot with what made it: Larder's tables with the
    /// PostgreSQL schema's, a source table with its source's last definition, a feature or
    /// tile table with its view's definition at that version (the registry history holds
    /// every version's, removed definitions included, whose tables stay). The SQLite table's
    /// columns must be the definition's.
    init(_ snapshot: StoreSnapshot, larderTables: [LarderTable]) throws {
        var sources: [String: SourceSpec] = [:]
        var features: [String: PostgresFeatureTable] = [:]
        var tiles: [String: PostgresTileTable] = [:]
        try snapshot.forEachRow(
            "SELECT kind, definition, version FROM larder_registry_history ORDER BY id", reading: "larder_registry_history"
        ) { row in
            switch try Self.spec(row) {
            case .source(let spec): sources[PostgresSourceTable(spec: spec).name] = spec
            case .featureView(let spec):
                let version = Int(row.integer(2))
                let table = PostgresFeatureTable(view: spec, version: version)
                features[table.name] = table
                if !(spec.aggregations ?? []).isEmpty {
                    let tileTable = PostgresTileTable(view: spec, version: version)
                    tiles[tileTable.name] = tileTable
                }
            default: break
            }
        }
        var registered: [DefinitionSpec] = []
        try snapshot.forEachRow("SELECT kind, definition FROM larder_registry", reading: "larder_registry") { row in
            registered.append(try Self.spec(row))
        }
        aggregationIndexes = SourceTable.aggregationIndexes(registered)

        let larder = Dictionary(larderTables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var larderFound: [CopyTable] = []
        var sourceTables: [CopyTable] = []
        var featureTables: [CopyTable] = []
        var tileTables: [CopyTable] = []
        var tooLong: [String] = []
        ignored = []
        for name in try snapshot.tableNames() {
            let columns = try snapshot.columnNames(of: name)
            /// The table, its columns in SQLite's order with the forms `expected` gives them,
            /// which must name exactly the SQLite table's columns.
            func table(_ kind: CopyTable.Kind, _ expected: [CopyColumn]) throws -> CopyTable {
                let forms = Dictionary(expected.map { ($0.name, $0.form) }, uniquingKeysWith: { a, _ in a })
                guard Set(columns) == Set(forms.keys), columns.count == expected.count else {
                    throw OfflineStoreError(
                        "the SQLite table \(name) has the columns (\(columns.joined(separator: ", "))), not those its definition gives (\(expected.map(\.name).joined(separator: ", "))); nothing was written"
                    )
                }
                return CopyTable(
                    name: name, kind: kind, columns: columns.map { CopyColumn(name: $0, form: forms[$0]!) },
                    rows: try snapshot.rowCount(of: name))
            }
            if let shape = larder[name] {
                larderFound.append(try table(.larder(identity: shape.identity), shape.columns))
            } else if let spec = sources[name] {
                let source = SourceTable(spec: spec)
                let forms = [StoredForm.integer, .integer] + source.storedColumns.map { StoredForm($0.type) }
                sourceTables.append(
                    try table(
                        .source(PostgresSourceTable(spec: spec)), zip(source.columnNames, forms).map { CopyColumn(name: $0, form: $1) }))
                if (name + Self.longestSuffix.source).utf8.count > 63 { tooLong.append(name) }
            } else if let target = features[name] {
                let keys = target.view.joinKeys.map { CopyColumn(name: $0.name, form: StoredForm($0.type)) }
                let columns =
                    [CopyColumn(name: "_seq", form: .integer)] + keys
                    + [CopyColumn(name: "_event_ts", form: .integer), CopyColumn(name: "_created_ts", form: .integer)]
                    + target.view.features.map { CopyColumn(name: $0.name, form: StoredForm($0.type)) }
                featureTables.append(try table(.features(target), columns))
                if (name + Self.longestSuffix.features).utf8.count > 63 { tooLong.append(name) }
            } else if let target = tiles[name] {
                let columns =
                    target.view.joinKeys.map { CopyColumn(name: $0.name, form: StoredForm($0.type)) }
                    + ["_hop", "_hop_start", "_watermark"].map { CopyColumn(name: $0, form: .integer) }
                    + [CopyColumn(name: "_tile", form: .blob)]
                tileTables.append(try table(.tiles(target), columns))
                if (name + Self.longestSuffix.tiles).utf8.count > 63 { tooLong.append(name) }
            } else if ["larder_", "source_", "features_", "tiles_"].contains(where: name.hasPrefix) {
                throw OfflineStoreError(
                    "the SQLite store holds a table \(name) that no definition in its registry history and no table of the PostgreSQL store's schema accounts for, so it cannot be copied; nothing was written"
                )
            } else {
                ignored.append(name)
            }
        }
        guard tooLong.isEmpty else {
            throw OfflineStoreError(
                "table name(s) too long for PostgreSQL: \(tooLong.joined(separator: ", ")). PostgreSQL cuts names at 63 bytes and Larder names indexes after its tables; nothing was written"
            )
        }
        // Larder's tables in the PostgreSQL schema's order.
        let order = Dictionary(larderTables.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        tables = larderFound.sorted { order[$0.name]! < order[$1.name]! } + sourceTables + featureTables + tileTables
    }

    /// The spec in a row of `kind` and `definition` text (the registry's or its history's).
    private static func spec(_ row: StoredRow) throws -> DefinitionSpec {
        let kind = row.withText(0) { String(decoding: $0, as: UTF8.self) }
        guard let kind = DefinitionKind(rawValue: kind) else {
            throw OfflineStoreError("the registry holds an unknown kind '\(kind)'; was it written by a newer Larder?")
        }
        return try DefinitionSpec(kind: kind, json: row.withText(1) { Data($0) })
    }
}
