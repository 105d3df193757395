import Foundation
import GRDB
import Testing

@Suite struct OfflineCommandTests {
    let project: LarderProcess

    init() throws { project = try LarderProcess() }

    static func statsCSV(rows: Int, drivers: Int = 100) -> String {
        var text = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        text.reserveCapacity(rows * 70)
        let base = 1_767_225_600  // 2026-01-01T00:00:00Z
        let formatter = ISO8601DateFormatter()
        for i in 0..<rows {
            let t = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(base + (i / drivers) * 3600)))
            text += "\(1000 + i % drivers),\(t),,0.\(i % 997),0.5,\(i)\n"
        }
        return text
    }

    @Test func materializeThenTrainingSet() throws {
        _ = try project.run("apply")
        let stats = try project.write("stats.csv", Self.statsCSV(rows: 500))
        #expect(try project.run("ingest", "driver_stats", stats).status == 0)
        let materialized = try project.run(
            "materialize", "--views", "driver_hourly_stats", "--end", "2026-01-02T00:00:00Z", "--offline-only")
        #expect(materialized.status == 0)
        #expect(materialized.stdout.hasPrefix("driver_hourly_stats v1: 500 rows in "))
        #expect(materialized.stdout.contains("materialized [2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z)"))

        let requests = try project.write(
            "requests.csv",
            "driver_id,event_timestamp,label\n1000,2026-01-01T02:30:00Z,1\n1000,2026-01-01T02:30:00Z,1\n5,2026-01-01T02:30:00Z,0\n")
        let built = try project.run(
            "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips",
            "--out", "train.csv")
        #expect(built.status == 0, "\(built.stderr)")
        #expect(built.stdout.hasPrefix("wrote 3 rows to train.csv in "))
        let csv = try String(contentsOfFile: project.directory + "/train.csv", encoding: .utf8)
        #expect(
            csv
                == "driver_id,event_timestamp,label,conv_rate,avg_daily_trips\n1000,2026-01-01T02:30:00Z,1,0.200,200\n1000,2026-01-01T02:30:00Z,1,0.200,200\n5,2026-01-01T02:30:00Z,0,,\n"
                .replacingOccurrences(of: "0.200", with: "0.2"))
        #expect(FileManager.default.fileExists(atPath: project.directory + "/train.csv.manifest.json"))

        let snapshot = try project.run(
            "training-set", "--at", "2026-01-01T01:00:00Z", "--features", "driver_hourly_stats:avg_daily_trips", "--out", "snap.jsonl")
        #expect(snapshot.status == 0, "\(snapshot.stderr)")
        let lines = try String(contentsOfFile: project.directory + "/snap.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        #expect(lines.first == #"{"driver_id":1000,"event_timestamp":"2026-01-01T01:00:00Z","avg_daily_trips":100}"#)

        // Parquet: the same rows, typed (ParquetTrainingSetTests reads them back with pyarrow).
        let parquet = try project.run(
            "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate", "--out", "train.parquet",
            "--compression", "none")
        #expect(parquet.status == 0, "\(parquet.stderr)")
        #expect(parquet.stdout.hasPrefix("wrote 3 rows to train.parquet in "))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: project.directory + "/train.parquet"))
        #expect(bytes.prefix(4) == Data("PAR1".utf8) && bytes.suffix(4) == Data("PAR1".utf8))
        let manifest = try String(contentsOfFile: project.directory + "/train.parquet.manifest.json", encoding: .utf8)
        #expect(manifest.contains(#""format" : "parquet""#) || manifest.contains(#""format":"parquet""#), "\(manifest)")
        let badCodec = try project.run(
            "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate", "--out", "x.parquet",
            "--compression", "lz4")
        #expect(badCodec.status != 0 && badCodec.stderr.contains("'none', 'snappy', 'gzip' or 'zstd'"), "\(badCodec.stderr)")
        let codecForCSV = try project.run(
            "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate", "--out", "x.csv",
            "--compression", "zstd")
        #expect(codecForCSV.status != 0 && codecForCSV.stderr.contains("--compression zstd is for Parquet output"))

        let unknown = try project.run("training-set", "--entities", requests, "--features", "driver_hourly_stats:nope", "--out", "x.csv")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("view driver_hourly_stats has no feature 'nope'"))
        let unknownService = try project.run("training-set", "--entities", requests, "--service", "nope", "--out", "x.csv")
        #expect(unknownService.stderr.contains("unknown feature service 'nope'"))
        let both = try project.run(
            "training-set", "--entities", requests, "--at", "2026-01-01T01:00:00Z", "--service", "driver_ranking", "--out", "x.csv")
        #expect(both.status != 0)
        #expect(both.stderr.contains("give either --entities FILE or --at T"))
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/x.csv"))
    }

    @Test func aKilledMaterializationLeavesNothingAndARerunConverges() throws {
        _ = try project.run("apply")
        let rows = 200_000
        let stats = try project.write("stats.csv", Self.statsCSV(rows: rows, drivers: 1000))
        #expect(try project.run("ingest", "driver_stats", stats).status == 0)

        // Kill it once its transaction is well under way (the WAL is growing).
        let process = try project.start("materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z", "--offline-only")
        let killedMidway = project.killOnceItsTransactionGrows(process)
        #expect(killedMidway, "materialize finished before it could be killed; the test needs more rows")
        #expect(process.terminationReason == .uncaughtSignal)

        // Nothing was committed: the view counts as not materialized.
        let requests = try project.write("requests.csv", "driver_id,event_timestamp\n1000,2026-01-03T00:00:00Z\n")
        let refused = try project.run(
            "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate", "--out", "train.csv")
        #expect(refused.stderr.contains("has not been materialized"))

        // A re-run completes, and its table equals a clean run's in another project.
        let rerun = try project.run("materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z", "--offline-only")
        #expect(rerun.status == 0)
        #expect(rerun.stdout.contains("200,000 rows"))
        let clean = try LarderProcess()
        _ = try clean.run("apply")
        _ = try clean.run("ingest", "driver_stats", stats)
        _ = try clean.run("materialize", "--views", "driver_hourly_stats", "--end", "2026-02-01T00:00:00Z", "--offline-only")
        func contents(_ p: LarderProcess) throws -> [[DatabaseValue]] {
            let db = try DatabaseQueue(path: p.directory + "/data/offline.sqlite")
            return try db.read {
                try Row.fetchAll($0, sql: "SELECT * FROM features_driver_hourly_stats_v1 ORDER BY _seq").map { Array($0.databaseValues) }
            }
        }
        let a = try contents(project), b = try contents(clean)
        #expect(a.count == rows)
        #expect(a == b)
    }

    @Test func aKilledIngestLeavesTheSourceAsItWas() throws {
        _ = try project.run("apply")
        let small = try project.write("small.csv", Self.statsCSV(rows: 10))
        #expect(try project.run("ingest", "driver_stats", small).status == 0)
        let big = try project.write("big.csv", Self.statsCSV(rows: 400_000, drivers: 1000))

        let process = try project.start("ingest", "driver_stats", big)
        let killedMidway = project.killOnceItsTransactionGrows(process)
        #expect(killedMidway, "ingest finished before it could be killed; the test needs more rows")

        // The ten rows of the first ingest, nothing of the killed one; a new ingest works.
        func rows() throws -> Int {
            let object = try JSONSerialization.jsonObject(with: Data(try project.run("describe", "driver_stats", "--json").stdout.utf8))
            return (object as? [String: Any])?["rows"] as? Int ?? -1
        }
        #expect(try rows() == 10)
        #expect(try project.run("ingest", "driver_stats", small).status == 0)
        #expect(try rows() == 20)
    }
}
