import Foundation
import GRDB
import LarderCore

/// How a definition changes in an apply.
public enum ChangeKind: String, Sendable, Codable {
    case added, changed, removed
    /// Only a description, an owner or tags changed: recorded in place, the version kept.
    case described
}

extension RegisteredDefinition {
    /// The fingerprint of a stored definition (`kind`, its JSON) by today's rule: what the
    /// stores' upgrade writes over fingerprints computed when metadata still counted. Nil
    /// when the JSON does not decode (left as it is).
    package static func fingerprint(kind: String, definition: String) -> String? {
        guard let kind = DefinitionKind(rawValue: kind) else { return nil }
        return (try? DefinitionSpec(kind: kind, json: Data(definition.utf8)))?.fingerprint
    }
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

extension RegisteredDefinition {
    /// The source named `name` among `registered`, or an error saying how to register it:
    /// what an ingest or a push into an unknown source says, in either store.
    package static func source(named name: String, in registered: [RegisteredDefinition]) throws -> SourceSpec {
        guard let definition = registered.first(where: { $0.name == name }) else {
            let known = registered.filter { $0.kind == .source }.map(\.name)
            throw OfflineStoreError(
                "source '\(name)' is not registered; known sources: \(known.isEmpty ? "none" : known.joined(separator: ", ")). Declare it in features/ and run `larder apply`."
            )
        }
        guard case .source(let spec) = definition.spec else {
            throw OfflineStoreError("'\(name)' is a \(definition.kind.label), not a source")
        }
        return spec
    }

    /// Decodes a row of `larder_registry`, whose columns both stores share.
    package init(
        name: String, kind: String, definition: String, version: Int, fingerprint: String, createdAt: Int64, updatedAt: Int64
    ) throws {
        guard let kind = DefinitionKind(rawValue: kind) else {
            throw OfflineStoreError("the registry entry \(name) has an unknown kind; was it written by a newer Larder?")
        }
        self.init(
            spec: try DefinitionSpec(kind: kind, json: Data(definition.utf8)), version: version, fingerprint: fingerprint,
            createdAt: Timestamp(microseconds: createdAt), updatedAt: Timestamp(microseconds: updatedAt))
    }
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

    /// Decodes a row of `larder_registry_history`, whose columns both stores share.
    package init(
        name: String, kind: String, change: String, details: String, version: Int, fingerprint: String, appliedAt: Int64
    ) throws {
        guard let kind = DefinitionKind(rawValue: kind), let change = ChangeKind(rawValue: change) else {
            throw OfflineStoreError("the registry history of \(name) has an unknown kind or change; was it written by a newer Larder?")
        }
        self.init(
            appliedAt: Timestamp(microseconds: appliedAt), kind: kind, name: name, version: version, change: change,
            details: (try? JSONDecoder().decode([String].self, from: Data(details.utf8))) ?? [], fingerprint: fingerprint)
    }

    init(
        appliedAt: Timestamp, kind: DefinitionKind, name: String, version: Int, change: ChangeKind, details: [String], fingerprint: String
    ) {
        self.appliedAt = appliedAt
        self.kind = kind
        self.name = name
        self.version = version
        self.change = change
        self.details = details
        self.fingerprint = fingerprint
    }
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
    package var baseline: [String: Int]
    package var sourceMigrations: [String: SourceTable.Migration]
    package var newSources: [SourceSpec]

