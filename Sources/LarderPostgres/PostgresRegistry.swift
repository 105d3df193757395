import Foundation
import LarderCore
import LarderOffline
import PostgresNIO

/// The applied definitions, their versions and history, in a PostgreSQL offline store: the
/// same tables and rules as the SQLite store's ``Registry``.
///
/// Two machines may apply at once: each `apply` holds ``AdvisoryLock/registry`` and checks
/// that the registry still holds the versions its plan was made against, so the second one
/// fails with a conflict (never a half-applied plan) and planning again shows the new state.
public struct PostgresRegistry: DefinitionRegistry {
    let store: PostgresStore

    // MARK: Reading

    /// Registered definitions of one kind (or all), sorted by kind then name.
    public func definitions(kind: DefinitionKind? = nil) async throws -> [RegisteredDefinition] {
        try await store.transaction("reading the registry", readOnly: true) { connection in
            try await Self.definitions(connection, store: store).filter { kind == nil || $0.kind == kind }
        }
    }

    /// The registered definition named `name`, of any kind.
    public func definition(named name: String) async throws -> RegisteredDefinition? {
        try await store.transaction("reading the registry", readOnly: true) { connection in
            try await Self.definitions(connection, store: store, named: name).first
        }
    }

    /// Every applied change to `name`, oldest first.
    public func history(named name: String) async throws -> [HistoryEntry] {
        try await historyEntries("WHERE name = \(name) ORDER BY id")
    }

    /// The newest `limit` applied changes to any definition, newest first.
    public func recentHistory(limit: Int) async throws -> [HistoryEntry] {
        try await historyEntries("ORDER BY id DESC LIMIT \(max(0, limit))")
    }

    /// The history entries `clauses` (a condition, order and limit) select.
    private func historyEntries(_ clauses: PostgresQuery) async throws -> [HistoryEntry] {
        try await store.transaction("reading the registry history", readOnly: true) { connection in
            let query = PostgresQuery(
                unsafeSQL: "SELECT name, kind, change, details, version, fingerprint, applied_at FROM larder_registry_history "
                    + clauses.sql, binds: clauses.binds)
            var entries: [HistoryEntry] = []
            for try await (name, kind, change, details, version, fingerprint, appliedAt) in try await connection.query(
                query, logger: store.logger
            ).decode((String, String, String, String, Int, String, Int64).self) {
                entries.append(
                    try HistoryEntry(
                        name: name, kind: kind, change: change, details: details, version: version, fingerprint: fingerprint,
                        appliedAt: appliedAt))
            }
            return entries
        }
    }

    /// The number of rows in a registered source's table.
    public func rowCount(source name: String) async throws -> Int {
        try await store.transaction("counting the rows of source \(name)", readOnly: true) { connection in
            try await Self.rowCount(connection, table: "source_\(name)", store: store)
        }
    }

    // MARK: Planning and applying

