import Synchronization

/// A client for a Redis Cluster, over one ``RedisClient`` (a pool of hiredis connections) per
/// primary.
///
/// It keeps the cluster's slot map (``ClusterSlots``, from `CLUSTER SHARDS` on any node that
/// answers) and sends each command to the primary that holds its slot: the commands of one call
/// go as one pipeline per node, nodes concurrently. What the cluster answers decides the rest:
///
/// - `MOVED slot host:port`: the slot has a new owner. The command is sent there and the map is
///   read again (once, however many commands were moved).
/// - `ASK slot host:port`: the slot is being migrated and this key has gone. The command is
///   sent there after `ASKING`, and the map is left alone (the slot still belongs to the old
///   owner until the migration ends).
/// - `TRYAGAIN` (a multi-key command whose keys are split by a migration): a multi-key `MGET`
///   is sent again as one `GET` per key, each of which follows its own `ASK`; others wait and retry.
/// - `CLUSTERDOWN`, `LOADING`, or a node that cannot be reached (a primary that died, before
///   its replica is promoted): the map is read again and the command retried after a pause.
///
/// A command that has not settled after ``Configuration/maxAttempts`` attempts fails with
/// ``RedisError/clusterUnavailable(cluster:reason:)``: the service answers 503, never a guess.
/// No command is ever sent to a replica, so a read never sees a value older than its primary's.
public final class RedisClusterClient: Sendable {
    /// How to reach the cluster, and the limits of each node's pool.
    public struct Configuration: Sendable {
        /// Seed nodes and credentials.
        public var url: RedisClusterURL
        /// Each primary's client: pool size, timeouts, backoff (its URL becomes the node's).
        public var node: RedisClient.Configuration
        /// Attempts per command (the first and the retries after a redirection or a failure).
        public var maxAttempts: Int
        /// The pause before the first retry after a failure; it doubles with each retry.
        public var retryPause: Duration

        /// Defaults: 4 connections per node, 1 s timeouts, 6 attempts from 20 ms apart
        /// (about 0.6 s in all before a request gives up during a failover).
        public init(
            url: RedisClusterURL, poolSize: Int = 4, connectTimeout: Duration = .seconds(1), commandTimeout: Duration = .seconds(1),
            maxAttempts: Int = 6, retryPause: Duration = .milliseconds(20)
        ) {
            self.url = url
            self.node = RedisClient.Configuration(
                url: url.seeds[0], poolSize: poolSize, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            self.maxAttempts = max(1, maxAttempts)
            self.retryPause = retryPause
        }
    }

    typealias Endpoint = ClusterSlots.Endpoint

    private struct State {
        var slots: ClusterSlots?
        /// Goes up with each map read, so that callers who saw an old map do not read it again.
        var generation = 0
        var nodes: [Endpoint: RedisClient] = [:]
        /// The map read in progress, shared by every caller that needs a new map meanwhile.
        var refresh: Task<ClusterSlots, any Error>?
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    /// Creates a client. Does not connect: the first command reads the slot map.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The slot map the client routes by, reading it first if it has none.
    public func slotMap() async throws -> ClusterSlots {
        try await currentSlots().slots
    }

    /// Sends one command to any reachable primary (or to the primary of `slot`), for commands
    /// such as `CLUSTER INFO`, or `FLUSHALL` in tests.
    public func command(_ words: [String], slot: Int? = nil) async throws -> RedisReply {
        try await send([RoutedCommand(words.map { Array($0.utf8) }, slot: slot)])[0]
    }

    /// The client for one node, created on first use. Every node takes the seed's credentials.
    func node(_ endpoint: Endpoint) -> RedisClient {
        state.withLock { state in
            if let client = state.nodes[endpoint] { return client }
            var node = configuration.node
            node.url.host = endpoint.host
            node.url.port = endpoint.port
            let client = RedisClient(configuration: node)
            state.nodes[endpoint] = client
            return client
        }
    }

    // MARK: - The slot map

    private func currentSlots() async throws -> (slots: ClusterSlots, generation: Int) {
        if let known = state.withLock({ state in state.slots.map { ($0, state.generation) } }) { return known }
        return try await refreshSlots(after: -1)
    }

