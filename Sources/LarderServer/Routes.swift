import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import Metrics

extension FeatureServer {
    /// The routes, each group with its middleware. `/health` is open. When tokens are
    /// configured, every other route needs one (``AuthenticationMiddleware``) and checks that
    /// it holds the permission the request needs: lookups `read`, pushes `push`, the catalog
    /// (its JSON, and its pages at `/ui`, ``addCatalogPages(to:)``) `catalog`, and `/metrics`
    /// `metrics` while `serve.protect_metrics` is on (Prometheus scrapes stay open otherwise).
    func addRoutes(to router: Router<ServiceRequestContext>) {
        router.get("/health") { _, _ in await self.health() }
        router.group("/metrics").add(middleware: MetricsAccessMiddleware(server: self))
            .get { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(bytes: FeatureServer.metrics.emitToBuffer())))
            }
        let api = router.group().add(middleware: AuthenticationMiddleware(access: access, credentials: .bearer))
        api.post("/v1/features") { request, context in try await self.features(request, context) }
        api.post("/v1/push") { request, context in try await self.push(request, context) }
        addCatalogRoutes(to: api.group().add(middleware: PermissionMiddleware(server: self, permission: .catalog)))
        // Errors of the Feast route, its 401 and 403 included, in the shape Feast's client
        // reads (see ErrorShape.feast): its error middleware wraps its authentication.
        router.group("/get-online-features").add(middleware: JSONErrorMiddleware(shape: .feast))
            .add(middleware: AuthenticationMiddleware(access: access, credentials: .bearer))
            .post { request, context in try await self.feastFeatures(request, context) }
        addCatalogPages(to: router)
    }

    // MARK: Body handling

    /// The request body as a JSON object (400 if it is not one, 413 past the size limit).
    func jsonObject(_ request: Request) async throws -> [String: JSONValue] {
        let body = try await request.body.collect(upTo: configuration.maxBodyBytes)
        guard body.readableBytes > 0 else { throw APIError.badRequest("the request body is empty; send a JSON object") }
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(buffer: body))
        } catch {
            throw APIError.badRequest(error.description)
        }
        return try value.object("the request body")
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A JSON value for a declared type (the rule of ``JSONValue/value(as:)``), or a 422.
    static func value(_ json: JSONValue, as type: ValueType, what: String) throws -> Value {
        do {
            return try json.value(as: type)
        } catch {
            switch error {
            case .mismatch: throw APIError.unprocessable("\(what) must be \(type), got \(json.typeName)")
            case .timestamp(let reason): throw APIError.unprocessable("\(what): \"\(json.text)\": \(reason.reason)")
            }
        }
    }

}

/// Per-view freshness metrics, created once per view (see ``ServedCounters``).
struct ViewMetrics: Sendable {
    /// The age of the newest value of the view served by the last request that read it.
    let freshness: Gauge
    /// Entity rows for which the view's values were served expired.
    let expired: Counter

    init(view: String) {
        freshness = Gauge(label: "larder_view_freshness_seconds", dimensions: [("view", view)])
        expired = Counter(label: "larder_served_expired_entities_total", dimensions: [("view", view)])
    }
}

extension FeatureServer {
    /// One lookup as both lookup routes serve it: at the clock's instant, with stale
    /// definitions withheld, then the status and freshness metrics and the serving log.
    func serve(_ lookup: OnlineLookup, _ rows: [EntityRow], endpoint: String, service: JSONValue?) async throws
        -> (served: [[ServedFeature]], at: Timestamp)
    {
        let now = configuration.clock()
        let served = try await lookup.lookup(rows, at: now, store: online, stale: currentStaleViews())
        recordFreshness(lookup, served, at: now)
        Self.countStatuses(served)
        logServed(endpoint: endpoint, service: service, lookup: lookup, rows: rows, served: served, at: now)
        return (served, now)
    }

    /// Records per-view freshness for one lookup: the youngest value's age, and how many
    /// entity rows got the view's values expired.
    func recordFreshness(_ lookup: OnlineLookup, _ served: [[ServedFeature]], at now: Timestamp) {
        for (v, view) in lookup.plan.views.enumerated() {
            guard let i = lookup.rowFeatureIndex[v], let metrics = viewMetrics[view.name] else { continue }
            var youngest: Int64? = nil
            var expired = 0
            for row in served {
                if row[i].status == .expired { expired += 1 }
                if row[i].status == .present, let t = row[i].eventTime {
                    youngest = min(youngest ?? .max, now.microseconds - t.microseconds)
                }
            }
            if let youngest { metrics.freshness.record(Double(youngest) / 1e6) }
            if expired > 0 { metrics.expired.increment(by: expired) }
        }
    }
}

/// Created once: looking a counter up by label on every request costs more than counting.
enum ServedCounters {
    static let present = Counter(label: "larder_served_features_total", dimensions: [("status", "present")])
    static let missing = Counter(label: "larder_served_features_total", dimensions: [("status", "missing")])
    static let expired = Counter(label: "larder_served_features_total", dimensions: [("status", "expired")])
    static let staleDefinition = Counter(label: "larder_served_features_total", dimensions: [("status", "stale-definition")])
}
