import Foundation
import GRDB
import LarderCore

/// One logged entity row of a lookup the service answered: what it was asked and what it
/// served. The service writes these (sampled by entity, see `serve.log` in `larder.yaml`);
/// `larder training-set --from-log` reads them back.
public struct ServingLogEntry: Sendable, Equatable {
    /// The row's id in `larder_serving_log`: the order entries were written in. Ignored by
    /// ``OfflineStore/appendServingLog(_:)``, which assigns it.
    public var id: Int64
    /// The lookup instant: the one the ttl rule was applied at.
    public var servedAt: Timestamp
    /// `/v1/features` or `/get-online-features`.
    public var endpoint: String
    /// The feature service the request named, or nil for a list of features.
    public var service: String?
    /// The join keys, in the logged order.
    public var entity: [JSONMember]
    /// The request fields sent for this row (on-demand features read them); empty when none.
    public var request: [JSONMember]
    /// Every feature served for the row, in the logged order.
    public var features: [LoggedFeature]

    public init(
        id: Int64 = 0, servedAt: Timestamp, endpoint: String, service: String?, entity: [JSONMember], request: [JSONMember] = [],
        features: [LoggedFeature]
    ) {
        self.id = id
        self.servedAt = servedAt
        self.endpoint = endpoint
        self.service = service
        self.entity = entity
        self.request = request
        self.features = features
    }
}

/// One served feature value, as the response carried it.
public struct LoggedFeature: Sendable, Equatable {
    /// `view:feature`.
    public var reference: String
    /// The served value (null when missing or expired).
    public var value: JSONValue
    /// `present`, `missing`, `expired`, ...
    public var status: String
    /// The event time of the row the value comes from; nil when there is none.
    public var eventTime: Timestamp?

    public init(reference: String, value: JSONValue, status: String, eventTime: Timestamp?) {
        self.reference = reference
        self.value = value
        self.status = status
        self.eventTime = eventTime
    }
}

extension OfflineSchema {
    /// `larder_serving_log`: one row per logged entity row. The JSON columns are written with
    /// ``JSONText`` (doubles in shortest round-trip form) and read with ``JSONParser``, so a
    /// logged double reads back to the same bits.
    static let servingLog = """
        CREATE TABLE larder_serving_log (
            id INTEGER PRIMARY KEY,
            served_at INTEGER NOT NULL,
            endpoint TEXT NOT NULL,
            service TEXT,
            entity TEXT NOT NULL,
            request TEXT,
            features TEXT NOT NULL
        ) STRICT;
        CREATE INDEX larder_serving_log_by_served_at ON larder_serving_log (served_at);
        """
}

extension OfflineStore {
    /// Appends entries to the serving log in one transaction (all or none), in order; their
    /// ``ServingLogEntry/id`` is ignored and assigned by SQLite.
    ///
    /// It waits, up to the store's busy timeout, for another writer.
    public func appendServingLog(_ entries: [ServingLogEntry]) async throws {
        try await writing { try self.appendServingLog(entries) }
    }

    /// The blocking body of the async ``appendServingLog(_:)``, run on ``Blocking``'s pool.
    func appendServingLog(_ entries: [ServingLogEntry]) throws {
        guard !entries.isEmpty else { return }
        do {
            try writeTransaction("serving log of larder serve (\(entries.count) entries)", recorded: false) { db in
                let statement = try db.cachedStatement(
                    sql:
                        "INSERT INTO larder_serving_log (served_at, endpoint, service, entity, request, features) VALUES (?, ?, ?, ?, ?, ?)"
                )
                for entry in entries {
                    let text = entry.columnTexts
                    try statement.execute(arguments: [
                        entry.servedAt.microseconds, entry.endpoint, entry.service, text.entity, text.request, text.features,
                    ])
                }
            }
        } catch {
            throw OfflineStoreError("cannot append \(entries.count) entries to the serving log: \(error)")
        }
    }

    /// Every entry served in `[since, until)` (nil: unbounded), in id order (the order they
    /// were written), from one consistent snapshot, in batches of `batchSize`: memory does not
    /// grow with the log.
    public func servingLogEntries(
        since: Timestamp? = nil, until: Timestamp? = nil, batchSize: Int = 256
    ) -> BlockingStream<[ServingLogEntry]> {
        streaming { emit in
            try self.db.read { db in
                try inBatches(of: batchSize, to: emit) { add in
                    try Self.forEachServingLogEntry(db, since: since, until: until, add)
                }
            }
        }
    }

    /// The number of entries in the serving log.
    public func servingLogCount() async throws -> Int {
        try await reading { try self.servingLogCount() }
    }

