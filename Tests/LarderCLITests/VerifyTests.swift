import Foundation
import GRDB
import LarderTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `larder verify` through the built binary, on the example repo (features/) with recent
/// data, against a real redis-server.
@Suite struct VerifyTests {
    let project: LarderProcess
    let redis: TestRedis

    init() throws {
        project = try LarderProcess()
        redis = try TestRedis()
    }

    var env: [String: String] { ["LARDER_REDIS_URL": redis.url] }

    /// Drivers 1001-1020 have hourly stats; 1001-1025 have trips (so 5 have no stats).
    static let statsDrivers = 1001...1020
    static let tripDrivers = 1001...1025

    /// The start of the current hour, in seconds: the latest stats rows are stamped with it.
    let hour = Int(Date().timeIntervalSince1970) / 3600 * 3600

    static func convRate(driver: Int, hoursAgo: Int) -> Double { Double((driver * 7 + hoursAgo * 3) % 16 + 1) / 32 }

    static func time(_ seconds: Int) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// Applies the example repo, ingests three hours of driver stats and two days of trips
    /// ending now, and materializes everything (with the push to Redis).
    func materializeRecentData() throws {
        #expect(try project.run("apply").status == 0)
        var stats = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
        for h in 0..<3 {
            let t = hour - h * 3600
            for d in Self.statsDrivers {
                stats += "\(d),\(Self.time(t)),\(Self.time(t + 300)),\(Self.convRate(driver: d, hoursAgo: h)),0.\(d % 10)5,\(d * 3 + h)\n"
            }
        }
        var trips = "driver_id,event_timestamp,fare,distance_km\n"
        var rng = SeededGenerator(seed: 11)
        let now = Int(Date().timeIntervalSince1970)
        for _ in 0..<2500 {
            let driver = Int.random(in: Self.tripDrivers, using: &rng)
            let t = now - Int.random(in: 60..<(2 * 86_400), using: &rng)
            trips +=
                "\(driver),\(Self.time(t)),\(Double(Int.random(in: 300...8000, using: &rng)) / 100),\(Double(Int.random(in: 0...4000, using: &rng)) / 100)\n"
        }
        #expect(try project.run("ingest", "driver_stats", try project.write("stats.csv", stats)).status == 0)
        #expect(try project.run("ingest", "trips", try project.write("trips.csv", trips)).status == 0)
        let materialized = try project.run("materialize", environment: env)
        #expect(materialized.status == 0, "\(materialized.stderr)")
    }

    /// Runs `larder verify ARGS --json` and returns its exit status, the objects by feature,
    /// and standard error.
    func verifyJSON(_ arguments: String...) throws -> (status: Int32, features: [String: [String: Any]], stderr: String) {
        let result = try project.run(arguments: ["verify"] + arguments + ["--json"], environment: env)
        let array = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        let objects = try #require(array, "not a JSON array: \(result.stdout) \(result.stderr)")
        return (
            result.status, Dictionary(uniqueKeysWithValues: objects.map { ($0["feature"] as? String ?? "", $0) }), result.stderr
        )
    }

    static let serviceFeatures = [
        "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
        "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2", "driver_trips:fare_per_km",
        "driver_trips:trips_1h", "driver_trips:fare_sum_24h", "driver_trips:fare_mean_7d", "driver_trips:fare_per_km_max_24h",
    ]
    static let countFields = ["compared", "equal", "both_null", "online_null", "offline_null", "mismatched"]

