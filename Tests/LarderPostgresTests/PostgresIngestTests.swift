import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline
@testable import LarderPostgres

/// `ingest` into PostgreSQL: the same rows, bit for bit, as the SQLite store's ingest of the
/// same file; the same errors; all rows or none; `_seq` in commit order across machines.
@Suite struct PostgresIngestTests {
    let server: PostgresServer
    let url: String
    let database: String
    let dir: TemporaryDirectory

    static let user = Column<Int64>("user_id")
    static let score = Column<Double>("score")
    static let note = Column<String?>("note")
    static let flag = Column<Bool>("flag")
    static let entity = Entity("user", joinKeys: [user])
    static let source = Source(
        "events", eventTimestamp: "event_timestamp", createdTimestamp: "created", columns: [user, score, note, flag])
    static var repository: FeatureRepository {
        let view = FeatureView("event_stats", entity: entity, source: source, ttl: .hours(1)) { Feature(score) }
        return FeatureRepository {
            entity; source; view
        }
    }

    init() throws {
        server = try PostgresServer.shared()
        url = try server.createDatabase()
        database = String(url.split(separator: "/").last!)
        dir = try TemporaryDirectory()
    }

    func stores() async throws -> (OfflineStore, PostgresStore) {
        let sqlite = try OfflineStore(path: dir.file("offline.sqlite"))
        let postgres = try await PostgresStore(url: try PostgresURL(url, environment: [:]))
        try await sqlite.registry.apply(try await sqlite.registry.plan(for: Self.repository))
        try await postgres.registry.apply(try await postgres.registry.plan(for: Self.repository))
        return (sqlite, postgres)
    }

    /// Each stored row as one line: doubles as their IEEE bits, strings as their UTF-8 bytes.
    func sqliteRows(_ store: OfflineStore) throws -> [String] {
        try store.db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM source_events ORDER BY _seq").map { row in
                let note: String? = row["note"]
                let created: Int64? = row["created"]
                return [
                    "\(row["_seq"] as Int64)", "\(row["_ingest"] as Int64)", "\(row["event_timestamp"] as Int64)",
                    created.map { "\($0)" } ?? "null", "\(row["user_id"] as Int64)",
                    String(format: "%016llx", (row["score"] as Double).bitPattern),
                    note.map { Array($0.utf8).map { String(format: "%02x", $0) }.joined() } ?? "null",
                    (row["flag"] as Int64) == 1 ? "t" : "f",
                ].joined(separator: ",")
            }
        }
    }

    func postgresRows() throws -> [String] {
        try server.psql(
            database: database,
            """
            SELECT concat_ws(',', _seq, _ingest, event_timestamp, coalesce(created::text, 'null'), user_id,
                encode(float8send(score), 'hex'), coalesce(encode(convert_to(note, 'UTF8'), 'hex'), 'null'), flag)
            FROM source_events ORDER BY _seq
            """
        ).split(separator: "\n").map(String.init)
    }

    static let awkward = """
        user_id,event_timestamp,created,score,note,flag
        1,2026-01-01T00:00:00Z,2026-01-01T00:00:01Z,0.1,"tab\there",true
        2,2026-01-01T00:00:00.000001Z,,1e-300,"two
        lines\\ and a backslash",false
        -9223372036854775808,2026-01-01T01:00:00+01:00,,5e-324,,1
        9223372036854775807,1970-01-01T00:00:00Z,,-1.7976931348623157e308,"ünï \\N 😀",0
        5,2026-01-01T00:00:00Z,,-0.0,"",true
        """

    @Test func csvAndJSONLinesRowsEqualTheSQLiteStoresBitForBit() async throws {
        let (sqlite, postgres) = try await stores()
        defer {
            sqlite.close()
            postgres.close()
        }
        let csv = try dir.write("events.csv", Self.awkward)
        let a = try await sqlite.ingest(source: "events", file: csv)
        let b = try await postgres.ingest(source: "events", file: csv)
        #expect(a.rows == 5 && b.rows == 5)
        #expect(b.sequences == 1...5)
        let jsonl = try dir.write(
            "events.jsonl",
            """
            {"user_id": 7, "event_timestamp": "2026-01-02T00:00:00Z", "score": 2.5, "flag": true, "note": "a\\tb\\r\\nc"}
            {"flag": false, "score": 1e-7, "event_timestamp": "2026-01-02T00:00:01Z", "user_id": 8, "created": null}
            """)
        _ = try await sqlite.ingest(source: "events", file: jsonl)
        let c = try await postgres.ingest(source: "events", file: jsonl)
        #expect(c.sequences == 6...7)
        let expected = try sqliteRows(sqlite)
        #expect(expected.count == 7)
        let actual = try postgresRows()
        #expect(actual == expected, "\(zip(actual, expected).filter { $0 != $1 })")
        #expect(try server.psql(database: database, "SELECT rows, first_seq, last_seq FROM larder_ingests ORDER BY id") == "5|1|5\n2|6|7\n")
    }

    @Test func aBadRowFailsAsInSQLiteAndLeavesEveryTableAsItWas() async throws {
        let (sqlite, postgres) = try await stores()
        defer {
            sqlite.close()
            postgres.close()
        }
        let good = try dir.write("good.csv", Self.awkward)
        _ = try await postgres.ingest(source: "events", file: good)
        let before = try postgresRows()
        let tables = "SELECT (SELECT count(*) FROM source_events) || ' ' || (SELECT count(*) FROM larder_ingests)"
        #expect(try server.psql(database: database, tables) == "5 1\n")

        // Many good rows (several COPY chunks) before the bad one on the last line.
        var text = "user_id,event_timestamp,score,flag\n"
        for i in 0..<40_000 { text += "\(i),2026-01-01T00:00:00Z,\(Double(i) / 7),true\n" }
        let cases = [
            ("bad-double.csv", text + "1,2026-01-01T00:00:00Z,abc,true\n"),
            ("future.csv", text + "1,2999-01-01T00:00:00Z,1,true\n"),
            ("missing.csv", "user_id,event_timestamp,flag\n1,2026-01-01T00:00:00Z,true\n"),
            ("fields.csv", text + "1,2026-01-01T00:00:00Z\n"),
        ]
        for (name, body) in cases {
            let file = try dir.write(name, body)
            var messages: [String] = []
            for ingest in [
                { try await sqlite.ingest(source: "events", file: file) }, { try await postgres.ingest(source: "events", file: file) },
            ] {
                do {
                    _ = try await ingest()
                    Issue.record("\(name) was ingested")
                } catch {
                    messages.append("\(error)")
                }
            }
            // The clock is in the future-time message: compare up to it.
            #expect(messages.count == 2 && messages[0].prefix(60) == messages[1].prefix(60), "\(name): \(messages)")
            #expect(messages.allSatisfy { $0.contains(name) }, "\(messages)")
        }
        #expect(try postgresRows() == before)
        #expect(try server.psql(database: database, tables) == "5 1\n")
    }

    @Test func twoMachinesIngestingAtOnceGetContiguousSequences() async throws {
        let (sqlite, a) = try await stores()
        sqlite.close()
        let b = try await PostgresStore(url: try PostgresURL(url, environment: [:]))
        defer {
            a.close()
            b.close()
        }
        var text = "user_id,event_timestamp,score,flag\n"
        for i in 0..<20_000 { text += "\(i),2026-01-01T00:00:00Z,\(i),false\n" }
        let file = try dir.write("many.csv", text)
        async let first = a.ingest(source: "events", file: file)
        async let second = b.ingest(source: "events", file: file)
        let ranges = try await [first, second].compactMap(\.sequences).sorted { $0.lowerBound < $1.lowerBound }
        #expect(ranges == [1...20_000, 20_001...40_000])
        #expect(
            try server.psql(database: database, "SELECT count(DISTINCT _seq), min(_seq), max(_seq) FROM source_events") == "40000|1|40000\n"
        )
    }

    @Test func anUnknownSourceIsNamedAsInSQLite() async throws {
        let (sqlite, postgres) = try await stores()
        defer {
            sqlite.close()
            postgres.close()
        }
        let file = try dir.write("x.csv", "a\n1\n")
        await #expect {
            try await postgres.ingest(source: "nope", file: file)
        } throws: { error in
            "\(error)".contains("source 'nope' is not registered; known sources: events")
        }
    }
}

