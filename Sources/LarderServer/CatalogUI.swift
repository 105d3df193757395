import Foundation
import HTTPTypes
import Hummingbird
import LarderCore
import LarderEngine
import NIOCore

// The catalog's pages at /ui: server-rendered HTML (CatalogPages, CatalogTemplates), no
// JavaScript. When the service has a token, the pages take it as the API does (a bearer
// header) or from the session cookie that /ui/login sets; only /ui reads that cookie.
extension FeatureServer {
    /// The `/ui` routes: the login form, then the pages behind ``CatalogSessionMiddleware``
    /// when a token is configured. Their errors are HTML pages (``HTMLErrorMiddleware``).
    func addCatalogPages(to router: Router<ServiceRequestContext>) {
        let ui = router.group("/ui").add(middleware: HTMLErrorMiddleware(server: self))
        ui.get("login") { request, _ in
            let next = Self.localNext(FormFields.value("next", in: FormFields.parse(request.uri.query ?? "")))
            guard !self.access.policy.isOpen, self.sessionToken(request) == nil else { return Self.redirect(next) }
            return Self.html(CatalogPages.login(problem: nil, next: next, layout: self.layout("Sign in", request)))
        }
        ui.post("login") { request, context in
            let body = try await request.body.collect(upTo: Self.maxLoginBytes)
            let fields = FormFields.parse(String(buffer: body))
            let next = Self.localNext(FormFields.value("next", in: fields))
            let policy = self.access.policy
            guard !policy.isOpen else { return Self.redirect(next) }
            let secret = FormFields.value("token", in: fields)
            guard let token = policy.token(presenting: secret) else {
                AccessMetrics.refused(token: secret.isEmpty ? "none" : "unknown", route: context.route(request), status: 401)
                return Self.html(
                    CatalogPages.login(
                        problem: "That is not a token this service accepts.", next: next, layout: self.layout("Sign in", request)),
                    status: .unauthorized)
            }
            guard token.allows(.catalog) else {
                AccessMetrics.refused(token: token.name, route: context.route(request), status: 403)
                return Self.html(
                    CatalogPages.login(
                        problem: "Token ‘\(token.name)’ may not browse the catalog: it lacks the catalog permission.", next: next,
                        layout: self.layout("Sign in", request)),
                    status: .forbidden)
            }
            return Self.redirect(next, cookie: SessionCookie.setting(secret))
        }
        ui.post("logout") { _, _ in
            Self.redirect(self.access.policy.isOpen ? "/ui" : "/ui/login", cookie: SessionCookie.cleared)
        }

        let pages = ui.group().add(middleware: CatalogSessionMiddleware(server: self))
        pages.get("") { request, _ in
            let home = try await self.catalog().home(at: self.configuration.clock())
            return Self.html(
                CatalogPages.home(
                    home, layout: self.layout("Catalog", request, generatedAt: CatalogPages.time(home.generatedAt))))
        }
        pages.get("search") { request, _ in
            let fields = FormFields.parse(request.uri.query ?? "")
            let text = FormFields.value("q", in: fields)
            let tags = FormFields.values("tag", in: fields).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let owner = FormFields.value("owner", in: fields).trimmingCharacters(in: .whitespaces)
            let type = FormFields.value("type", in: fields)
            var layout = self.layout("Search", request)
            layout.query = text
            do {
                let result = try self.catalog().searchFeatures(
                    CatalogFeatureQuery(text: text, tags: try CatalogFeatureQuery.tags(tags), owner: owner, type: type))
                return Self.html(
                    CatalogPages.search(result, text: text, tagFilters: tags, owner: owner, type: type, problem: nil, layout: layout))
            } catch let error as EngineError where error.kind == .invalidRequest {
                return Self.html(
                    CatalogPages.search(
                        nil, text: text, tagFilters: tags, owner: owner, type: type, problem: error.message, layout: layout),
                    status: .badRequest)
            }
        }
        pages.get("features/:view/:feature") { request, context in
            let catalog = self.catalog()
            let view = try Self.pathName(context, "view")
            let detail = try await catalog.feature(view: view, name: try Self.pathName(context, "feature"))
            return Self.html(
                CatalogPages.feature(
                    detail, source: catalog.deployment.repository.featureView(named: view)?.source.name,
                    layout: self.layout(detail.feature.reference, request)))
        }
        pages.get("views/:name") { request, context in
            let detail = try await self.catalog().view(named: try Self.pathName(context, "name"), at: self.configuration.clock())
            return Self.html(CatalogPages.view(detail, layout: self.layout(detail.name, request)))
        }
        pages.get("services/:name") { request, context in
            let detail = try await self.catalog().service(
                named: try Self.pathName(context, "name"), baseURL: self.baseURL(request), authorization: !self.access.policy.isOpen)
            return Self.html(
                CatalogPages.service(detail, authorization: !self.access.policy.isOpen, layout: self.layout(detail.name, request)))
        }
        pages.get("sources/:name") { request, context in
            let detail = try await self.catalog().source(named: try Self.pathName(context, "name"))
            return Self.html(CatalogPages.source(detail, layout: self.layout(detail.name, request)))
        }
        pages.get("entities/:name") { request, context in
            let detail = try self.catalog().entity(named: try Self.pathName(context, "name"))
            return Self.html(CatalogPages.entity(detail, layout: self.layout(detail.name, request)))
        }
        // Any other path under /ui: the HTML 404 (after the session check, so it tells
        // nothing to a client without the token).
        pages.get("**") { request, _ -> Response in
            throw APIError.notFound("there is no catalog page at \(request.uri.path)")
        }
    }

