import Foundation
import LarderTestSupport
import Testing

/// materialize (with the push to Redis), get and serve, through the built binary.
@Suite struct OnlineCommandTests {
    let project: LarderProcess
    let redis: TestRedis

    init() throws {
        project = try LarderProcess()
        redis = try TestRedis()
    }

    var env: [String: String] { ["LARDER_REDIS_URL": redis.url] }

    /// driver_stats rows for drivers 1000-1002 at the last three whole hours.
    func recentStats() throws -> String {
        let hour = Int(Date().timeIntervalSince1970) / 3600 * 3600
        let formatter = ISO8601DateFormatter()
        var text = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        for h in 0..<3 {
            for d in 0..<3 {
                text +=
                    "\(1000 + d),\(formatter.string(from: Date(timeIntervalSince1970: TimeInterval(hour - h * 3600)))),,0.\(d)\(h)5,0.5,\(h)\n"
            }
        }
        return try project.write("stats.csv", text)
    }

    @Test func materializePushesAndGetReadsTheLatestValues() throws {
        _ = try project.run("apply")
        #expect(try project.run("ingest", "driver_stats", try recentStats()).status == 0)
        let materialized = try project.run("materialize", "--views", "driver_hourly_stats", environment: env)
        #expect(materialized.status == 0, "\(materialized.stderr)")
        #expect(materialized.stdout.contains("driver_hourly_stats v1: pushed 3 entities to Redis"))

        let get = try project.run(
            "get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=1001", "--entity", "driver_id=77", "--json",
            environment: env)
        #expect(get.status == 0, "\(get.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as? [[String: Any]])
        let f = (rows[0]["features"] as? [String: Any])?["driver_hourly_stats:conv_rate"] as? [String: Any]
        #expect(f?["value"] as? Double == 0.105)  // the latest hour's row
        #expect(f?["status"] as? String == "present")
        #expect(
            ((rows[1]["features"] as? [String: Any])?["driver_hourly_stats:conv_rate"] as? [String: Any])?["status"] as? String == "missing"
        )

        // Incremental: only what changed is pushed.
        let again = try project.run("materialize", "--incremental", "--views", "driver_hourly_stats", environment: env)
        #expect(again.stdout.contains("pushed 0 entities"), "\(again.stdout)")

        let table = try project.run(
            "get", "--service", "driver_ranking", "--entity", "driver_id=1001", "--request", "val_to_add=1", "--request", "val_to_add_2=2",
            environment: env)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("transformed_conv_rate:conv_rate_plus_val1  1.105"))

        let bad = try project.run("get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=abc", environment: env)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--entity driver_id: 'abc' is not a int64"))
    }

    @Test func anIncrementalPushNoticesThatRedisLostItsData() throws {
        _ = try project.run("apply")
        #expect(try project.run("ingest", "driver_stats", try recentStats()).status == 0)
        #expect(try project.run("materialize", "--views", "driver_hourly_stats", environment: env).stdout.contains("pushed 3 entities"))
        // No persistence: a restart loses everything, including the push marker.
        try redis.restart()
        let again = try project.run("materialize", "--incremental", "--views", "driver_hourly_stats", environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("Redis no longer holds the last push"), "\(again.stdout)")
        #expect(again.stdout.contains("pushed 3 entities"))
        let get = try project.run("get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=1000", environment: env)
        #expect(get.stdout.contains("present"), "\(get.stdout)")
        // With Redis intact, the next incremental push is incremental again.
        let quiet = try project.run("materialize", "--incremental", "--views", "driver_hourly_stats", environment: env)
        #expect(quiet.stdout.contains("pushed 0 entities"), "\(quiet.stdout)")
    }

    @Test func losingRedisMidPushNamesTheViewAndARerunConverges() throws {
        _ = try project.run("apply")
        #expect(try project.run("ingest", "driver_stats", try recentStats()).status == 0)
        redis.stop()
        let failed = try project.run("materialize", "--views", "driver_hourly_stats", environment: env)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("pushing driver_hourly_stats to Redis failed after 0 entities"), "\(failed.stderr)")
        #expect(failed.stderr.contains("run `larder materialize` again"))
        try redis.restart()
        let rerun = try project.run("materialize", "--views", "driver_hourly_stats", environment: env)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("pushed 3 entities"))
    }

    @Test func serveAnswersAndStopsOnSIGTERM() async throws {
        _ = try project.run("apply")
        #expect(try project.run("ingest", "driver_stats", try recentStats()).status == 0)
        #expect(try project.run("materialize", environment: env).status == 0)
        let port = try LoopbackSocket.freePort()
        let server = try project.start("serve", "--port", "\(port)", environment: env)
        defer { if server.isRunning { server.terminate() } }
        var health: Int?
        for _ in 0..<100 where health == nil {
            try await Task.sleep(for: .milliseconds(100))
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!) {
                health = (response as? HTTPURLResponse)?.statusCode
            }
        }
        #expect(health == 200)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/features")!)
        request.httpMethod = "POST"
        request.httpBody = Data(#"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1002}]}"#.utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        #expect(String(decoding: data, as: UTF8.self).contains(#""value":0.205,"status":"present""#))
        server.terminate()  // SIGTERM: graceful shutdown
        server.waitUntilExit()
        #expect(server.terminationReason == .exit)
        #expect(server.terminationStatus == 0)
    }
}

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
