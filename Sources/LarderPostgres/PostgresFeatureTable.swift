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

    var createStatements: [String] {
        var columns = ["_seq BIGINT NOT NULL"]
        columns += view.joinKeys.map(PostgresSourceTable.columnDefinition)
        columns += ["_event_ts BIGINT NOT NULL", "_created_ts BIGINT"]
        columns += view.features.map { "\($0.name) \(PostgresSourceTable.sqlType($0.type))" }
        columns.append("PRIMARY KEY (\((keyNames + ["_seq"]).joined(separator: ", ")))")
        return [
            "CREATE TABLE IF NOT EXISTS \(name) (\n    \(columns.joined(separator: ",\n    "))\n)",
            "CREATE INDEX IF NOT EXISTS \(name)_by_key_time ON \(name) (\(keyNames.joined(separator: ", ")), _event_ts, _created_ts)",
        ]
    }

    /// Moves the rows of `stage` (a table like this one) in: a row materialized again replaces
    /// the old one, as SQLite's `INSERT OR REPLACE` does.
    func upsert(from stage: String) -> String {
        let updated = ["_event_ts", "_created_ts"] + view.features.map(\.name)
        return """
            INSERT INTO \(name) SELECT * FROM \(stage)
            ON CONFLICT (\((keyNames + ["_seq"]).joined(separator: ", "))) DO UPDATE SET
            \(updated.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", "))
            """
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
                "PRIMARY KEY (\(key.joined(separator: ", ")))",
            ]
        return "CREATE TABLE IF NOT EXISTS \(name) (\n    \(columns.joined(separator: ",\n    "))\n)"
    }

    /// Moves the tiles of `stage` in, replacing those of the same hops.
    func upsert(from stage: String) -> String {
        """
        INSERT INTO \(name) SELECT * FROM \(stage)
        ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET _watermark = EXCLUDED._watermark, _tile = EXCLUDED._tile
        """
    }
}
