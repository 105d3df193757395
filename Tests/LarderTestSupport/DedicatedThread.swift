import Foundation

/// Runs `body` with its async work on a dedicated thread instead of Swift's cooperative pool.
///
/// Tests block: starting and stopping `redis-server`, synchronous Redis calls, timeouts. The
/// cooperative pool has one thread per core (two here), and while both are blocked every other
/// test's continuations wait, which distorts any timing the tests assert. Inside `body`,
/// nonisolated async code, and the blocking calls it makes, run on a thread of their own;
/// task-locals (such as Swift Testing's current test) are kept, so `#expect` works as usual.
public func onDedicatedThread<T>(_ body: () async throws -> T) async throws -> T {
    if #available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *) {
        let executor = DedicatedThreadExecutor()
        defer { executor.shutdown() }
        return try await withTaskExecutorPreference(executor) { try await body() }
    } else {
        return try await body()
    }
}

/// A task executor backed by one thread, which ends on ``shutdown()``.
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `stopping` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false

    init() {
        let thread = Thread { [self] in run() }
        thread.name = "larder-test-blocking"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread finish the queued jobs and exit.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
