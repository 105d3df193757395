import Foundation
import LarderCore

/// The manifest written beside a training set (`OUT.manifest.json`): what was asked, which
/// definitions and materializations answered it, and the hash of what was written. One type
/// for every kind of training set (a request file, an `--at` snapshot, the serving log);
/// docs/CLI.md lists its keys.
struct TrainingSetManifest: Encodable {
    /// What the rows were asked for.
    enum Request: Encodable {
        /// A request file: its path, rows, SHA-256 and timestamp column.
        case file(path: String, rows: Int, sha256: String, timestampColumn: String)
        /// `--at T`: every entity's values at one instant.
        case snapshot(at: Timestamp)
        /// `--from-log`: served vectors, by the log's entry ids (`since`/`until` written as
        /// null when not given).
        case servingLog(since: Timestamp?, until: Timestamp?, rows: Int, firstID: Int64, lastID: Int64)

        private enum Key: String, CodingKey {
            case file, rows, sha256, at, since, until
            case timestampColumn = "timestamp_column", firstID = "first_id", lastID = "last_id"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            switch self {
            case .file(let path, let rows, let sha256, let timestampColumn):
                try container.encode(path, forKey: .file)
                try container.encode(rows, forKey: .rows)
                try container.encode(sha256, forKey: .sha256)
                try container.encode(timestampColumn, forKey: .timestampColumn)
            case .snapshot(let at):
                try container.encode(at.description, forKey: .at)
            case .servingLog(let since, let until, let rows, let firstID, let lastID):
                try container.encode(since?.description, forKey: .since)  // null, not absent
                try container.encode(until?.description, forKey: .until)
                try container.encode(rows, forKey: .rows)
                try container.encode(firstID, forKey: .firstID)
                try container.encode(lastID, forKey: .lastID)
            }
        }
    }

    /// One output column's feature, with the definition that computed it.
    struct Feature: Encodable {
        var feature: String
        var column: String
        var type: String?
        var fingerprint: String?
        /// The view's registered version (feature views only).
        var viewVersion: Int?

        enum CodingKeys: String, CodingKey {
            case feature, column, type, fingerprint
            case viewVersion = "view_version"
        }
    }

    /// The materialization a feature view's values were read from.
    struct Materialization: Encodable {
        var view: String
        var version: Int
        var table: String
        var coveredStart: String
        var coveredEnd: String
        var seqWatermark: Int64
        var materializedAt: String

        enum CodingKeys: String, CodingKey {
            case view, version, table
            case coveredStart = "covered_start", coveredEnd = "covered_end", seqWatermark = "seq_watermark"
            case materializedAt = "materialized_at"
        }
    }

    /// The file written.
    struct Output: Encodable {
        var file: String
        var format: String
        var rows: Int
        var sha256: String
        var columns: [String]
    }

    var version = 1
    var createdAt = Timestamp.now()
    var commandLine: [String]
    /// `serving_log` for a training set from the serving log; absent otherwise.
    var source: String?
    var request: Request
    var features: [Feature]
    /// Absent for a training set from the serving log (its values were served, not recomputed).
    var materializations: [Materialization]?
    var output: Output

    enum CodingKeys: String, CodingKey {
        case version = "larder_manifest_version", createdAt = "created_at", commandLine = "command_line"
        case source, request, features, materializations, output
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(createdAt.description, forKey: .createdAt)
        try container.encode(commandLine, forKey: .commandLine)
        try container.encodeIfPresent(source, forKey: .source)
        try container.encode(request, forKey: .request)
        try container.encode(features, forKey: .features)
        try container.encodeIfPresent(materializations, forKey: .materializations)
        try container.encode(output, forKey: .output)
    }

    /// Writes the manifest beside `output` (`OUT.manifest.json`) through a temporary file and
    /// a rename, so a reader never sees half of one; returns its path.
    func write(besideOutput output: String) throws -> String {
        let path = output + ".manifest.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data), rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw OfflineStoreError("cannot write the manifest \(path)")
        }
        return path
    }
}
