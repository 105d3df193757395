import NIOPosix

/// Blocking work (SQLite calls) run off Swift's cooperative pool, whose few threads must never
/// block, on a bounded pool of threads of its own.
///
/// Bounded, unlike a global dispatch queue: a burst of requests that all wait for the store
/// queues here instead of starting a thread each. Work whose task is cancelled before a thread
/// takes it (the client went away) does not run, and throws `CancellationError`.
public enum Blocking {
    /// 8 threads: SQLite reads run concurrently in WAL mode; writes queue on its lock anyway.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    /// Runs `body` on the pool and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