    public var isEmpty: Bool { changes.isEmpty }
}

/// The applied definitions, their versions and history: what `larder apply`, `list` and
/// `describe` read and write, in either offline store (``Registry`` for SQLite, and
/// `PostgresRegistry`). Both plan with ``RegistryPlanner``, so the same definitions give the
/// same plan in either.
public protocol DefinitionRegistry: Sendable {
    /// Registered definitions of one kind (or all), sorted by kind then name.
    func definitions(kind: DefinitionKind?) async throws -> [RegisteredDefinition]
    /// The registered definition named `name`, of any kind.
    func definition(named name: String) async throws -> RegisteredDefinition?
    /// Every applied change to `name`, oldest first.
    func history(named name: String) async throws -> [HistoryEntry]
    /// The newest `limit` applied changes to any definition (removed ones included), newest
    /// first.
    func recentHistory(limit: Int) async throws -> [HistoryEntry]
    /// The number of rows in a registered source's table.
    func rowCount(source name: String) async throws -> Int
    /// Validates `repository` and compares it with the registry.
    func plan(for repository: FeatureRepository) async throws -> ApplyPlan
    /// Applies a plan in one transaction, refusing it when the registry moved since it was
    /// made. Returns the instant recorded as the apply time.
    @discardableResult func apply(_ plan: ApplyPlan, at now: Timestamp) async throws -> Timestamp
}

/// What both offline stores (SQLite: ``OfflineStore``; PostgreSQL: `PostgresStore`) do so
/// far: the commands that run on either store use only this. It grows as the PostgreSQL store
/// learns the rest of the SQLite store's operations.
public protocol OfflineBackend: Sendable {
    associatedtype Definitions: DefinitionRegistry
    associatedtype LatestRows: AsyncSequence<[FeatureRow], any Error>
    associatedtype RetainedTiles: AsyncSequence<[EntityTiles], any Error>
    associatedtype EntityKeys: AsyncSequence<[[Value]], any Error>
    associatedtype ServingLog: AsyncSequence<[ServingLogEntry], any Error>
    /// The registry of applied definitions.
    var registry: Definitions { get }
    /// Appends the rows of a CSV or JSON Lines file to a registered source's table, all or
    /// none (see ``OfflineStore/ingest(source:file:format:allowEmpty:progress:)``).
    func ingest(
        source: String, file path: String, format: InputFormat?, allowEmpty: Bool, progress: (@Sendable (IngestProgress) -> Void)?
    ) async throws -> IngestSummary
    /// The registered spec and version of a compiled view, or the refusal when it is not
    /// registered as compiled.
    func registeredView(_ view: FeatureView) async throws -> (spec: FeatureViewSpec, version: Int)
    /// Runs a view's transformations into its feature table and rebuilds its tiles, in one
    /// transaction (see ``OfflineStore/materialize(_:mode:now:progress:)``).
    func materialize(
        _ view: FeatureView, mode: MaterializationMode, now: Timestamp, progress: (@Sendable (MaterializationProgress) -> Void)?
    ) async throws -> MaterializationSummary
    /// What a view version's feature table covers, if it was ever materialized.
    func materializationState(view: String, version: Int) async throws -> MaterializationState?
    /// A view version's runs, newest first, at most `limit`; with their statistics unless
    /// `withStatistics` is false (decoding them is most of the cost of reading a run).
    func materializationRuns(view: String, version: Int, limit: Int, withStatistics: Bool) async throws -> [MaterializationRun]
    /// The run a view version's drift is measured against: the pinned one, else its first run
    /// with statistics (nil when it has none).
    func statisticsReference(view: String, version: Int) async throws -> (run: MaterializationRun, pinned: Bool)?
    /// Pins a run of the view version as its statistics reference; nil unpins.
    func pinStatisticsReference(view: String, version: Int, run: Int64?, at now: Timestamp) async throws
    /// Adds statistics to a committed run: its aggregation features', gathered after it.
    func recordStatistics(run: Int64, _ statistics: [String: FeatureStatistics]) async throws
    /// The materialization state, newest materialized event, last run and last push of a
    /// view version, for `larder describe`.
    func freshness(of view: FeatureViewSpec, version: Int) async throws -> ViewFreshness
    /// The last successful online push of a view version, if any.
    func onlinePushState(view: String, version: Int) async throws -> OnlinePushState?
    /// Records that the rows a materialization state covers are now online, under `marker`
    /// left at `markerSlots` (see ``OnlinePushState/markerSlots``).
    func recordOnlinePush(_ state: MaterializationState, marker: String, markerSlots: [Int]?) async throws
    /// Each entity's latest row before `end`, in batches (see
    /// ``OfflineStore/latestRows(of:end:changedSince:batchSize:)``).
    func latestRows(of view: FeatureView, end: Timestamp, changedSince: OnlinePushState?, batchSize: Int) -> LatestRows
    /// The tiles of a view worth holding online, by entity, in batches (see
    /// ``OfflineStore/retainedTiles(of:from:)``).
    func retainedTiles(of view: FeatureView, from: Int64?) -> RetainedTiles
    /// Builds the training set `request` describes, writing `request.output` and its
    /// manifest; both stores write the same bytes (see ``TrainingSetBuilder``).
    func buildTrainingSet(
        _ request: TrainingSetRequest, repository: FeatureRepository, progress: (@Sendable (TrainingSetProgress) -> Void)?
    ) async throws -> TrainingSetSummary
    /// The point-in-time values of `features` for request rows in memory, one array per row
    /// (see ``TrainingSetBuilder/values(of:for:timestampColumn:)``).
    func trainingSetValues(
        of features: [ResolvedFeature], for rows: RequestRows, timestampColumn: String, repository: FeatureRepository
    ) async throws -> [[Value]]
    /// The join keys of a view's materialized rows and tiles, in batches (see
    /// ``OfflineStore/entityKeys(of:batchSize:)``).
    func entityKeys(of view: FeatureView, batchSize: Int) -> EntityKeys
    /// The newest `limit` committed ingests of a source (files and pushes), newest first.
    func ingests(source: String, limit: Int) async throws -> [IngestRecord]
    /// Appends pushed rows to a registered source, checked as an ingest's, all or none
    /// (`/v1/push`; see ``OfflineStore/append(source:rows:origin:)``).
    func append(source name: String, rows: [[String: JSONValue]], origin: String) async throws -> [SourceRow]
    /// Appends entries to the serving log in one transaction, in order.
    func appendServingLog(_ entries: [ServingLogEntry]) async throws
    /// Every serving log entry served in `[since, until)`, in id order, in batches.
    func servingLogEntries(since: Timestamp?, until: Timestamp?, batchSize: Int) -> ServingLog
    /// The serving log as a training set (`larder training-set --from-log`).
    func buildTrainingSetFromServingLog(_ request: ServingLogTrainingSetRequest) async throws -> TrainingSetSummary
    /// Closes the store's connections.
    func close()
}

extension OfflineBackend {
    /// ``materializationRuns(view:version:limit:withStatistics:)`` with their statistics.
    public func materializationRuns(view: String, version: Int, limit: Int) async throws -> [MaterializationRun] {
        try await materializationRuns(view: view, version: version, limit: limit, withStatistics: true)
    }

