import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real PostgreSQL server for tests: a fresh cluster (`initdb`) in its own directory, a
/// `postgres` on a free loopback port, a superuser `larder` with a random password. Stopped
/// when released, and in any case when the test process ends, however it ends (see
/// ``ChildProcess``).
///
/// `initdb` takes a second or two, so most tests share one server per test process
/// (``shared()``) and isolate themselves by database (``createDatabase(_:)``).
///
/// Tests that need PostgreSQL do not skip: when it is missing, ``init()`` throws
/// ``Failure/notInstalled`` and the test fails with instructions.
///
/// As root (CI), `initdb` and `postgres` refuse to run, so they run as the `postgres` system
/// user (or `nobody`) through `setpriv`, which execs them: the child process is the postmaster
/// itself, so signalling the child signals the server.
public final class PostgresServer: @unchecked Sendable {
    // @unchecked: the only mutable state, `process`, is guarded by `lock`.

    /// Why a server could not be provided, or a `psql` command failed.
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case failedToStart(String)
        case psqlFailed(String)

        public var description: String {
            switch self {
            case .notInstalled:
                return "PostgreSQL not found (initdb and postgres on PATH or in /usr/lib/postgresql/*/bin, and psql): "
                    + "install it (Debian: apt-get install postgresql) — tests that need PostgreSQL do not skip"
            case .failedToStart(let reason):
                return "postgres failed to start: \(reason)"
            case .psqlFailed(let reason):
                return "psql failed: \(reason)"
            }
        }
    }

    /// The TCP port on 127.0.0.1 (the server also listens on a Unix socket in ``socketDirectory``).
    public let port: Int
    /// The superuser's name, `larder`: the name is fixed so URLs in tests read the same every run.
    public let user = "larder"
    /// The superuser's password: random, URL-safe alphanumerics, so that TCP connections
    /// really authenticate (SCRAM-SHA-256) as they would against a shared server.
    public let password: String
    /// Directory of the server's Unix socket (its data directory), where local connections
    /// need no password: what ``psql(database:_:)`` uses.
    public var socketDirectory: String { Self.dataDirectory(in: directory) }
    /// Path of the server's log (its standard error), for diagnosing failures.
    public var logPath: String { directory.file("postgres.log") }

    private let installation: Installation
    private let directory: TemporaryDirectory
    private let lock = NSLock()
    private var process: ChildProcess?

    /// Creates a cluster with `initdb`, starts `postgres` on a free port, and waits until it
    /// accepts connections.
    ///
    /// - Throws: ``Failure/notInstalled`` if PostgreSQL is missing, ``Failure/failedToStart(_:)``
    ///   if `initdb` fails or the server does not accept connections within 20 s.
    public init() throws {
        guard let installation = Self.installation else { throw Failure.notInstalled }
        _ = Self.orphansReaped
        let account = try Self.unprivilegedAccount()
        self.installation = installation
        self.password = Self.randomString(length: 32, from: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        // The owner's pid in the name lets a later run recognise servers orphaned by a crash.
        self.directory = try TemporaryDirectory(prefix: "\(Self.directoryPrefix)\(getpid())")
        try Self.initializeCluster(installation: installation, account: account, directory: directory, password: password)
        _ = Self.exitHandlerInstalled  // after the first ChildProcess: see stopAllAtExit()

        // The port was free when chosen, but another test may take it before postgres binds
        // it; then postgres exits and we try another port.
        var lastError: Error = Failure.failedToStart("no attempt made")
        for _ in 0..<5 {
            let candidate = try LoopbackSocket.freePort()
            do {
                let process = try Self.launch(installation: installation, account: account, directory: directory, port: candidate)
                self.port = candidate
                self.process = process
                Self.live.add(self)
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    deinit {
        Self.live.remove(self)
        stop()
    }

    /// One server for the whole test process, started on first use; later calls (from any
    /// thread) wait for it and get the same instance, or the same error. Saves each test the
    /// cost of `initdb`: isolate tests by database (``createDatabase(_:)``), and never stop it.
    /// It is stopped when the test process exits.
    public static func shared() throws -> PostgresServer {
        try sharedServer.get()
    }

    private static let sharedServer: Result<PostgresServer, any Error> = Result { try PostgresServer() }

    /// The server's process id (the postmaster's) while it runs.
    public var processID: Int32? {
        lock.withLock { process }?.pid
    }

    /// Whether the server process is running.
    public var isRunning: Bool {
        (lock.withLock { process })?.isRunning ?? false
    }

    /// Stops the server and removes its directory (cluster, socket, log). Does nothing more
    /// if it is already stopped.
    ///
    /// Sends SIGINT, PostgreSQL's fast shutdown, which ends open sessions (SIGTERM would wait
    /// for every client, such as a pool a test left open, to disconnect); SIGKILL after 10 s.
    public func stop() {
        let stopping: ChildProcess? = lock.withLock {
            defer { process = nil }
            return process
        }
        if let stopping { Self.shutDown(stopping, dataDirectory: socketDirectory) }
        try? FileManager.default.removeItem(atPath: directory.path)
    }

    // MARK: - Databases and SQL

    /// Creates a new, empty database and returns its URL with credentials, for tests to
    /// isolate themselves on a ``shared()`` server.
    ///
    /// - Parameter name: the database's name; by default a random unique one (`test_…`).
    /// - Returns: `postgres://larder:PASSWORD@127.0.0.1:PORT/NAME`.
    public func createDatabase(_ name: String? = nil) throws -> String {
        let name = name ?? "test_" + Self.randomString(length: 16, from: "abcdefghijklmnopqrstuvwxyz0123456789")
        _ = try psql(database: "postgres", "CREATE DATABASE \(Self.quotedIdentifier(name))")
        return url(database: name)
    }

    /// `postgres://larder:PASSWORD@127.0.0.1:PORT/DATABASE`: what a user would configure.
    public func url(database: String) -> String {
        let encoded = password.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? password
        return "postgres://\(user):\(encoded)@127.0.0.1:\(port)/\(Self.encodedPath(database))"
    }

    /// `postgres://larder@127.0.0.1:PORT/DATABASE`, without the password: for tests of
    /// credentials given another way (`PGPASSWORD`, a `.pgpass` file).
    public func urlWithoutPassword(database: String) -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(Self.encodedPath(database))"
    }

    /// Runs `sql` (one or more statements) in `database` with `psql` over the Unix socket,
    /// stopping at the first error, and returns what it printed: unaligned, tuples only (a
    /// row per line, columns separated by `|`). For tests to set up or inspect tables
    /// without the code under test.
    ///
    /// - Throws: ``Failure/psqlFailed(_:)`` with psql's standard error.
    @discardableResult
    public func psql(database: String, _ sql: String) throws -> String {
        let arguments = [
            "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory, "-p", String(port), "-U", user,
            "-d", database, "-f", "-",
        ]
        let result = try Self.run(installation.psql, arguments, input: sql)
        guard result.status == 0 else {
            throw Failure.psqlFailed("exit status \(result.status) in database \(database): \(result.error)")
        }
        return result.output
    }

    // MARK: - Installation

    /// The binaries of one PostgreSQL version.
    private struct Installation: Sendable {
        let initdb: String
        let postgres: String
        let psql: String
        /// Whether `initdb` takes `--no-sync` (skips fsync: a test cluster need not survive a crash).
        let noSync: Bool
    }

    /// `initdb` and `postgres` from the first directory holding both: PATH, then Debian's
    /// `/usr/lib/postgresql/VERSION/bin`, highest version first. `psql` from the same
    /// directory when there (the same version, and not Debian's Perl wrapper, which costs
    /// ~100 ms a call), else from PATH.
    private static let installation: Installation? = {
        let manager = FileManager.default
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let versions = ((try? manager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .map { (name: $0, number: $0.split(separator: ".").map { Int($0) ?? 0 }) }
            .sorted { $0.number.lexicographicallyPrecedes($1.number) }
            .reversed()
            .map { "/usr/lib/postgresql/\($0.name)/bin" }
        func executable(_ name: String, in directory: String) -> String? {
            let candidate = (directory as NSString).appendingPathComponent(name)
            return manager.isExecutableFile(atPath: candidate) ? candidate : nil
        }
        for directory in path + versions {
            guard let initdb = executable("initdb", in: directory), let postgres = executable("postgres", in: directory) else {
                continue
            }
            let binaries = URL(fileURLWithPath: initdb).resolvingSymlinksInPath().deletingLastPathComponent().path
            guard
                let psql = executable("psql", in: binaries)
                    ?? (path + ["/usr/bin"]).lazy.compactMap({ executable("psql", in: $0) }).first
            else { return nil }
            let help = (try? run(initdb, ["--help"]))?.output ?? ""
            return Installation(initdb: initdb, postgres: postgres, psql: psql, noSync: help.contains("--no-sync"))
        }
        return nil
    }()

    /// A user and group to run the server as.
    private struct Account: Sendable {
        let name: String
        let uid: uid_t
        let gid: gid_t
        let setpriv: String
    }

    /// nil unless this process is root: then `postgres` (the user Debian's package creates),
    /// else `nobody`, since `initdb` and `postgres` refuse to run as root.
    private static func unprivilegedAccount() throws -> Account? {
        guard getuid() == 0 else { return nil }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/setpriv" }
        guard let setpriv = (path + ["/usr/bin/setpriv"]).first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw Failure.failedToStart(
                "running as root, where initdb and postgres refuse to run, and setpriv (to run them as another user) "
                    + "is missing: install it (Debian: apt-get install util-linux)")
        }
        for name in ["postgres", "nobody"] {
            var entry = passwd()
            var found: UnsafeMutablePointer<passwd>?
            var buffer = [CChar](repeating: 0, count: 4096)
            if getpwnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil {
                return Account(name: name, uid: entry.pw_uid, gid: entry.pw_gid, setpriv: setpriv)
            }
        }
        throw Failure.failedToStart("running as root, where initdb and postgres refuse to run, and there is no user postgres or nobody")
    }

    // MARK: - Launching

    private static func dataDirectory(in directory: TemporaryDirectory) -> String { directory.file("data") }

    /// `initdb` into `DIRECTORY/data`, owned by `account` when there is one.
    private static func initializeCluster(
        installation: Installation, account: Account?, directory: TemporaryDirectory, password: String
    ) throws {
        let data = dataDirectory(in: directory)
        let passwordFile = directory.file("password")
        guard
            FileManager.default.createFile(
                atPath: passwordFile, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw Failure.failedToStart("cannot write \(passwordFile)") }
        defer { try? FileManager.default.removeItem(atPath: passwordFile) }
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if let account {
            // The account must reach its files: through this directory (whatever the umask) and
            // every directory above it.
            chmod(directory.path, 0o755)
            try checkTraversable(directory.path, by: account)
            for path in [data, passwordFile] where chown(path, account.uid, account.gid) != 0 {
                throw Failure.failedToStart("cannot give \(path) to user \(account.name): \(String(cString: strerror(errno)))")
            }
        }

        var arguments = [
            "-D", data, "-U", "larder", "--pwfile=\(passwordFile)", "--auth-host=scram-sha-256", "--auth-local=trust",
            "-E", "UTF8", "--locale=C",
        ]
        if installation.noSync { arguments.append("--no-sync") }
        let log = directory.file("initdb.log")
        // A ChildProcess, not Foundation's Process: initdb does not outlive a test process that dies meanwhile.
        let process = try ChildProcess(
            executable: "/bin/sh",
            arguments: wrapped(installation.initdb, arguments, account: account, directory: directory, log: log))
        guard process.waitForExit(timeout: 60) else {
            process.signal(SIGKILL)
            _ = process.waitForExit(timeout: 5)
            throw Failure.failedToStart("initdb did not finish within 60 s; its output:\n" + tail(of: log))
        }
        let status = process.status ?? -1
        guard status == 0 else {
            throw Failure.failedToStart("initdb \(describe(status: status)); its output:\n" + tail(of: log))
        }
    }

    /// Starts `postgres` on `port` and waits until this very process accepts connections.
    private static func launch(installation: Installation, account: Account?, directory: TemporaryDirectory, port: Int) throws
        -> ChildProcess
    {
        let data = dataDirectory(in: directory)
        let log = directory.file("postgres.log")
        // Settings that make no sense for data that is deleted after the tests: no fsync, no
        // full-page writes. Many connections: tests open pools in parallel.
        let arguments = [
            "-D", data, "-p", String(port), "-k", data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
        ]
        let process = try ChildProcess(
            executable: "/bin/sh", arguments: wrapped(installation.postgres, arguments, account: account, directory: directory, log: log))

        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard process.isRunning else {
                throw Failure.failedToStart(
                    "exited (\(describe(status: process.status ?? -1))) on port \(port); log:\n" + tail(of: log))
            }
            // Ready when *this* process says so in postmaster.pid (so the sh and setpriv in
            // front of it did exec), and answers on its socket.
            if postmasterIsReady(pid: process.pid, dataDirectory: data),
                let result = try? run(
                    installation.psql,
                    ["-X", "-A", "-t", "-h", data, "-p", String(port), "-U", "larder", "-d", "postgres", "-c", "SELECT 1"]),
                result.status == 0
            {
                return process
            }
            usleep(10_000)
        }
        shutDown(process, dataDirectory: data)
        throw Failure.failedToStart("not accepting connections on 127.0.0.1:\(port) within 20 s; log:\n" + tail(of: log))
    }

    /// `sh -c` arguments that run `executable` in `directory` with its output appended to
    /// `log`, as `account` when there is one. Each step execs the next (sh, setpriv, the
    /// program), so the ChildProcess's pid is the program's.
    private static func wrapped(
        _ executable: String, _ arguments: [String], account: Account?, directory: TemporaryDirectory, log: String
    ) -> [String] {
        var command = [executable] + arguments
        if let account {
            command = [account.setpriv, "--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--"] + command
        }
        return ["-c", "cd \"$1\" && log=$2 && shift 2 && exec \"$@\" >>\"$log\" 2>&1", "larder-postgres", directory.path, log]
            + command
    }

    /// Whether `postmaster.pid` names `pid` and says `ready` (its 8th line, PostgreSQL 10+).
    private static func postmasterIsReady(pid: pid_t, dataDirectory: String) -> Bool {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return false }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first, Int32(first.trimmingCharacters(in: .whitespaces)) == pid else { return false }
        return lines.count < 8 || lines[7].trimmingCharacters(in: .whitespaces) == "ready"
    }

    /// Fast shutdown (SIGINT), SIGKILL after 10 s. The postmaster waits for its own children,
    /// and removes its shared memory, except after SIGKILL: then we remove it.
    private static func shutDown(_ process: ChildProcess, dataDirectory: String) {
        guard process.isRunning else { return }
        process.signal(SIGINT)
        if process.waitForExit(timeout: 10) { return }
        let segment = sharedMemorySegment(dataDirectory: dataDirectory)
        process.signal(SIGKILL)
        _ = process.waitForExit(timeout: 5)
        #if os(Linux)
            killProcesses(workingIn: dataDirectory)  // the postmaster's children
        #endif
        if let segment { removeSharedMemory(segment) }
    }

    /// Fails with a clear message when `account` cannot reach `path` (say, TMPDIR under /root).
    private static func checkTraversable(_ path: String, by account: Account) throws {
        var directory = (path as NSString).deletingLastPathComponent
        while !directory.isEmpty {
            var info = stat()
            if stat(directory, &info) == 0 {
                let mode = info.st_mode
                let reachable =
                    mode & S_IXOTH != 0 || (info.st_uid == account.uid && mode & S_IXUSR != 0)
                    || (info.st_gid == account.gid && mode & S_IXGRP != 0)
                guard reachable else {
                    throw Failure.failedToStart(
                        "user \(account.name), which runs the server because this process is root, cannot traverse "
                            + "\(directory): set TMPDIR to a directory others may traverse, such as /tmp")
                }
            }
            if directory == "/" { break }
            directory = (directory as NSString).deletingLastPathComponent
        }
    }

    // MARK: - Stopping servers with the test process

    /// Servers not yet released, for the exit handler.
    private static let live = LiveServers()

    private final class LiveServers: @unchecked Sendable {
        // @unchecked: `servers` is guarded by `lock`.
        private struct Entry {
            weak var server: PostgresServer?
        }
        private let lock = NSLock()
        private var servers: [ObjectIdentifier: Entry] = [:]

        func add(_ server: PostgresServer) { lock.withLock { servers[ObjectIdentifier(server)] = Entry(server: server) } }
        func remove(_ server: PostgresServer) { lock.withLock { _ = servers.removeValue(forKey: ObjectIdentifier(server)) } }
        func all() -> [PostgresServer] { lock.withLock { servers.values.compactMap(\.server) } }
    }

    /// Registered once, after ``ChildProcess`` registered its own handler: `atexit` handlers
    /// run in reverse order, so this one runs first.
    private static let exitHandlerInstalled: Void = {
        atexit { PostgresServer.stopAllAtExit() }
    }()

    /// At a normal exit, servers never released (``shared()``, globals) are shut down cleanly
    /// and their directories removed; ``ChildProcess``'s handler would SIGKILL them, leaving a
    /// ~40 MB cluster in the temporary directory and a System V shared memory segment behind.
    private static func stopAllAtExit() {
        for server in live.all() { server.stop() }
    }

    // MARK: - Orphans

    private static let directoryPrefix = "larder-postgres-"

    /// A test process that crashes never runs `deinit` nor exit handlers; ``ChildProcess``'s
    /// watchdogs kill its servers then, but leave their directories and shared memory, and one
    /// started in the instant before its watchdog would be left running. Once per process, for
    /// each directory whose owning test process is gone (its pid is in the name): kill the
    /// processes working in its data directory (the postmaster and its children: a reused pid
    /// never has that working directory), remove the shared memory segment `postmaster.pid`
    /// names, and the directory.
    private static let orphansReaped: Void = {
        let temporary = NSTemporaryDirectory()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        for entry in entries where entry.hasPrefix(directoryPrefix) {
            guard let owner = Int32(entry.dropFirst(directoryPrefix.count).prefix { $0.isNumber }) else { continue }
            if kill(owner, 0) == 0 || errno == EPERM { continue }  // owner still running
            let directory = (temporary as NSString).appendingPathComponent(entry)
            let data = (directory as NSString).appendingPathComponent("data")
            #if os(Linux)
                let segment = sharedMemorySegment(dataDirectory: data)
                killProcesses(workingIn: data)
                if let segment { removeSharedMemory(segment) }
            #endif
            try? FileManager.default.removeItem(atPath: directory)
        }
    }()

    #if os(Linux)
        /// SIGKILLs every process whose working directory is `directory`, and waits (up to
        /// 5 s) until they are gone.
        private static func killProcesses(workingIn directory: String) {
            let target = (directory as NSString).standardizingPath
            func working() -> [pid_t] {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
                return entries.compactMap { entry in
                    guard let pid = pid_t(entry),
                        let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"),
                        (cwd as NSString).standardizingPath == target
                    else { return nil }
                    return pid
                }
            }
            let deadline = Date().addingTimeInterval(5)
            var remaining = working()
            while !remaining.isEmpty && Date() < deadline {
                for pid in remaining { kill(pid, SIGKILL) }
                usleep(10_000)
                remaining = working()
            }
        }
    #endif

    /// The System V segment (key, id) on line 7 of `postmaster.pid`.
    private static func sharedMemorySegment(dataDirectory: String) -> (key: Int32, id: Int32)? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 7 else { return nil }
        let fields = lines[6].split(separator: " ")
        guard fields.count == 2, let key = Int32(fields[0]), let id = Int32(fields[1]) else { return nil }
        return (key, id)
    }

    /// Removes the segment if it still has that key (so an id reused by another is left alone).
    private static func removeSharedMemory(_ segment: (key: Int32, id: Int32)) {
        #if os(Linux)
            var info = shmid_ds()
            guard shmctl(segment.id, IPC_STAT, &info) == 0, info.shm_perm.__key == segment.key else { return }
            _ = shmctl(segment.id, IPC_RMID, nil)
        #endif
    }

    // MARK: - Helpers

    /// Runs a short command to completion: `input` on its standard input, its standard
    /// output and error collected, and its exit status (128 + N when killed by signal N).
    /// Through files, not pipes: nothing to deadlock on, and no
    /// SIGPIPE when the command exits without reading all its input.
    private static func run(_ executable: String, _ arguments: [String], input: String = "") throws
        -> (status: Int32, output: String, error: String)
    {
        let files = try TemporaryDirectory(prefix: "larder-psql")
        let inputPath = try files.write("input", input)
        _ = FileManager.default.createFile(atPath: files.file("output"), contents: nil)
        _ = FileManager.default.createFile(atPath: files.file("error"), contents: nil)
        guard let standardInput = FileHandle(forReadingAtPath: inputPath),
            let standardOutput = FileHandle(forWritingAtPath: files.file("output")),
            let standardError = FileHandle(forWritingAtPath: files.file("error"))
        else { throw Failure.psqlFailed("cannot open files in \(files.path)") }
        defer {
            try? standardInput.close()
            try? standardOutput.close()
            try? standardError.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Nothing from the environment (PGHOST, PGPASSWORD, PGOPTIONS…) may redirect or change the command.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        process.standardInput = standardInput
        process.standardOutput = standardOutput
        process.standardError = standardError
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: files.file("output"), encoding: .utf8)) ?? ""
        let error = (try? String(contentsOfFile: files.file("error"), encoding: .utf8)) ?? ""
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return (status, output, error.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// "exited with status N" or "killed by signal N", from a raw wait status (or an exit code).
    private static func describe(status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return signal == 0x7f ? "stopped" : "killed by signal \(signal)"
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func encodedPath(_ database: String) -> String {
        database.addingPercentEncoding(withAllowedCharacters: unreserved) ?? database
    }

    /// `name` as an SQL identifier, double quotes doubled.
    private static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func randomString(length: Int, from alphabet: String) -> String {
        let characters = Array(alphabet)
        return String((0..<length).map { _ in characters.randomElement()! })
    }

    private static func tail(of path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }
}
