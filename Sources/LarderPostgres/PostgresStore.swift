import Foundation
import LarderCore
import LarderOffline
import Logging
import NIOSSL
import PostgresNIO

/// The offline store on a PostgreSQL server, which a team shares: the registry and its
/// version history (``PostgresRegistry``), in the same tables as the SQLite store's.
///
/// Holds a pool of connections (PostgresNIO's `PostgresClient`) that runs until ``close()``.
/// Opening it upgrades the database's schema (``PostgresSchema``) under a lock, so two
/// machines opening a new database at once create the tables once.
public final class PostgresStore: OfflineBackend {
    /// Where the store is, with the password hidden in its description.
    public let url: PostgresURL
    /// How long a write waits for another machine's write before it fails naming it.
    public let busyTimeout: Duration
    /// The rule for event times in the future, applied by ingest.
    public let eventTimePolicy: EventTimePolicy
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>

    /// Connects to `url` and upgrades the schema if needed.
    ///
    /// - Throws: ``OfflineStoreError`` saying which server could not be reached and why (one
    ///   connection is made first, so a wrong password or a server that is down fails at once
    ///   rather than as a pool retrying in the background), or what the upgrade failed on.
    public init(
        url: PostgresURL, options: OfflineStoreOptions = OfflineStoreOptions(),
        logger: Logger = PostgresStore.quietLogger
    ) async throws(OfflineStoreError) {
        self.url = url
        self.busyTimeout = options.busyTimeout
        self.eventTimePolicy = options.eventTimePolicy
        self.logger = logger
        let tls: TLSConfiguration?
        do {
            tls = try Self.tlsConfiguration(url)
            let probe = try await PostgresConnection.connect(
                configuration: try Self.connectionConfiguration(url, tls: tls), id: 0, logger: logger)
            try await probe.close()
        } catch {
            throw Self.describe(error, operation: "connecting to the offline store", url: url)
        }
        let client = PostgresClient(configuration: Self.poolConfiguration(url, tls: tls), backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
        do {
            try await PostgresSchema.migrate(self)
        } catch {
            runner.cancel()
            throw error
        }
    }

    /// Closes the connections. The store cannot be used afterwards.
    public func close() {
        runner.cancel()
    }

    /// The registry of applied definitions.
    public var registry: PostgresRegistry { PostgresRegistry(store: self) }

    /// PostgresNIO logs each failed connection attempt of its pool; the store reports the
    /// failure of the operation instead, so only errors are logged by default.
    public static var quietLogger: Logger {
        var logger = Logger(label: "larder.postgres")
        logger.logLevel = .error
        return logger
    }

    // MARK: Configuration

    /// TLS as `sslmode` says: none for `disable`; without verification for `allow`, `prefer`
    /// and `require` (libpq's `require` encrypts without checking who answers); verified
    /// against the trusted roots for `verify-ca`, and the host name too for `verify-full`.
    static func tlsConfiguration(_ url: PostgresURL) throws -> TLSConfiguration? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch url.sslMode {
        case .disable: return nil
        case .allow, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let roots = url.sslRootCertificate { configuration.trustRoots = .file(roots) }
        return configuration
    }

    /// Whether a connection without TLS is acceptable when the server offers none.
    private static func tlsIsOptional(_ url: PostgresURL) -> Bool { url.sslMode == .allow || url.sslMode == .prefer }

    static func connectionConfiguration(_ url: PostgresURL, tls: TLSConfiguration?) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch url.endpoint {
        case .tcp(let host, let port):
            let mode: PostgresConnection.Configuration.TLS =
                try tls.map { tls in
                    let context = try NIOSSLContext(configuration: tls)
                    return tlsIsOptional(url) ? .prefer(context) : .require(context)
                } ?? .disable
            configuration = .init(host: host, port: port, username: url.user, password: url.password, database: url.database, tls: mode)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: url.user, password: url.password, database: url.database)
        }
        configuration.options.connectTimeout = .seconds(10)
        return configuration
    }

    static func poolConfiguration(_ url: PostgresURL, tls: TLSConfiguration?) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch url.endpoint {
        case .tcp(let host, let port):
            let mode: PostgresClient.Configuration.TLS = tls.map { tlsIsOptional(url) ? .prefer($0) : .require($0) } ?? .disable
            configuration = .init(host: host, port: port, username: url.user, password: url.password, database: url.database, tls: mode)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: url.user, password: url.password, database: url.database)
        }
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.additionalStartupParameters = [("application_name", "larder")]
        return configuration
    }

    // MARK: Transactions

    /// Runs `body` in one transaction on one connection: committed if it returns, rolled back
    /// if it throws (its error is rethrown as is). Locks wait at most ``busyTimeout``.
    ///
    /// A read sees one snapshot (REPEATABLE READ), as a read of the SQLite store does. A write
    /// runs in READ COMMITTED: it takes its advisory lock first, and each statement after it
    /// sees what the writer before it committed.
    @discardableResult func transaction<T: Sendable>(
        _ operation: String, readOnly: Bool = false, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN"), logger: logger)
                do {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = \(max(1, busyTimeout.milliseconds))"), logger: logger)
                    let result = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return result
                } catch {
                    // A broken connection rolls back by itself; nothing more to do then.
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let error as PSQLError {
            throw describe(error, operation: operation)
        }
    }

    /// `error` as an ``OfflineStoreError`` naming the operation, the server's message and the
    /// statement it failed on (PostgresNIO's own description hides them).
    func describe(_ error: any Error, operation: String) -> OfflineStoreError {
        Self.describe(error, operation: operation, url: url)
    }

    static func describe(_ error: any Error, operation: String, url: PostgresURL) -> OfflineStoreError {
        guard let error = error as? PSQLError else { return OfflineStoreError("\(operation) failed on \(url): \(error)") }
        if let info = error.serverInfo {
            let state = info[.sqlState] ?? ""
            var text = "\(operation) failed on \(url): \(info[.message] ?? "error") (SQLSTATE \(state))"
            if let detail = info[.detail] { text += "; \(detail)" }
            if let sql = error.query?.sql { text += "\n  in: \(sql)" }
            // 55P03 lock_not_available: another machine's write held the lock past the timeout.
            return OfflineStoreError(text, isUnavailable: state == "55P03")
        }
        if let underlying = error.underlying {
            return OfflineStoreError("\(operation): cannot reach the offline store at \(url): \(underlying)", isUnavailable: true)
        }
        return OfflineStoreError("\(operation) failed on \(url): \(error.code)", isUnavailable: error.code == .connectionError)
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
