import Foundation
import LarderTestSupport
import Testing

/// The commands that run on a PostgreSQL offline store so far, `apply` and `list`, against a
/// real server; the others refuse it, saying what works.
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

        result = try project.run("ingest", "driver_stats", "missing.csv", environment: environment)
        #expect(result.status != 0)
        #expect(result.stderr.contains("keeps only the registry there (larder apply, larder list)"), "\(result.stderr)")
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
