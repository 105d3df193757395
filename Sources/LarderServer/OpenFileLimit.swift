import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How many files (sockets included) this process may open.
public enum OpenFileLimit {
    /// Files the service needs besides client connections: standard streams, the listening
    /// socket, event loops, SQLite's files, with room to spare (Redis connections come on top).
    public static let reservedFiles = 64

    /// Raises this process's soft limit on open files to its hard limit, as servers commonly
    /// do (the soft limit is often 1,024), and returns the limit then in force (nil if unknown).
    public static func raise() -> Int? {
        #if canImport(Glibc)
            let openFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let openFiles = RLIMIT_NOFILE
        #endif
        var limit = rlimit()
        guard getrlimit(openFiles, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(openFiles, &raised) == 0 { limit = raised }  // macOS refuses an unlimited one: kept as is
        }
        return limit.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// The connection cap that fits `fileLimit`: `configured` if it fits (an error if not),
    /// else the default lowered to fit.
    public static func connectionCap(configured: Int?, fileLimit: Int?, otherFiles: Int) throws -> Int {
        guard let fileLimit else { return configured ?? ServerConfiguration.defaultMaxConnections }
        let room = max(fileLimit - otherFiles, 1)
        guard let configured else { return min(ServerConfiguration.defaultMaxConnections, room) }
        guard configured <= room else {
            throw ConnectionCapError(
                description:
                    "serve.max_connections is \(configured), but this process may open only \(fileLimit) files (ulimit -n) and needs about \(otherFiles) besides client connections: set serve.max_connections to at most \(room), or raise the limit"
            )
        }
        return configured
    }
}

/// `serve.max_connections` does not fit the open-files limit.
public struct ConnectionCapError: Error, CustomStringConvertible {
    public let description: String
}
