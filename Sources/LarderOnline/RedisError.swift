/// Everything that can go wrong between Larder and Redis, saying what happened and where.
///
/// A server error *reply* to a caller's command (`-ERR ...`, `-WRONGTYPE ...`) is not a
/// `RedisError`: `RedisConnection.command(_:)` returns it as
/// ``RedisReply/error(_:)``. These cases are transport problems, and server errors to commands
/// the client sends on its own behalf (AUTH, SELECT, SCRIPT LOAD).
public enum RedisError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The Redis URL could not be parsed. `url` has its password replaced by `***`.
    case invalidURL(url: String, reason: String)
    /// The TCP connection could not be established (refused, unreachable, name not resolved).
    case cannotConnect(endpoint: String, reason: String)
    /// A reconnect was not attempted because a recent attempt failed; the client tries again
    /// once `retryIn` has elapsed. Failing fast here keeps callers from each waiting for the
    /// connect timeout while Redis is down.
    case backingOff(endpoint: String, retryIn: Duration, lastError: String)
    /// No answer within the timeout: connecting, or waiting for a reply to `operation`.
    case timeout(endpoint: String, operation: String, after: Duration)
    /// The connection failed or was closed while `operation` was in flight. Whether the
    /// server executed the command is unknown.
    case connectionLost(endpoint: String, operation: String, reason: String)
    /// The server answered an error to a command the client sends itself (AUTH, SELECT,
    /// SCRIPT LOAD), so the connection or script cannot be used.
    case serverError(endpoint: String, command: String, message: String)
    /// hiredis could not parse the server's bytes, ran out of memory, or the server answered
    /// something the client did not expect.
    case protocolError(endpoint: String, reason: String)
    /// The caller asked for something that cannot be sent, such as a command with no words.
    case invalidCommand(reason: String)
    /// A Redis Cluster could not answer: no node reachable, a slot without a reachable primary
    /// (a failover in progress), or redirections that did not settle. `cluster` names the seeds.
    case clusterUnavailable(cluster: String, reason: String)

    /// `host:port` of the server involved, when there is one.
    public var endpoint: String? {
        switch self {
        case .cannotConnect(let endpoint, _), .backingOff(let endpoint, _, _),
            .timeout(let endpoint, _, _), .connectionLost(let endpoint, _, _),
            .serverError(let endpoint, _, _), .protocolError(let endpoint, _):
            return endpoint
        case .invalidURL, .invalidCommand, .clusterUnavailable:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            return "invalid Redis URL '\(url)': \(reason)"
        case .cannotConnect(let endpoint, let reason):
            return "cannot connect to Redis at \(endpoint): \(reason)"
        case .backingOff(let endpoint, let retryIn, let lastError):
            return "Redis at \(endpoint) is unavailable (last attempt: \(lastError)); "
                + "next connection attempt in \(Self.milliseconds(retryIn)) ms"
        case .timeout(let endpoint, let operation, let after):
            return "Redis at \(endpoint) did not answer \(operation) within \(Self.milliseconds(after)) ms"
        case .connectionLost(let endpoint, let operation, let reason):
            return "connection to Redis at \(endpoint) lost during \(operation): \(reason)"
        case .serverError(let endpoint, let command, let message):
            return "Redis at \(endpoint) rejected \(command): \(message)"
        case .protocolError(let endpoint, let reason):
            return "protocol error talking to Redis at \(endpoint): \(reason)"
        case .invalidCommand(let reason):
            return "invalid Redis command: \(reason)"
        case .clusterUnavailable(let cluster, let reason):
            return "Redis Cluster \(cluster) is unavailable: \(reason)"
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
