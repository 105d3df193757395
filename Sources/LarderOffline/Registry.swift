import Foundation
import GRDB
import LarderCore

/// How a definition changes in an apply.
public enum ChangeKind: String, Sendable, Codable {
    case added, changed, removed
}

/// A definition as registered: its spec, version and fingerprint.
public struct RegisteredDefinition: Sendable {
    public var spec: DefinitionSpec
    public var version: Int
    public var fingerprint: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public var kind: DefinitionKind { spec.kind }
    public var name: String { spec.name }
}

/// One applied change in a definition's version history.
public struct HistoryEntry: Sendable {
    public var appliedAt: Timestamp
    public var kind: DefinitionKind
    public var name: String
    public var version: Int
    public var change: ChangeKind
    public var details: [String]
    public var fingerprint: String
}

/// One change `larder apply` will make.
public struct PlannedChange: Sendable {
    public var change: ChangeKind
    /// The new spec; for a removal, the registered one.
    public var spec: DefinitionSpec
    /// The version after the change; for a removal, the last version.
    public var version: Int
    public var previousVersion: Int?
    /// Readable lines: what changed, and what happens to a source's table.
    public var details: [String]

    public var kind: DefinitionKind { spec.kind }
    public var name: String { spec.name }
}

/// The difference between the compiled definitions and the registry.
public struct ApplyPlan: Sendable {
    public var changes: [PlannedChange]
    /// Registered versions the plan was computed against; apply refuses if they moved.
    var baseline: [String: Int]
    var sourceMigrations: [String: SourceTable.Migration]
    var newSources: [SourceSpec]

    public var isEmpty: Bool { changes.isEmpty }
}

/// The applied definitions, their versions and history, in the offline store.
public struct Registry: Sendable {
    let db: DatabasePool
    /// For writes, which go through ``OfflineStore/writeTransaction(_:_:)``.
    let store: OfflineStore

    // MARK: Reading

    /// Registered definitions of one kind (or all), sorted by kind then name.
    public func definitions(kind: DefinitionKind? = nil) async throws -> [RegisteredDefinition] {
        try await store.reading { try self.definitions(kind: kind) }
    }