    /// ``entityKeys(of:batchSize:)`` in batches of 1,000.
    public func entityKeys(of view: FeatureView) -> EntityKeys { entityKeys(of: view, batchSize: 1000) }

    /// ``servingLogEntries(since:until:batchSize:)`` in batches of 256.
    public func servingLogEntries(since: Timestamp? = nil, until: Timestamp? = nil) -> ServingLog {
        servingLogEntries(since: since, until: until, batchSize: 256)
    }
}

extension OfflineStore: OfflineBackend {
    public func buildTrainingSet(
        _ request: TrainingSetRequest, repository: FeatureRepository, progress: (@Sendable (TrainingSetProgress) -> Void)? = nil
    ) async throws -> TrainingSetSummary {
        try await TrainingSetBuilder(store: self, repository: repository).build(request, progress: progress)
    }

    public func trainingSetValues(
        of features: [ResolvedFeature], for rows: RequestRows, timestampColumn: String, repository: FeatureRepository
    ) async throws -> [[Value]] {
        try await TrainingSetBuilder(store: self, repository: repository).values(of: features, for: rows, timestampColumn: timestampColumn)
    }
}

extension DefinitionRegistry {
    /// Every registered definition, sorted by kind then name.
    public func definitions() async throws -> [RegisteredDefinition] { try await definitions(kind: nil) }

    /// Applies a plan now.
    @discardableResult public func apply(_ plan: ApplyPlan) async throws -> Timestamp { try await apply(plan, at: .now()) }
}

/// The applied definitions, their versions and history, in the SQLite offline store.
public struct Registry: DefinitionRegistry {
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
        try RegisteredDefinition.source(named: name, in: definitions())
    }

    /// Every applied change to `name`, oldest first.
    public func history(named name: String) async throws -> [HistoryEntry] {
        try await store.reading { try self.history(named: name) }
    }

    /// The blocking body of the async ``history(named:)``, run on ``Blocking``'s pool.
    func history(named name: String) throws -> [HistoryEntry] {
        try historyEntries("WHERE name = ? ORDER BY id", [name])
    }

    /// The newest `limit` applied changes to any definition, newest first.
    public func recentHistory(limit: Int) async throws -> [HistoryEntry] {
        try await store.reading { try self.recentHistory(limit: limit) }
    }

    /// The blocking body of the async ``recentHistory(limit:)``, run on ``Blocking``'s pool.
    func recentHistory(limit: Int) throws -> [HistoryEntry] {
        try historyEntries("ORDER BY id DESC LIMIT ?", [max(0, limit)])
    }

    /// The history entries a condition and order select.
    private func historyEntries(_ clauses: String, _ arguments: StatementArguments) throws -> [HistoryEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM larder_registry_history \(clauses)", arguments: arguments).map { row in
                try HistoryEntry(
                    name: row["name"], kind: row["kind"], change: row["change"], details: row["details"], version: row["version"],
                    fingerprint: row["fingerprint"], appliedAt: row["applied_at"])
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
        try read { db in
            let registered = try Row.fetchAll(db, sql: "SELECT * FROM larder_registry").map(Self.definition(from:))
            let lastVersions = Dictionary(
                try Row.fetchAll(db, sql: "SELECT name, max(version) AS v FROM larder_registry_history GROUP BY name")
                    .map { ($0["name"] as String, $0["v"] as Int) },
                uniquingKeysWith: { a, _ in a })
            var columns: [String: [String]] = [:]
            for source in RegistryPlanner.sourceNames(declared: repository, registered: registered)
            where try db.tableExists("source_\(source)") {
                columns[source] = try db.columns(in: "source_\(source)").map(\.name)
            }
            var rowCounts: [String: Int] = [:]
            for source in RegistryPlanner.sourcesToCount(declared: repository, registered: registered, tables: Set(columns.keys)) {
                rowCounts[source] = try Int.fetchOne(db, sql: "SELECT count(*) FROM source_\(source)") ?? 0
            }
            return try RegistryPlanner(
                registered: Dictionary(registered.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }), lastVersions: lastVersions,
                columns: columns, rowCounts: rowCounts
            ).plan(for: repository)
        }
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
                case .changed, .described:
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
                    if columns == table.columnNames { continue }
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
            let registered = try Row.fetchAll(db, sql: "SELECT * FROM larder_registry").map(Self.definition(from:))
            let wanted = SourceTable.aggregationIndexes(registered.map(\.spec))
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
        try RegisteredDefinition(
            name: row["name"], kind: row["kind"], definition: row["definition"], version: row["version"],
            fingerprint: row["fingerprint"], createdAt: row["created_at"], updatedAt: row["updated_at"])
    }
}