    @Test func aCleanMaterializationVerifiesWithoutMismatches() throws {
        try materializeRecentData()
        let (status, features, stderr) = try verifyJSON("--service", "driver_ranking")
        #expect(status == 0, "\(stderr)")
        #expect(Set(features.keys) == Set(Self.serviceFeatures))
        for (name, object) in features {
            for field in Self.countFields { #expect(object[field] as? Int != nil, "\(name) lacks the integer \(field)") }
            #expect(object["compared"] as? Int == Self.tripDrivers.count, "\(name)")
            #expect(object["mismatched"] as? Int == 0, "\(name)")
            #expect(object["online_null"] as? Int == 0, "\(name)")
            #expect(object["offline_null"] as? Int == 0, "\(name)")
            #expect(object["smape"] is NSNull, "\(name)")
            #expect((object["at"] as? String)?.hasSuffix("Z") == true)
            // Real values, not only nulls on both sides, for every kind of feature.
            #expect((object["equal"] as? Int ?? 0) > 0, "\(name) compared no value")
        }
        // The drivers without stats are null on both sides, for the view and the on-demand features.
        #expect(features["driver_hourly_stats:conv_rate"]?["both_null"] as? Int == 5)
        #expect(features["transformed_conv_rate:conv_rate_plus_val1"]?["both_null"] as? Int == 5)

        let table = try project.run("verify", "--service", "driver_ranking", environment: env)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("FEATURE"))
        #expect(table.stdout.contains("driver_trips:fare_mean_7d"))
        #expect(table.stdout.contains("consistent: 250 values of 10 features compared"), "\(table.stdout)")

        // Repeatable: the same store and flags give the same report.
        let again = try project.run("verify", "--service", "driver_ranking", environment: env)
        #expect(again.stdout == table.stdout)
        let json1 = try project.run("verify", "--service", "driver_ranking", "--sample", "7", "--seed", "3", "--json", environment: env)
        let json2 = try project.run("verify", "--service", "driver_ranking", "--sample", "7", "--seed", "3", "--json", environment: env)
        #expect(json1.status == 0)
        #expect(json1.stdout == json2.stdout)

        // --sample bounds the rows compared; --features picks features.
        let small = try verifyJSON("--features", "driver_trips:trips_1h,driver_hourly_stats", "--sample", "7")
        #expect(small.status == 0)
        #expect(
            Set(small.features.keys) == [
                "driver_trips:trips_1h", "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate",
                "driver_hourly_stats:avg_daily_trips",
            ])
        for object in small.features.values { #expect(object["compared"] as? Int == 7) }
    }

    @Test func skewIsCaughtOnTheFeaturesItAffects() throws {
        try materializeRecentData()
        #expect(try verifyJSON("--service", "driver_ranking").status == 0)

        // A correction of driver 1001's latest conv_rate (same event time, created later)
        // reaches the offline store only: materialized with --offline-only, never pushed.
        let online = Self.convRate(driver: 1001, hoursAgo: 0)
        let corrected = online + 0.25
        let correction = try project.write(
            "fix.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,\(Self.time(hour)),\(Self.time(hour + 600)),\(corrected),0.15,\(1001 * 3)\n"
        )
        #expect(try project.run("ingest", "driver_stats", correction).status == 0)
        let offlineOnly = try project.run("materialize", "--incremental", "--views", "driver_hourly_stats", "--offline-only")
        #expect(offlineOnly.status == 0, "\(offlineOnly.stderr)")

        let skewed = try verifyJSON("--service", "driver_ranking")
        #expect(skewed.status == 1)
        #expect(skewed.stderr.contains("inconsistent: 3 mismatched"), "\(skewed.stderr)")
        for name in Self.serviceFeatures {
            let affected = [
                "driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2",
            ]
            .contains(name)
            #expect(skewed.features[name]?["mismatched"] as? Int == (affected ? 1 : 0), "\(name)")
            #expect(skewed.features[name]?["online_null"] as? Int == 0, "\(name)")
        }
        let conv = try #require(skewed.features["driver_hourly_stats:conv_rate"])
        let smape = try #require(conv["smape"] as? [String: Any])
        let expected = 0.25 / ((online + corrected) / 2)
        #expect(abs((smape["max"] as? Double ?? 0) - expected) < 1e-12)
        #expect(abs((smape["p50"] as? Double ?? 0) - expected) < 1e-12)
        let example = try #require((conv["examples"] as? [[String: Any]])?.first)
        #expect((example["row"] as? String)?.hasPrefix("driver_id=1001,val_to_add=") == true, "\(example)")
        #expect(example["agreement"] as? String == "mismatched")
        #expect(example["online"] as? Double == online)
        #expect(example["offline"] as? Double == corrected)

        // Driver 1002's online row disappears behind Larder's back: null online only.
        let keys = try redis.keys(matching: "larder:cli_test:driver_hourly_stats:*:{1002}")
        #expect(keys.count == 1, "\(keys)")
        for key in keys { _ = try redis.cli("DEL", key) }
        let deleted = try verifyJSON("--service", "driver_ranking")
        #expect(deleted.status == 1)
        for name in Self.serviceFeatures {
            let affected = name.hasPrefix("driver_hourly_stats:") || name.hasPrefix("transformed_conv_rate:")
            #expect(deleted.features[name]?["online_null"] as? Int == (affected ? 1 : 0), "\(name)")
        }
        let table = try project.run("verify", "--service", "driver_ranking", environment: env)
        #expect(table.status == 1)
        #expect(table.stdout.contains("driver_hourly_stats:conv_rate"))
        #expect(table.stdout.contains("driver_id=1002"), "\(table.stdout)")
        #expect(table.stderr.contains("Error: inconsistent: 3 mismatched, 5 null online only and 0 null offline only"), "\(table.stderr)")

        // A changed definition applied but not materialized (here the registry's version of
        // driver_trips moves on, as `apply` of new transformation code does): refused, saying why.
        let db = try DatabaseQueue(path: project.directory + "/data/offline.sqlite")
        try db.write { try $0.execute(sql: "UPDATE larder_registry SET version = version + 1 WHERE name = 'driver_trips'") }
        let changed = try project.run("verify", "--service", "driver_ranking", environment: env)
        #expect(changed.status != 0)
        #expect(changed.stderr.contains("its definition changed since the online values were computed"), "\(changed.stderr)")
    }

