import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process started with `posix_spawn`, for servers that tests start and stop, that
/// never outlives the test process.
///
/// Not `Foundation.Process`: it spawns with the calling thread's signal mask, and test code
/// runs on Swift's cooperative or Dispatch threads, which block most signals. A blocked mask
/// survives `exec`, so a `redis-server` started that way never sees SIGTERM. Here the child
/// gets an empty mask and default dispositions, and inherits no descriptors beyond 0–2.
///
/// A server left running by its owner would outlive the test process: one held in a
/// `static let` is never released (Swift runs no deinit at exit), and a test process that
/// crashes or is killed runs nothing at all. So every child is also stopped
/// - at a normal exit, by an `atexit` handler that kills and reaps every child still
///   registered (synchronously: none is left when `swift test` returns);
/// - when the test process dies any other way, by its watchdog: a `sh` blocked reading a
///   pipe whose only write end this process holds (close-on-exec, so no other child inherits
///   it). The kernel closes it when this process ends, however it ends; the read returns and
///   the watchdog kills the child. `prctl(PR_SET_PDEATHSIG)` is not used: it cannot be set
///   through `posix_spawn`, and it fires when the spawning *thread* ends, and tests spawn
///   from threads that end long before the process does.
/// The watchdog starts just after its child; a crash in between (a few microseconds) is
/// caught by ``RedisServer``'s reaping of orphans at the next run.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `exitStatus` is guarded by `lock`; `pid` is immutable.

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`, stdin/stdout/stderr on /dev/null, and its
    /// watchdog.
    init(executable: String, arguments: [String]) throws {
        Self.registry.installExitHandler()
        pid = try Self.spawn(executable: executable, arguments: arguments, standardInput: nil)
        let watchdog: Watchdog
        do {
            watchdog = try Watchdog(watching: pid)
        } catch {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw error
        }
        Self.registry.add(pid, watchdog: watchdog)
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            _ = waitForExit(timeout: 5)
        }
    }

    /// Whether the process has not exited yet (reaps it, and dismisses its watchdog, if it has).
    var isRunning: Bool {
        let reaped: Bool = lock.withLock {
            guard exitStatus == nil else { return false }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid || (result < 0 && errno == ECHILD) else { return false }
            exitStatus = status
            return true
        }
        // Only now that the child is reaped: a watchdog left behind could one day kill a
        // process that reused its pid.
        if reaped { Self.registry.remove(pid)?.dismiss() }
        return lock.withLock { exitStatus == nil }
    }

    /// The raw wait status once the process has exited.
    var status: Int32? {
        _ = isRunning
        return lock.withLock { exitStatus }
    }

    func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Polls until the process exits; false if it is still running after `timeout` seconds.
    func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(1_000)
        }
        return true
    }

    // MARK: - Spawning

    /// `posix_spawn`s `executable` with an empty signal mask and default dispositions,
    /// stdout and stderr on /dev/null, stdin from `standardInput` (or /dev/null), and no other
    /// descriptor.
    fileprivate static func spawn(executable: String, arguments: [String], standardInput: Int32?) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        #if canImport(Glibc)
            var actions = posix_spawn_file_actions_t()
        #else
            var actions: posix_spawn_file_actions_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardInput {
            posix_spawn_file_actions_adddup2(&actions, standardInput, 0)  // dup2 clears close-on-exec
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        #if canImport(Glibc)
            // Other tests' sockets must not stay open in the server. glibc 2.34+ has
            // posix_spawn_file_actions_addclosefrom_np, which its Swift module does not export.
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
                _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            }
        #endif

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw Failure(description: "cannot run \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }

    // MARK: - Stopping children with the test process

    /// Every child not yet reaped, with its watchdog, for the exit handler.
    fileprivate static let registry = Registry()

    fileprivate final class Registry: @unchecked Sendable {
        // @unchecked: `children` and `handlerInstalled` are guarded by `lock`.
        private let lock = NSLock()
        private var children: [pid_t: Watchdog] = [:]
        private var handlerInstalled = false

        func add(_ pid: pid_t, watchdog: Watchdog) { lock.withLock { children[pid] = watchdog } }
        /// The child's watchdog, if it was still registered: each is dismissed once.
        func remove(_ pid: pid_t) -> Watchdog? { lock.withLock { children.removeValue(forKey: pid) } }

        func installExitHandler() {
            lock.withLock {
                guard !handlerInstalled else { return }
                handlerInstalled = true
                atexit { ChildProcess.registry.killAll() }
            }
        }

        /// Kills and reaps every registered child, then its watchdog.
        func killAll() {
            let all = lock.withLock {
                defer { children = [:] }
                return children
            }
            for (pid, watchdog) in all {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                watchdog.dismiss()
            }
        }
    }
}

/// Kills one child when the test process is gone: a `sh` reading a pipe whose write end
/// only the test process holds (see ``ChildProcess``).
private struct Watchdog: Sendable {
    let pid: pid_t
    /// The pipe's write end, close-on-exec.
    let writeEnd: Int32

    init(watching child: pid_t) throws {
        var ends: [Int32] = [0, 0]
        // Close-on-exec from the start with pipe2 (which Glibc's Swift module does not
        // export); without it, a child spawned by another thread in between could inherit the
        // write end, and keep the watchdog waiting as long as it lives.
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        let made: Bool
        if let symbol = dlsym(nil, "pipe2") {
            made = unsafeBitCast(symbol, to: Pipe2.self)(&ends, O_CLOEXEC) == 0
        } else {
            made = pipe(&ends) == 0 && fcntl(ends[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(ends[1], F_SETFD, FD_CLOEXEC) == 0
        }
        guard made else {
            throw ChildProcess.Failure(description: "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        defer { close(ends[0]) }
        do {
            // `read` returns at end of file: when this process has ended, or dismiss() ran.
            pid = try ChildProcess.spawn(
                executable: "/bin/sh",
                arguments: ["-c", "read -r _; kill -KILL \"$1\" 2>/dev/null", "larder-test-watchdog", String(child)],
                standardInput: ends[0])
        } catch {
            close(ends[1])
            throw error
        }
        writeEnd = ends[1]
    }

    /// Stops the watchdog without letting it act (its child is already reaped).
    func dismiss() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(writeEnd)
    }
}
