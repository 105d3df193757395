import Foundation
import HTTPTypes
import Hummingbird
import LarderCore
import LarderEngine
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Every route's request context: Hummingbird's, and the token the request presented, once
/// ``AuthenticationMiddleware`` has found it (nil when the service is open).
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The token of the request; nil when no token is configured, or on open routes.
    public var caller: APIToken?

    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
}

/// The access policy in force: read by every request, replaced when `larder.yaml` changes or
/// on SIGHUP (``AccessReloader``), so revoking or rotating a token needs no restart.
final class AccessState: Sendable {
    private let current: Mutex<AccessPolicy>

    init(_ policy: AccessPolicy) { current = Mutex(policy) }

    var policy: AccessPolicy { current.withLock { $0 } }

    func replace(with policy: AccessPolicy) { current.withLock { $0 = policy } }
}

/// Where a group's requests carry their secret.
enum Credentials: Sendable {
    /// `Authorization: Bearer SECRET` only: the API. A cookie is never read there, since a
    /// request another site makes a browser send would carry it.
    case bearer
    /// The bearer header or the `larder_session` cookie that `/ui/login` sets: the catalog's pages.
    case bearerOrSession
}

/// Finds the token a request presents when tokens are configured, and refuses (401) a request
/// that presents none or an unknown one. What the token may do is checked by the route, which
/// knows what the request reads or writes (``FeatureServer/authorize(_:_:)``).
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let access: AccessState
    let credentials: Credentials

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let policy = access.policy
        guard !policy.isOpen else { return try await next(request, context) }
        let secret =
            SessionCookie.bearerCredentials(request)
            ?? (credentials == .bearerOrSession ? SessionCookie.credentials(request) : nil)
        guard let secret, let token = policy.token(presenting: secret) else {
            AccessMetrics.refused(token: secret == nil ? "none" : "unknown", route: context.route(request), status: 401)
            var error = APIError(
                status: .unauthorized,
                message: secret == nil
                    ? "missing bearer token: this service needs one; send Authorization: Bearer <token>"
                    : "wrong bearer token: not one this service accepts (unknown, revoked or mistyped)")
            error.headers[.wwwAuthenticate] = "Bearer"
            throw error
        }
        var context = context
        context.caller = token
        return try await next(request, context)
    }
}

/// Refuses (403) a request of a group whose token lacks `permission` (the catalog's JSON:
/// `catalog`); `/metrics` takes `metrics` only while the policy protects it.
struct PermissionMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let server: FeatureServer
    let permission: Permission

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try server.authorize([permission], context, request: request)
        return try await next(request, context)
    }
}

/// `/metrics`: open, as Prometheus scrapes it, unless the policy in force protects it; then
/// it needs a token with the `metrics` permission.
struct MetricsAccessMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let server: FeatureServer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard server.access.policy.protectsMetrics else { return try await next(request, context) }
        return try await AuthenticationMiddleware(access: server.access, credentials: .bearer).handle(request, context: context) {
            request, context in
            try server.authorize([.metrics], context, request: request)
            return try await next(request, context)
        }
    }
}

extension FeatureServer {
    /// Refuses with 403, naming the first permission missing, a request whose token lacks
    /// one of `needed`. Lets everything through when the request carries no token (the
    /// service is open: the middleware refuses a missing token otherwise).
    func authorize(_ needed: [Permission], _ context: ServiceRequestContext, request: Request) throws {
        guard let caller = context.caller, let missing = needed.first(where: { !caller.allows($0) }) else { return }
        throw refusal(caller, lacking: missing, route: context.route(request))
    }

    /// The 403 of `caller` lacking `permission`, counted.
    func refusal(_ caller: APIToken, lacking permission: Permission, route: String) -> APIError {
        AccessMetrics.refused(token: caller.name, route: route, status: 403)
        return APIError(
            status: .forbidden, message: "token '\(caller.name)' lacks the permission \(permission) (serve.tokens in larder.yaml)")
    }

    /// Refuses a lookup of `lookup`'s features unless the token may read them all: `read` on
    /// the service named, or on every view the features come from (feature views, and
    /// on-demand views, not the views those read). A lookup is refused whole, never partly
    /// served.
    func authorizeLookup(service: String?, features: [ResolvedFeature], _ context: ServiceRequestContext, request: Request) throws {
        guard let caller = context.caller else { return }
        let views = AccessPolicy.readPermissions(of: features)
        if let service {
            let wanted = Permission.read(.exact(service))
            guard caller.allows(wanted) || views.allSatisfy(caller.allows) else {
                throw refusal(caller, lacking: wanted, route: context.route(request))
            }
        } else if let missing = views.first(where: { !caller.allows($0) }) {
            throw refusal(caller, lacking: missing, route: context.route(request))
        }
    }
}