    /// Reads the map again, unless it was read since the caller's `generation`; callers that
    /// ask while a read is in progress share it.
    private func refreshSlots(after generation: Int) async throws -> (slots: ClusterSlots, generation: Int) {
        enum Step {
            case known(ClusterSlots, Int)
            case wait(Task<ClusterSlots, any Error>)
        }
        let step: Step = state.withLock { state in
            if state.generation > generation, let slots = state.slots { return .known(slots, state.generation) }
            if let running = state.refresh { return .wait(running) }
            let task = Task { try await self.readSlots() }
            state.refresh = task
            return .wait(task)
        }
        guard case .wait(let task) = step else {
            guard case .known(let slots, let generation) = step else { fatalError("unreachable") }
            return (slots, generation)
        }
        do {
            let slots = try await task.value
            return state.withLock { state in
                if state.refresh == task {
                    state.refresh = nil
                    state.slots = slots
                    state.generation += 1
                    // Drop the pools of nodes that left the cluster (their connections close).
                    let members = Set(slots.shards.flatMap { [$0.primary?.endpoint].compactMap { $0 } + $0.replicas.map(\.endpoint) })
                    state.nodes = state.nodes.filter { members.contains($0.key) }
                }
                return (state.slots ?? slots, state.generation)
            }
        } catch {
            state.withLock { state in if state.refresh == task { state.refresh = nil } }
            throw error
        }
    }

    /// `CLUSTER SHARDS` from the first node that answers: the known primaries, then the
    /// replicas, then the seeds.
    private func readSlots() async throws -> ClusterSlots {
        var candidates: [Endpoint] = []
        if let slots = state.withLock({ $0.slots }) {
            candidates += slots.shards.compactMap { $0.primary?.endpoint }
            candidates += slots.shards.flatMap { $0.replicas.map(\.endpoint) }
        }
        for seed in configuration.url.seeds {
            let endpoint = Endpoint(host: seed.host, port: seed.port)
            if !candidates.contains(endpoint) { candidates.append(endpoint) }
        }
        var failures: [String] = []
        for endpoint in candidates {
            do {
                let reply = try await node(endpoint).command(["CLUSTER", "SHARDS"])
                return try ClusterSlots(shardsReply: reply)
            } catch {
                failures.append("\(endpoint): \(error)")
            }
        }
        throw RedisError.clusterUnavailable(
            cluster: configuration.url.description, reason: "no node answered CLUSTER SHARDS (\(failures.joined(separator: "; ")))")
    }

    // MARK: - Sending

    /// Where a command goes next: the owner of its slot by the map, or a node a redirection named.
    private enum Target: Sendable {
        case slot(Int?)
        case node(Endpoint, asking: Bool)
    }

    public func send(_ commands: [RoutedCommand]) async throws -> [RedisReply] {
        try await send(commands, script: nil)
    }

    public func run(_ script: RedisScript, _ calls: [RedisScript.Call]) async throws -> [RedisReply] {
        let commands = calls.map { call in
            RoutedCommand(script.evalshaCommand(keys: call.keys, args: call.args), key: call.keys.first)
        }
        return try await send(commands, script: script)
    }

