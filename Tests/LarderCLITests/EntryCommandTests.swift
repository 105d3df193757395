import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 10 through the binary: the event-time skew from larder.yaml, two processes writing
/// to one store, a store the user cannot write, input text in error messages.
@Suite struct EntryCommandTests {
    let project: LarderProcess

    init() throws { project = try LarderProcess() }

    static let header = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n"

    /// A CSV of one row with the event time `seconds` from now.
    func rowIn(_ seconds: Int, name: String) throws -> String {
        let time = ISO8601DateFormatter().string(from: Date().addingTimeInterval(TimeInterval(seconds)))
        return try project.write(name, Self.header + "1001,\(time),,0.5,0.25,1\n")
    }

    // MARK: max_event_time_skew (10.6)

    @Test func theEventTimeSkewComesFromLarderYAMLOrTheEnvironment() throws {
        _ = try project.run("apply")
        let far = try project.write("far.csv", Self.header + "1001,9999-12-31T23:59:59.999999Z,,0.5,0.25,1\n")
        let refused = try project.run("ingest", "driver_stats", far)
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains(
                "far.csv:2: column 'event_timestamp', value \"9999-12-31T23:59:59.999999Z\": "), "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "event times more than 5m in the future are rejected, by ingest and push alike (max_event_time_skew at the top level of larder.yaml)"
            ))

        let soon = try rowIn(120, name: "soon.csv")
        #expect(try project.run("ingest", "driver_stats", soon).status == 0)  // drift within the default 5m

        try project.write("larder.yaml", "project: cli_test\nmax_event_time_skew: 30s\n")
        let strict = try project.run("ingest", "driver_stats", soon)
        #expect(strict.status != 0)
        #expect(strict.stderr.contains("more than 30s in the future are rejected"), "\(strict.stderr)")
        #expect(try project.run("ingest", "driver_stats", soon, environment: ["LARDER_MAX_EVENT_TIME_SKEW": "1h"]).status == 0)

        try project.write("larder.yaml", "project: cli_test\nmax_event_time_skew: soon\n")
        let bad = try project.run("list")
        #expect(bad.status != 0)
        #expect(
            bad.stderr.contains(
                "'max_event_time_skew' must be a duration such as 30s, 5m or 1h30m (units d, h, m, s, ms, us), or a whole number of seconds; got soon"
            ), "\(bad.stderr)")
        try project.write("larder.yaml", "project: cli_test\nmax_event_time_skew: 600\noffline:\n  busy_timeout: 2m\n")
        #expect(try project.run("ingest", "driver_stats", try rowIn(400, name: "later.csv")).status == 0)
        try project.write("larder.yaml", "project: cli_test\noffline:\n  busy_timeout: -1\n")
        #expect(try project.run("list").stderr.contains("'offline.busy_timeout' must be a duration"))
    }

    // MARK: Two writers (10.11)

    /// The first ingest is stopped (SIGSTOP) inside its transaction, holding the store: a
    /// second one with a short busy_timeout fails naming it; a third waits, says so, and
    /// succeeds once the first is continued and commits.
    @Test func aSecondWriterWaitsItsTurnOrFailsNamingTheFirst() throws {
        _ = try project.run("apply")
        let big = try project.write("big.csv", OfflineCommandTests.statsCSV(rows: 400_000, drivers: 1000))
        let small = try project.write("small.csv", OfflineCommandTests.statsCSV(rows: 10))
        let first = try project.start("ingest", "driver_stats", big)
        defer {
            kill(first.processIdentifier, SIGCONT)
            first.waitUntilExit()
        }
        #expect(
            project.signalOnceItsTransactionGrows(first, SIGSTOP),
            "the first ingest finished before it could be stopped; the test needs more rows")

        try project.write("larder.yaml", "project: cli_test\noffline:\n  busy_timeout: 500ms\n")
        let refused = try project.run("ingest", "driver_stats", small)
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains(
                "is busy with another write: ingest into driver_stats from \(big) (pid \(first.processIdentifier) on "),
            "\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "Gave up on ingest into driver_stats from \(small) after waiting 500ms (offline.busy_timeout in larder.yaml)"))
        let materialize = try project.run("materialize", "--offline-only")
        #expect(materialize.status != 0)
        #expect(materialize.stderr.contains("Gave up on materialization of "), "\(materialize.stderr)")

        try project.write("larder.yaml", "project: cli_test\n")
        let stderrPath = project.directory + "/third.err"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let third = Process()
        third.executableURL = LarderProcess.binary
        third.arguments = ["ingest", "driver_stats", small]
        third.currentDirectoryURL = URL(fileURLWithPath: project.directory)
        third.standardOutput = FileHandle.nullDevice
        third.standardError = FileHandle(forWritingAtPath: stderrPath)
        try third.run()
        Thread.sleep(forTimeInterval: 2.5)
        #expect(third.isRunning, "the third ingest did not wait")
        kill(first.processIdentifier, SIGCONT)
        first.waitUntilExit()
        third.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(third.terminationStatus == 0)
        let said = try String(contentsOfFile: stderrPath, encoding: .utf8)
        #expect(
            said.contains(
                "waiting for another write to the offline store at \(project.directory)/data/offline.sqlite to finish: ingest into driver_stats from \(big) (pid \(first.processIdentifier)"
            ), "\(said)")
        #expect(said.contains("waiting up to 5m (offline.busy_timeout in larder.yaml)"))
        let counts = try project.run("describe", "driver_stats", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(counts.stdout.utf8)) as? [String: Any]
        #expect(object?["rows"] as? Int == 400_010)
        #expect(!FileManager.default.fileExists(atPath: project.directory + "/data/offline.sqlite.writer"))
    }

    // MARK: A store the user cannot write (10.12)

    /// Runs `larder` as a user without write access to the store: as `nobody` (through
    /// setpriv) when the tests run as root, for whom permissions do not apply.
    func runWithoutWriteAccess(_ arguments: String...) throws -> LarderProcess.Result {
        guard geteuid() == 0 else { return try project.run(arguments: arguments) }
        let setpriv = "/usr/bin/setpriv"
        try #require(
            FileManager.default.isExecutableFile(atPath: setpriv),
            "the tests run as root, where file permissions do not apply: \(setpriv) (util-linux) is needed to run larder as nobody")
        return try project.run(arguments: arguments, launcher: [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"])
    }

    @Test func listAndDescribeWorkOnAStoreTheUserCannotWrite() throws {
        _ = try project.run("apply")
        let rows = try project.write("rows.csv", OfflineCommandTests.statsCSV(rows: 10))
        #expect(try project.run("ingest", "driver_stats", rows).status == 0)
        #expect(try project.run("materialize", "--offline-only", "--end", "2026-02-01T00:00:00Z").status == 0)
        let data = project.directory + "/data"
        let file = data + "/offline.sqlite"
        // Each command closed the store before it exited, so SQLite removed its WAL files (the
        // threads a command's store work ran on may outlive its last use of the store).
        #expect(!FileManager.default.fileExists(atPath: file + "-wal") && !FileManager.default.fileExists(atPath: file + "-shm"))
        #expect(chmod(file, 0o444) == 0 && chmod(data, 0o555) == 0)
        defer { _ = chmod(data, 0o755); _ = chmod(file, 0o644) }

        let list = try runWithoutWriteAccess("list", "sources")
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("driver_stats"))
        let describe = try runWithoutWriteAccess("describe", "driver_stats", "--json")
        #expect(describe.status == 0, "\(describe.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(describe.stdout.utf8)) as? [String: Any])?["rows"] as? Int == 10)
        let view = try runWithoutWriteAccess("describe", "driver_hourly_stats")
        #expect(view.status == 0, "\(view.stderr)")

        let ingest = try runWithoutWriteAccess("ingest", "driver_stats", rows)
        #expect(ingest.status != 0)
        #expect(
            ingest.stderr.contains(
                "Error: the offline store at \(file) is read-only (the file is not writable): ingest into driver_stats from \(rows) cannot write to it."
            ), "\(ingest.stderr)")
        for result in [list, describe, view, ingest] { #expect(!result.stderr.contains("SQLite error")) }
        #expect(!FileManager.default.fileExists(atPath: file + "-shm"))
    }

    // MARK: Input text in messages (10.12)

    @Test func controlCharactersInABadValueAreEscapedOnTheTerminal() throws {
        _ = try project.run("apply")
        let path = try project.write("esc.csv", Self.header + "1001,2026-01-01T00:00:00Z,,\"0.5\u{1B}]0;pwned\u{7}\n\",0.25,1\n")
        let result = try project.run("ingest", "driver_stats", path)
        #expect(result.status != 0)
        #expect(result.stderr == "Error: \(path):2: column 'conv_rate', value \"0.5\\u{1B}]0;pwned\\u{7}\\n\": not a finite double\n")
    }
}
