import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

@Suite struct IngestTests {
    let dir: TemporaryDirectory
    let store: OfflineStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
    }

    static let header = IngestFixtures.header

    func stats() throws -> [[DatabaseValue]] {
        try store.rows(
            "SELECT driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips FROM source_driver_stats ORDER BY _seq")
    }

    // MARK: CSV

    @Test func ingestsCSVWithEveryRFC4180Feature() throws {
        // Columns in another order, quoted fields, CRLF line ends, a BOM, a blank line,
        // an offset timestamp, a null created time and no newline at the end.
        let text =
            "\u{FEFF}avg_daily_trips,\"driver_id\",event_timestamp,created,conv_rate,acc_rate\r\n"
            + "10,1001,2026-01-01T00:00:00Z,2026-01-01T00:05:00Z,0.5,0.25\r\n"
            + "\r\n"
            + "\"11\",1002,2026-01-01T01:00:00+01:00,,\"1e-3\",-0.125"
        let summary = try store.ingest(source: "driver_stats", file: dir.write("s.csv", text))
        #expect(summary.rows == 2)
        #expect(summary.sequences == 1...2)
        #expect(
            try stats() == [
                [
                    1001.databaseValue, 1_767_225_600_000_000.databaseValue, 1_767_225_900_000_000.databaseValue, 0.5.databaseValue,
                    0.25.databaseValue, 10.databaseValue,
                ],
                [
                    1002.databaseValue, 1_767_225_600_000_000.databaseValue, .null, 0.001.databaseValue, (-0.125).databaseValue,
                    11.databaseValue,
                ],
            ])
    }

    static let strings = Source(
        "notes", columns: [driverID, Column<String>("text"), Column<String?>("tag"), Column<Bool?>("flag")])

    func storeWithNotes() throws -> OfflineStore {
        let s = try OfflineStore(path: dir.file("notes.sqlite"))
        try s.registry.apply(
            try s.registry.plan(
                for: FeatureRepository {
                    driver; Self.strings
                }))
        return s
    }

    @Test func quotedFieldsHoldCommasQuotesAndNewlines() throws {
        let s = try storeWithNotes()
        let text =
            "driver_id,event_timestamp,text,tag,flag\n"
            + "1,2026-01-01T00:00:00Z,\"a, b\",\"\",true\n"
            + "2,2026-01-01T00:00:00Z,\"say \"\"hi\"\"\",,FALSE\n"
            + "3,2026-01-01T00:00:00Z,\"two\r\nlines\nhere\",x,1\n"
            + "4,2026-01-01T00:00:00Z,\"ünïcödé ✓\",,\n"
        #expect(try s.ingest(source: "notes", file: dir.write("n.csv", text)).rows == 4)
        #expect(
            try s.rows("SELECT text, tag, flag FROM source_notes ORDER BY _seq") == [
                ["a, b".databaseValue, "".databaseValue, 1.databaseValue],
                ["say \"hi\"".databaseValue, .null, 0.databaseValue],
                ["two\r\nlines\nhere".databaseValue, "x".databaseValue, 1.databaseValue],
                ["ünïcödé ✓".databaseValue, .null, .null],
            ])
    }

    @Test func nullableColumnsMayBeLeftOutOfTheHeader() throws {
        let s = try storeWithNotes()
        let text = "driver_id,event_timestamp,text\n1,2026-01-01T00:00:00Z,hello\n"
        #expect(try s.ingest(source: "notes", file: dir.write("n.csv", text)).rows == 1)
        #expect(try s.rows("SELECT text, tag, flag FROM source_notes") == [["hello".databaseValue, .null, .null]])
    }

    @Test func recordsSpanningReadChunksParseTheSame() throws {
        // Force refills in the middle of records, quoted fields and CRLFs.
        var text = "a,b,c\r\n"
        for i in 0..<500 { text += "\(i),\"x\"\"\(i)\r\ny\",\(i * 7)\r\n" }
        let path = try dir.write("chunks.csv", text)
        func records(chunk: Int) throws -> [[String]] {
            var reader = CSVReader(file: try InputFile(path: path, chunkSize: chunk))
            var out: [[String]] = []
            while try reader.next() { out.append((0..<reader.fieldCount).map(reader.fieldString)) }
            return out
        }
        let expected = try records(chunk: 1 << 20)
        #expect(expected.count == 501)
        #expect(expected[1] == ["0", "x\"0\r\ny", "0"])
        for chunk in [1, 2, 3, 7, 64] { #expect(try records(chunk: chunk) == expected) }
    }

    @Test func doublesParseExactlyAsSwiftDoes() {
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "0", "-0.0", "1.", ".5", "123456789012345", "1234567890123456789", "0.1", "0.30000000000000004",
            "1e308", "2.2250738585072014e-308", "4.9e-324", "0.000000000000000000000001", "+3.25",
        ]
        for _ in 0..<2000 {
            let d = Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF)
            texts.append("\(d)")
            texts.append(String(format: "%.6f", Double.random(in: -1000...1000)))
        }
        for text in texts {
            var t = text
            let parsed = t.withUTF8 { FieldParsing.double($0) }
            #expect(parsed == Double(text), "\(text)")
        }
        for bad in ["", " 1", "1 ", "nan", "inf", "0x1p3", "1,5", "--1", ".", "-", "1e", "1e999"] {
            var t = bad
            #expect(t.withUTF8 { FieldParsing.double($0) } == nil, "\(bad)")
        }
    }

    // MARK: JSON Lines

    @Test func ingestsJSONLines() throws {
        let text = """
            {"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "created": null, "conv_rate": 0.5, "acc_rate": 1, "avg_daily_trips": 3}

            {"avg_daily_trips": -4, "acc_rate": 2.5e-1, "conv_rate": 0, "event_timestamp": "2026-01-01T02:00:00+02:00", "driver_id": 1002}\r
            """
        let summary = try store.ingest(source: "driver_stats", file: dir.write("s.jsonl", text))
        #expect(summary.rows == 2)
        #expect(
            try stats() == [
                [1001.databaseValue, 1_767_225_600_000_000.databaseValue, .null, 0.5.databaseValue, 1.0.databaseValue, 3.databaseValue],
                [
                    1002.databaseValue, 1_767_225_600_000_000.databaseValue, .null, 0.0.databaseValue, 0.25.databaseValue,
                    (-4).databaseValue,
                ],
            ])
    }

    @Test func jsonStringsAreUnescaped() throws {
        let s = try storeWithNotes()
        let text = #"{"driver_id": 1, "event_timestamp": "2026-01-01T00:00:00Z", "text": "a\"b\\c\n\u00e9\ud83d\ude00", "flag": false}"#
        #expect(try s.ingest(source: "notes", file: dir.write("n.jsonl", text)).rows == 1)
        #expect(try s.rows("SELECT text, flag FROM source_notes") == [["a\"b\\c\né😀".databaseValue, 0.databaseValue]])
    }

    // MARK: Bad input: every case names the problem and writes nothing

    static let badCSV = IngestFixtures.badCSV

    @Test(arguments: badCSV.indices)
    func badCSVIsRejectedWholly(index: Int) throws {
        let (name, content, message) = Self.badCSV[index]
        // A good file first: a rejected one must leave it exactly as it was.
        _ = try store.ingest(source: "driver_stats", file: dir.write("good.csv", Self.header + "\n7,2026-01-01T00:00:00Z,,0.1,0.2,3\n"))
        let before = try stats()
        let path = try dir.write("bad.csv", content)
        #expect(
            performing: { try store.ingest(source: "driver_stats", file: path) },
            throws: { error in
                let text = "\(error)"
                let ok = text.contains(message) && text.hasPrefix(path)
                if !ok { Issue.record("\(name): got \(text)") }
                return ok
            })
        #expect(try stats() == before, "\(name)")
        #expect(try store.count("larder_ingests") == 1, "\(name)")
    }

    @Test func nonUTF8BytesAreRejected() throws {
        let s = try storeWithNotes()
        let bytes = Array("driver_id,event_timestamp,text\n1,2026-01-01T00:00:00Z,ok\n2,2026-01-01T00:00:00Z,caf".utf8) + [0xE9, 0x0A]
        let path = try dir.write("latin1.csv", bytes)
        #expect(
            performing: { try s.ingest(source: "notes", file: path) },
            throws: { error in
                "\(error)" == "\(path):3: column 'text', value \"caf\\xE9\": not valid UTF-8"
            })
        #expect(try s.count("source_notes") == 0)
    }

    @Test func aBadLastLineInALargeFileWritesNothing() throws {
        var text = Self.header + "\n"
        text.reserveCapacity(20_000_000)
        let rows = 200_000
        for i in 0..<rows { text += "\(1000 + i % 100),2026-01-01T00:00:00Z,,0.5,0.25,\(i)\n" }
        text += "1000,2026-01-01T00:00:00Z,,0.5,0.25,oops\n"
        let path = try dir.write("large.csv", text)
        #expect(
            performing: { try store.ingest(source: "driver_stats", file: path) },
            throws: { error in
                "\(error)" == "\(path):\(rows + 2): column 'avg_daily_trips', value \"oops\": not an int64"
            })
        #expect(try store.count("source_driver_stats") == 0)
        #expect(try store.count("larder_ingests") == 0)
    }

    /// A large ingest into a source with an aggregation index drops and rebuilds it; a
    /// failed one leaves the index (and the table) as they were.
    @Test func aggregationIndexesSurviveLargeIngestsGoodOrBad() throws {
        func indexes() throws -> [String] {
            try store.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'source_trips' ORDER BY name")
                .map { String.fromDatabaseValue($0[0]) ?? "" }
        }
        let before = try indexes()
        #expect(before.contains { $0.hasPrefix("source_trips_agg_") })
        var text = "driver_id,event_timestamp,fare,distance_km\n"
        for i in 0..<5_000 { text += "\(i % 50),2026-01-01T00:\(String(format: "%02d", i % 60)):00Z,\(i % 90),2\n" }
        #expect(throws: IngestError.self) { try store.ingest(source: "trips", file: dir.write("bad.csv", text + "1,nope,1,1\n")) }
        #expect(try indexes() == before)
        #expect(try store.count("source_trips") == 0)
        #expect(try store.ingest(source: "trips", file: dir.write("good.csv", text)).rows == 5_000)
        #expect(try indexes() == before)
        // The rebuilt index answers the training sets' query shape in key and time order.
        let plan = try store.rows(
            "EXPLAIN QUERY PLAN SELECT _seq, event_timestamp, fare, distance_km FROM source_trips WHERE driver_id = 7 ORDER BY event_timestamp"
        )
        #expect(plan.contains { "\($0)".contains("source_trips_agg_") }, "\(plan)")
    }

    static let badJSON = IngestFixtures.badJSON

    @Test(arguments: badJSON.indices)
    func badJSONLinesIsRejectedWholly(index: Int) throws {
        let (name, content, message) = Self.badJSON[index]
        let good =
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#
        let path = try dir.write("bad.jsonl", good + "\n" + content)
        let line = content.isEmpty ? "" : ":2"
        let expected = message.replacingOccurrences(of: "bad.jsonl:1", with: "bad.jsonl\(line)")
        if !content.isEmpty {
            #expect(
                performing: { try store.ingest(source: "driver_stats", file: path) },
                throws: { error in
                    let ok = "\(error)".contains(expected)
                    if !ok { Issue.record("\(name): got \(error)") }
                    return ok
                })
        } else {
            #expect(
                performing: { try store.ingest(source: "driver_stats", file: dir.write("empty.jsonl", "")) },
                throws: { error in
                    "\(error)".contains("the file has no data rows")
                })
        }
        #expect(try store.count("source_driver_stats") == 0, "\(name)")
    }

    @Test func unknownSourceAndFormatAreExplained() throws {
        #expect(
            performing: { try store.ingest(source: "nope", file: dir.write("x.csv", "a\n1\n")) },
            throws: { error in
                "\(error)".contains("source 'nope' is not registered; known sources: driver_stats, trips")
            })
        #expect(
            performing: { try store.ingest(source: "trips", file: dir.write("x.txt", "a\n1\n")) },
            throws: { error in
                "\(error)".contains("cannot tell the format")
            })
        #expect(
            performing: { try store.ingest(source: "trips", file: dir.file("missing.csv")) },
            throws: { error in
                "\(error)".contains("missing.csv: cannot open the file: No such file or directory")
            })
    }

    @Test func ingestSequencesGrowAcrossIngests() throws {
        let a = try store.ingest(
            source: "driver_stats",
            file: dir.write("a.csv", Self.header + "\n1,2026-01-02T00:00:00Z,,0.1,0.2,3\n2,2026-01-02T00:00:00Z,,0.1,0.2,3\n"))
        // A late-arriving row (older event time) still gets a later sequence number.
        let b = try store.ingest(source: "driver_stats", file: dir.write("b.csv", Self.header + "\n1,2025-12-01T00:00:00Z,,0.1,0.2,3\n"))
        #expect(a.sequences == 1...2)
        #expect(b.sequences == 3...3)
        #expect(
            try store.rows("SELECT _ingest FROM source_driver_stats ORDER BY _seq") == [
                [1.databaseValue], [1.databaseValue], [2.databaseValue],
            ])
        #expect(
            try store.rows("SELECT source, rows, first_seq, last_seq FROM larder_ingests ORDER BY id") == [
                ["driver_stats".databaseValue, 2.databaseValue, 1.databaseValue, 2.databaseValue],
                ["driver_stats".databaseValue, 1.databaseValue, 3.databaseValue, 3.databaseValue],
            ])
    }
}
