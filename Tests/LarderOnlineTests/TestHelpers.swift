import Foundation
import LarderOnline
import LarderTestSupport

/// UTF-8 bytes of a string literal.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Runs `body` and returns the `RedisError` it threw, or nil if it succeeded.
/// Fails loudly (returns nil) for other error types, which tests then reject.
func redisError<T>(_ body: () throws -> T) -> RedisError? {
    do {
        _ = try body()
        return nil
    } catch let error as RedisError {
        return error
    } catch {
        return nil
    }
}

/// Async variant of ``redisError(_:)``.
func redisError<T>(_ body: () async throws -> T) async -> RedisError? {
    do {
        _ = try await body()
        return nil
    } catch let error as RedisError {
        return error
    } catch {
        return nil
    }
}

/// Wall-clock time taken by `body`.
func measure<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try body()
    return (result, clock.now - start)
}

/// Async variant of ``measure(_:)``.
func measure<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await body()
    return (result, clock.now - start)
}

/// A connection to `server` with short timeouts, for tests.
func connect(
    _ server: RedisServer, database: Int = 0, password: String? = nil, commandTimeout: Duration = .seconds(2)
) throws -> RedisConnection {
    let url = RedisURL(host: "127.0.0.1", port: server.port, database: database, password: password)
    return try RedisConnection(url: url, connectTimeout: .seconds(1), commandTimeout: commandTimeout)
}

extension RedisError {
    /// The case name, for readable expectations.
    var kind: String {
        switch self {
        case .invalidURL: "invalidURL"
        case .cannotConnect: "cannotConnect"
        case .backingOff: "backingOff"
        case .timeout: "timeout"
        case .connectionLost: "connectionLost"
        case .serverError: "serverError"
        case .protocolError: "protocolError"
        case .invalidCommand: "invalidCommand"
        case .clusterUnavailable: "clusterUnavailable"
        }
    }
}

/// Pings through `client` every 20 ms, for at most 5 s, until Redis answers. Returns whether
/// it did and how long that took.
func waitForPong(_ client: RedisClient) async throws -> (recovered: Bool, waited: Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < .seconds(5) {
        if (try? await client.command(["PING"])) == .status("PONG") { return (true, clock.now - start) }
        try await Task.sleep(for: .milliseconds(20))
    }
    return (false, clock.now - start)
}
