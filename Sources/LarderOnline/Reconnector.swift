import Synchronization

/// Opens connections for a ``RedisClient``, failing fast while Redis is known to be down.
///
/// Without this, every request during an outage would wait for the connect timeout (or
/// hammer a refusing server). After a failed attempt, no new attempt is made for a backoff
/// window that starts at `initialBackoff` and doubles per consecutive failure up to
/// `maximumBackoff`; calls in the window throw ``RedisError/backingOff(endpoint:retryIn:lastError:)``
/// at once. One success resets the window. The state is shared by all connections of a
/// client, so one failure protects every queue.
final class Reconnector: Sendable {
    let url: RedisURL
    let connectTimeout: Duration
    let commandTimeout: Duration
    let initialBackoff: Duration
    let maximumBackoff: Duration

    private struct State {
        /// Consecutive failed attempts; 0 when Redis is believed reachable.
        var failures = 0
        /// No attempt before this instant.
        var notBefore: ContinuousClock.Instant?
        var lastError = ""
    }

    private let state = Mutex(State())

    init(url: RedisURL, connectTimeout: Duration, commandTimeout: Duration, initialBackoff: Duration, maximumBackoff: Duration) {
        self.url = url
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Opens a connection, or throws at once inside the backoff window.
    func connect() throws(RedisError) -> RedisConnection {
        let now = ContinuousClock.now
        let refusal: RedisError? = state.withLock { state in
            guard state.failures > 0 else { return nil }  // healthy: connect freely, in parallel
            if let notBefore = state.notBefore, now < notBefore {
                return .backingOff(endpoint: url.endpoint, retryIn: notBefore - now, lastError: state.lastError)
            }
            // Redis was down: let this caller probe alone; the others fail fast meanwhile
            // instead of all waiting for the same connect timeout.
            state.notBefore = now + connectTimeout + commandTimeout * 2
            return nil
        }
        if let refusal { throw refusal }

        do {
            let connection = try RedisConnection(url: url, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            state.withLock { $0 = State() }
            return connection
        } catch {
            state.withLock { state in
                let delay = min(maximumBackoff, initialBackoff * (1 << min(state.failures, 20)))
                state.failures += 1
                state.notBefore = ContinuousClock.now + delay
                state.lastError = error.description
            }
            throw error
        }
    }
}
