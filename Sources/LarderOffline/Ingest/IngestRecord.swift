import GRDB
import LarderCore

/// One committed ingest of a source, as `larder_ingests` records it: a `larder ingest` of a
/// file, or rows appended through `/v1/push` (whose `file` is `push`).
public struct IngestRecord: Sendable, Equatable {
    public var id: Int64
    public var source: String
    /// The file read, or `push` for rows pushed through the service.
    public var file: String
    public var rows: Int
    /// The ingest sequence numbers (`_seq`) the rows received; nil when there were none.
    public var sequences: ClosedRange<Int64>?
    public var startedAt: Timestamp
    public var finishedAt: Timestamp

    /// Decodes a row of `larder_ingests`, whose columns both stores share.
    package init(
        id: Int64, source: String, file: String, rows: Int, firstSeq: Int64?, lastSeq: Int64?, startedAt: Int64, finishedAt: Int64
    ) {
        self.id = id
        self.source = source
        self.file = file
        self.rows = rows
        if let firstSeq, let lastSeq, firstSeq <= lastSeq { sequences = firstSeq...lastSeq } else { sequences = nil }
        self.startedAt = Timestamp(microseconds: startedAt)
        self.finishedAt = Timestamp(microseconds: finishedAt)
    }
}

extension OfflineStore {
    /// The newest `limit` committed ingests of `source`, newest first.
    public func ingests(source: String, limit: Int) async throws -> [IngestRecord] {
        try await reading { try self.ingests(source: source, limit: limit) }
    }

    /// The blocking body of the async ``ingests(source:limit:)``, run on ``Blocking``'s pool.
    func ingests(source: String, limit: Int) throws -> [IngestRecord] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, source, file, rows, first_seq, last_seq, started_at, finished_at FROM larder_ingests
                    WHERE source = ? ORDER BY id DESC LIMIT ?
                    """,
                arguments: [source, max(0, limit)]
            ).map { row in
                IngestRecord(
                    id: row["id"], source: row["source"], file: row["file"], rows: row["rows"], firstSeq: row["first_seq"],
                    lastSeq: row["last_seq"], startedAt: row["started_at"], finishedAt: row["finished_at"])
            }
        }
    }
}
