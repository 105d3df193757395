import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import Metrics

// POST /get-online-features: the JSON of Feast's feature server.
extension FeatureServer {

    func feastFeatures(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        try json.only(["features", "feature_service", "entities", "request_context", "full_feature_names"], in: "the request")
        let lookup = try lookup(json, serviceKey: "feature_service")
        func columns(_ key: String) throws -> [String: [JSONValue]] {
            try (json[key]?.object("'\(key)'") ?? [:]).mapValues { try $0.array("each column of '\(key)'") }
        }
        guard json["entities"] != nil else {
            throw APIError.badRequest("missing 'entities': an object of columns, e.g. {\"driver_id\": [1001]}")
        }
        let body = (
            entities: try columns("entities"), requestContext: try columns("request_context"),
            fullFeatureNames: try json["full_feature_names"]?.bool("'full_feature_names'")
        )
        let keys = lookup.requiredKeys
        let fields = lookup.plan.requestFields
        let columns = body.entities.merging(body.requestContext) { a, _ in a }
        for name in columns.keys.sorted() where !keys.contains(where: { $0.name == name }) && !fields.contains(where: { $0.key == name }) {
            throw APIError.badRequest(
                "unknown entity column '\(name)'; expected \((keys.map(\.name) + fields.map(\.key)).joined(separator: ", "))")
        }
        let counts = Set(columns.values.map(\.count))
        guard counts.count <= 1 else {
            throw APIError.badRequest("every column of 'entities' must have the same number of values; got \(columns.mapValues(\.count))")
        }
        let n = counts.first ?? 0
        try checkLookupSize(entities: n, lookup)
        var rows: [EntityRow] = []
        rows.reserveCapacity(n)
        for i in 0..<n {
            var row = EntityRow(keys: [:])
            for key in keys {
                if let column = columns[key.name] {
                    row.keys[key.name] = try Self.value(column[i], as: key.type, what: "entities.\(key.name)[\(i)]")
                }
            }
            for field in fields {
                row.requestFields[field.key] = try columns[field.key].map {
                    try Self.value($0[i], as: field.type, what: "\(field.key)[\(i)]")
                }
            }
            try lookup.validate(row, index: i)
            rows.append(row)
        }
        let (served, _) = try await serve(lookup, rows, endpoint: "/get-online-features", service: json["feature_service"])

        let names = ResolvedFeature.columnNames(
            lookup.plan.features, fullNames: body.fullFeatureNames ?? false, taken: Set(keys.map(\.name)))
        var out: [UInt8] = []
        out += "{\"metadata\":{\"feature_names\":[".utf8
        for (i, name) in (keys.map(\.name) + names).enumerated() {
            if i > 0 { out.append(0x2C) }
            JSONText.appendString(name, to: &out)
        }
        out += "]},\"results\":[".utf8
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
