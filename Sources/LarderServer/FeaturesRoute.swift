import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import Metrics

// POST /v1/features: Larder's row-major lookup.
extension FeatureServer {

    /// `service` or `features`, as a lookup, once the request's token may read them all
    /// (``authorizeLookup(service:features:_:request:)``: refused whole, never partly served).
    func lookup(
        _ body: [String: JSONValue], serviceKey: String, _ request: Request, _ context: ServiceRequestContext
    ) throws -> OnlineLookup {
        let service = try body[serviceKey].map { try $0.string("'\(serviceKey)'") }
        let features = try body["features"].map { try $0.array("'features'").map { try $0.string("each of 'features'") } }
        let lookup = try lookup(service: service, features: features)
        try authorizeLookup(service: service, features: lookup.plan.features, context, request: request)
        return lookup
    }

    func features(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        try json.only(["service", "features", "entities", "request", "full_names"], in: "the request")
        let lookup = try lookup(json, serviceKey: "service", request, context)
        guard let entitiesValue = json["entities"] else {
            throw APIError.badRequest("missing 'entities': an array of objects of join keys")
        }
        let entities = try entitiesValue.array("'entities'").enumerated().map { i, e in try e.object("entities[\(i)]") }
        try checkLookupSize(entities: entities.count, lookup)
        let body = (entities: entities, request: json["request"], fullNames: try json["full_names"]?.bool("'full_names'"))
        let keys = lookup.requiredKeys
        let fields = lookup.plan.requestFields
        var perRow: [[String: JSONValue]]? = nil
        var shared: [String: JSONValue] = [:]
        switch body.request {
        case nil, .null?: break
        case let object? where object.isObject: shared = try object.object("'request'")
        case .array(let a)?:
            guard a.count == body.entities.count else {
                throw APIError.unprocessable(
                    "'request' has \(a.count) objects for \(body.entities.count) entity rows; send one per row, or one object for all")
            }
            perRow = try a.enumerated().map { i, item in try item.object("request[\(i)]") }
        case let other?: throw APIError.badRequest("'request' must be an object or an array of objects, got \(other.typeName)")
        }
        var rows: [EntityRow] = []
        rows.reserveCapacity(body.entities.count)
        for (i, entity) in body.entities.enumerated() {
            var row = EntityRow(keys: [:])
            for (name, json) in entity {
                guard let key = keys.first(where: { $0.name == name }) else {
                    throw APIError.unprocessable(
                        "entities[\(i)]: unknown key '\(name)'; these features are keyed by \(keys.map(\.name).joined(separator: ", "))")
                }
                row.keys[name] = try Self.value(json, as: key.type, what: "entities[\(i)].\(name)")
            }
            // Only the fields the requested on-demand features read; others are ignored, as
            // Feast ignores request data no requested feature needs.
            let given = perRow?[i] ?? shared
            for field in fields {
                row.requestFields[field.key] = try given[field.key].map {
                    try Self.value($0, as: field.type, what: "request field \(field.key)")
                }
            }
            try lookup.validate(row, index: i)
            rows.append(row)
        }
        let (served, now) = try await serve(lookup, rows, endpoint: "/v1/features", service: json["service"])

        let names = ResolvedFeature.columnNames(lookup.plan.features, fullNames: body.fullNames ?? false, taken: Set(keys.map(\.name)))
        // Per-feature key bytes (`"conv_rate":{"value":`) are built once, not per row.
        let featurePrefixes: [[UInt8]] = names.enumerated().map { i, name in
            var bytes: [UInt8] = i > 0 ? [0x2C] : []
            JSONText.appendString(name, to: &bytes)
            bytes += ":{\"value\":".utf8
            return bytes
        }
        let keyPrefixes: [[UInt8]] = keys.enumerated().map { k, key in
            var bytes: [UInt8] = k > 0 ? [0x2C] : []
            JSONText.appendString(key.name, to: &bytes)
            bytes.append(0x3A)
            return bytes
        }
        let statusBytes: [FeatureStatus: [UInt8]] = [
            .present: Array(",\"status\":\"present\",\"event_timestamp\":".utf8),
            .missing: Array(",\"status\":\"missing\",\"event_timestamp\":".utf8),
            .expired: Array(",\"status\":\"expired\",\"event_timestamp\":".utf8),
            .staleDefinition: Array(",\"status\":\"stale-definition\",\"event_timestamp\":".utf8),
        ]
        var out: [UInt8] = []
        out.reserveCapacity(128 + rows.count * names.count * 96)
        out += "{\"features\":[".utf8
        for (i, name) in names.enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONText.appendString(name, to: &out)
        }
        out += "],\"rows\":[".utf8
        for (r, row) in rows.enumerated() {
            if r > 0 { out.append(0x2C) }
            out += "{\"entity\":{".utf8
            for (k, key) in keys.enumerated() {
                out += keyPrefixes[k]
                JSONText.appendValue(row.keys[key.name] ?? .null, to: &out)
            }
            out += "},\"features\":{".utf8
            for (f, feature) in served[r].enumerated() {
                out += featurePrefixes[f]
                JSONText.appendValue(feature.value, to: &out)
                out += statusBytes[feature.status]!
                // The value's age at the request instant, in seconds (null without an event time).
                if let time = feature.eventTime {
                    JSONText.appendValue(.timestamp(time), to: &out)
                    out += ",\"age_seconds\":".utf8
                    JSONText.appendValue(.double(Double(now.microseconds - time.microseconds) / 1e6), to: &out)
                } else {
                    out += "null,\"age_seconds\":null".utf8
                }
                out.append(0x7D)
            }
            out += "}}".utf8
        }
        out += "]}".utf8
        return Self.json(out)
    }

    static func countStatuses(_ served: [[ServedFeature]]) {
        var present = 0, missing = 0, expired = 0, stale = 0
        for row in served {
            for f in row {
                switch f.status {
                case .present: present += 1
                case .missing: missing += 1
                case .expired: expired += 1
                case .staleDefinition: stale += 1
                }
            }
        }
        ServedCounters.present.increment(by: present)
        ServedCounters.missing.increment(by: missing)
        ServedCounters.expired.increment(by: expired)
        if stale > 0 { ServedCounters.staleDefinition.increment(by: stale) }
    }
}
