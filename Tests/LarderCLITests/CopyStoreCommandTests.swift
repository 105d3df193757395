import Foundation
import LarderTestSupport
import Testing

/// `larder copy-store --to URL` against a real PostgreSQL server: the configured SQLite store
/// (here through LARDER_OFFLINE_PATH) copied, a table of rows per table, the PostgreSQL store
/// usable at once, a second copy refused, and the SQLite file untouched.
@Suite struct CopyStoreCommandTests {
    let project: LarderProcess
    let url: String
    let database: String

    init() throws {
        project = try LarderProcess()
        url = try PostgresServer.shared().createDatabase()
        database = String(url.split(separator: "/").last!)
    }

    @Test func copiesTheConfiguredSQLiteStoreIntoAnEmptyPostgreSQLStore() throws {
        let sqlite = ["LARDER_OFFLINE_PATH": "elsewhere/offline.sqlite"]
        var result = try project.run("apply", environment: sqlite)
        #expect(result.status == 0, "\(result.stderr)")
        let recent = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-600))
        let file = try project.write(
            "stats.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,\(recent),,0.5,0.25,10\n1002,\(recent),,0.1,0.2,3\n"
        )
        result = try project.run("ingest", "driver_stats", file, environment: sqlite)
        #expect(result.status == 0, "\(result.stderr)")
        result = try project.run("materialize", "--offline-only", environment: sqlite)
        #expect(result.status == 0, "\(result.stderr)")
        let path = project.directory + "/elsewhere/offline.sqlite"
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        result = try project.run("copy-store", "--to", url, environment: sqlite)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("TABLE") == true, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("source_driver_stats ") && $0.hasSuffix(" 2") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("features_driver_hourly_stats_v1 ") && $0.hasSuffix(" 2") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("larder_registry ") && $0.hasSuffix(" 7") }, "\(result.stdout)")
        let last = lines.last ?? ""
        #expect(last.hasPrefix("copied ") && last.contains(" tables from \(path) to postgres://larder:***@"), "\(result.stdout)")
        #expect(last.hasSuffix("; the SQLite store is unchanged"), "\(result.stdout)")
        #expect(!result.stdout.contains(try PostgresServer.shared().password))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)

        // The PostgreSQL store is the SQLite store's: nothing to apply, the same watermark.
        let postgres = ["LARDER_OFFLINE_URL": url]
        result = try project.run("apply", environment: postgres)
        #expect(result.stdout.contains("No changes: the registry matches features/."), "\(result.stdout)\(result.stderr)")
        result = try project.run("describe", "driver_hourly_stats", environment: postgres)
        #expect(result.stdout.contains("source rows up to _seq 2"), "\(result.stdout)\(result.stderr)")

        // Not into a store that holds something.
        result = try project.run("copy-store", "--to", url, environment: sqlite)
        #expect(result.status != 0)
        #expect(result.stderr.contains("is not empty ("), "\(result.stderr)")
        #expect(result.stderr.contains(" rows in larder_feature_statistics, 1 row in larder_ingests, "), "\(result.stderr)")
        #expect(result.stderr.contains(", 7 rows in larder_registry, "), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was written"), "\(result.stderr)")
        #expect(!result.stderr.contains(try PostgresServer.shared().password))
        #expect(try PostgresServer.shared().psql(database: database, "SELECT count(*) FROM source_driver_stats") == "2\n")
    }

    @Test func theConfiguredStoreMustBeSQLite() throws {
        let result = try project.run("copy-store", "--to", url, environment: ["LARDER_OFFLINE_URL": url])
        #expect(result.status != 0)
        #expect(result.stderr.contains("copy-store copies a SQLite offline store"), "\(result.stderr)")
    }

    @Test func aMissingSQLiteStoreIsNotCreated() throws {
        let result = try project.run("copy-store", "--to", url)
        #expect(result.status != 0)
        #expect(result.stderr.contains("there is no offline store at"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/data/offline.sqlite"))
    }
}