    /// Sends `commands`, following redirections, retrying after failures; `script` is loaded
    /// on any node that answers `NOSCRIPT`.
    private func send(_ commands: [RoutedCommand], script: RedisScript?) async throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        var replies = [RedisReply?](repeating: nil, count: commands.count)
        var targets: [Target] = commands.map { .slot($0.slot) }
        var pending = Array(commands.indices)
        var (slots, generation) = try await currentSlots()
        var problem = ""
        for attempt in 0..<configuration.maxAttempts {
            // Each command's node, by its redirection or by the map.
            var groups: [Endpoint: [(index: Int, asking: Bool)]] = [:]
            var unrouted: [Int] = []
            for i in pending {
                switch targets[i] {
                case .node(let endpoint, let asking):
                    groups[endpoint, default: []].append((i, asking))
                case .slot(let slot):
                    let owner =
                        if let slot { slots.primary(for: slot) } else {
                            slots.shards.lazy.filter { !$0.slotRanges.isEmpty }.compactMap { $0.primary?.endpoint }.first
                        }
                    if let endpoint = owner {
                        groups[endpoint, default: []].append((i, false))
                    } else {
                        unrouted.append(i)
                        problem = "slot \(slot.map(String.init) ?? "?") has no primary"
                    }
                }
            }
            let results = await sendGroups(groups, commands)

            pending = unrouted
            var readMap = !unrouted.isEmpty
            var pause = !unrouted.isEmpty
            var splitGets: [Int] = []
            var loadOn: Set<Endpoint> = []
            for (endpoint, members, result) in results {
                switch result {
                case .failure(let error):
                    // The node is unreachable: perhaps it died and a replica is taking over.
                    problem = "\(endpoint): \(error)"
                    for member in members {
                        pending.append(member.index)
                        targets[member.index] = .slot(commands[member.index].slot)
                    }
                    readMap = true
                    pause = true
                case .success(let nodeReplies):
                    for (member, reply) in zip(members, nodeReplies) {
                        let i = member.index
                        guard let message = reply.errorMessage, let redirection = Redirection(message) else {
                            replies[i] = reply
                            continue
                        }
                        problem = "\(endpoint): \(message)"
                        switch redirection {
                        case .moved(let to):
                            targets[i] = .node(to, asking: false)
                            readMap = true
                        case .ask(let to):
                            targets[i] = .node(to, asking: true)
                        case .tryAgain where Self.isMultiKeyGet(commands[i]):
                            splitGets.append(i)
                            continue
                        case .tryAgain, .loading:
                            pause = true
                        case .clusterDown:
                            targets[i] = .slot(commands[i].slot)
                            readMap = true
                            pause = true
                        case .noScript:
                            guard script != nil else {
                                replies[i] = reply
                                continue
                            }
                            loadOn.insert(endpoint)
                        }
                        pending.append(i)
                    }
                }
            }
            for i in splitGets { replies[i] = try await getEach(commands[i]) }
            if let script {
                for endpoint in loadOn {
                    do {
                        try await load(script, on: endpoint)
                    } catch {
                        // Unreachable since it answered: retry after a pause, as for a failure.
                        problem = "\(endpoint): \(error)"
                        readMap = true
                        pause = true
                    }
                }
            }
            if pending.isEmpty { return replies.map { $0! } }
            guard attempt + 1 < configuration.maxAttempts else { break }
            pending.sort()
            if pause { try await Task.sleep(for: configuration.retryPause * (1 << attempt)) }
            if readMap {
                do {
                    (slots, generation) = try await refreshSlots(after: generation)
                } catch {
                    problem = "\(error)"
                }
            }
        }
        throw RedisError.clusterUnavailable(
            cluster: configuration.url.description,
            reason:
                "\(pending.count) of \(commands.count) commands did not settle after \(configuration.maxAttempts) attempts; last: \(problem)"
        )
    }

