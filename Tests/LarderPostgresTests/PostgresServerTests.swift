import Foundation
import LarderTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The PostgreSQL harness other Postgres tests rely on, checked with `psql` alone (not the
/// code under test).
@Suite("PostgreSQL test server", .timeLimit(.minutes(1)))
struct PostgresServerTests {
    @Test func answersOverTCPWithThePassword() async throws {
        try await onDedicatedThread {
            let server = try PostgresServer.shared()
            let result = try Self.psqlOverTCP(server, database: "postgres", password: server.password, "SELECT current_user, 1")
            #expect(result.status == 0, "\(result.error)")
            #expect(result.output == "larder|1\n")
            #expect(server.user == "larder")
            #expect(server.password.count == 32 && server.password.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
            #expect(try server.psql(database: "postgres", "SHOW max_connections; SHOW fsync") == "200\noff\n")
        }
    }

    @Test func refusesAWrongPassword() async throws {
        try await onDedicatedThread {
            let server = try PostgresServer.shared()
            let result = try Self.psqlOverTCP(server, database: "postgres", password: "wrong", "SELECT 1")
            #expect(result.status != 0)
            #expect(result.output.isEmpty)
            #expect(result.error.contains("password authentication failed for user \"larder\""), "\(result.error)")
        }
    }

    @Test func createdDatabasesAreDistinctAndEmpty() async throws {
        try await onDedicatedThread {
            let server = try PostgresServer.shared()
            let first = try server.createDatabase()
            let second = try server.createDatabase()
            #expect(first != second)
            let prefix = "postgres://larder:\(server.password)@127.0.0.1:\(server.port)/test_"
            #expect(first.hasPrefix(prefix) && second.hasPrefix(prefix))

            let firstName = String(first.split(separator: "/").last ?? "")
            let secondName = String(second.split(separator: "/").last ?? "")
            try server.psql(database: firstName, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
            #expect(try server.psql(database: firstName, "SELECT x FROM t ORDER BY x") == "1\n2\n")
            #expect(try server.psql(database: secondName, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0\n")

            let named = try server.createDatabase("Named \"odd\" db")
            #expect(named == server.url(database: "Named \"odd\" db"))
            #expect(named.hasSuffix("/Named%20%22odd%22%20db"))
            #expect(try server.psql(database: "Named \"odd\" db", "SELECT current_database()") == "Named \"odd\" db\n")
        }
    }

    /// The URLs work as written, with psql itself: with the password in it, or without and
    /// the password in `PGPASSWORD`.
    @Test func urlsConnect() async throws {
        try await onDedicatedThread {
            let server = try PostgresServer.shared()
            let url = try server.createDatabase()
            let name = String(url.split(separator: "/").last ?? "")
            #expect(server.urlWithoutPassword(database: name) == "postgres://larder@127.0.0.1:\(server.port)/\(name)")

            let withPassword = try Self.runPsql(["-d", url, "-c", "SELECT current_database()"])
            #expect(withPassword.status == 0, "\(withPassword.error)")
            #expect(withPassword.output == "\(name)\n")

            let withoutPassword = server.urlWithoutPassword(database: name)
            let fromEnvironment = try Self.runPsql(
                ["-d", withoutPassword, "-c", "SELECT 1"], environment: ["PGPASSWORD": server.password])
            #expect(fromEnvironment.output == "1\n", "\(fromEnvironment.error)")
            let none = try Self.runPsql(["-d", withoutPassword, "-c", "SELECT 1"])
            #expect(none.status != 0)
        }
    }

    @Test func psqlReportsErrors() async throws {
        try await onDedicatedThread {
            let server = try PostgresServer.shared()
            let name = String(try server.createDatabase().split(separator: "/").last ?? "")
            do {
                // ON_ERROR_STOP: the statement after the error does not run.
                try server.psql(database: name, "CREATE TABLE a (x int); SELECT * FROM missing; CREATE TABLE b (x int)")
                Issue.record("psql did not fail")
            } catch let error as PostgresServer.Failure {
                #expect(error.description.contains("relation \"missing\" does not exist"), "\(error)")
            }
            #expect(try server.psql(database: name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == "a\n")
        }
    }

    /// From several threads at once, as parallel tests do: one server, started once.
    @Test func sharedReturnsOneInstance() async throws {
        try await onDedicatedThread {
            let results = Results()
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                results.append(Result { ObjectIdentifier(try PostgresServer.shared()) })
            }
            let identities = try results.all().map { try $0.get() }
            #expect(identities.count == 8)
            #expect(Set(identities).count == 1)
            let server = try PostgresServer.shared()
            #expect(ObjectIdentifier(server) == identities.first)
            #expect(server.isRunning)
        }
    }

    /// What the threads of ``sharedReturnsOneInstance()`` got.
    final class Results: @unchecked Sendable {
        // @unchecked: `results` is guarded by `lock`.
        private let lock = NSLock()
        private var results: [Result<ObjectIdentifier, any Error>] = []
        func append(_ result: Result<ObjectIdentifier, any Error>) { lock.withLock { results.append(result) } }
        func all() -> [Result<ObjectIdentifier, any Error>] { lock.withLock { results } }
    }

    /// initdb and postgres refuse root: as root, the server runs as another user, and is
    /// still the child process itself (setpriv execs), so signalling the child stops it.
    @Test func ownServerStopsAndLeavesNothing() async throws {
        try await onDedicatedThread {
            let server = try PostgresServer()
            let shared = try PostgresServer.shared()
            #expect(server.port != shared.port)
            let pid = try #require(server.processID)
            #expect(Self.isRunningPostgres(pid))
            #expect(Self.parent(of: pid) == getpid())
            if getuid() == 0 {
                #expect(Self.userID(of: pid) != 0)
            }
            #expect(try server.psql(database: "postgres", "SELECT pg_backend_pid() <> 0") == "t\n")
            let children = Self.children(of: pid)
            #expect(!children.isEmpty)

            server.stop()
            #expect(!server.isRunning)
            #expect(server.processID == nil)
            #expect(!Self.isRunningPostgres(pid))
            #expect(children.allSatisfy { !Self.isRunningPostgres($0) })
            #expect(!FileManager.default.fileExists(atPath: server.socketDirectory))
            #expect(!FileManager.default.fileExists(atPath: server.logPath))
            server.stop()  // idempotent
        }
    }

    /// A test process that never stops its server (``PostgresServer/shared()``, never
    /// released, then killed outright): the postmaster and its children are gone with it, at
    /// once at a normal exit (the exit handler shuts it down and removes its directory),
    /// within a few seconds after SIGKILL (its watchdog kills the postmaster; the children
    /// follow). The directory a killed process leaves is removed by the next one's reaping of
    /// orphans.
    @Test(arguments: ["exit", "kill"]) func serversNeverOutliveTheTestProcess(ending: String) async throws {
        try await onDedicatedThread {
            let (_, directory) = try Self.runHelper(ending: ending) { pid in
                #expect(Self.isRunningPostgres(pid), "pid \(pid) is not a running postgres")
                let children = Self.children(of: pid)
                #expect(!children.isEmpty, "postgres \(pid) has no children")
                return children
            } after: { pid, children in
                let all = [pid] + children
                if ending == "exit" {
                    #expect(all.allSatisfy { !Self.isRunningPostgres($0) }, "the exit handler did not stop postgres \(pid)")
                } else {
                    let deadline = Date().addingTimeInterval(5)
                    while all.contains(where: Self.isRunningPostgres) && Date() < deadline { usleep(10_000) }
                    #expect(
                        all.allSatisfy { !Self.isRunningPostgres($0) },
                        "postgres \(pid) or a child still runs 5 s after its test process was killed")
                }
                for process in all where Self.isRunningPostgres(process) { kill(process, SIGKILL) }  // leave nothing behind
            }
            if ending == "exit" {
                #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) is left")
            } else {
                #expect(FileManager.default.fileExists(atPath: directory))
                // The next test process reaps it (here, the helper once more).
                _ = try Self.runHelper(ending: "exit", during: { _ in }, after: { _, _ in })
                #expect(!FileManager.default.fileExists(atPath: directory), "orphaned \(directory) is left")
            }
        }
    }

    @Test func missingPostgresMessageTellsHowToInstall() {
        let message = PostgresServer.Failure.notInstalled.description
        #expect(message.contains("apt-get install postgresql"))
        #expect(message.contains("do not skip"))
    }

    // MARK: - Helpers

    /// Runs `larder-test-helper postgres-left-running ENDING`: `during` sees the server's pid
    /// while the helper runs, `after` once it has ended. Returns the pid and the server's directory.
    static func runHelper<T>(ending: String, during: (Int32) throws -> T, after: (Int32, T) throws -> Void) throws
        -> (Int32, String)
    {
        let helper = Process()
        helper.executableURL = try helperBinary()
        helper.arguments = ["postgres-left-running", ending]
        let input = Pipe()
        let output = Pipe()
        helper.standardInput = input
        helper.standardOutput = output
        try helper.run()
        var text = ""
        while !text.hasSuffix("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let fields = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", maxSplits: 1)
        guard fields.count == 2, let pid = Int32(fields[0]) else {
            helper.terminate()
            throw HelperFailed(description: "the helper printed \(text.debugDescription)")
        }
        let directory = (String(fields[1]) as NSString).deletingLastPathComponent
        let seen = try during(pid)
        input.fileHandleForWriting.write(Data("go\n".utf8))
        helper.waitUntilExit()
        #expect(helper.terminationReason == (ending == "kill" ? .uncaughtSignal : .exit))
        try after(pid, seen)
        return (pid, directory)
    }

    struct HelperFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// `larder-test-helper`, built beside this test binary.
    static func helperBinary() throws -> URL {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(), Bundle.main.bundleURL,
            Bundle.main.bundleURL.deletingLastPathComponent(),
        ]
        for directory in candidates.compactMap({ $0 }) {
            let url = directory.appendingPathComponent("larder-test-helper")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw HelperFailed(
            description: "larder-test-helper not found beside the test binary (in "
                + "\(candidates.compactMap { $0?.path }.joined(separator: ", "))); build the tests with swift build --build-tests")
    }

    /// `psql` from PATH (as a user would run it) over TCP, with `password` in `PGPASSWORD`.
    static func psqlOverTCP(_ server: PostgresServer, database: String, password: String, _ sql: String) throws
        -> (status: Int32, output: String, error: String)
    {
        try runPsql(
            ["-h", "127.0.0.1", "-p", String(server.port), "-U", server.user, "-d", database, "-c", sql],
            environment: ["PGPASSWORD": password])
    }

    /// Runs `psql -X -A -t -w ARGUMENTS` (no psqlrc, unaligned, tuples only, never prompts),
    /// with no PG* variable from this process's environment, only `environment`.
    static func runPsql(_ arguments: [String], environment: [String: String] = [:]) throws
        -> (status: Int32, output: String, error: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-A", "-t", "-w"] + arguments
        var variables = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        variables["PGPASSFILE"] = "/dev/null"  // no ~/.pgpass either
        variables["PGCONNECT_TIMEOUT"] = "5"
        process.environment = variables.merging(environment) { $1 }
        let output = Pipe()
        let error = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Small outputs: reading one pipe to its end, then the other, cannot block psql.
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// Fields of `/proc/PID/stat` after the command name: state, parent, … (nil if gone).
    static func stat(_ pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// Whether `pid` is a live (not zombie) `postgres` process.
    static func isRunningPostgres(_ pid: Int32) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), text.contains("(postgres)"),
            let state = stat(pid)?.first
        else { return false }
        return state != "Z" && state != "X"
    }

    static func parent(of pid: Int32) -> Int32? {
        stat(pid).flatMap { $0.count > 1 ? Int32($0[1]) : nil }
    }

    /// The processes whose parent is `pid`.
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { parent(of: $0) == pid }
    }

    /// The real user id of `pid`, from `/proc/PID/status`.
    static func userID(of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") })
        else { return nil }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }
    }
}