    /// The blocking body of the async ``definitions(kind:)``, run on ``Blocking``'s pool.
    func definitions(kind: DefinitionKind? = nil) throws -> [RegisteredDefinition] {
        try read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM larder_registry" + (kind == nil ? "" : " WHERE kind = ?"),
                arguments: kind.map { [$0.rawValue] } ?? [])
            return try rows.map(Self.definition(from:)).sorted { ($0.kind, $0.name) < ($1.kind, $1.name) }
        }
    }

    /// The registered definition named `name`, of any kind.
    public func definition(named name: String) async throws -> RegisteredDefinition? {
        try await store.reading { try self.definition(named: name) }
    }

    /// The blocking body of the async ``definition(named:)``, run on ``Blocking``'s pool.
    func definition(named name: String) throws -> RegisteredDefinition? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM larder_registry WHERE name = ?", arguments: [name])
                .map(Self.definition(from:))
        }
    }

    /// The registered source named `name`, or an error saying how to register it (for the
    /// store's own operations, inside their reads and writes).
    func source(named name: String) throws -> SourceSpec {
        guard let definition = try definition(named: name) else {
            let known = try definitions(kind: .source).map(\.name)
            throw OfflineStoreError(
                "source '\(name)' is not registered; known sources: \(known.isEmpty ? "none" : known.joined(separator: ", ")). Declare it in features/ and run `larder apply`."
            )
        }
        guard case .source(let spec) = definition.spec else {
            throw OfflineStoreError("'\(name)' is a \(definition.kind.label), not a source")
        }
        return spec
    }

    /// Every applied change to `name`, oldest first.
    public func history(named name: String) async throws -> [HistoryEntry] {
        try await store.reading { try self.history(named: name) }
    }

    /// The blocking body of the async ``history(named:)``, run on ``Blocking``'s pool.
    func history(named name: String) throws -> [HistoryEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM larder_registry_history WHERE name = ? ORDER BY id", arguments: [name]).map { row in
                guard let kind = DefinitionKind(rawValue: row["kind"]), let change = ChangeKind(rawValue: row["change"]) else {
                    throw OfflineStoreError(
                        "the registry history of \(name) has an unknown kind or change; was it written by a newer Larder?")
                }
                let details = (try? JSONDecoder().decode([String].self, from: Data((row["details"] as String).utf8))) ?? []
                return HistoryEntry(
                    appliedAt: Timestamp(microseconds: row["applied_at"]), kind: kind, name: row["name"],
                    version: row["version"], change: change, details: details, fingerprint: row["fingerprint"])
            }
        }
    }

    /// The number of rows in a registered source's table.
    public func rowCount(source name: String) async throws -> Int {
        try await store.reading { try self.rowCount(source: name) }
    }

    /// The blocking body of the async ``rowCount(source:)``, run on ``Blocking``'s pool.
    func rowCount(source name: String) throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM source_\(name)") ?? 0 }
    }

    // MARK: Planning and applying

    /// Validates `repository` and compares it with the registry.
    public func plan(for repository: FeatureRepository) async throws -> ApplyPlan {
        try await store.reading { try self.plan(for: repository) }
    }

    /// The blocking body of the async ``plan(for:)``, run on ``Blocking``'s pool.
    func plan(for repository: FeatureRepository) throws -> ApplyPlan {
        try repository.validate()
        let registered = Dictionary(try definitions().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let lastVersions = try read { db in
            Dictionary(
                try Row.fetchAll(db, sql: "SELECT name, max(version) AS v FROM larder_registry_history GROUP BY name")
                    .map { ($0["name"] as String, $0["v"] as Int) },
                uniquingKeysWith: { a, _ in a })
        }
        var changes: [PlannedChange] = []
        var migrations: [String: SourceTable.Migration] = [:]
        var newSources: [SourceSpec] = []
        var blocked: [String] = []
        let specs = repository.specs

        for spec in specs {
            guard let current = registered[spec.name] else {
                let version = (lastVersions[spec.name] ?? 0) + 1
                var details: [String] = []
                if case .source(let source) = spec {
                    details += try planNewSourceTable(source, blocked: &blocked)
                    newSources.append(source)
                }
                changes.append(PlannedChange(change: .added, spec: spec, version: version, previousVersion: nil, details: details))
                continue
            }
            if current.kind != spec.kind {
                blocked.append(
                    "\(spec.name) is registered as a \(current.kind.label) and declared as a \(spec.kind.label); rename one, or remove it, apply, then add it back"
                )
                continue
            }
            guard current.fingerprint != spec.fingerprint else { continue }
            var details = spec.changes(from: current.spec)
            if case .source(let new) = spec, case .source(let old) = current.spec {
                let migration = SourceTable.migration(from: old, to: new)
                switch migration {
                case .none: break
                case .addColumns(let columns):
                    details.append("table source_\(new.name): add nullable column(s) \(columns.map(\.name).joined(separator: ", "))")
                case .rebuild(let reasons):
                    let rows = try rowCount(source: new.name)
                    if rows > 0 {
                        blocked.append(
                            "source \(new.name): \(reasons.joined(separator: "; ")) cannot be applied to a table with \(rows) rows. Add new columns as nullable (Column<T?>), or declare a new source under another name."
                        )
                    } else {
                        details.append("table source_\(new.name) rebuilt (it is empty)")
                    }
                }
                migrations[new.name] = migration
            }
            changes.append(
                PlannedChange(
                    change: .changed, spec: spec, version: current.version + 1, previousVersion: current.version, details: details))
        }
        let declared = Set(specs.map(\.name))
        for current in registered.values.sorted(by: { ($0.kind, $0.name) < ($1.kind, $1.name) }) where !declared.contains(current.name) {
            var details: [String] = []
            if current.kind == .source {
                details.append("table source_\(current.name) is kept with its \(try rowCount(source: current.name)) rows")
            }
            changes.append(
                PlannedChange(
                    change: .removed, spec: current.spec, version: current.version, previousVersion: current.version, details: details))
        }
        if !blocked.isEmpty {
            throw OfflineStoreError("the definitions cannot be applied:\n" + blocked.map { "  - \($0)" }.joined(separator: "\n"))
        }
        return ApplyPlan(
            changes: changes, baseline: registered.mapValues(\.version), sourceMigrations: migrations, newSources: newSources)
    }

    private func planNewSourceTable(_ source: SourceSpec, blocked: inout [String]) throws -> [String] {
        // A table left by a removed source of the same name is reused if it fits.
        let exists = try read { db in try db.tableExists("source_\(source.name)") }
        guard exists else { return ["table source_\(source.name) created"] }
        let columns = try read { db in try db.columns(in: "source_\(source.name)").map(\.name) }
        let expected = ["_seq", "_ingest"] + SourceTable(spec: source).storedColumns.map(\.name)
        let rows = try rowCount(source: source.name)
        if columns == expected { return ["table source_\(source.name) reused with its \(rows) rows"] }
        if rows > 0 {
            blocked.append(
                "source \(source.name): a table source_\(source.name) with \(rows) rows and other columns (\(columns.dropFirst(2).joined(separator: ", "))) is left from an earlier definition; drop it or name the source differently"
            )
            return []
        }
        return ["table source_\(source.name) rebuilt (it is empty)"]
    }

    /// Applies a plan in one transaction: registry rows, history, source tables.
    /// Returns the instant recorded as the apply time.
    @discardableResult
    public func apply(_ plan: ApplyPlan, at now: Timestamp = .now()) async throws -> Timestamp {
        try await store.writing { try self.apply(plan, at: now) }
    }

    /// The blocking body of the async ``apply(_:at:)``, run on ``Blocking``'s pool.
    @discardableResult
    func apply(_ plan: ApplyPlan, at now: Timestamp = .now()) throws -> Timestamp {
        guard !plan.isEmpty else { return now }
        try store.writeTransaction("larder apply (\(plan.changes.count) changes)") { db in
            let current = Dictionary(
                try Row.fetchAll(db, sql: "SELECT name, version FROM larder_registry").map { ($0["name"] as String, $0["version"] as Int) },
                uniquingKeysWith: { a, _ in a })
            guard current == plan.baseline else {
                throw OfflineStoreError("the registry changed since this plan was made (another apply ran); run `larder apply` again")
            }
            for change in plan.changes {
                let json = String(decoding: change.spec.json(), as: UTF8.self)
                let fingerprint = change.spec.fingerprint
                switch change.change {
                case .added:
                    try db.execute(
                        sql: """
                            INSERT INTO larder_registry (name, kind, version, fingerprint, definition, created_at, updated_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            change.name, change.kind.rawValue, change.version, fingerprint, json, now.microseconds, now.microseconds,
                        ])
                case .changed:
                    try db.execute(
                        sql: "UPDATE larder_registry SET version = ?, fingerprint = ?, definition = ?, updated_at = ? WHERE name = ?",
                        arguments: [change.version, fingerprint, json, now.microseconds, change.name])
                case .removed:
                    try db.execute(sql: "DELETE FROM larder_registry WHERE name = ?", arguments: [change.name])
                }
                let details = String(decoding: try JSONEncoder().encode(change.details), as: UTF8.self)
                try db.execute(
                    sql: """
                        INSERT INTO larder_registry_history (applied_at, kind, name, version, change, details, fingerprint, definition)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        now.microseconds, change.kind.rawValue, change.name, change.version, change.change.rawValue, details, fingerprint,
                        json,
                    ])
            }
            for source in plan.newSources {
                let table = SourceTable(spec: source)
                if try db.tableExists(table.name) {
                    let columns = try db.columns(in: table.name).map(\.name)
                    if columns == ["_seq", "_ingest"] + table.storedColumns.map(\.name) { continue }
                    try db.execute(sql: "DROP TABLE \(table.name)")
                }
                for statement in table.createStatements { try db.execute(sql: statement) }
            }
            for (name, migration) in plan.sourceMigrations {
                guard case .source(let spec) = plan.changes.first(where: { $0.name == name })?.spec else { continue }
                let table = SourceTable(spec: spec)
                switch migration {
                case .none: break
                case .addColumns(let columns):
                    for column in columns {
                        try db.execute(sql: "ALTER TABLE \(table.name) ADD COLUMN \(SourceTable.columnDefinition(column))")
                    }
                case .rebuild:
                    guard try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.name)") == 0 else {
                        throw OfflineStoreError("source \(name) received rows since the plan was made; run `larder apply` again")
                    }
                    try db.execute(sql: "DROP TABLE \(table.name)")
                    for statement in table.createStatements { try db.execute(sql: statement) }
                }
            }
            // Sources that aggregation views read get an index by key and time covering the
            // columns they read, for training sets; indexes no view needs any more go.
            var wanted: [String: [String: String]] = [:]  // source -> index name -> SQL
            let registered = try Row.fetchAll(db, sql: "SELECT * FROM larder_registry").map(Self.definition(from:))
            for case .featureView(let view) in registered.map(\.spec) where !(view.aggregations ?? []).isEmpty {
                guard case .source(let source)? = registered.first(where: { $0.spec.kind == .source && $0.spec.name == view.source })?.spec
                else { continue }
                let index = SourceTable.aggregationIndex(source: source, view: view)
                wanted[source.name, default: [:]][index.name] = index.sql
            }
            for case .source(let source) in registered.map(\.spec) {
                let table = SourceTable(spec: source).name
                for index in try db.indexes(on: table)
                where index.name.hasPrefix("\(table)_agg_") && wanted[source.name]?[index.name] == nil {
                    try db.execute(sql: "DROP INDEX \(index.name)")
                }
                for sql in (wanted[source.name] ?? [:]).values.sorted() { try db.execute(sql: sql) }
            }
        }
        return now
    }

    // MARK: Helpers

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try db.read(body)
    }

    static func definition(from row: Row) throws -> RegisteredDefinition {
        let name: String = row["name"]
        guard let kind = DefinitionKind(rawValue: row["kind"]) else {
            throw OfflineStoreError("the registry entry \(name) has an unknown kind; was it written by a newer Larder?")
        }
        let spec = try DefinitionSpec(kind: kind, json: Data((row["definition"] as String).utf8))
        return RegisteredDefinition(
            spec: spec, version: row["version"], fingerprint: row["fingerprint"],
            createdAt: Timestamp(microseconds: row["created_at"]), updatedAt: Timestamp(microseconds: row["updated_at"]))
    }
}