    /// Validates `repository` and compares it with the registry, from one snapshot.
    public func plan(for repository: FeatureRepository) async throws -> ApplyPlan {
        try repository.validate()
        try Self.checkIdentifiers(repository)
        return try await store.transaction("planning the apply", readOnly: true) { connection in
            let registered = try await Self.definitions(connection, store: store)
            var lastVersions: [String: Int] = [:]
            let versions = try await connection.query(
                "SELECT name, max(version) FROM larder_registry_history GROUP BY name", logger: store.logger)
            for try await (name, version) in versions.decode((String, Int).self) { lastVersions[name] = version }
            var columns: [String: [String]] = [:]
            for source in RegistryPlanner.sourceNames(declared: repository, registered: registered) {
                let found = try await Self.columns(connection, table: "source_\(source)", store: store)
                if !found.isEmpty { columns[source] = found }
            }
            var rowCounts: [String: Int] = [:]
            for source in RegistryPlanner.sourcesToCount(declared: repository, registered: registered, tables: Set(columns.keys)) {
                rowCounts[source] = try await Self.rowCount(connection, table: "source_\(source)", store: store)
            }
            return try RegistryPlanner(
                registered: Dictionary(registered.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }),
                lastVersions: lastVersions, columns: columns, rowCounts: rowCounts
            ).plan(for: repository)
        }
    }

    /// Applies a plan in one transaction: registry rows, history, source tables, aggregation
    /// indexes. Returns the instant recorded as the apply time.
    ///
    /// - Throws: ``OfflineStoreError`` when another apply changed the registry since the plan
    ///   was made (nothing is written then).
    @discardableResult
    public func apply(_ plan: ApplyPlan, at now: Timestamp = .now()) async throws -> Timestamp {
        guard !plan.isEmpty else { return now }
        try await store.transaction("larder apply (\(plan.changes.count) changes)") { connection in
            let logger = store.logger
            try await connection.query("SELECT pg_advisory_xact_lock(\(AdvisoryLock.registry))", logger: logger)
            var current: [String: Int] = [:]
            for try await (name, version) in try await connection.query("SELECT name, version FROM larder_registry", logger: logger)
                .decode((String, Int).self)
            {
                current[name] = version
            }
            guard current == plan.baseline else {
                throw OfflineStoreError("the registry changed since this plan was made (another apply ran); run `larder apply` again")
            }
            for change in plan.changes {
                let json = String(decoding: change.spec.json(), as: UTF8.self)
                let fingerprint = change.spec.fingerprint
                let (name, kind, version, at) = (change.name, change.kind.rawValue, change.version, now.microseconds)
                switch change.change {
                case .added:
                    try await connection.query(
                        """
                        INSERT INTO larder_registry (name, kind, version, fingerprint, definition, created_at, updated_at)
                        VALUES (\(name), \(kind), \(version), \(fingerprint), \(json), \(at), \(at))
                        """, logger: logger)
                case .changed, .described:
                    try await connection.query(
                        """
                        UPDATE larder_registry SET version = \(version), fingerprint = \(fingerprint), definition = \(json),
                        updated_at = \(at) WHERE name = \(name)
                        """, logger: logger)
                case .removed:
                    try await connection.query("DELETE FROM larder_registry WHERE name = \(name)", logger: logger)
                }
                let details = String(decoding: try JSONEncoder().encode(change.details), as: UTF8.self)
                let changeName = change.change.rawValue
                try await connection.query(
                    """
                    INSERT INTO larder_registry_history (applied_at, kind, name, version, change, details, fingerprint, definition)
                    VALUES (\(at), \(kind), \(name), \(version), \(changeName), \(details), \(fingerprint), \(json))
                    """, logger: logger)
            }
            for source in plan.newSources {
                let table = PostgresSourceTable(spec: source)
                let columns = try await Self.columns(connection, table: table.name, store: store)
                if !columns.isEmpty {
                    if columns == table.columnNames { continue }
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table.name)"), logger: logger)
                }
                for statement in table.createStatements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            for (name, migration) in plan.sourceMigrations {
                guard case .source(let spec) = plan.changes.first(where: { $0.name == name })?.spec else { continue }
                let table = PostgresSourceTable(spec: spec)
                switch migration {
                case .none: break
                case .addColumns(let columns):
                    for column in columns {
                        try await connection.query(
                            PostgresQuery(
                                unsafeSQL: "ALTER TABLE \(table.name) ADD COLUMN \(PostgresSourceTable.columnDefinition(column))"),
                            logger: logger)
                    }
                case .rebuild:
                    guard try await Self.rowCount(connection, table: table.name, store: store) == 0 else {
                        throw OfflineStoreError("source \(name) received rows since the plan was made; run `larder apply` again")
                    }
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table.name)"), logger: logger)
                    for statement in table.createStatements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
            }
            // Sources that aggregation views read get an index by key and time covering the
            // columns they read, for training sets; indexes no view needs any more go.
            let registered = try await Self.definitions(connection, store: store)
            let wanted = SourceTable.aggregationIndexes(registered.map(\.spec))
            for case .source(let source) in registered.map(\.spec) {
                let table = PostgresSourceTable(spec: source).name
                let indexes = try await connection.query(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = \(table)", logger: logger)
                for try await index in indexes.decode(String.self)
                where index.hasPrefix("\(table)_agg_") && wanted[source.name]?[index] == nil {
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP INDEX \(index)"), logger: logger)
                }
                for sql in (wanted[source.name] ?? [:]).values.sorted() {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                }
            }
        }
        return now
    }

    // MARK: Helpers

    /// The registered definitions (or the one named `name`), sorted by kind then name.
    static func definitions(
        _ connection: PostgresConnection, store: PostgresStore, named name: String? = nil
    ) async throws -> [RegisteredDefinition] {
        let rows = try await connection.query(
            """
            SELECT name, kind, definition, version, fingerprint, created_at, updated_at FROM larder_registry
            WHERE \(name)::text IS NULL OR name = \(name)
            """, logger: store.logger)
        var definitions: [RegisteredDefinition] = []
        for try await (name, kind, definition, version, fingerprint, createdAt, updatedAt) in rows.decode(
            (String, String, String, Int, String, Int64, Int64).self)
        {
            definitions.append(
                try RegisteredDefinition(
                    name: name, kind: kind, definition: definition, version: version, fingerprint: fingerprint,
                    createdAt: createdAt, updatedAt: updatedAt))
        }
        return definitions.sorted { ($0.kind, $0.name) < ($1.kind, $1.name) }
    }

    /// The table's column names in order; none when there is no such table.
    static func columns(_ connection: PostgresConnection, table: String, store: PostgresStore) async throws -> [String] {
        let rows = try await connection.query(
            """
            SELECT column_name::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table) ORDER BY ordinal_position
            """, logger: store.logger)
        var columns: [String] = []
        for try await column in rows.decode(String.self) { columns.append(column) }
        return columns
    }

    static func rowCount(_ connection: PostgresConnection, table: String, store: PostgresStore) async throws -> Int {
        Int(try await PostgresStore.int64(connection, "SELECT count(*) FROM \(table)", logger: store.logger) ?? 0)
    }

    /// PostgreSQL cuts names longer than 63 bytes, which would make two tables or indexes one
    /// (two versions of a view, say): such a name is refused before anything is written.
    static func checkIdentifiers(_ repository: FeatureRepository) throws {
        var tooLong: [String] = []
        for spec in repository.specs {
            // The longest names Larder derives from a source and from a view (versions up to
            // 999,999).
            let derived =
                switch spec.kind {
                case .source: "source_\(spec.name)_by_event_time"  // longer than _agg_<8 hex digits>
                case .featureView: "features_\(spec.name)_v999999_by_key_time"
                default: ""
                }
            if derived.utf8.count > 63 { tooLong.append("\(spec.kind.label) \(spec.name)") }
        }
        guard tooLong.isEmpty else {
            throw OfflineStoreError(
                "name(s) too long for PostgreSQL: \(tooLong.joined(separator: ", ")). A source's name may have at most 42 bytes there and a feature view's at most 34: Larder names tables and indexes after them, and PostgreSQL cuts names at 63 bytes"
            )
        }
    }
}