    /// A deployment gate without options: every feature of every view, on-demand features
    /// included (with sampled request fields).
    @Test func withNeitherServiceNorFeaturesEveryFeatureIsVerified() throws {
        try materializeRecentData()
        let (status, features, stderr) = try verifyJSON()
        #expect(status == 0, "\(stderr)")
        // driver_ranking happens to hold every feature of the example repo.
        #expect(Set(features.keys) == Set(Self.serviceFeatures))
        let service = try verifyJSON("--service", "driver_ranking")
        for (name, object) in features {
            #expect(object["compared"] as? Int == Self.tripDrivers.count, "\(name)")
            #expect((object["equal"] as? Int ?? 0) > 0, "\(name) compared no value")
            for field in Self.countFields { #expect(object[field] as? Int == service.features[name]?[field] as? Int, "\(name) \(field)") }
        }
        let table = try project.run("verify", environment: env)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.hasPrefix("every feature (10 features) at "), "\(table.stdout)")
        #expect(table.stdout.contains("consistent: 250 values of 10 features compared"), "\(table.stdout)")

        // And it gates: a value changed behind Larder's back fails it.
        let keys = try redis.keys(matching: "larder:cli_test:driver_hourly_stats:*:{1003}")
        #expect(keys.count == 1, "\(keys)")
        for key in keys { _ = try redis.cli("DEL", key) }
        let gate = try verifyJSON()
        #expect(gate.status == 1)
        #expect(gate.features["transformed_conv_rate:conv_rate_plus_val2"]?["online_null"] as? Int == 1)
        #expect(gate.stderr.contains("Error: inconsistent: 0 mismatched, 5 null online only"), "\(gate.stderr)")
    }

    @Test func optionsAreCheckedAndInstantsOutsideTheMaterializationRefused() throws {
        let both = try project.run("verify", "--service", "driver_ranking", "--features", "driver_hourly_stats")
        #expect(both.status != 0)
        #expect(both.stderr.contains("give at most one of --service NAME and --features"), "\(both.stderr)")
        #expect(try project.run("apply").status == 0)
        let unmaterialized = try project.run("verify")
        #expect(unmaterialized.status != 0)
        #expect(unmaterialized.stderr.contains("has not been materialized"), "\(unmaterialized.stderr)")
        let zero = try project.run("verify", "--service", "driver_ranking", "--sample", "0")
        #expect(zero.stderr.contains("--sample must be at least 1"))

        try materializeRecentData()
        let future = try project.run("verify", "--service", "driver_ranking", "--at", Self.time(hour + 7200), environment: env)
        #expect(future.status != 0)
        #expect(future.stderr.contains("is at or after the end of what feature view"), "\(future.stderr)")

        // Earlier than the latest rows: the online store only has the latest, and says so.
        let earlier = try project.run(
            "verify", "--features", "driver_hourly_stats:conv_rate", "--at", Self.time(hour - 1800), environment: env)
        #expect(earlier.status == 1)
        #expect(earlier.stderr.contains("note: 20 online values have an event time after"), "\(earlier.stderr)")
    }

