import Dispatch

/// Batches handed from a producer thread to a consumer thread, at most `capacity` waiting:
/// the two threads work at once, and memory holds a few batches whatever the total.
///
/// The producer ``send(_:)``s batches and ends with ``finish(throwing:)``; the consumer
/// ``receive()``s them until nil, and calls ``stop()`` when it gives up (the producer's next
/// `send` then throws `CancellationError`).
final class BatchPipe<Batch>: @unchecked Sendable {
    // `@unchecked`: `state` is only touched holding `lock`; a batch by one thread at a time.
    private struct State {
        var batches: [Batch] = []
        var finished = false
        var failure: (any Error)? = nil
        var stopped = false
    }

    private var state = State()
    private let lock = DispatchSemaphore(value: 1)
    private let free: DispatchSemaphore
    private let ready = DispatchSemaphore(value: 0)

    init(capacity: Int) { free = DispatchSemaphore(value: capacity) }

    /// Producer: hands over `batch`, waiting while `capacity` batches wait.
    func send(_ batch: Batch) throws {
        free.wait()
        let stopped = withLock { state in
            if !state.stopped { state.batches.append(batch) }
            return state.stopped
        }
        if stopped { throw CancellationError() }
        ready.signal()
    }

    /// Producer: no more batches; `error` is what ``receive()`` throws after the last one.
    func finish(throwing error: (any Error)? = nil) {
        withLock { state in
            state.finished = true
            state.failure = error
        }
        ready.signal()
    }

    /// Consumer: the next batch, or nil once the producer finished; throws the producer's error.
    func receive() throws -> Batch? {
        ready.wait()
        let (batch, failure): (Batch?, (any Error)?) = withLock { state in
            if !state.batches.isEmpty { return (state.batches.removeFirst(), nil) }
            return (nil, state.failure)
        }
        guard let batch else {
            ready.signal()  // later calls see the end too
            if let failure { throw failure }
            return nil
        }
        free.signal()
        return batch
    }

    private func withLock<T>(_ body: (inout State) -> T) -> T {
        lock.wait()
        defer { lock.signal() }
        return body(&state)
    }

    /// Consumer: stops the producer at its next ``send(_:)``.
    func stop() {
        withLock { state in
            state.stopped = true
            state.batches.removeAll()
        }
        free.signal()
    }
}
