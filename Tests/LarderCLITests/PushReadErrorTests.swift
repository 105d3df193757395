import Foundation
import GRDB
import LarderTestSupport
import Testing

/// `larder materialize` over a store whose disk went bad under the feature table: the push
/// fails naming the table and records nothing, so the next run pushes every entity again.
@Suite struct PushReadErrorTests {
    @Test func aFailedOfflineReadFailsThePushAndRecordsNothing() throws {
        let project = try LarderProcess()
        let redis = try TestRedis()
        let env = ["LARDER_REDIS_URL": redis.url]
        _ = try project.run("apply")
        // One row per driver, so every leaf page of the table holds some driver's latest row.
        let hour = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(Int(Date().timeIntervalSince1970) / 3600 * 3600)))
        var csv = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        for driver in 0..<2000 { csv += "\(driver),\(hour),,0.5,0.25,\(driver)\n" }
        #expect(try project.run("ingest", "driver_stats", try project.write("stats.csv", csv)).status == 0)
        let offline = try project.run("materialize", "--views", "driver_hourly_stats", "--offline-only")
        #expect(offline.status == 0, "\(offline.stderr)")

        // Zero a leaf of the table (not of its key index), with the log checkpointed into the
        // file first: the push's key scan works, its read of some entities' rows fails.
        let table = "features_driver_hourly_stats_v1"
        let path = project.directory + "/data/offline.sqlite"
        let db = try DatabaseQueue(path: path)
        let (page, pageSize) = try db.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return (
                try Int64.fetchOne(
                    db, sql: "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path LIMIT 1 OFFSET 1",
                    arguments: [table]),
                try Int64.fetchOne(db, sql: "PRAGMA page_size")!
            )
        }
        try db.close()
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        try file.seek(toOffset: UInt64((try #require(page) - 1) * pageSize))
        try file.write(contentsOf: Data(count: Int(pageSize)))
        try file.close()

        // Nothing new to materialize; the push (every entity: none was ever pushed) fails.
        let push = try project.run("materialize", "--incremental", "--views", "driver_hourly_stats", environment: env)
        #expect(push.status == 1, "\(push.stdout)")
        #expect(push.stderr.contains("reading \(table): database disk image is malformed"), "\(push.stderr)")
        #expect(!push.stdout.contains("pushed"), "\(push.stdout)")
        let recorded = try DatabaseQueue(path: path).read { db in
            try Row.fetchOne(
                db, sql: "SELECT online_seq_watermark, online_end, online_marker FROM larder_materializations WHERE view = ?",
                arguments: ["driver_hourly_stats"])
        }
        let state = try #require(recorded)
        #expect(state.databaseValues.allSatisfy { $0.isNull }, "\(state)")
    }
}
