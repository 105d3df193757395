import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real `redis-server` for one test or suite, on a free loopback port, with its own
/// directory and no persistence. Stopped when released, and in any case when the test
/// process ends, however it ends (see ``ChildProcess``).
///
/// Tests that need Redis do not skip: when `redis-server` is missing, ``init(requirePassword:)``
/// throws ``Failure/notInstalled`` and the test fails with instructions.
public final class RedisServer: @unchecked Sendable {
    // @unchecked: the only mutable state, `process`, is guarded by `lock`.

    /// Why a server could not be provided.
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case failedToStart(String)

        public var description: String {
            switch self {
            case .notInstalled:
                return "redis-server not found on PATH: install it (Debian: apt-get install redis-server) "
                    + "— tests that need Redis do not skip"
            case .failedToStart(let reason):
                return "redis-server failed to start: \(reason)"
            }
        }
    }

    /// The TCP port on 127.0.0.1; kept across ``restart()``.
    public let port: Int
    /// The password given as `requirePassword`, if any.
    public let password: String?
    /// `redis://127.0.0.1:PORT/0`, without credentials.
    public var url: String { "redis://127.0.0.1:\(port)/0" }
    /// `redis://:PASSWORD@127.0.0.1:PORT/0` when a password is required, else ``url``.
    public var authenticatedURL: String {
        guard let password else { return url }
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        return "redis://:\(encoded)@127.0.0.1:\(port)/0"
    }
    /// Path of the server's log file, for diagnosing failures.
    public var logPath: String { directory.file("redis.log") }

    private let executable: String
    private let directory: TemporaryDirectory
    private let lock = NSLock()
    private var process: ChildProcess?

    /// Starts `redis-server` on a free port and waits until it answers.
    ///
    /// - Parameter requirePassword: starts the server with `--requirepass`.
    /// - Throws: ``Failure/notInstalled`` if there is no `redis-server`, ``Failure/failedToStart(_:)``
    ///   if it does not come up within 10 s.
    public init(requirePassword: String? = nil) throws {
        guard let executable = Self.findExecutable() else { throw Failure.notInstalled }
        _ = Self.orphansReaped
        self.executable = executable
        self.password = requirePassword
        // The owner's pid in the name lets a later run recognise servers orphaned by a crash.
        self.directory = try TemporaryDirectory(prefix: "\(Self.directoryPrefix)\(getpid())")

        // The port was free when chosen, but another test may take it before redis-server
        // binds it; then redis-server exits and we try another port.
        var lastError: Error = Failure.failedToStart("no attempt made")
        for _ in 0..<5 {
            let candidate = try LoopbackSocket.freePort()
            do {
                let process = try Self.launch(
                    executable: executable, port: candidate, password: requirePassword, directory: directory)
                self.port = candidate
                self.process = process
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    deinit {
        stop()
    }

    /// The server's process id while it runs.
    public var processID: Int32? {
        lock.withLock { process }?.pid
    }

    /// Whether the server process is running.
    public var isRunning: Bool {
        (lock.withLock { process })?.isRunning ?? false
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    /// Does nothing if it is not running.
    public func stop() {
        let stopping: ChildProcess? = lock.withLock {
            defer { process = nil }
            return process
        }
        guard let stopping, stopping.isRunning else { return }
        stopping.signal(SIGTERM)
        stopping.signal(SIGCONT)  // a suspended server handles SIGTERM only once continued
        if !stopping.waitForExit(timeout: 5) {
            stopping.signal(SIGKILL)
            _ = stopping.waitForExit(timeout: 5)
        }
    }

    /// Stops the server if needed and starts a new one on the same port, with the same
    /// password and an empty dataset.
    public func restart() throws {
        stop()
        let process = try Self.launch(executable: executable, port: port, password: password, directory: directory)
        lock.withLock { self.process = process }
    }

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel but
    /// nothing is answered, like a hung server.
    public func suspend() {
        lock.withLock { process }?.signal(SIGSTOP)
    }

    /// Continues a suspended server (SIGCONT).
    public func resume() {
        lock.withLock { process }?.signal(SIGCONT)
    }

    // MARK: - Launching

    static func findExecutable(_ name: String = "redis-server") -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map { "\($0)/\(name)" } + ["/usr/bin/\(name)"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func launch(executable: String, port: Int, password: String?, directory: TemporaryDirectory) throws -> ChildProcess {
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--daemonize", "no", "--logfile", directory.file("redis.log"),
            "--pidfile", directory.file("redis.pid"),
            // SIGTERM is acted on in the server's cron: at 100 Hz, stop() takes ~10 ms, not ~100.
            "--hz", "100",
        ]
        if let password { arguments += ["--requirepass", password] }
        let process = try ChildProcess(executable: executable, arguments: arguments)

        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard process.isRunning else {
                throw Failure.failedToStart(
                    "exited with status \(process.status ?? -1) on port \(port); log:\n"
                        + tail(of: directory.file("redis.log")))
            }
            // Ready when *this* process answers on the port: another test's server could
            // have taken the port, so compare the process id the server reports.
            if serverProcessID(port: port, password: password) == process.pid {
                return process
            }
            usleep(5_000)
        }
        process.signal(SIGKILL)
        _ = process.waitForExit(timeout: 5)
        throw Failure.failedToStart("no answer on 127.0.0.1:\(port) within 10 s; log:\n" + tail(of: directory.file("redis.log")))
    }

    static let directoryPrefix = "larder-redis-"

    /// A test process that crashes never runs `deinit`; ``ChildProcess``'s watchdogs stop its
    /// servers then, but one started in the instant before its watchdog would be left. Once per
    /// process, stop servers whose owning test process is gone: the directory name holds the
    /// owner's pid, `redis.pid` the server's, and the server's working directory must be that
    /// directory (so a reused pid is never killed). ``RedisCluster``'s nodes live in such
    /// directories too.
    static let orphansReaped: Void = {
        let temporary = NSTemporaryDirectory()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        for entry in entries where entry.hasPrefix(directoryPrefix) {
            guard let owner = Int32(entry.dropFirst(directoryPrefix.count).prefix { $0.isNumber }) else { continue }
            if kill(owner, 0) == 0 || errno == EPERM { continue }  // owner still running
            let directory = (temporary as NSString).appendingPathComponent(entry)
            #if os(Linux)
                if let text = try? String(contentsOfFile: directory + "/redis.pid", encoding: .utf8),
                    let server = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                    let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server)/cwd"),
                    (cwd as NSString).standardizingPath == (directory as NSString).standardizingPath
                {
                    kill(server, SIGKILL)
                }
            #endif
            try? FileManager.default.removeItem(atPath: directory)
        }
    }()

    /// Sends `INFO server` (after AUTH when needed) and reads `process_id`.
    static func serverProcessID(port: Int, password: String?) -> Int32? {
        let auth = password.map { resp(["AUTH", $0]) } ?? ""
        let reply = LoopbackSocket.exchange(port: port, request: auth + resp(["INFO", "server"])) { text in
            guard let range = text.range(of: "process_id:") else { return text.hasPrefix("-") }
            return text[range.upperBound...].contains("\r\n")
        }
        guard let reply, let range = reply.range(of: "process_id:") else { return nil }
        return Int32(reply[range.upperBound...].prefix { $0.isNumber })
    }

    /// A command in RESP, so that arguments may contain spaces.
    static func resp(_ words: [String]) -> String {
        "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    static func tail(of path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }
}
