import Foundation
import Hummingbird
import LarderCore
import LarderEngine

// GET /v1/catalog...: the catalog as JSON (schemas/openapi.yaml). Each route parses its
// path and query, asks the engine's `Catalog`, and encodes the answer; unknown names are
// the engine's `notFound`, a 404 with the JSON error.
extension FeatureServer {
    func addCatalogRoutes(to router: some RouterMethods<ServiceRequestContext>) {
        router.get("/v1/catalog") { _, _ in
            try await Self.encoded(self.catalog().home(at: self.configuration.clock()))
        }
        router.get("/v1/catalog/features") { request, _ in
            let fields = FormFields.parse(request.uri.query ?? "")
            let query = CatalogFeatureQuery(
                text: FormFields.value("search", in: fields), tags: try CatalogFeatureQuery.tags(FormFields.values("tag", in: fields)),
                owner: FormFields.value("owner", in: fields), type: FormFields.value("type", in: fields))
            return try Self.encoded(try self.catalog().searchFeatures(query))
        }
        router.get("/v1/catalog/features/:view/:feature") { _, context in
            try await Self.encoded(
                self.catalog().feature(view: try Self.pathName(context, "view"), name: try Self.pathName(context, "feature")))
        }
        router.get("/v1/catalog/views/:name") { _, context in
            try await Self.encoded(self.catalog().view(named: try Self.pathName(context, "name"), at: self.configuration.clock()))
        }
        router.get("/v1/catalog/services/:name") { request, context in
            try await Self.encoded(
                self.catalog().service(
                    named: try Self.pathName(context, "name"), baseURL: self.baseURL(request), authorization: !self.access.policy.isOpen))
        }
        router.get("/v1/catalog/sources/:name") { _, context in
            try await Self.encoded(self.catalog().source(named: try Self.pathName(context, "name")))
        }
        router.get("/v1/catalog/entities/:name") { _, context in
            try Self.encoded(try self.catalog().entity(named: try Self.pathName(context, "name")))
        }
    }

    /// A name from the path, percent-decoded.
    static func pathName(_ context: ServiceRequestContext, _ parameter: String) throws -> String {
        let raw = try context.parameters.require(parameter)
        return raw.removingPercentEncoding ?? raw
    }

    /// The catalog of the definitions as last read from the registry (every
    /// `definitionCheckInterval`).
    func catalog() -> Catalog { definitions.catalog }

    /// Where clients reach this service, for the `curl` of a service's page: the request's
    /// `Host`, else the configured address.
    func baseURL(_ request: Request) -> String {
        if let authority = request.head.authority, !authority.isEmpty { return "http://\(authority)" }
        return "http://\(configuration.host):\(configuration.port)"
    }

    /// The catalog's JSON: keys in snake_case, sorted (so answers are byte for byte stable);
    /// members whose value is absent are left out.
    static let catalogEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func encoded(_ value: some Encodable) throws -> Response {
        json(Array(try catalogEncoder.encode(value)))
    }
}
