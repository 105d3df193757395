import Foundation
import Testing

/// Runs the built `larder` binary in a scratch project directory, as a user would.
struct LarderProcess {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "larder-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try write("larder.yaml", "project: cli_test\n")
    }

    /// The `larder` built beside this test binary (or `$LARDER_BINARY`).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["LARDER_BINARY"] { return URL(fileURLWithPath: path) }
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(), Bundle.main.bundleURL,
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for directory in candidates.compactMap({ $0 }) {
            let url = directory.appendingPathComponent("larder")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return Bundle.main.bundleURL.appendingPathComponent("larder")
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Starts `larder` without waiting (output discarded, or standard error to `stderrTo`).
    func start(_ arguments: String..., environment: [String: String] = [:], stderrTo: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if let stderrTo {
            FileManager.default.createFile(atPath: stderrTo, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrTo))
        }
        try process.run()
        return process
    }

    /// SIGKILLs `process` once its write transaction is well under way, and waits for it.
    /// Returns false if it finished first.
    func killOnceItsTransactionGrows(_ process: Process) -> Bool {
        defer { process.waitUntilExit() }
        return signalOnceItsTransactionGrows(process, SIGKILL)
    }

    /// Sends `signal` to `process` once its write transaction is well under way (the store's
    /// WAL has grown past 4 MiB). Returns false if it finished first.
    func signalOnceItsTransactionGrows(_ process: Process, _ signal: Int32) -> Bool {
        let wal = directory + "/data/offline.sqlite-wal"
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            let size = (try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
            if size > 4 << 20 {
                kill(process.processIdentifier, signal)
                return true
            }
            usleep(2_000)
        }
        return false
    }

    func run(_ arguments: String..., environment: [String: String] = [:]) throws -> Result {
        try run(arguments: arguments, environment: environment)
    }

    /// ``run(_:environment:)`` with the arguments in an array. With a `launcher` (a program
    /// and its arguments, such as `setpriv` with a user), larder runs through it.
    func run(arguments: [String], environment: [String: String] = [:], launcher: [String] = []) throws -> Result {
        let process = Process()
        process.executableURL = launcher.first.map(URL.init(fileURLWithPath:)) ?? Self.binary
        process.arguments = launcher.isEmpty ? arguments : launcher.dropFirst() + [Self.binary.path] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var env = ProcessInfo.processInfo.environment
        env["LARDER_OFFLINE_PATH"] = nil
        env["LARDER_REDIS_URL"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }
}

@Suite struct CLITests {
    let project: LarderProcess

    init() throws { project = try LarderProcess() }

    @Test func applyPrintsThePlanThenIsANoOp() throws {
        let dry = try project.run("apply", "--dry-run")
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("+ feature view driver_hourly_stats (v1)"))
        #expect(dry.stdout.contains("Dry run: nothing applied."))
        #expect(try project.run("list").stdout.contains("Nothing registered"))

