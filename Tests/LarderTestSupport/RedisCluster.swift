import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real Redis Cluster for one test or suite: six `redis-server --cluster-enabled yes` nodes
/// on free loopback ports, joined by `redis-cli --cluster create` as three primaries with one
/// replica each, without persistence. Every node is stopped when the cluster is released,
/// and in any case when the test process ends, however it ends (each node is a
/// ``ChildProcess`` and lives in a directory ``RedisServer`` reaps orphans from).
///
/// Tests that need a cluster do not skip: when `redis-server` or `redis-cli` is missing,
/// ``init()`` throws ``Failure/notInstalled(_:)`` and the test fails with instructions.
public final class RedisCluster: @unchecked Sendable {
    // @unchecked: every stored property is immutable; each Node guards its own state.

    /// Why a cluster could not be provided, or a command on it failed.
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled(String)
        case failedToStart(String)
        case commandFailed(String)

        public var description: String {
            switch self {
            case .notInstalled(let program):
                return "\(program) not found on PATH: install it (Debian: apt-get install redis-server, which brings "
                    + "redis-tools) — tests that need a Redis cluster do not skip"
            case .failedToStart(let reason):
                return "the Redis cluster failed to start: \(reason)"
            case .commandFailed(let reason):
                return reason
            }
        }
    }

    /// One `redis-server` of the cluster.
    public final class Node: @unchecked Sendable, CustomStringConvertible {
        // @unchecked: the only mutable state, `process`, is guarded by `lock`.

        /// The client port on 127.0.0.1; kept across ``restart()``.
        public let port: Int
        /// The cluster bus port (`cluster-port`), chosen free like ``port``, since the default
        /// (port + 10000) may be taken or above 65535.
        public let busPort: Int
        /// Path of the node's log file, for diagnosing failures.
        public var logPath: String { directory.file("redis.log") }
        public var description: String { "127.0.0.1:\(port)" }

        private let executable: String
        private let directory: TemporaryDirectory
        private let lock = NSLock()
        private var process: ChildProcess?

        fileprivate init(executable: String) throws {
            self.executable = executable
            // The owner's pid in the name lets RedisServer's reaping of orphans recognise it.
            directory = try TemporaryDirectory(prefix: "\(RedisServer.directoryPrefix)\(getpid())")
            // A port free when chosen may be taken before redis-server binds it; then it
            // exits and we try other ports.
            var lastError: Error = Failure.failedToStart("no attempt made")
            for _ in 0..<5 {
                let candidate = try LoopbackSocket.freePort()
                let bus = try LoopbackSocket.freePort()
                guard bus != candidate else { continue }
                do {
                    let process = try Self.launch(executable: executable, port: candidate, busPort: bus, directory: directory)
                    port = candidate
                    busPort = bus
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

        /// The node's process id while it runs.
        public var processID: Int32? {
            lock.withLock { process }?.pid
        }

        /// Whether the node's process is running.
        public var isRunning: Bool {
            (lock.withLock { process })?.isRunning ?? false
        }

        /// Sends `signal` to the node: SIGKILL to crash it (then waits until it is gone, so
        /// ``isRunning`` is false on return), SIGSTOP to hang it, SIGCONT to resume it.
        public func kill(signal: Int32 = SIGKILL) {
            guard let process = lock.withLock({ process }) else { return }
            process.signal(signal)
            if signal == SIGKILL { _ = process.waitForExit(timeout: 5) }
        }

        /// Stops the node (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. Does
        /// nothing if it is not running.
        public func stop() {
            if let stopping = beginStopping() { Self.finishStopping(stopping) }
        }

        /// Stops the node if needed and starts it again on the same ports with the same
        /// cluster configuration file, so it rejoins the cluster as the same node, with an
        /// empty dataset (no persistence): a primary that had not failed over comes back
        /// empty, one that had comes back as a replica of its successor.
        public func restart() throws {
            stop()
            let process = try Self.launch(executable: executable, port: port, busPort: busPort, directory: directory)
            lock.withLock { self.process = process }
        }

        /// Signals the node to stop and forgets it; ``finishStopping(_:)`` waits. Split so
        /// that a cluster's nodes stop together.
        fileprivate func beginStopping() -> ChildProcess? {
            let stopping: ChildProcess? = lock.withLock {
                defer { process = nil }
                return process
            }
            guard let stopping, stopping.isRunning else { return nil }
            stopping.signal(SIGTERM)
            stopping.signal(SIGCONT)  // a suspended node handles SIGTERM only once continued
            return stopping
        }

        fileprivate static func finishStopping(_ stopping: ChildProcess) {
            if !stopping.waitForExit(timeout: 5) {
                stopping.signal(SIGKILL)
                _ = stopping.waitForExit(timeout: 5)
            }
        }

        private static func launch(executable: String, port: Int, busPort: Int, directory: TemporaryDirectory) throws
            -> ChildProcess
        {
            let arguments = [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory.path, "--daemonize", "no", "--logfile", directory.file("redis.log"),
                "--pidfile", directory.file("redis.pid"),
                "--cluster-enabled", "yes", "--cluster-config-file", directory.file("nodes.conf"),
                "--cluster-port", String(busPort),
                // A node unreachable this long is failed and its replica promoted: failover
                // tests take seconds, not the default 15 s.
                "--cluster-node-timeout", "2000",
                // A replica may take over however long ago it last heard from its primary: a
                // test that hangs a primary, then kills it, still gets a failover.
                "--cluster-replica-validity-factor", "0",
                // Redis's default 10 Hz: SIGTERM is acted on in the cron (stopping takes up to
                // 100 ms), and an idle cluster costs a third of what it does at 100 Hz, which
                // matters when a test run holds dozens of clusters.
                "--hz", "10",
                // A replica syncs at once (the default waits 5 s for more replicas to share one transfer).
                "--repl-diskless-sync-delay", "0",
            ]
            let process = try ChildProcess(executable: executable, arguments: arguments)
            let log = directory.file("redis.log")
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                guard process.isRunning else {
                    throw Failure.failedToStart(
                        "a node exited with status \(process.status ?? -1) on port \(port); log:\n" + RedisServer.tail(of: log))
                }
                // Ready when *this* process answers on the port (another test's server could
                // have taken it).
                if RedisServer.serverProcessID(port: port, password: nil) == process.pid {
                    return process
                }
                usleep(5_000)
            }
            process.signal(SIGKILL)
            _ = process.waitForExit(timeout: 5)
            throw Failure.failedToStart("a node gave no answer on 127.0.0.1:\(port) within 10 s; log:\n" + RedisServer.tail(of: log))
        }
    }

    /// The six nodes; after ``init()`` the first three are primaries and the last three
    /// replicas (`redis-cli --cluster create` assigns roles in the order it is given nodes),
    /// until a failover changes roles.
    public let nodes: [Node]

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`: the first three nodes as
    /// seeds, in the form Larder's configuration is to accept.
    public var seedURL: String {
        "redis-cluster://" + nodes.prefix(3).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    }

    private let cli: String

    /// Starts six nodes, creates the cluster, and waits until every node reports
    /// `cluster_state:ok` with all 16384 slots assigned, and every replica is in sync.
    ///
    /// - Throws: ``Failure/notInstalled(_:)`` if `redis-server` or `redis-cli` is missing,
    ///   ``Failure/failedToStart(_:)`` if the cluster is not ready within 30 s.
    public init() throws {
        guard let server = RedisServer.findExecutable() else { throw Failure.notInstalled("redis-server") }
        guard let cli = RedisServer.findExecutable("redis-cli") else { throw Failure.notInstalled("redis-cli") }
        _ = RedisServer.orphansReaped
        self.cli = cli
        // Released (and so stopped) by their deinit if a later step throws.
        nodes = try (0..<6).map { _ in try Node(executable: server) }

        let created = try Self.run(
            cli, ["--cluster", "create"] + nodes.map(\.description) + ["--cluster-replicas", "1", "--cluster-yes"], timeout: 60)
        guard created.status == 0 else {
            throw Failure.failedToStart(
                "redis-cli --cluster create exited with status \(created.status):\n\(created.output)\(created.error)")
        }
        try waitUntilReady(timeout: 30)
    }

    deinit {
        stop()
    }

    /// Stops every node (they stop together: SIGTERM, then SIGKILL after 5 s) and waits for
    /// them to exit.
    public func stop() {
        nodes.compactMap { $0.beginStopping() }.forEach(Node.finishStopping)
    }

    /// Waits until every running node reports `cluster_state:ok`, all 16384 slots assigned
    /// and served, and knows the other five, and every running replica's link to its primary
    /// is up. After a failover or a restart, this is when the cluster has settled.
    ///
    /// - Throws: ``Failure/failedToStart(_:)`` naming a node that is not ready and what it
    ///   said, after `timeout` seconds.
    public func waitUntilReady(timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let running = nodes.filter(\.isRunning)
            var problem: String? = running.isEmpty ? "no node is running" : nil
            for node in running where problem == nil {
                problem = Self.problem(of: node, running: Set(running.map(\.port))).map { "\(node): \($0)" }
            }
            guard let problem else { return }
            if Date() >= deadline {
                throw Failure.failedToStart("not ready within \(Int(timeout)) s; \(problem)")
            }
            usleep(20_000)
        }
    }

    /// Waits until the cluster has failed `node` over (a running node's `CLUSTER NODES` no
    /// longer gives it slots), then until it is ready (``waitUntilReady(timeout:)``). Call it
    /// after killing a primary: until the node timeout (2 s) has passed, the other nodes
    /// still report `cluster_state:ok` with the old primary.
    ///
    /// - Throws: ``Failure/commandFailed(_:)`` if that does not happen within `timeout` seconds.
    public func waitForFailover(of node: Node, timeout: TimeInterval = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let line = (try? clusterNodes())?.split(separator: "\n").first { $0.contains(" 127.0.0.1:\(node.port)@") }
            let fields = line?.split(separator: " ") ?? []
            if fields.count >= 8, fields.count == 8 || fields[2].split(separator: ",").contains("slave") { break }
            guard Date() < deadline else {
                throw Failure.commandFailed("\(node) still serves slots \(Int(timeout)) s later: \(line.map(String.init) ?? "(no line)")")
            }
            usleep(20_000)
        }
        do {
            try waitUntilReady(timeout: max(1, deadline.timeIntervalSinceNow))
        } catch {
            throw Failure.commandFailed("after \(node) was failed over, \(error)")
        }
    }

    /// Waits until a replica of `primary` has every write `primary` had when called (its
    /// replication offset reaches the primary's), so a failover loses nothing. (`WAIT` would not
    /// do: it counts only its own connection's writes.)
    ///
    /// - Throws: ``Failure/commandFailed(_:)`` after `timeout` seconds.
    public func waitForReplication(of primary: Node, timeout: TimeInterval = 10) throws {
        func offset(_ field: String, _ info: String) -> Int? {
            info.split(whereSeparator: \.isNewline).first { $0.hasPrefix(field + ":") }.flatMap { Int($0.dropFirst(field.count + 1)) }
        }
        guard let written = offset("master_repl_offset", try redisCLI(on: primary, ["INFO", "replication"])) else {
            throw Failure.commandFailed("\(primary) reports no master_repl_offset")
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for node in nodes where node !== primary && node.isRunning {
                let info = try redisCLI(on: node, ["INFO", "replication"])
                let lines = info.split(whereSeparator: \.isNewline)
                if lines.contains("master_port:\(primary.port)"), let have = offset("slave_repl_offset", info), have >= written {
                    return
                }
            }
            usleep(20_000)
        }
        throw Failure.commandFailed("no replica of \(primary) reached its offset \(written) within \(Int(timeout)) s")
    }

    /// The running nodes that are primaries serving slots, by `CLUSTER NODES`.
    public func primaries() throws -> [Node] {
        try clusterNodes().split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 8, fields[2].split(separator: ",").contains("master"),
                let port = Int(fields[1].split(separator: "@")[0].split(separator: ":").last ?? "")
            else { return nil }
            return nodes.first { $0.port == port && $0.isRunning }
        }
    }

    /// The node's 40-character cluster id.
    public func id(of node: Node) throws -> String {
        try redisCLI(on: node, ["CLUSTER", "MYID"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts moving `slot` from its primary to `target` (`CLUSTER SETSLOT ... IMPORTING` on
    /// the target, `MIGRATING` on the source), as `redis-cli --cluster reshard` does. Keys then
    /// move with ``migrateKeys(inSlot:from:to:count:)`` and the move ends with
    /// ``finishMigration(ofSlot:to:)``. Returns the source.
    @discardableResult
    public func beginMigration(ofSlot slot: Int, to target: Node) throws -> Node {
        let source = try primary(forSlot: slot)
        _ = try redisCLI(on: target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", try id(of: source)])
        _ = try redisCLI(on: source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", try id(of: target)])
        return source
    }

    /// Moves up to `count` keys of `slot` from `source` to `target` (`MIGRATE`, one key at a
    /// time). Returns how many it moved.
    @discardableResult
    public func migrateKeys(inSlot slot: Int, from source: Node, to target: Node, count: Int = 1000) throws -> Int {
        let keys = try redisCLI(on: source, ["CLUSTER", "GETKEYSINSLOT", String(slot), String(count)])
            .split(whereSeparator: \.isNewline).map(String.init)
        for key in keys {
            _ = try redisCLI(on: source, ["MIGRATE", "127.0.0.1", String(target.port), key, "0", "5000"])
        }
        return keys.count
    }

    /// Ends a move: every primary learns that `target` owns `slot` (`CLUSTER SETSLOT ... NODE`).
    public func finishMigration(ofSlot slot: Int, to target: Node) throws {
        let targetID = try id(of: target)
        _ = try redisCLI(on: target, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetID])
        for node in nodes where node !== target && node.isRunning {
            _ = try redisCLI(on: node, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetID])
        }
    }

    /// The node that is primary for `slot` according to `CLUSTER NODES` on the first running
    /// node.
    ///
    /// - Throws: ``Failure/commandFailed(_:)`` if no running node answers or no primary
    ///   serves the slot.
    public func primary(forSlot slot: Int) throws -> Node {
        let text = try clusterNodes()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[2].split(separator: ",").contains("master") else { continue }
            // `ip:port@busport[,hostname]`
            guard let port = Int(fields[1].split(separator: "@")[0].split(separator: ":").last ?? "") else { continue }
            // Slots are `N` or `N-M`; `[N->-id]` and `[N-<-id]` are migrations, not ownership.
            let owns = fields.dropFirst(8).contains { range in
                guard !range.hasPrefix("[") else { return false }
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                guard let first = bounds.first, let last = bounds.last else { return false }
                return (first...last).contains(slot)
            }
            if owns, let node = nodes.first(where: { $0.port == port }) { return node }
        }
        throw Failure.commandFailed("no primary serves slot \(slot) in CLUSTER NODES:\n\(text)")
    }

    /// The reply of `CLUSTER NODES` from the first running node, as text.
    public func clusterNodes() throws -> String {
        for node in nodes where node.isRunning {
            if let text = Self.bulkReply(port: node.port, ["CLUSTER", "NODES"]) { return text }
        }
        throw Failure.commandFailed("no node of the cluster answered CLUSTER NODES")
    }

    /// Runs `redis-cli -c -h 127.0.0.1 -p PORT ARGS...` against the first running node (`-c`:
    /// following redirections to other nodes) and returns what it printed. Not a terminal,
    /// so redis-cli prints raw replies: a line per element, an error as its message.
    ///
    /// - Throws: ``Failure/commandFailed(_:)`` if redis-cli exits with a non-zero status.
    public func redisCLI(_ arguments: String...) throws -> String {
        guard let node = nodes.first(where: \.isRunning) else { throw Failure.commandFailed("no node of the cluster is running") }
        return try redisCLI(on: node, arguments)
    }

    /// Runs `redis-cli -c -h 127.0.0.1 -p PORT ARGS...` against `node`; see ``redisCLI(_:)``.
    public func redisCLI(on node: Node, _ arguments: [String]) throws -> String {
        let result = try Self.run(cli, ["-c", "-h", "127.0.0.1", "-p", String(node.port)] + arguments, timeout: 30)
        guard result.status == 0 else {
            throw Failure.commandFailed(
                "redis-cli \(arguments.joined(separator: " ")) on \(node) exited with status \(result.status): \(result.error)")
        }
        return result.output
    }

    // MARK: - Helpers

    /// What keeps `node` from being ready, or nil if nothing does.
    private static func problem(of node: Node, running: Set<Int>) -> String? {
        guard let info = bulkReply(port: node.port, ["CLUSTER", "INFO"]) else { return "no answer to CLUSTER INFO" }
        let fields = Dictionary(
            info.split(whereSeparator: \.isNewline).compactMap { line -> (String, String)? in
                let parts = line.split(separator: ":", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { first, _ in first })
        let expected = [
            "cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_slots_ok": "16384", "cluster_known_nodes": "6",
        ]
        for (name, value) in expected.sorted(by: { $0.key < $1.key }) where fields[name] != value {
            return "\(name) is \(fields[name] ?? "missing"), not \(value)"
        }
        // Replicas are assigned after the slots, and a node that came back is cleared of its
        // failure, by gossip: until it reaches this node, it sees a replica-to-be as a primary
        // without slots, or a running node as failed.
        guard let nodes = bulkReply(port: node.port, ["CLUSTER", "NODES"]) else { return "no answer to CLUSTER NODES" }
        for line in nodes.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 8, let port = Int(fields[1].split(separator: "@")[0].split(separator: ":").last ?? ""),
                running.contains(port)
            else { continue }
            let flags = fields[2].split(separator: ",")
            if flags.contains(where: { $0.hasPrefix("fail") }) { return "sees the running node \(fields[1]) as failed" }
            if flags.contains("master"), fields.count == 8 { return "sees \(fields[1]) as a primary without slots" }
        }
        guard let replication = bulkReply(port: node.port, ["INFO", "replication"]) else { return "no answer to INFO" }
        if replication.contains("role:slave"), !replication.contains("master_link_status:up") {
            return "a replica whose link to its primary is not up"
        }
        return nil
    }

    /// Sends one command to 127.0.0.1:`port` and returns its bulk string reply, or nil if
    /// there is no answer or the reply is not a bulk string.
    private static func bulkReply(port: Int, _ words: [String]) -> String? {
        func split(_ text: String) -> (length: Int, body: Substring)? {
            guard text.hasPrefix("$"), let end = text.range(of: "\r\n"),
                let length = Int(text[text.index(after: text.startIndex)..<end.lowerBound])
            else { return nil }
            return (length, text[end.upperBound...])
        }
        let reply = LoopbackSocket.exchange(port: port, request: RedisServer.resp(words), timeout: 2) { text in
            if text.hasPrefix("-") { return text.contains("\r\n") }
            guard let (length, body) = split(text) else { return false }
            return body.utf8.count >= length + 2
        }
        guard let reply, let (length, body) = split(reply), body.utf8.count >= length else { return nil }
        return String(decoding: body.utf8.prefix(length), as: UTF8.self)
    }

    /// Runs a short command to completion in a ``ChildProcess`` (so it never outlives the test
    /// process), its standard output and error through files (nothing to deadlock on). Killed
    /// after `timeout` seconds.
    private static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws
        -> (status: Int32, output: String, error: String)
    {
        let files = try TemporaryDirectory(prefix: "larder-redis-cli")
        let output = files.file("output")
        let error = files.file("error")
        let process = try ChildProcess(
            executable: "/bin/sh",
            arguments: ["-c", "out=$1 err=$2 && shift 2 && exec \"$@\" >\"$out\" 2>\"$err\"", "larder-redis-cli", output, error]
                + [executable] + arguments)
        guard process.waitForExit(timeout: timeout) else {
            process.signal(SIGKILL)
            _ = process.waitForExit(timeout: 5)
            throw Failure.commandFailed(
                "\((executable as NSString).lastPathComponent) \(arguments.joined(separator: " ")) did not finish within "
                    + "\(Int(timeout)) s")
        }
        let status = process.status ?? -1
        // The raw wait status: the exit code, or 128 + the signal that killed it.
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (
            code, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: error, encoding: .utf8)) ?? ""
        )
    }
}
