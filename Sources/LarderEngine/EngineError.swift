/// A failure of an engine operation, with what and where. The engine knows neither HTTP nor
/// exit statuses: the service maps ``kind`` to a status (LarderServer's `APIError`), and the
/// command line prints `Error: <message>` and exits 1 for every kind (docs/CLI.md).
public struct EngineError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, which is all an edge needs to choose its status.
    public enum Kind: Sendable, Equatable {
        /// The request is malformed (HTTP 400).
        case invalidRequest
        /// It names something the repository does not define (HTTP 404).
        case notFound
        /// It is well formed but its values do not fit the definitions (HTTP 422).
        case unprocessable
        /// The deployment cannot do it yet: definitions not applied, or not materialized
        /// (HTTP 409). Running `larder apply` or `larder materialize` fixes it.
        case notReady
        /// A store cannot be reached or is busy now; trying again later may work (HTTP 503).
        case unavailable
        /// Anything else (HTTP 500).
        case failed
    }

    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