/// Every bad file the SQLite store's tests reject (`IngestFixtures`) is rejected by the
/// PostgreSQL store with the same message, and leaves its tables exactly as they were.
@Suite struct PostgresBadIngestTests {
    let server: PostgresServer
    let database: String
    let dir: TemporaryDirectory
    let store: PostgresStore

    init() async throws {
        server = try PostgresServer.shared()
        let url = try server.createDatabase()
        database = String(url.split(separator: "/").last!)
        dir = try TemporaryDirectory()
        store = try await PostgresStore(url: try PostgresURL(url, environment: [:]))
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        _ = try await store.ingest(
            source: "driver_stats", file: dir.write("good.csv", IngestFixtures.header + "\n7,2026-01-01T00:00:00Z,,0.1,0.2,3\n"))
    }

    func tables() throws -> String {
        try server.psql(
            database: database,
            "SELECT (SELECT string_agg(concat_ws(',', _seq, driver_id, conv_rate), ';') FROM source_driver_stats), (SELECT count(*) FROM larder_ingests)"
        )
    }

    @Test(arguments: IngestFixtures.badCSV.indices)
    func badCSVIsRejectedWhollyAsInSQLite(index: Int) async throws {
        defer { store.close() }
        let (name, content, message) = IngestFixtures.badCSV[index]
        let before = try tables()
        let path = try dir.write("bad.csv", content)
        await #expect {
            try await store.ingest(source: "driver_stats", file: path)
        } throws: { error in
            let ok = "\(error)".contains(message) && "\(error)".hasPrefix(path)
            if !ok { Issue.record("\(name): got \(error)") }
            return ok
        }
        #expect(try tables() == before, "\(name)")
    }

    @Test(arguments: IngestFixtures.badJSON.indices)
    func badJSONLinesIsRejectedWhollyAsInSQLite(index: Int) async throws {
        defer { store.close() }
        let (name, content, message) = IngestFixtures.badJSON[index]
        let good =
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#
        let before = try tables()
        let path = try dir.write("bad.jsonl", content.isEmpty ? "" : good + "\n" + content)
        let expected = message.replacingOccurrences(of: "bad.jsonl:1", with: "bad.jsonl:2")
        await #expect {
            try await store.ingest(source: "driver_stats", file: path)
        } throws: { error in
            let ok = "\(error)".contains(expected)
            if !ok { Issue.record("\(name): got \(error)") }
            return ok
        }
        #expect(try tables() == before, "\(name)")
    }
}
