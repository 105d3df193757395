import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Which served rows the service logs, and how much it may hold back before dropping.
public struct ServingLogConfiguration: Sendable, Equatable {
    /// The share of entities logged, 0 to 1: 0 is off (the default), 1 logs every entity row.
    public var sampleRate: Double
    /// Entries waiting to be written (queued or being written) at most; past it new entries
    /// are dropped and counted, so a slow disk never slows a lookup or grows memory.
    public var queueCapacity: Int
    /// Entries per write transaction, at most.
    public var batchSize: Int
    /// How often the background task writes what is queued.
    public var flushInterval: Duration

    public init(
        sampleRate: Double = 0, queueCapacity: Int = 10_000, batchSize: Int = 500, flushInterval: Duration = .milliseconds(100)
    ) {
        self.sampleRate = sampleRate
        self.queueCapacity = queueCapacity
        self.batchSize = batchSize
        self.flushInterval = flushInterval
    }

    /// Logging is on: some entities are sampled.
    public var isEnabled: Bool { sampleRate > 0 }
}

/// Logs served feature vectors to the offline store's serving log without slowing lookups.
///
/// A lookup only calls ``enqueue(_:)``: a short critical section that appends to a bounded
/// queue, or, when the queue is full, drops the entry and counts it. It never waits for the
/// disk. The writer's ``run()`` (a service of the HTTP application) wakes every
/// ``ServingLogConfiguration/flushInterval``, takes what is queued and writes it through the
/// sink in transactions of at most ``ServingLogConfiguration/batchSize`` entries, on a
/// bounded write pool (`Blocking.write`) rather than the cooperative pool, since SQLite blocks. On graceful shutdown
/// (after the HTTP server has stopped, as services stop in reverse order) it writes what is
/// left, and also when cancelled.
///
/// Entities are sampled by a hash of their join keys (``isSampled(keys:)``), so a given entity
/// is always logged or never: a log covers whole entity histories, and is repeatable.
///
/// Metrics: `larder_serving_log_written_total`, `larder_serving_log_dropped_total{reason}`
/// (`queue_full`, or `write_failed` when the sink throws) and `larder_serving_log_queue_depth`.
public final class ServingLogWriter: Service, Sendable {
    /// Writes a batch of entries; called one batch at a time.
    public typealias Sink = @Sendable ([ServingLogEntry]) async throws -> Void

    /// What happened to the entries offered so far.
    public struct Counts: Sendable, Equatable {
        /// Entries taken into the queue.
        public var accepted = 0
        /// Entries refused because the queue was full.
        public var dropped = 0
        /// Entries the sink wrote.
        public var written = 0
        /// Entries lost because the sink threw.
        public var failed = 0
        /// Entries accepted and not yet written or failed.
        public var pending: Int { accepted - written - failed }

        public init(accepted: Int = 0, dropped: Int = 0, written: Int = 0, failed: Int = 0) {
            self.accepted = accepted
            self.dropped = dropped
            self.written = written
            self.failed = failed
        }
    }

    public let configuration: ServingLogConfiguration
    private let sink: Sink
    private let logger: Logger
    /// Hashes below this are sampled (see ``isSampled(keys:)``).
    private let threshold: UInt64
    private let state: Mutex<State>

    private struct State {
        var queue: [ServingLogEntry] = []
        /// Entries taken from the queue and not yet written: they still count against the
        /// capacity, so memory stays bounded while a write is slow.
        var inFlight = 0
        var counts = Counts()
    }

    /// A writer handing batches to `sink` (tests inject one; the service uses the store's).
    public init(configuration: ServingLogConfiguration, logger: Logger = Logger(label: "larder.serving-log"), sink: @escaping Sink) {
        precondition(
            configuration.queueCapacity >= 1 && configuration.batchSize >= 1, "serving log capacity and batch size must be positive")
        self.configuration = configuration
        self.sink = sink
        self.logger = logger
        let rate = min(max(configuration.sampleRate, 0), 1)
        self.threshold = UInt64((rate * 1_000_000).rounded())
        self.state = Mutex(State())
        _ = FeatureServer.metrics  // bootstrap before ServingLogMetrics are created on first use
        state.withLock { $0.queue.reserveCapacity(min(configuration.queueCapacity, 1024)) }
    }

    /// A writer appending to `store`'s serving log.
    public convenience init(
        configuration: ServingLogConfiguration, store: any OfflineBackend, logger: Logger = Logger(label: "larder.serving-log")
    ) {
        self.init(configuration: configuration, logger: logger, sink: { entries in try await store.appendServingLog(entries) })
    }

    /// The counts so far.
    public var counts: Counts { state.withLock { $0.counts } }

    // MARK: Sampling

    /// Whether the entity with these join keys is logged: `hash % 1,000,000 < rate * 1,000,000`
    /// for ``entityHash(keys:)``. The same keys give the same answer in every process.
    public func isSampled(keys: [JSONMember]) -> Bool {
        threshold >= 1_000_000 || Self.entityHash(keys: keys) % 1_000_000 < threshold
    }

