import Crypto
import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

@Suite struct MaterializationTests {
    let dir: TemporaryDirectory
    let store: OfflineStore
    static let header = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"

    init() throws {
        dir = try TemporaryDirectory()
        store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
    }

    func t(_ text: String) throws -> Timestamp { try Timestamp(rfc3339: text) }

    func table() throws -> [[DatabaseValue]] {
        try store.rows("SELECT * FROM features_driver_hourly_stats_v1 ORDER BY _seq")
    }

    func build(_ requests: String, features: [String] = ["driver_hourly_stats:conv_rate"]) throws -> [[String]] {
        let out = dir.file("train.csv")
        _ = try TrainingSetBuilder(store: store, repository: Features.repository).build(
            TrainingSetRequest(
                features: try Features.repository.resolve(references: features),
                rows: .file(path: dir.write("requests.csv", requests), format: nil, timestampColumn: "event_timestamp"), output: out))
        return try readCSV(out)
    }

    @Test func rerunningARangeReplacesItWithIdenticalContent() throws {
        _ = try store.ingest(
            source: "driver_stats",
            file: dir.write(
                "a.csv",
                Self.header + """
                    1,2026-01-01T00:00:00Z,,0.1,0.2,3
                    1,2026-01-01T01:00:00Z,2026-01-01T01:05:00Z,0.3,0.4,5
                    2,2026-01-01T02:00:00Z,,0.5,0.6,7

                    """))
        let end = try t("2026-01-02T00:00:00Z")
        let first = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: end))
        #expect(first.rows == 3)
        let before = try table()
        #expect(before.count == 3)
        let again = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: end))
        #expect(again.rows == 3)
        #expect(try table() == before)
        // A sub-range re-run touches only its rows and still duplicates nothing.
        #expect(
            try store.materialize(driverHourlyStats, mode: .range(start: t("2026-01-01T01:00:00Z"), end: t("2026-01-01T02:00:00Z"))).rows
                == 1)
        #expect(try table() == before)
        let state = try #require(try store.materializationState(view: "driver_hourly_stats", version: 1))
        #expect(state.start == (try t("2026-01-01T00:00:00Z")) && state.end == end && state.seqWatermark == 3)
    }

    @Test func rowTransformationsRunWhenMaterializing() throws {
        _ = try store.ingest(
            source: "trips",
            file: dir.write(
                "t.csv",
                """
                driver_id,event_timestamp,fare,distance_km
                1,2026-01-01T00:00:00Z,12,3
                1,2026-01-01T00:10:00Z,5,0

                """))
        _ = try store.materialize(driverTrips, mode: .range(start: nil, end: t("2026-01-02T00:00:00Z")))
        #expect(
            try store.rows("SELECT fare_per_km FROM features_driver_trips_v1 ORDER BY _seq") == [
                [(4.0).databaseValue], [(50.0).databaseValue],
            ])
    }

    @Test func incrementalPicksUpLateArrivingRows() throws {
        _ = try store.ingest(source: "driver_stats", file: dir.write("a.csv", Self.header + "1,2026-01-01T00:00:00Z,,0.1,0.2,3\n"))
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: t("2026-01-01T06:00:00Z")))
        let request = "driver_id,event_timestamp\n1,2026-01-01T01:30:00Z\n"
        #expect(try build(request)[1] == ["1", "2026-01-01T01:30:00Z", "0.1"])

        // A late row (event time before the watermark's end) and a row beyond it.
        _ = try store.ingest(
            source: "driver_stats",
            file: dir.write("b.csv", Self.header + "1,2026-01-01T01:00:00Z,,0.9,0.2,3\n1,2026-01-01T07:00:00Z,,0.7,0.2,3\n"))
        #expect(
            performing: { try build(request) },
            throws: { error in
                "\(error)".contains(
                    "1 rows were ingested into driver_stats after feature view driver_hourly_stats was last materialized; run `larder materialize --incremental`"
                )
            })
        let run = try store.materialize(driverHourlyStats, mode: .incremental(end: t("2026-01-01T08:00:00Z")))
        #expect(run.incremental)
        #expect(run.rows == 2)
        #expect(try build(request)[1] == ["1", "2026-01-01T01:30:00Z", "0.9"])
        #expect(try build("driver_id,event_timestamp\n1,2026-01-01T07:30:00Z\n")[1] == ["1", "2026-01-01T07:30:00Z", "0.7"])
        // Nothing new: an incremental run writes nothing.
        #expect(try store.materialize(driverHourlyStats, mode: .incremental(end: t("2026-01-01T08:00:00Z"))).rows == 0)
        #expect(try table().count == 3)
    }

    /// Tiles after ingests in pieces, late rows and incremental runs equal the tiles of one
    /// full run over the same rows; training-set aggregations follow the window rule.
    @Test func incrementalTilesConvergeToAFullRun() throws {
        let header = "driver_id,event_timestamp,fare,distance_km\n"
        let early = header + "1,2026-01-01T00:00:00Z,10,1\n1,2026-01-01T00:59:59Z,20,2\n2,2026-01-01T00:05:00Z,7,1\n"
        let later = header + "1,2026-01-01T03:00:00Z,30,3\n"
        let late = header + "1,2026-01-01T00:30:00Z,40,4\n2,2025-12-31T23:55:00Z,1,1\n"
        _ = try store.ingest(source: "trips", file: dir.write("a.csv", early))
        _ = try store.materialize(driverTrips, mode: .range(start: nil, end: t("2026-01-01T02:00:00Z")))
        _ = try store.ingest(source: "trips", file: dir.write("b.csv", later))
        _ = try store.ingest(source: "trips", file: dir.write("c.csv", late))
        let run = try store.materialize(driverTrips, mode: .incremental(end: t("2026-01-02T00:00:00Z")))
        #expect(run.tiles > 0)
        let tiles = "SELECT driver_id, _hop, _hop_start, _watermark, hex(_tile) FROM tiles_driver_trips_v1 ORDER BY 1, 2, 3"
        let incremental = try store.rows(tiles)

        let fresh = try TemporaryDirectory()
        let other = try OfflineStore(path: fresh.file("offline.sqlite"))
        try other.registry.apply(try other.registry.plan(for: Features.repository))
        for (name, text) in [("a.csv", early), ("b.csv", later), ("c.csv", late)] {
            _ = try other.ingest(source: "trips", file: fresh.write(name, text))
        }
        _ = try other.materialize(driverTrips, mode: .range(start: nil, end: t("2026-01-02T00:00:00Z")))
        #expect(try other.rows(tiles) == incremental)
        #expect(!incremental.isEmpty)

        // At 01:00 the 1-hour window with 5-minute hops starts at 00:00: three of driver 1's
        // trips; the 24-hour sum has all four of them; at 01:04:59.999999 the window
        // still starts at 00:00, at 01:05 it has moved past the 00:00 trip.
        let rows = try build(
            "driver_id,event_timestamp\n1,2026-01-01T01:00:00Z\n1,2026-01-01T01:04:59.999999Z\n1,2026-01-01T01:05:00Z\n2,2026-01-01T00:05:00Z\n3,2026-01-01T00:05:00Z\n",
            features: [
                "driver_trips:trips_1h", "driver_trips:fare_sum_24h", "driver_trips:fare_mean_7d", "driver_trips:fare_per_km_max_24h",
            ])
        #expect(rows[0] == ["driver_id", "event_timestamp", "trips_1h", "fare_sum_24h", "fare_mean_7d", "fare_per_km_max_24h"])
        #expect(rows[1] == ["1", "2026-01-01T01:00:00Z", "3", "70.0", "23.333333333333332", "10.0"])
        #expect(rows[2] == ["1", "2026-01-01T01:04:59.999999Z", "3", "70.0", "23.333333333333332", "10.0"])
        #expect(rows[3] == ["1", "2026-01-01T01:05:00Z", "2", "70.0", "23.333333333333332", "10.0"])
        #expect(rows[4] == ["2", "2026-01-01T00:05:00Z", "2", "8.0", "4.0", "7.0"])
        // No events: count and sum 0, mean and max empty.
        #expect(rows[5] == ["3", "2026-01-01T00:05:00Z", "0", "0.0", "", ""])
    }

    @Test func incrementalCoversRowsWhoseTimeHasCome() throws {
        // A row dated after the first run's end is picked up once its time is inside the range.
        _ = try store.ingest(
            source: "driver_stats",
            file: dir.write("a.csv", Self.header + "1,2026-01-01T00:00:00Z,,0.1,0.2,3\n1,2026-01-01T10:00:00Z,,0.2,0.2,3\n"))
        #expect(try store.materialize(driverHourlyStats, mode: .range(start: nil, end: t("2026-01-01T06:00:00Z"))).rows == 1)
        #expect(try store.materialize(driverHourlyStats, mode: .incremental(end: t("2026-01-01T12:00:00Z"))).rows == 1)
        #expect(try table().count == 2)
    }

    @Test func trainingSetsRefuseWhatIsNotMaterialized() throws {
        _ = try store.ingest(source: "driver_stats", file: dir.write("a.csv", Self.header + "1,2026-01-01T00:00:00Z,,0.1,0.2,3\n"))
        #expect(
            performing: { try build("driver_id,event_timestamp\n1,2026-01-01T01:00:00Z\n") },
            throws: { error in
                "\(error)".contains(
                    "feature view driver_hourly_stats (v1) has not been materialized; run `larder materialize --views driver_hourly_stats`")
            })
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: t("2026-01-01T06:00:00Z")))
        #expect(
            performing: { try build("driver_id,event_timestamp\n1,2026-01-01T01:00:00Z\n1,2026-01-01T07:00:00Z\n") },
            throws: { error in
                "\(error)".contains(
                    "requests.csv:3: the request instant 2026-01-01T07:00:00Z is at or after the end of what feature view driver_hourly_stats has materialized (2026-01-01T06:00:00Z)"
                )
            })
        #expect(!FileManager.default.fileExists(atPath: dir.file("train.csv")))
    }

    @Test func badRequestFilesNameTheProblemAndWriteNothing() throws {
        _ = try store.ingest(source: "driver_stats", file: dir.write("a.csv", Self.header + "1,2026-01-01T00:00:00Z,,0.1,0.2,3\n"))
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: t("2026-01-02T00:00:00Z")))
        try "previous contents".write(toFile: dir.file("train.csv"), atomically: true, encoding: .utf8)
        let cases: [(String, String)] = [
            (
                "event_timestamp\n2026-01-01T01:00:00Z\n",
                "requests.csv:1: no 'driver_id' column: feature view driver_hourly_stats is keyed by driver_id"
            ),
            ("driver_id,ts\n1,2026-01-01T01:00:00Z\n", "requests.csv:1: no 'event_timestamp' column"),
            (
                "driver_id,event_timestamp\n1,2026-01-01T01:00:00Z\nx,2026-01-01T01:00:00Z\n",
                "requests.csv:3: column 'driver_id', value \"x\": not an int64"
            ),
            (
                "driver_id,event_timestamp\n1,2026-01-01 01:00\n",
                "requests.csv:2: column 'event_timestamp', value \"2026-01-01 01:00\": not a timestamp"
            ),
            (
                "driver_id,event_timestamp\n,2026-01-01T01:00:00Z\n",
                "requests.csv:2: column 'driver_id': empty; every request row needs its entity key"
            ),
            ("driver_id,event_timestamp\n1,2026-01-01T01:00:00Z,9\n", "requests.csv:2: expected 2 fields as in the header, found 3"),
        ]
        for (content, message) in cases {
            #expect(
                performing: { try build(content) },
                throws: { error in
                    let ok = "\(error)".contains(message)
                    if !ok { Issue.record("expected \(message), got \(error)") }
                    return ok
                })
            #expect(try String(contentsOfFile: dir.file("train.csv"), encoding: .utf8) == "previous contents")
        }
        // On-demand features need their request fields.
        #expect(
            performing: { try build("driver_id,event_timestamp\n1,2026-01-01T01:00:00Z\n", features: ["transformed_conv_rate"]) },
            throws: { error in
                "\(error)".contains("no 'val_to_add' column: on-demand features read the request field val_to_add (int64)")
            })
    }

    @Test func outputsCarryRequestColumnsAndNameCollisions() throws {
        _ = try store.ingest(source: "driver_stats", file: dir.write("a.csv", Self.header + "1,2026-01-01T00:00:00Z,,0.25,0.5,3\n"))
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: t("2026-01-02T00:00:00Z")))
        // A request column named like a feature forces the full name; quoted text is kept.
        let rows = try build(
            "driver_id,event_timestamp,conv_rate,note\n1,2026-01-01T01:00:00Z,label,\"a, b\"\n1,2026-01-01T01:00:00Z,label,\"\"\n",
            features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"])
        #expect(
            rows == [
                ["driver_id", "event_timestamp", "conv_rate", "note", "driver_hourly_stats__conv_rate", "acc_rate"],
                ["1", "2026-01-01T01:00:00Z", "label", "a, b", "0.25", "0.5"],
                ["1", "2026-01-01T01:00:00Z", "label", "", "0.25", "0.5"],
            ])
        // JSON Lines in and out.
        let out = dir.file("train.jsonl")
        let summary = try TrainingSetBuilder(store: store, repository: Features.repository).build(
            TrainingSetRequest(
                features: try Features.repository.resolve(serviceNamed: "driver_ranking").filter { $0.view != "driver_trips" },
                rows: .file(
                    path: dir.write(
                        "r.jsonl",
                        #"{"driver_id": 1, "event_timestamp": "2026-01-01T03:00:00Z", "val_to_add": 1, "val_to_add_2": 2, "label": true}"#
                            + "\n"
                            + #"{"driver_id": 7, "event_timestamp": "2026-01-01T01:00:00Z", "val_to_add": 1, "val_to_add_2": 2, "label": null}"#
                    ), format: nil, timestampColumn: "event_timestamp"),
                output: out))
        #expect(summary.rows == 2)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(
            lines == [
                // 3h after the event: past the 2h ttl, so null; on-demand features follow.
                #"{"driver_id":1,"event_timestamp":"2026-01-01T03:00:00Z","val_to_add":1,"val_to_add_2":2,"label":true,"conv_rate":null,"acc_rate":null,"avg_daily_trips":null,"conv_rate_plus_val1":null,"conv_rate_plus_val2":null}"#,
                #"{"driver_id":7,"event_timestamp":"2026-01-01T01:00:00Z","val_to_add":1,"val_to_add_2":2,"label":null,"conv_rate":null,"acc_rate":null,"avg_daily_trips":null,"conv_rate_plus_val1":null,"conv_rate_plus_val2":null}"#,
            ])
    }

    @Test func manifestDescribesTheSet() throws {
        _ = try store.ingest(source: "driver_stats", file: dir.write("a.csv", Self.header + "1,2026-01-01T00:00:00Z,,0.25,0.5,3\n"))
        _ = try store.materialize(driverHourlyStats, mode: .range(start: nil, end: t("2026-01-02T00:00:00Z")))
        let request = "driver_id,event_timestamp\n1,2026-01-01T01:00:00Z\n1,2026-01-01T01:00:00Z\n"
        _ = try build(request)
        let manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("train.csv.manifest.json"))))
                as? [String: Any])
        let output = try #require(manifest["output"] as? [String: Any])
        #expect(output["rows"] as? Int == 2)
        #expect(output["sha256"] as? String == sha256(try Data(contentsOf: URL(fileURLWithPath: dir.file("train.csv")))))
        let requestInfo = try #require(manifest["request"] as? [String: Any])
        #expect(requestInfo["rows"] as? Int == 2)
        #expect(requestInfo["sha256"] as? String == sha256(Data(request.utf8)))
        let features = try #require(manifest["features"] as? [[String: Any]])
        #expect(features.first?["feature"] as? String == "driver_hourly_stats:conv_rate")
        #expect(features.first?["view_version"] as? Int == 1)
        #expect((features.first?["fingerprint"] as? String)?.count == 16)
        let materializations = try #require(manifest["materializations"] as? [[String: Any]])
        #expect(materializations.first?["seq_watermark"] as? Int == 1)
    }
}

func sha256(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