    /// Sends each node its commands as one pipeline (`ASKING` before the redirected ones),
    /// nodes concurrently, batched with other callers' commands to that node.
    private func sendGroups(
        _ groups: [Endpoint: [(index: Int, asking: Bool)]], _ commands: [RoutedCommand]
    ) async -> [(Endpoint, [(index: Int, asking: Bool)], Result<[RedisReply], any Error>)] {
        @Sendable func sendOne(_ endpoint: Endpoint, _ members: [(index: Int, asking: Bool)]) async -> Result<[RedisReply], any Error> {
            let client = node(endpoint)
            do {
                var pipeline: [[[UInt8]]] = []
                for member in members {
                    if member.asking { pipeline.append([Array("ASKING".utf8)]) }
                    pipeline.append(commands[member.index].words)
                }
                // ASKING holds for the next command on its connection: a batch keeps each
                // caller's commands together and in order, so that is the redirected one.
                let replies = try await client.batchedCommands(pipeline)
                var out: [RedisReply] = []
                var r = 0
                for member in members {
                    if member.asking { r += 1 }  // ASKING's own OK
                    out.append(replies[r])
                    r += 1
                }
                return .success(out)
            } catch {
                return .failure(error)
            }
        }
        if groups.count == 1, let (endpoint, members) = groups.first {
            return [(endpoint, members, await sendOne(endpoint, members))]
        }
        return await withTaskGroup(of: (Endpoint, [(index: Int, asking: Bool)], Result<[RedisReply], any Error>).self) { group in
            for (endpoint, members) in groups {
                group.addTask { (endpoint, members, await sendOne(endpoint, members)) }
            }
            var results: [(Endpoint, [(index: Int, asking: Bool)], Result<[RedisReply], any Error>)] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    private static func isMultiKeyGet(_ command: RoutedCommand) -> Bool {
        command.words.count > 2 && command.words[0] == Array("MGET".utf8)
    }

    /// An `MGET` whose keys a migration split, as one `GET` per key (each follows its own
    /// redirection), answered as the `MGET` would be.
    private func getEach(_ mget: RoutedCommand) async throws -> RedisReply {
        let gets = mget.words.dropFirst().map { key in RoutedCommand([Array("GET".utf8), key], key: key) }
        let replies = try await send(gets, script: nil)
        if let failed = replies.first(where: { $0.errorMessage != nil }) { return failed }
        return .array(replies)
    }

    private func load(_ script: RedisScript, on endpoint: Endpoint) async throws {
        try await node(endpoint).withConnection { connection in try script.load(on: connection) }
    }

    // MARK: - Redirections

    /// The cluster's answers that mean "not here" or "not now", rather than a result.
    enum Redirection: Equatable {
        case moved(Endpoint)
        case ask(Endpoint)
        case tryAgain
        case clusterDown
        case loading
        case noScript

        /// The redirection an error reply states, or nil for any other error.
        init?(_ message: String) {
            let words = message.split(separator: " ")
            switch words.first {
            case "MOVED", "ASK":
                guard words.count >= 3, let colon = words[2].lastIndex(of: ":"), let port = Int(words[2][words[2].index(after: colon)...])
                else { return nil }
                var host = String(words[2][..<colon])
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                let endpoint = Endpoint(host: host, port: port)
                self = words[0] == "MOVED" ? .moved(endpoint) : .ask(endpoint)
            case "TRYAGAIN": self = .tryAgain
            case "CLUSTERDOWN": self = .clusterDown
            case "LOADING": self = .loading
            case "NOSCRIPT": self = .noScript
            default: return nil
            }
        }
    }
}

extension RedisClusterClient: RedisKeyspace {
    public var splitsBySlot: Bool { true }

    /// One slot of each primary's first range.
    public func markerSlots() async throws -> [Int]? {
        try await slotMap().shards.compactMap { shard in shard.primary == nil ? nil : shard.slotRanges.first?.lowerBound }.sorted()
    }

    public func health() async -> RedisHealth {
        let slots: ClusterSlots
        do {
            slots = try await refreshSlots(after: state.withLock { $0.generation }).slots
        } catch {
            return RedisHealth(status: "unavailable: \(error)")
        }
        let primaries = slots.shards.compactMap { shard in shard.slotRanges.isEmpty ? nil : shard.primary?.endpoint }
        var answers: [(endpoint: String, status: String)] = []
        var state = "unknown"
        for endpoint in primaries {
            do {
                let reply = try await node(endpoint).command(["CLUSTER", "INFO"])
                guard let info = reply.stringValue else {
                    answers.append((endpoint.description, "error: \(reply)"))
                    continue
                }
                answers.append((endpoint.description, "ok"))
                if state != "fail", let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cluster_state:") }) {
                    state = String(line.dropFirst("cluster_state:".count))
                }
            } catch {
                answers.append((endpoint.description, "unavailable: \(error)"))
            }
        }
        let covered = (0..<HashSlot.count).count { slots.shard(for: $0)?.primary != nil }
        let down = answers.filter { $0.status != "ok" }
        let status =
            !down.isEmpty
            ? "unavailable: " + down.map { "\($0.endpoint) \($0.status)" }.joined(separator: "; ")
            : state != "ok"
                ? "cluster_state:\(state)" : covered < HashSlot.count ? "\(HashSlot.count - covered) slots have no primary" : "ok"
        return RedisHealth(status: status, cluster: ClusterHealth(state: state, slotsCovered: covered, primaries: answers))
    }
}