    @Test func theServingLogIsComparedAtTheInstantsItServed() async throws {
        try materializeRecentData()
        let port = try LoopbackSocket.freePort()
        var serveEnv = env
        serveEnv["LARDER_SERVE_LOG_SAMPLE_RATE"] = "1"
        let server = try project.start("serve", "--port", "\(port)", environment: serveEnv)
        defer { if server.isRunning { server.terminate() } }
        var health: Int?
        for _ in 0..<100 where health == nil {
            try await Task.sleep(for: .milliseconds(100))
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!) {
                health = (response as? HTTPURLResponse)?.statusCode
            }
        }
        #expect(health == 200)
        func post(_ path: String, _ body: String) async throws {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
            let (_, response) = try await URLSession.shared.data(for: request)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
        }
        // Five rows of the service (1024 has trips but no stats), two of a feature list.
        try await post(
            "/v1/features",
            #"{"service": "driver_ranking", "entities": [{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 1003}, {"driver_id": 1024}], "request": {"val_to_add": 3, "val_to_add_2": -7}}"#
        )
        try await post(
            "/v1/features",
            #"{"service": "driver_ranking", "entities": [{"driver_id": 1001}], "request": {"val_to_add": 5, "val_to_add_2": null}}"#)
        try await post(
            "/get-online-features",
            #"{"features": ["driver_hourly_stats:conv_rate", "driver_trips:trips_1h"], "entities": {"driver_id": [1001, 1005]}}"#)
        server.terminate()  // a graceful shutdown writes what is still queued
        server.waitUntilExit()

        // Served after the materialized end: nothing offline yet to compare with.
        let early = try project.run("verify", "--from-log", environment: env)
        #expect(early.status == 1)
        #expect(early.stderr.contains("7 logged rows skipped: served at or after the end of what"), "\(early.stderr)")

        #expect(try project.run("materialize", "--incremental", environment: env).status == 0)
        let (status, features, stderr) = try verifyJSON("--from-log")
        #expect(status == 0, "\(stderr)")
        #expect(Set(features.keys) == Set(Self.serviceFeatures))
        for (name, object) in features {
            let fromBoth = name == "driver_hourly_stats:conv_rate" || name == "driver_trips:trips_1h"
            #expect(object["compared"] as? Int == (fromBoth ? 7 : 5), "\(name)")
            #expect(object["mismatched"] as? Int == 0, "\(name)")
            #expect(object["online_null"] as? Int == 0, "\(name)")
            #expect(object["offline_null"] as? Int == 0, "\(name)")
            #expect(object["at"] is NSNull)
        }
        // The null request field gives null on both sides; so do 1024's stats.
        #expect(features["transformed_conv_rate:conv_rate_plus_val2"]?["both_null"] as? Int == 2)
        #expect(features["transformed_conv_rate:conv_rate_plus_val1"]?["both_null"] as? Int == 1)
        let only = try verifyJSON("--from-log", "--features", "driver_trips:trips_1h")
        #expect(only.status == 0)
        #expect(only.features.keys.sorted() == ["driver_trips:trips_1h"])
        #expect(only.features["driver_trips:trips_1h"]?["compared"] as? Int == 7)
        let none = try project.run("verify", "--from-log", "--since", "2999-01-01T00:00:00Z", environment: env)
        #expect(none.status == 1)
        #expect(none.stderr.contains("no serving log entry to compare in the range"), "\(none.stderr)")

        // A correction that reaches the offline store only: what was served differs from what
        // training sees at the same instants, for the three rows of driver 1001.
        let correction = try project.write(
            "fix.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,\(Self.time(hour)),\(Self.time(hour + 600)),0.99,0.15,\(1001 * 3)\n"
        )
        #expect(try project.run("ingest", "driver_stats", correction).status == 0)
        #expect(try project.run("materialize", "--incremental", "--views", "driver_hourly_stats", "--offline-only").status == 0)
        let skewed = try verifyJSON("--from-log")
        #expect(skewed.status == 1)
        #expect(skewed.features["driver_hourly_stats:conv_rate"]?["mismatched"] as? Int == 3)
        #expect(skewed.features["driver_hourly_stats:acc_rate"]?["mismatched"] as? Int == 0)
        #expect(skewed.features["transformed_conv_rate:conv_rate_plus_val1"]?["mismatched"] as? Int == 2)
        #expect(skewed.features["transformed_conv_rate:conv_rate_plus_val2"]?["mismatched"] as? Int == 1)  // 1 null request field
        #expect(skewed.features["driver_trips:trips_1h"]?["mismatched"] as? Int == 0)
        let example = try #require((skewed.features["driver_hourly_stats:conv_rate"]?["examples"] as? [[String: Any]])?.first)
        #expect((example["row"] as? String)?.contains("driver_id=1001") == true, "\(example)")
        #expect((example["row"] as? String)?.hasPrefix("entry ") == true, "\(example)")
    }

}