    /// A stable 64-bit hash of an entity: ``EntityKeyHash`` (seed 0) over its keys as a
    /// compact JSON object sorted by name (`{"driver_id":1001}`), so the order a request lists
    /// them in does not matter.
    public static func entityHash(keys: [JSONMember]) -> UInt64 {
        var text: [UInt8] = []
        JSONText.appendJSON(.object(keys.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }), to: &text)
        return EntityKeyHash.hash(text: String(decoding: text, as: UTF8.self), seed: 0)
    }

    // MARK: The lookup side

    /// Queues an entry without waiting: false (and counted as dropped) when the queue is full.
    @discardableResult
    public func enqueue(_ entry: ServingLogEntry) -> Bool {
        let (accepted, depth) = state.withLock { state -> (Bool, Int) in
            guard state.queue.count + state.inFlight < configuration.queueCapacity else {
                state.counts.dropped += 1
                return (false, state.queue.count + state.inFlight)
            }
            state.queue.append(entry)
            state.counts.accepted += 1
            return (true, state.queue.count + state.inFlight)
        }
        ServingLogMetrics.queueDepth.record(depth)
        if !accepted { ServingLogMetrics.droppedQueueFull.increment() }
        return accepted
    }

    // MARK: The background side

    /// Writes queued entries every flush interval until graceful shutdown or cancellation, then
    /// writes what is left.
    public func run() async throws {
        let interval = configuration.flushInterval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await self.writeQueued()
            }
        }
        await writeQueued()
    }

    /// Takes everything queued now and writes it, in batches, off the cooperative pool.
    /// Only ``run()`` calls it, so batches are written one at a time, in queue order.
    private func writeQueued() async {
        let taken = state.withLock { state -> [ServingLogEntry] in
            let taken = state.queue
            state.queue = []
            state.inFlight += taken.count
            return taken
        }
        guard !taken.isEmpty else { return }
        var start = 0
        while start < taken.count {
            let batch = Array(taken[start..<min(start + configuration.batchSize, taken.count)])
            start += batch.count
            let sink = self.sink
            let failure: String?
            do {
                // In a task of its own, which a graceful shutdown does not cancel: the entries
                // are off the queue now, and the store skips work whose task is cancelled.
                try await Task { try await sink(batch) }.value
                failure = nil
            } catch {
                failure = "\(error)"
            }
            let depth = state.withLock { state -> Int in
                state.inFlight -= batch.count
                if failure == nil { state.counts.written += batch.count } else { state.counts.failed += batch.count }
                return state.queue.count + state.inFlight
            }
            ServingLogMetrics.queueDepth.record(depth)
            if let failure {
                ServingLogMetrics.droppedWriteFailed.increment(by: batch.count)
                logger.error("serving log: \(batch.count) entries lost: \(failure)")
            } else {
                ServingLogMetrics.written.increment(by: batch.count)
            }
        }
    }
}

/// Created once, on first use: after ``FeatureServer/metrics`` has bootstrapped the factory
/// (a writer's init sees to it), else they would stay no-ops.
enum ServingLogMetrics {
    static let written = Counter(label: "larder_serving_log_written_total")
    static let droppedQueueFull = Counter(label: "larder_serving_log_dropped_total", dimensions: [("reason", "queue_full")])
    static let droppedWriteFailed = Counter(label: "larder_serving_log_dropped_total", dimensions: [("reason", "write_failed")])
    static let queueDepth = Gauge(label: "larder_serving_log_queue_depth")
}

// MARK: The hook in the lookup routes

extension FeatureServer {
    /// Queues the entity rows of a successful lookup for the serving log, when it is on and
    /// samples them: one entry per row, with the lookup instant, the service named (nil for a
    /// feature list), the keys, the row's request fields and every served feature by
    /// `view:feature`. Costs one hash per row when logging is on, nothing when it is off.
    func logServed(
        endpoint: String, service: JSONValue?, lookup: OnlineLookup, rows: [EntityRow], served: [[ServedFeature]], at instant: Timestamp
    ) {
        guard let log = servingLog else { return }
        let keys = lookup.requiredKeys
        let serviceName: String? = if case .string(let name)? = service { name } else { nil }
        var references: [String]? = nil  // built once, for the first sampled row
        for (r, row) in rows.enumerated() {
            let entity = keys.map { JSONMember(key: $0.name, value: JSONValue(row.keys[$0.name] ?? .null)) }
            guard log.isSampled(keys: entity) else { continue }
            if references == nil { references = lookup.plan.features.map(\.reference) }
            log.enqueue(
                ServingLogEntry(
                    servedAt: instant, endpoint: endpoint, service: serviceName, entity: entity,
                    request: lookup.plan.requestFields.map {
                        JSONMember(key: $0.key, value: JSONValue(row.requestFields[$0.key] ?? .null))
                    },
                    features: zip(references!, served[r]).map { reference, feature in
                        LoggedFeature(
                            reference: reference, value: JSONValue(feature.value), status: feature.status.rawValue,
                            eventTime: feature.eventTime)
                    }))
        }
    }
}
