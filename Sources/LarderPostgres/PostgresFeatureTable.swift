import LarderCore
import LarderOffline

/// A feature view version's offline feature table in PostgreSQL, `features_<view>_v<version>`:
/// the SQLite table's columns (`_seq`, the join keys, `_event_ts`, `_created_ts`, one column
/// per feature) in PostgreSQL's types.
///
/// Its key is (join keys, `_seq`): `_seq` alone identifies a row, but a distributed table's
/// unique keys must hold its distribution column (the entity key). The point-in-time index is
/// (join keys, `_event_ts`, `_created_ts`), as in SQLite.
struct PostgresFeatureTable {
    let view: FeatureViewSpec
    let version: Int

    var name: String { "features_\(view.name)_v\(version)" }
    var keyNames: [String] { view.joinKeys.map(\.name) }

    /// The key: (join keys, `_seq`).
    var key: [String] { keyNames + ["_seq"] }

    var createStatements: [String] {
        var columns = ["_seq BIGINT NOT NULL"]
        columns += view.joinKeys.map(PostgresSourceTable.columnDefinition)
        columns += ["_event_ts BIGINT NOT NULL", "_created_ts BIGINT"]
        columns += view.features.map { "\($0.name) \(PostgresSourceTable.sqlType($0.type))" }
        columns.append("CONSTRAINT \(name)_pkey PRIMARY KEY (\(key.joined(separator: ", ")))")
        return ["CREATE TABLE IF NOT EXISTS \(name) (\n    \(columns.joined(separator: ",\n    "))\n)", createIndex]
    }

    /// The point-in-time lookup index.
    var createIndex: String {
        "CREATE INDEX IF NOT EXISTS \(name)_by_key_time ON \(name) (\(keyNames.joined(separator: ", ")), _event_ts, _created_ts)"
    }

    /// How staged rows move in: a row materialized again replaces the old one, as SQLite's
    /// `INSERT OR REPLACE` does.
    var merge: StagedMerge {
        StagedMerge(
            table: name, key: key, updated: ["_event_ts", "_created_ts"] + view.features.map(\.name),
            indexes: [(name: "\(name)_by_key_time", create: createIndex)])
    }

    /// A feature value as the SQLite store keeps it, so that both stores hold the same: SQLite
    /// stores a NaN double as NULL and reads -0.0 back as 0.0.
    static func stored(_ value: Value) -> Value {
        guard case .double(let d) = value else { return value }
        if d.isNaN { return .null }
        return d == 0 ? .double(0) : value
    }
}

/// A feature view version's tiles in PostgreSQL, `tiles_<view>_v<version>`: one row per
/// (entity, hop, hop start), as in SQLite, the encoded tile in a BYTEA.
struct PostgresTileTable {
    let view: FeatureViewSpec
    let version: Int

    var name: String { "tiles_\(view.name)_v\(version)" }
    private var key: [String] { view.joinKeys.map(\.name) + ["_hop", "_hop_start"] }

    var createTable: String {
        let columns =
            view.joinKeys.map(PostgresSourceTable.columnDefinition) + [
                "_hop BIGINT NOT NULL", "_hop_start BIGINT NOT NULL", "_watermark BIGINT NOT NULL", "_tile BYTEA NOT NULL",
                "CONSTRAINT \(name)_pkey PRIMARY KEY (\(key.joined(separator: ", ")))",
            ]
        return "CREATE TABLE IF NOT EXISTS \(name) (\n    \(columns.joined(separator: ",\n    "))\n)"
    }

    /// How staged tiles move in, replacing those of the same hops.
    var merge: StagedMerge { StagedMerge(table: name, key: key, updated: ["_watermark", "_tile"], indexes: []) }
}

/// How a run's rows get into a table keyed by `key`, replacing rows with the same key. Into an
/// empty table they are copied straight in, its key and indexes built after. Otherwise they
/// are staged (a temporary table `LIKE` the target), then moved: by `INSERT ... ON CONFLICT`
/// for a small run; for a run that rewrites a large part of the table, by deleting the rows it
/// replaces, dropping the key and indexes, appending, and building them again. Building an
/// index from all its rows is several times faster than updating it row by row (the SQLite
/// store does the same for the same reason).
struct StagedMerge {
    let table: String
    let key: [String]
    let updated: [String]
    /// Indexes besides the primary key (`<table>_pkey`): names and how to create them.
    let indexes: [(name: String, create: String)]

    /// Before rows are copied straight into the table (an empty one): its key and indexes go,
    /// to be built once from all the rows (``buildKeyAndIndexes``).
    var dropKeyAndIndexes: [String] {
        ["ALTER TABLE \(table) DROP CONSTRAINT \(table)_pkey"] + indexes.map { "DROP INDEX \($0.name)" }
    }

    var buildKeyAndIndexes: [String] {
        ["ALTER TABLE \(table) ADD CONSTRAINT \(table)_pkey PRIMARY KEY (\(key.joined(separator: ", ")))"] + indexes.map(\.create)
    }

    /// Whether a run of `staged` rows rewrites a large part of a table holding `existing`:
    /// then the table's key and indexes are rebuilt rather than updated row by row, and its
    /// statistics taken again.
    static func rewritesMuch(staged: Int, existing: Int) -> Bool { staged * 4 >= existing }

    /// The statements that move `staged` rows of `stage` into a table holding `existing`.
    func statements(from stage: String, staged: Int, existing: Int) -> [String] {
        guard Self.rewritesMuch(staged: staged, existing: existing) else {
            return [
                """
                INSERT INTO \(table) SELECT * FROM \(stage) ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET
                \(updated.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", "))
                """
            ]
        }
        let same = key.map { "t.\($0) = s.\($0)" }.joined(separator: " AND ")
        return ["DELETE FROM \(table) t USING \(stage) s WHERE \(same)"] + dropKeyAndIndexes
            + ["INSERT INTO \(table) SELECT * FROM \(stage)"] + buildKeyAndIndexes
    }
}