extension ServiceRequestContext {
    /// The route's path pattern (`/ui/features/{view}/{feature}`, not each feature's path),
    /// for metric labels that stay few.
    func route(_ request: Request) -> String { endpointPath ?? request.uri.path }
}

/// The refusals counted in `/metrics`: `larder_access_refusals_total{token, route, status}`.
enum AccessMetrics {
    static func refused(token: String, route: String, status: Int) {
        Counter(label: "larder_access_refusals_total", dimensions: [("token", token), ("route", route), ("status", "\(status)")])
            .increment()
    }
}

/// The session cookie of the catalog's pages and the bearer header: where a request carries
/// its secret.
enum SessionCookie {
    /// The cookie's name.
    static let name = "larder_session"

    /// The credentials of a `Bearer` authorization (`bearer`, `BEARER`, ... alike), or nil.
    static func bearerCredentials(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let scheme = "bearer "
        guard header.count > scheme.count, header.lowercased().hasPrefix(scheme) else { return nil }
        let credentials = String(header.dropFirst(scheme.count).drop { $0 == " " })
        return credentials.isEmpty ? nil : credentials
    }

    /// The secret held by the request's `larder_session` cookie, if it has one.
    static func credentials(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let pair = pair.trimmingCharacters(in: .whitespaces)
                guard pair.hasPrefix(name + "=") else { continue }
                let value = String(pair.dropFirst(name.count + 1)).removingPercentEncoding
                return value?.isEmpty == false ? value : nil
            }
        }
        return nil
    }

    /// `Set-Cookie` holding `secret` for the whole site, out of scripts' reach (HttpOnly) and
    /// never sent with a request another site starts (SameSite=Strict). Bytes a cookie value
    /// cannot hold are percent-encoded.
    static func setting(_ secret: String) -> String {
        var allowed = CharacterSet(charactersIn: "!#$&'()*+-./:<=>?@[]^_`{|}~")
        allowed.formUnion(.alphanumerics)
        let value = secret.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        return "\(name)=\(value); HttpOnly; SameSite=Strict; Path=/"
    }

    /// `Set-Cookie` removing the session cookie.
    static let cleared = "\(name)=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
}

/// How the service re-reads its tokens: the file they come from, watched for changes, and
/// the function that reads them from it.
public struct AccessReload: Sendable {
    /// The configuration file (`larder.yaml`).
    public var file: String
    /// Reads the policy; throws when the file is invalid (the policy in force then stays).
    public var load: @Sendable () throws -> AccessPolicy
    /// How often the file's modification time and size are compared.
    public var interval: Duration

    public init(file: String, interval: Duration = .seconds(1), load: @escaping @Sendable () throws -> AccessPolicy) {
        self.file = file
        self.load = load
        self.interval = interval
    }
}

/// Re-reads the tokens when the configuration file changes (its modification time or size) or
/// the process gets SIGHUP. An invalid file is logged and the tokens in force stay.
struct AccessReloader: Service {
    let reload: AccessReload
    let access: AccessState
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals { self.apply(because: "SIGHUP") }
            }
            group.addTask {
                var seen = Self.stamp(reload.file)
                while !Task.isCancelled {
                    try await Task.sleep(for: reload.interval)
                    let stamp = Self.stamp(reload.file)
                    if stamp != seen {
                        seen = stamp
                        self.apply(because: "\(reload.file) changed")
                    }
                }
            }
            // Until the application shuts down: then both stop.
            try await gracefulShutdown()
            group.cancelAll()
        }
    }

    func apply(because reason: String) {
        do {
            let policy = try reload.load()
            access.replace(with: policy)
            logger.info("access: tokens re-read (\(reason)): \(policy.summary)")
        } catch {
            logger.error("access: tokens not re-read (\(reason)), the previous ones stay in force: \(error)")
        }
    }

    /// The file's modification time (to the nanosecond) and size, or "missing".
    static func stamp(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "missing" }
        return "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) \(info.st_size)"
    }
}
