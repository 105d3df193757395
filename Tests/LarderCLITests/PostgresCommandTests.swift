import Foundation
import LarderTestSupport
import Testing

/// The commands on a PostgreSQL offline store, against real servers: `apply`, `list`,
/// `describe`, `ingest`, `materialize` (with its push to Redis), `get`, `training-set` (the
/// same bytes as from a SQLite store of the same data) and `verify`. (`serve` and the serving
/// log: ServingLogCommandTests; `copy-store`: CopyStoreCommandTests.)
@Suite struct PostgresCommandTests {
    let project: LarderProcess
    let url: String

    init() throws {
        project = try LarderProcess()
        url = try PostgresServer.shared().createDatabase()
        try project.write("larder.yaml", "project: x\n")
    }

    @Test func applyAndListUseTheSharedRegistry() throws {
        let environment = ["LARDER_OFFLINE_URL": url]
        var result = try project.run("apply", environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("+ feature view driver_hourly_stats (v1)"))
        #expect(result.stdout.contains("Applied 7 changes."))
        result = try project.run("apply", environment: environment)
        #expect(result.stdout.contains("No changes: the registry matches features/."))

        // A second machine (here: the same URL, another process) sees what was applied.
        result = try project.run("list", "views", environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("driver_hourly_stats") && result.stdout.contains("driver_trips"))
        // Nothing went to a SQLite file.
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/data/offline.sqlite"))

        // Ten minutes ago: within the view's ttl, so Redis keeps the values for `get`.
        let recent = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-600))
        let file = try project.write(
            "stats.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,\(recent),,0.5,0.25,10\n1002,\(recent),,0.1,0.2,3\n"
        )
        result = try project.run("ingest", "driver_stats", file, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("2 rows"), "\(result.stdout)")
        let database = String(url.split(separator: "/").last!)
        #expect(try PostgresServer.shared().psql(database: database, "SELECT count(*) FROM source_driver_stats") == "2\n")

        // Materialized there, and pushed from there to Redis.
        let redis = try TestRedis()
        result = try project.run("materialize", environment: environment.merging(["LARDER_REDIS_URL": redis.url]) { $1 })
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("driver_hourly_stats v1: 2 rows"), "\(result.stdout)")
        #expect(result.stdout.contains("driver_hourly_stats v1: pushed 2 entities to Redis"), "\(result.stdout)")
        #expect(try PostgresServer.shared().psql(database: database, "SELECT count(*) FROM features_driver_hourly_stats_v1") == "2\n")

        result = try project.run("describe", "driver_hourly_stats", environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("source rows up to _seq 2"), "\(result.stdout)")
        #expect(result.stdout.contains("last run:") && result.stdout.contains("2 rows"), "\(result.stdout)")
        #expect(result.stdout.contains("online: pushed up to"), "\(result.stdout)")

        // The deployment (which versions are registered and materialized) read from PostgreSQL,
        // the values from Redis.
        result = try project.run(
            "get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=1001",
            environment: environment.merging(["LARDER_REDIS_URL": redis.url]) { $1 })
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("0.5"), "\(result.stdout)")

        // The same training set from both stores, byte for byte; verify finds Redis agreeing.
        let requests = try project.write(
            "requests.csv", "driver_id,event_timestamp,label\n1001,\(recent),a\n1003,\(recent),b\n1002,\(recent),c\n1001,\(recent),d\n")
        let sqlite = ["LARDER_OFFLINE_PATH": project.directory + "/local.sqlite"]
        for env in [environment, sqlite] where env == sqlite {
            #expect(try project.run("apply", environment: env).status == 0)
            #expect(try project.run("ingest", "driver_stats", file, environment: env).status == 0)
            #expect(try project.run("materialize", "--offline-only", environment: env).status == 0)
        }
        for (name, env) in [("pg.csv", environment), ("sqlite.csv", sqlite)] {
            result = try project.run(
                "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips",
                "--out", name, environment: env)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("wrote 4 rows"), "\(result.stdout)")
        }
        let pg = try String(contentsOfFile: project.directory + "/pg.csv", encoding: .utf8)
        #expect(pg.contains(",0.5,"), "\(pg)")
        #expect(pg == (try String(contentsOfFile: project.directory + "/sqlite.csv", encoding: .utf8)))
        result = try project.run(
            "verify", "--features", "driver_hourly_stats:conv_rate",
            environment: environment.merging(["LARDER_REDIS_URL": redis.url]) { $1 })
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("consistent: 2 values of 1 feature compared"), "\(result.stdout)")
        #expect(!result.stderr.contains(try PostgresServer.shared().password))
    }

    @Test func aWrongPasswordIsReportedWithoutIt() throws {
        let bare = try PostgresServer.shared().urlWithoutPassword(database: String(url.split(separator: "/").last!))
        let result = try project.run("list", environment: ["LARDER_OFFLINE_URL": bare, "PGPASSWORD": "not-the-password"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("password authentication failed for user \"larder\""), "\(result.stderr)")
        #expect(!result.stderr.contains("not-the-password"))
    }
}
