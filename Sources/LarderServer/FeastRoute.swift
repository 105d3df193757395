import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import Metrics

// POST /get-online-features: the JSON of Feast's feature server.
extension FeatureServer {

    /// Reads what Feast's feature server reads (`features` or `feature_service`, `entities`,
    /// `full_feature_names`, `include_feature_view_version_metadata`) plus `request_context`, and,
    /// like Feast's server, ignores other keys: Feast's clients add keys as they evolve.
    /// Likewise a column no requested feature uses (neither a join key nor a request field they
    /// read) is ignored; every column must still be an array.
    func feastFeatures(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        let lookup = try lookup(json, serviceKey: "feature_service", request, context)
        func columns(of key: String) throws -> [String: [JSONValue]]? {
            try json[key].map { try $0.object("'\(key)'").mapValues { try $0.array("each column of '\(key)'") } }
        }
        guard let entities = try columns(of: "entities") else {
            throw APIError.badRequest("missing 'entities': an object of columns, e.g. {\"driver_id\": [1001]}")
        }
        let body = (
            entities: entities, requestContext: try columns(of: "request_context") ?? [:],
            fullFeatureNames: try json["full_feature_names"]?.bool("'full_feature_names'") ?? false,
            versionMetadata: try json["include_feature_view_version_metadata"]?.bool("'include_feature_view_version_metadata'")
                ?? false
        )
        let keys = lookup.requiredKeys
        let fields = lookup.plan.requestFields
        // The columns used, keys then fields: join keys from `entities`; request fields from
        // `entities` (as Feast sends them) or `request_context`, `entities` first.
        var used: [(name: String, values: [JSONValue])] = []
        for key in keys {
            guard let values = body.entities[key.name] else {
                throw APIError.unprocessable(
                    "missing join key column '\(key.name)' (\(key.type)) in 'entities'; these features are keyed by \(keys.map(\.name).joined(separator: ", "))"
                )
            }
            used.append((key.name, values))
        }
        for field in fields {
            guard let values = body.entities[field.key] ?? body.requestContext[field.key] else {
                throw APIError.unprocessable(
                    "missing request field column '\(field.key)' (\(field.type)) that on-demand features read; send it in 'entities' or 'request_context'"
                )
            }
            used.append((field.key, values))
        }
        let n = used.first?.values.count ?? 0
        if let uneven = used.first(where: { $0.values.count != n }) {
            throw APIError.unprocessable(
                "every column must have the same number of values: '\(used[0].name)' has \(n), '\(uneven.name)' has \(uneven.values.count)")
        }
        try checkLookupSize(entities: n, lookup)
        var rows: [EntityRow] = []
        rows.reserveCapacity(n)
        for i in 0..<n {
            var row = EntityRow(keys: [:])
            for (k, key) in keys.enumerated() {
                row.keys[key.name] = try Self.value(used[k].values[i], as: key.type, what: "entities.\(key.name)[\(i)]")
            }
            for (f, field) in fields.enumerated() {
                row.requestFields[field.key] = try Self.value(
                    used[keys.count + f].values[i], as: field.type, what: "\(field.key)[\(i)]")
            }
            try lookup.validate(row, index: i)
            rows.append(row)
        }
        let (served, _) = try await serve(lookup, rows, endpoint: "/get-online-features", service: json["feature_service"])

        let names = ResolvedFeature.columnNames(lookup.plan.features, fullNames: body.fullFeatureNames, taken: Set(keys.map(\.name)))
        var out: [UInt8] = []
        out += "{\"metadata\":{\"feature_names\":[".utf8
        for (i, name) in (keys.map(\.name) + names).enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONText.appendString(name, to: &out)
        }
        out += "]".utf8
        if body.versionMetadata {
            // As Feast's server: each feature view read, with the version of its definition
            // that the service serves (the registry's, from 1).
            out += ",\"feature_view_metadata\":[".utf8
            for (v, view) in lookup.plan.views.enumerated() {
                if v > 0 { out.append(0x2C) }
                out += "{\"name\":".utf8
                JSONText.appendString(view.name, to: &out)
                out += ",\"version\":\(versions[view.name] ?? 0)}".utf8
            }
            out += "]".utf8
        }
        out += "},\"results\":[".utf8
        let epoch = Array("\"1970-01-01T00:00:00Z\"".utf8)
        let statusNames: [FeatureStatus: [UInt8]] = [
            .present: Array("\"PRESENT\"".utf8), .missing: Array("\"NOT_FOUND\"".utf8), .expired: Array("\"OUTSIDE_MAX_AGE\"".utf8),
            // Feast has no status for a changed definition; the value is withheld as for a miss.
            .staleDefinition: Array("\"NOT_FOUND\"".utf8),
        ]
        /// One column-major result: values, statuses and event times across the rows.
        func column(values: (Int) -> Value, status: (Int) -> FeatureStatus, time: (Int) -> Timestamp?) {
            out += "{\"values\":[".utf8
            for r in 0..<n {
                if r > 0 { out.append(0x2C) }
                JSONText.appendValue(values(r), to: &out)
            }
            out += "],\"statuses\":[".utf8
            for r in 0..<n {
                if r > 0 { out.append(0x2C) }
                out += statusNames[status(r)]!
            }
            out += "],\"event_timestamps\":[".utf8
            for r in 0..<n {
                if r > 0 { out.append(0x2C) }
                if let t = time(r) { JSONText.appendValue(.timestamp(t), to: &out) } else { out += epoch }
            }
            out += "]}".utf8
        }
        for (k, key) in keys.enumerated() {
            if k > 0 { out.append(0x2C) }
            column(values: { rows[$0].keys[key.name] ?? .null }, status: { _ in .present }, time: { _ in nil })
        }
        for f in names.indices {
            if !keys.isEmpty || f > 0 { out.append(0x2C) }
            column(values: { served[$0][f].value }, status: { served[$0][f].status }, time: { served[$0][f].eventTime })
        }
        out += "]}".utf8
        return Self.json(out)
    }
}
