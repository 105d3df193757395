import Foundation
import LarderTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The serving log through the built binary: `larder serve` logging (configured by the
/// environment), flushing on SIGTERM, then `larder training-set --from-log`; on either
/// offline store (the service reads its registry from it and appends pushes and the log to it).
@Suite struct ServingLogCommandTests {
    let project: LarderProcess
    let redis: TestRedis

    init() throws {
        project = try LarderProcess()
        redis = try TestRedis()
    }

    var env: [String: String] { ["LARDER_REDIS_URL": redis.url] }

    @Test(arguments: ["sqlite", "postgres"])
    func servedRowsBecomeATrainingSet(store: String) async throws {
        var env = env
        if store == "postgres" { env["LARDER_OFFLINE_URL"] = try PostgresServer.shared().createDatabase() }
        #expect(try project.run("apply", environment: env).status == 0)
        // driver_stats for 1000-1002 at the current hour: conv_rate 0.005, 0.105, 0.205.
        let hour = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(Int(Date().timeIntervalSince1970) / 3600 * 3600)))
        let stats = try project.write(
            "stats.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"
                + (0..<3).map { "\(1000 + $0),\(hour),,0.\($0)05,0.5,1\n" }.joined())
        #expect(try project.run("ingest", "driver_stats", stats, environment: env).status == 0)
        #expect(try project.run("materialize", environment: env).status == 0)

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
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/features")!)
        request.httpMethod = "POST"
        request.httpBody = Data(
            #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}, {"driver_id": 1002}]}"#.utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        #expect(String(decoding: data, as: UTF8.self).contains(#""value":0.205,"status":"present""#))
        // A push lands in the offline store the service reads, then online.
        var push = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/push")!)
        push.httpMethod = "POST"
        push.httpBody = Data(
            #"{"source": "driver_stats", "rows": [{"driver_id": 1003, "event_timestamp": "\#(hour)", "conv_rate": 0.75, "acc_rate": 0.5, "avg_daily_trips": 4}]}"#
                .utf8)
        let (pushed, pushResponse) = try await URLSession.shared.data(for: push)
        #expect((pushResponse as? HTTPURLResponse)?.statusCode == 200, "\(String(decoding: pushed, as: UTF8.self))")
        #expect(try project.run("describe", "driver_stats", environment: env).stdout.contains("rows: 4"))
        // SIGTERM: a graceful shutdown writes what is still queued.
        server.terminate()
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)

        let built = try project.run(
            "training-set", "--from-log", "--features", "driver_hourly_stats:conv_rate", "--out", "served.csv", environment: env)
        #expect(built.status == 0, "\(built.stderr)")
        #expect(built.stdout.contains("wrote 2 rows from the serving log to served.csv"))
        let lines = try String(contentsOfFile: project.directory + "/served.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "driver_id,event_timestamp,conv_rate")
        #expect(lines.count == 3)
        #expect(lines.dropFirst().first?.hasPrefix("1001,") == true && lines.dropFirst().first?.hasSuffix(",0.105") == true)
        #expect(lines.last?.hasPrefix("1002,") == true && lines.last?.hasSuffix(",0.205") == true)
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: project.directory + "/served.csv.manifest.json")))
        #expect((manifest as? [String: Any])?["source"] as? String == "serving_log")

        // Nothing served after the last row: a clear error, no file.
        let later = try project.run(
            "training-set", "--from-log", "--since", "2999-01-01T00:00:00Z", "--out", "later.csv", environment: env)
        #expect(later.status != 0)
        #expect(later.stderr.contains("the serving log has no entries served since 2999-01-01T00:00:00Z"))
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/later.csv"))
    }

    @Test func optionsAndConfigurationAreChecked() throws {
        let both = try project.run("training-set", "--from-log", "--at", "2026-01-01T00:00:00Z", "--out", "x.csv")
        #expect(both.stderr.contains("--from-log takes its rows from the serving log: give it without --entities or --at"))
        let range = try project.run(
            "training-set", "--at", "2026-01-01T00:00:00Z", "--service", "s", "--since", "2026-01-01T00:00:00Z", "--out", "x.csv")
        #expect(range.stderr.contains("--since and --until select rows of the serving log: use them with --from-log"))

        try project.write("larder.yaml", "project: x\nserve:\n  log:\n    sample_rate: 2\n")
        #expect(try project.run("list").stderr.contains("'serve.log.sample_rate' must be a number from 0 (off) to 1 (every entity)"))
        try project.write("larder.yaml", "project: x\nserve:\n  log:\n    queue_capacity: 0\n")
        #expect(try project.run("list").stderr.contains("'serve.log.queue_capacity' must be an integer of at least 1"))
        try project.write("larder.yaml", "project: x\nserve:\n  log:\n    rate: 0.1\n")
        #expect(
            try project.run("list").stderr.contains(
                "unknown key 'serve.log.rate'; known keys here: serve.log.sample_rate, serve.log.queue_capacity"))
        try project.write("larder.yaml", "project: x\nserve:\n  log:\n    sample_rate: 0.25\n    queue_capacity: 100\n")
        #expect(try project.run("list").status == 0)
        #expect(
            try project.run("list", environment: ["LARDER_SERVE_LOG_SAMPLE_RATE": "half"]).stderr.contains(
                "LARDER_SERVE_LOG_SAMPLE_RATE: 'half' is not a sample rate"))
    }
}