        let first = try project.run("apply")
        #expect(first.status == 0)
        #expect(first.stdout.contains("+ source driver_stats (v1)\n    table source_driver_stats created"))
        #expect(first.stdout.contains("Applied 7 changes."))
        let second = try project.run("apply")
        #expect(second.stdout == "No changes: the registry matches features/.\n")
    }

    @Test func listAndDescribeAsTextAndJSON() throws {
        _ = try project.run("apply")
        let table = try project.run("list", "views")
        #expect(table.status == 0)
        #expect(table.stdout.hasPrefix("KIND"))
        #expect(table.stdout.contains("driver_hourly_stats"))
        #expect(table.stdout.contains("transformed_conv_rate"))
        #expect(!table.stdout.contains("driver_stats "))

        let json = try project.run("list", "--json")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(items.count == 7)
        for item in items {
            for key in ["kind", "name", "version", "fingerprint", "created_at", "updated_at", "definition"] {
                #expect(item[key] != nil, "list --json lacks \(key)")
            }
        }
        let view = try #require(items.first { $0["name"] as? String == "driver_hourly_stats" })
        #expect(view["kind"] as? String == "feature_view")
        let definition = try #require(view["definition"] as? [String: Any])
        #expect(definition["ttl_microseconds"] as? Int == 7_200_000_000)

        // Filters and search: by the definition or one of its features.
        func names(_ arguments: String...) throws -> [String] {
            let listed = try project.run(arguments: ["list", "--json"] + arguments)
            let items = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
            return items.compactMap { $0["name"] as? String }.sorted()
        }
        #expect(try names("--tag", "team=ranking") == ["driver_hourly_stats"])
        #expect(try names("--tag", "unit=EUR/km") == ["driver_trips"], "a feature's tag")
        #expect(try names("--tag", "unit=ratio", "--tag", "team=ranking") == ["driver_hourly_stats"])
        #expect(try names("--tag", "unit=ratio", "--tag", "team=other").isEmpty)
        #expect(try names("--owner", "ranking@example.com") == ["driver", "driver_hourly_stats", "driver_trips"])
        #expect(try names("--search", "KILOMETRE") == ["driver_trips"], "a feature's description, any case")
        #expect(try names("views", "--search", "conv") == ["driver_hourly_stats", "transformed_conv_rate"])
        #expect(try project.run("list", "--search", "nothing like it").stdout.contains("No registered definition matches."))
        let badTag = try project.run("list", "--tag", "nokey")
        #expect(badTag.status != 0 && badTag.stderr.contains("--tag"))

        let describe = try project.run("describe", "driver_hourly_stats")
        #expect(describe.stdout.contains("ttl: 2h"))
        #expect(describe.stdout.contains("Share of the driver's offers that became trips, last hour"))
        #expect(describe.stdout.contains("conv_rate"))
        let describeJSON = try project.run("describe", "driver_stats", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(describeJSON.stdout.utf8)) as? [String: Any])
        #expect(object["rows"] as? Int == 0)
        #expect((object["history"] as? [[String: Any]])?.first?["change"] as? String == "added")

        let unknown = try project.run("describe", "nope")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("'nope' is not registered"))
    }

    @Test func ingestReportsASummaryOrAPreciseError() throws {
        _ = try project.run("apply")
        let good = try project.write(
            "stats.csv", "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,2026-01-01T00:00:00Z,,0.5,0.25,10\n")
        let ok = try project.run("ingest", "driver_stats", good)
        #expect(ok.status == 0)
        #expect(ok.stdout.hasPrefix("ingested 1 rows into driver_stats from \(good) in "))
        #expect(ok.stdout.contains("rows/s)"))

        let bad = try project.write(
            "bad.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1002,2026-01-01T00:00:00Z,,0.5,0.25,10\n1003,2026-01-01 00:00,,0.5,0.25,10\n"
        )
        let failed = try project.run("ingest", "driver_stats", bad)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("\(bad):3: column 'event_timestamp', value \"2026-01-01 00:00\""))
        let described = try project.run("describe", "driver_stats", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(described.stdout.utf8)) as? [String: Any])
        #expect(object["rows"] as? Int == 1)

        let jsonl = try project.write(
            "stats.txt",
            #"{"driver_id": 1, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#)
        #expect(try project.run("ingest", "driver_stats", jsonl).status != 0)
        #expect(try project.run("ingest", "driver_stats", jsonl, "--format", "jsonl").status == 0)
    }

    @Test func configurationErrorsAreClear() throws {
        try FileManager.default.removeItem(atPath: project.directory + "/larder.yaml")
        let missing = try project.run("list")
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no larder.yaml in"))

        try project.write("larder.yaml", "project: x\nofline:\n  path: a.sqlite\n")
        let typo = try project.run("list")
        #expect(typo.stderr.contains("unknown key 'ofline'"))

        try project.write("larder.yaml", "project: [unclosed\n")
        #expect(try project.run("list").stderr.contains("not valid YAML"))

        try project.write("larder.yaml", "project: x\nonline:\n  redis_url: http://localhost\n")
        #expect(try project.run("list").stderr.contains("is not a Redis URL"))
        // The configuration reads URLs by the client's own rules: a cluster by its seeds, no database.
        try project.write("larder.yaml", "project: x\nonline:\n  redis_url: redis-cluster://127.0.0.1:7000/1\n")
        #expect(try project.run("list").stderr.contains("a Redis Cluster has only database 0"))
        try project.write("larder.yaml", "project: x\nonline:\n  redis_url: redis-cluster://127.0.0.1:7000,127.0.0.1:7001\n")
        #expect(try project.run("list").status == 0)

        try project.write("larder.yaml", "project: Bad-Name\n")
        #expect(try project.run("list").stderr.contains("project 'Bad-Name' is not a safe name"))
    }

    @Test func environmentOverridesTheOfflinePath() throws {
        try project.write("larder.yaml", "project: x\noffline:\n  path: from-file.sqlite\n")
        _ = try project.run("apply", environment: ["LARDER_OFFLINE_PATH": "from-env.sqlite"])
        #expect(FileManager.default.fileExists(atPath: project.directory + "/from-env.sqlite"))
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/from-file.sqlite"))
    }

    /// `offline.url` selects PostgreSQL, `offline.path` SQLite; the environment replaces the
    /// file's whole choice; contradictions and bad URLs are refused naming their origin, with
    /// passwords hidden. (Only `apply`, `list`, `describe`, `ingest` and `materialize` run on
    /// PostgreSQL yet; the others say so.)
    @Test func theOfflineStoreIsAPathOrAURLNeverBoth() throws {
        try project.write(
            "larder.yaml", "project: x\noffline:\n  path: a.sqlite\n  url: postgres://u:pw@db.example.com/larder\n")
        var result = try project.run("list")
        #expect(result.status != 0)
        #expect(result.stderr.contains("'offline.path' and 'offline.url' are both set; keep one"), "\(result.stderr)")

        try project.write("larder.yaml", "project: x\noffline:\n  url: postgres://u:pw@db.example.com/larder?sslmode=maybe\n")
        result = try project.run("list")
        #expect(result.stderr.contains("invalid PostgreSQL URL postgres://u:***@db.example.com/larder?sslmode=maybe: sslmode 'maybe'"))
        #expect(!result.stderr.contains("pw@"))

        try project.write("larder.yaml", "project: x\noffline:\n  path: from-file.sqlite\n")
        result = try project.run(
            "list", environment: ["LARDER_OFFLINE_PATH": "a.sqlite", "LARDER_OFFLINE_URL": "postgres://u@db.example.com/larder"])
        #expect(result.stderr.contains("LARDER_OFFLINE_PATH and LARDER_OFFLINE_URL are both set"), "\(result.stderr)")

        // The URL from the environment replaces the file's path: no SQLite file is made.
        result = try project.run(
            "training-set", "--entities", "x.csv", "--features", "driver_hourly_stats:conv_rate", "--out", "o.csv",
            environment: ["LARDER_OFFLINE_URL": "postgres://u:pw@127.0.0.1:1/larder?sslmode=disable"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot reach the offline store at postgres://u:***@127.0.0.1:1/larder"), "\(result.stderr)")
        #expect(!result.stderr.contains("pw@"))
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/from-file.sqlite"))
    }
}