    /// A login form's body is one short field (and where to go next).
    static let maxLoginBytes = 4096

    /// The header and footer of a page for `request`.
    func layout(_ title: String, _ request: Request, generatedAt: String? = nil) -> CatalogPages.Layout {
        let open = access.policy.isOpen
        let signedIn = !open && sessionToken(request) != nil
        return CatalogPages.Layout(
            title: title, project: configuration.project.isEmpty ? nil : configuration.project, showSearch: open || signedIn,
            loggedIn: signedIn, generatedAt: generatedAt)
    }

    /// The token a page request presents, in its bearer header or session cookie; nil for
    /// none or an unknown one.
    func sessionToken(_ request: Request) -> APIToken? {
        guard let secret = SessionCookie.bearerCredentials(request) ?? SessionCookie.credentials(request) else { return nil }
        return access.policy.token(presenting: secret)
    }

    /// Where to go after signing in: a path under `/ui`, else `/ui` (never another site).
    static func localNext(_ next: String) -> String {
        guard next == "/ui" || next.hasPrefix("/ui/") || next.hasPrefix("/ui?"),
            !next.contains("\\"), !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return "/ui" }
        return next
    }

    /// The security headers of every page: no script may run, nothing is loaded from
    /// elsewhere, forms post only here, and no other site may frame the catalog.
    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy:
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        .cacheControl: "no-store",
    ]

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: pageHeaders, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// 303 See Other to `location`, setting `cookie` when given.
    static func redirect(_ location: String, cookie: String? = nil) -> Response {
        var headers: HTTPFields = [.location: location]
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }
}

/// Lets a request through to the catalog's pages when the service is open, or when it
/// carries a token with the `catalog` permission in an `Authorization: Bearer` header or the
/// `larder_session` cookie; redirects one without a known token to `/ui/login` (303), with
/// the page it asked for as `next`, and refuses (403) a token without the permission.
struct CatalogSessionMiddleware: RouterMiddleware {
    typealias Context = ServiceRequestContext
    let server: FeatureServer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !server.access.policy.isOpen else { return try await next(request, context) }
        guard let token = server.sessionToken(request) else {
            var wanted = request.uri.path
            if let query = request.uri.query, !query.isEmpty { wanted += "?" + query }
            let location = wanted == "/ui" ? "/ui/login" : "/ui/login?next=" + CatalogURL.segment(wanted)
            return FeatureServer.redirect(location)
        }
        var context = context
        context.caller = token
        try server.authorize([.catalog], context, request: request)
        return try await next(request, context)
    }
}

/// Answers the errors of the catalog's pages as HTML pages with the status the API would
/// answer (``APIError``'s one mapping): an unknown name is a 404 page, not JSON.
struct HTMLErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let server: FeatureServer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let error = APIError(error, logger: context.logger)
            let layout = server.layout("Error \(error.status.code)", request)
            return FeatureServer.html(
                CatalogPages.error(status: error.status.code, message: error.message, layout: layout), status: error.status)
        }
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
}
