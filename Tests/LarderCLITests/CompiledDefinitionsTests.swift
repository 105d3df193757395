import Foundation
import Testing

/// The commands compare the definitions compiled into `larder` with the files of
/// `features/`: here with a copy of it, through LARDER_FEATURES_DIR_FOR_TESTS (which also
/// keeps `apply` from rebuilding: a rebuild inside `swift test` would fight over `.build`;
/// scripts/check-rebuild.sh checks that path).
@Suite struct CompiledDefinitionsTests {
    let project: LarderProcess
    /// A copy of the repository's features/.
    let features: String

    init() throws {
        project = try LarderProcess()
        features = project.directory + "/features-copy"
        // This file is Tests/LarderCLITests/CompiledDefinitionsTests.swift in the repository.
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        try FileManager.default.copyItem(atPath: repository.appendingPathComponent("features").path, toPath: features)
    }

    var override: [String: String] { ["LARDER_FEATURES_DIR_FOR_TESTS": features] }

    /// Edits the copy: one file changed, one added, one removed.
    func editFeatures() throws {
        let trips = features + "/Trips.swift"
        let text = try String(contentsOfFile: trips, encoding: .utf8)
        #expect(text.contains("fare / max(km, 0.1)"))
        try text.replacingOccurrences(of: "fare / max(km, 0.1)", with: "fare / max(km, 0.2)").write(
            toFile: trips, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: features + "/More", withIntermediateDirectories: true)
        try "import LarderCore\n".write(toFile: features + "/More/Extra.swift", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: features + "/Driver.swift")
    }

    @Test func applyRefusesWhenFeaturesChangedSinceTheBuild() throws {
        // The copy as built: nothing to say.
        let current = try project.run("apply", "--dry-run", environment: override)
        #expect(current.status == 0, "\(current.stderr)")
        #expect(current.stderr.isEmpty, "\(current.stderr)")

        try editFeatures()
        for arguments in [["apply", "--no-build"], ["apply", "--dry-run", "--no-build"], ["apply"]] {
            let refused = try project.run(arguments: arguments, environment: override)
            #expect(refused.status != 0, "\(arguments)")
            #expect(refused.stdout.isEmpty, "\(arguments): \(refused.stdout)")
            let expected = [
                "Error: features/ changed since this larder was built (\(features)); it would apply the definitions compiled in, not these files:\n",
                "  removed: Driver.swift\n  added: More/Extra.swift\n  changed: Trips.swift\n",
                "Rebuild larder, then run the command again: swift build --package-path ",
                " --product larder",
            ]
            for fragment in expected { #expect(refused.stderr.contains(fragment), "\(arguments): \(refused.stderr)") }
            // With the override set, `apply` never rebuilds, and says why.
            #expect(!refused.stderr.contains("rebuilding"), "\(arguments): \(refused.stderr)")
            let why =
                arguments.contains("--no-build")
                ? "(not rebuilt: --no-build)"
                : "(not rebuilt: LARDER_FEATURES_DIR_FOR_TESTS points the comparison at another folder than the one larder is built from)"
            #expect(refused.stderr.contains(why), "\(arguments): \(refused.stderr)")
        }
        // Nothing was applied.
        #expect(try project.run("list").stdout.contains("Nothing registered"))
    }

    /// The build command named is the one for this binary's configuration and build folder.
    @Test func theRebuildCommandIsTheBinarysOwn() throws {
        try editFeatures()
        let refused = try project.run("apply", "--no-build", environment: override)
        let binary = LarderProcess.binary.resolvingSymlinksInPath()
        let configuration = binary.deletingLastPathComponent().lastPathComponent
        #expect(refused.stderr.contains("-c \(configuration) --scratch-path "), "\(refused.stderr)")
        let scratch = binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        #expect(refused.stderr.contains("--scratch-path \(scratch) --product larder"), "\(refused.stderr)")
    }

    @Test func otherCommandsWarnAndGoOn() throws {
        #expect(try project.run("apply").status == 0)
        let stats = try project.write(
            "stats.csv",
            "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n1001,2026-01-01T00:00:00Z,,0.5,0.5,3\n")
        #expect(try project.run("ingest", "driver_stats", stats).status == 0)
        try editFeatures()
        let warning =
            "warning: features/ changed since this larder was built (\(features)); this command uses the definitions compiled in, not these files:\n  removed: Driver.swift\n  added: More/Extra.swift\n  changed: Trips.swift\nRebuild larder to use them: swift build "

        let materialized = try project.run(
            "materialize", "--views", "driver_hourly_stats", "--end", "2026-01-02T00:00:00Z", "--offline-only", environment: override)
        #expect(materialized.status == 0, "\(materialized.stderr)")
        #expect(materialized.stderr.hasPrefix(warning), "\(materialized.stderr)")
        #expect(materialized.stdout.hasPrefix("driver_hourly_stats v1: 1 rows in "), "\(materialized.stdout)")

        let requests = try project.write("requests.csv", "driver_id,event_timestamp\n1001,2026-01-01T01:00:00Z\n")
        let built = try project.run(
            "training-set", "--entities", requests, "--features", "driver_hourly_stats:conv_rate", "--out", "train.csv",
            environment: override)
        #expect(built.status == 0, "\(built.stderr)")
        #expect(built.stderr.hasPrefix(warning), "\(built.stderr)")

        // get and verify warn before anything else (here they then fail: no Redis).
        let noRedis = ["LARDER_REDIS_URL": "redis://127.0.0.1:1/0"].merging(override) { a, _ in a }
        for arguments in [
            ["get", "--features", "driver_hourly_stats:conv_rate", "--entity", "driver_id=1001"],
            ["verify", "--features", "driver_hourly_stats:conv_rate"],
        ] {
            let result = try project.run(arguments: arguments, environment: noRedis)
            #expect(result.stderr.hasPrefix(warning), "\(arguments): \(result.stderr)")
        }

        // serve logs it at start-up (here it then fails to listen on an address it does not have).
        let serve = try project.run("serve", "--host", "192.0.2.1", "--port", "1", environment: noRedis)
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("warning"), "\(serve.stderr)")
        #expect(serve.stderr.contains("features/ changed since this larder was built (\(features))"), "\(serve.stderr)")
        #expect(serve.stderr.contains("changed: Trips.swift"), "\(serve.stderr)")

        // Commands that do not run the definitions do not compare.
        #expect(try project.run("list", environment: override).stderr.isEmpty)
    }

    /// A deployed binary or a container image has no sources: nothing to compare, no warning.
    @Test func withoutTheFolderNothingIsCompared() throws {
        let absent = ["LARDER_FEATURES_DIR_FOR_TESTS": project.directory + "/no-such-folder"]
        let applied = try project.run("apply", environment: absent)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stderr.isEmpty, "\(applied.stderr)")
        #expect(applied.stdout.contains("Applied 7 changes."))
        let again = try project.run("apply", "--no-build", environment: absent)
        #expect(again.stdout == "No changes: the registry matches features/.\n")
        let materialized = try project.run("materialize", "--offline-only", "--end", "2026-01-02T00:00:00Z", environment: absent)
        #expect(!materialized.stderr.contains("warning"), "\(materialized.stderr)")
    }
}