    /// The blocking body of the async ``servingLogCount()``, run on ``Blocking``'s pool.
    func servingLogCount() throws -> Int {
        try db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM larder_serving_log") ?? 0 }
    }

    /// ``servingLogEntries(since:until:batchSize:)`` one entry at a time, inside a transaction
    /// the caller holds.
    /// With `id`, only that entry; with `features: false` the features column is not read or
    /// decoded (entries have none).
    static func forEachServingLogEntry(
        _ db: Database, since: Timestamp?, until: Timestamp?, id: Int64? = nil, features: Bool = true,
        _ body: (ServingLogEntry) throws -> Void
    ) throws {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let id {
            conditions.append("id = ?")
            arguments += [id]
        }
        if let since {
            conditions.append("served_at >= ?")
            arguments += [since.microseconds]
        }
        if let until {
            conditions.append("served_at < ?")
            arguments += [until.microseconds]
        }
        let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
        let sql =
            "SELECT id, served_at, endpoint, service, entity, request, \(features ? "features" : "NULL") FROM larder_serving_log\(filter) ORDER BY id"
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() {
            try body(
                ServingLogEntry(
                    id: row[0], servedAt: Timestamp(microseconds: row[1]), endpoint: row[2], service: row[3], entity: row[4],
                    request: row[5], features: row[6]))
        }
    }

    /// `{"view:feature": {"value": v, "status": "present", "event_timestamp": "..." | null}, ...}`
    fileprivate static func appendFeatures(_ features: [LoggedFeature], to out: inout [UInt8]) {
        out.append(0x7B)
        for (i, feature) in features.enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONText.appendString(feature.reference, to: &out)
            out += ":{\"value\":".utf8
            JSONText.appendJSON(feature.value, to: &out)
            out += ",\"status\":".utf8
            JSONText.appendString(feature.status, to: &out)
            out += ",\"event_timestamp\":".utf8
            if let time = feature.eventTime {
                JSONText.appendValue(.timestamp(time), to: &out)
            } else {
                out += "null".utf8
            }
            out.append(0x7D)
        }
        out.append(0x7D)
    }

    /// One member of the features column, back as a ``LoggedFeature``.
    fileprivate static func loggedFeature(_ member: JSONMember, entry id: Int64) throws -> LoggedFeature {
        func fail(_ reason: String) -> OfflineStoreError {
            OfflineStoreError("serving log entry \(id), feature \(member.key): \(reason)")
        }
        guard case .object(let fields) = member.value else { throw fail("expected an object of value, status, event_timestamp") }
        var value: JSONValue = .null
        var status: String?
        var eventTime: Timestamp?
        for field in fields {
            switch (field.key, field.value) {
            case ("value", let v): value = v
            case ("status", .string(let s)): status = s
            case ("event_timestamp", .null): eventTime = nil
            case ("event_timestamp", .string(let s)):
                do { eventTime = try Timestamp(rfc3339: s) } catch { throw fail("event_timestamp \"\(s)\": \(error.reason)") }
            default: throw fail("unexpected \(field.key): \(field.value.typeName)")
            }
        }
        guard let status else { throw fail("no status") }
        return LoggedFeature(reference: member.key, value: value, status: status, eventTime: eventTime)
    }
}

extension ServingLogEntry {
    /// The entry's JSON columns as either store keeps them: the entity, the request fields
    /// (nil when none) and the features, written with ``JSONText`` (doubles in shortest
    /// round-trip form, so they read back to the same bits).
    package var columnTexts: (entity: String, request: String?, features: String) {
        func text(_ write: (inout [UInt8]) -> Void) -> String {
            var buffer: [UInt8] = []
            write(&buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        return (
            text { JSONText.appendJSON(.object(entity), to: &$0) },
            request.isEmpty ? nil : text { JSONText.appendJSON(.object(request), to: &$0) },
            text { OfflineStore.appendFeatures(features, to: &$0) }
        )
    }

    /// An entry from a row of `larder_serving_log` (either store); `features` nil when not read.
    package init(
        id: Int64, servedAt: Timestamp, endpoint: String, service: String?, entity: String, request: String?, features: String?
    ) throws {
        func object(_ text: String?, _ column: String) throws -> [JSONMember] {
            guard let text else { return [] }
            guard case .object(let members)? = try? JSONParser.parse(Array(text.utf8)) else {
                throw OfflineStoreError("serving log entry \(id): the \(column) column is not a JSON object: \(text)")
            }
            return members
        }
        self.init(
            id: id, servedAt: servedAt, endpoint: endpoint, service: service, entity: try object(entity, "entity"),
            request: try object(request, "request"),
            features: try object(features, "features").map { member in try OfflineStore.loggedFeature(member, entry: id) })
    }
}
