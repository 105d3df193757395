import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import Metrics

extension FeatureServer {
    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/features") { request, context in try await self.features(request, context) }
        router.post("/get-online-features") { request, context in try await self.feastFeatures(request, context) }
        router.post("/v1/push") { request, context in try await self.push(request, context) }
        router.get("/health") { _, _ in await self.health() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: FeatureServer.metrics.emitToBuffer())))
        }
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

    /// A JSON value for a declared type: ints for int64, ints or doubles for double, strings for
    /// string, booleans for bool, RFC 3339 strings for timestamps.
    static func value(_ json: JSONValue, as type: ValueType, what: String) throws -> Value {
        switch (json, type) {
        case (.null, _): return .null
        case (.int(let i), .int64): return .int64(i)
        case (.int(let i), .double): return .double(Double(i))
        case (.double(let d), .double): return .double(d)
        case (.string(let s), .string): return .string(s)
        case (.bool(let b), .bool): return .bool(b)
        case (.string(let s), .timestamp):
            do { return .timestamp(try Timestamp(rfc3339: s)) } catch { throw APIError.badRequest("\(what): \"\(s)\": \(error.reason)") }
        default:
            throw APIError.badRequest("\(what) must be \(type), got \(json.typeName)")
        }
    }

    // MARK: POST /v1/features

    /// `service` or `features`, as a lookup.
    func lookup(_ body: [String: JSONValue], serviceKey: String) throws -> OnlineLookup {
        let service = try body[serviceKey].map { try $0.string("'\(serviceKey)'") }
        let features = try body["features"].map { try $0.array("'features'").map { try $0.string("each of 'features'") } }
        return try lookup(service: service, features: features)
    }

    func features(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        try json.only(["service", "features", "entities", "request", "full_names"], in: "the request")
        let lookup = try lookup(json, serviceKey: "service")
        guard let entitiesValue = json["entities"] else {
            throw APIError.badRequest("missing 'entities': an array of objects of join keys")
        }
        let entities = try entitiesValue.array("'entities'").enumerated().map { i, e in try e.object("entities[\(i)]") }
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
                throw APIError.badRequest(
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
                    throw APIError.badRequest(
                        "entities[\(i)]: unknown key '\(name)'; these features are keyed by \(keys.map(\.name).joined(separator: ", "))")
                }
                row.keys[name] = try Self.value(json, as: key.type, what: "entities[\(i)].\(name)")
            }
            let given = perRow?[i] ?? shared
            for name in given.keys.sorted() where !fields.contains(where: { $0.key == name }) {
                throw APIError.badRequest(
                    "request field '\(name)' is not read by any requested on-demand feature; expected \(fields.isEmpty ? "none" : fields.map(\.key).joined(separator: ", "))"
                )
            }
            for field in fields {
                row.requestFields[field.key] = try given[field.key].map {
                    try Self.value($0, as: field.type, what: "request field \(field.key)")
                }
            }
            try lookup.validate(row, index: i)
            rows.append(row)
        }
        let served = try await lookup.lookup(rows, at: configuration.clock(), store: online)
        Self.countStatuses(served)

        let names = Self.names(lookup.plan.features, fullNames: body.fullNames ?? false)
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
                if let time = feature.eventTime {
                    JSONText.appendValue(.timestamp(time), to: &out)
                } else {
                    out += "null".utf8
                }
                out.append(0x7D)
            }
            out += "}}".utf8
        }
        out += "]}".utf8
        return Self.json(out)
    }

    /// Feature column names: `feature`, or `view__feature` when asked or when two would collide.
    static func names(_ features: [ResolvedFeature], fullNames: Bool) -> [String] {
        var counts: [String: Int] = [:]
        for f in features { counts[f.feature, default: 0] += 1 }
        return features.map { fullNames || counts[$0.feature]! > 1 ? "\($0.view)__\($0.feature)" : $0.feature }
    }

    static func countStatuses(_ served: [[ServedFeature]]) {
        var present = 0, missing = 0, expired = 0
        for row in served {
            for f in row {
                switch f.status {
                case .present: present += 1
                case .missing: missing += 1
                case .expired: expired += 1
                }
            }
        }
        ServedCounters.present.increment(by: present)
        ServedCounters.missing.increment(by: missing)
        ServedCounters.expired.increment(by: expired)
    }

    // MARK: POST /get-online-features (Feast's feature server)

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
        let served = try await lookup.lookup(rows, at: configuration.clock(), store: online)
        Self.countStatuses(served)

        let names = Self.names(lookup.plan.features, fullNames: body.fullFeatureNames ?? false)
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

    // MARK: POST /v1/push

    func push(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        try json.only(["source", "rows"], in: "the request")
        guard let sourceValue = json["source"], let rowsValue = json["rows"] else {
            throw APIError.badRequest("a push needs 'source' (a source name) and 'rows' (an array of objects)")
        }
        let body = (
            source: try sourceValue.string("'source'"),
            rows: try rowsValue.array("'rows'").enumerated().map { i, r in try r.object("rows[\(i)]") }
        )
        guard !body.rows.isEmpty else { throw APIError.badRequest("'rows' is empty") }
        guard repository.source(named: body.source) != nil else {
            throw APIError.badRequest("unknown source '\(body.source)'; known: \(repository.sources.map(\.name).joined(separator: ", "))")
        }
        let rows = try body.rows.enumerated().map { i, row in
            try row.mapValues { json in
                guard let v = json.scalar else { throw APIError.badRequest("rows[\(i)]: values must be scalars, got \(json.typeName)") }
                return v
            }
        }
        // Offline first, all or none (SQLite blocks: keep it off the event loop).
        let offline = self.offline
        let source = body.source
        let stored: [SourceRow]
        do {
            stored = try await runBlocking { try offline.append(source: source, rows: rows, origin: "push") }
        } catch let error as AppendError {
            throw APIError.badRequest(error.description)
        }
        // Then online, through each view's compiled transformation. The rows are stored
        // already: if Redis fails now, say so with 202 (retrying would store them twice);
        // `larder materialize --incremental` brings them online.
        var written = 0
        do {
            for view in repository.featureViews where view.source.name == source {
                guard let spec = repository.source(named: source), let version = versions[view.name] else { continue }
                let layout = RowLayout(keys: spec.columns.map(\.name))
                // Validated at apply: every input and join key is a column of the source.
                let evaluators: [Evaluator] = view.features.map { $0.transformation.evaluator(for: layout) ?? { _ in .null } }
                let keyPositions = view.entity.joinKeys.map { key in spec.columns.firstIndex { $0.name == key.name } ?? 0 }
                let featureRows = stored.map { row in
                    FeatureRow(
                        keys: keyPositions.map { row.values[$0] }, eventTime: row.eventTime, createdTime: row.createdTime,
                        sequence: row.sequence, values: evaluators.map { $0(row.values) })
                }
                written += try await online.write(
                    featureRows, layout: OnlineViewLayout(project: configuration.project, spec: view.spec, version: version))
            }
        } catch {
            var out: [UInt8] = []
            out += "{\"source\":".utf8
            JSONText.appendString(source, to: &out)
            out += ",\"rows\":\(stored.count),\"online_updated\":\(written),\"online_error\":".utf8
            JSONText.appendString(
                "the rows are stored offline, but updating the online store failed: \(error). Do not retry (that would store them again); `larder materialize --incremental` brings them online.",
                to: &out)
            out += "}".utf8
            return Self.json(out, status: .accepted)
        }
        Counter(label: "larder_pushed_rows_total", dimensions: [("source", source)]).increment(by: stored.count)
        var out: [UInt8] = []
        out += "{\"source\":".utf8
        JSONText.appendString(source, to: &out)
        out += ",\"rows\":\(stored.count),\"online_updated\":\(written)}".utf8
        return Self.json(out)
    }

    // MARK: GET /health

    func health() async -> Response {
        var redis = "ok", sqlite = "ok"
        do {
            let reply = try await online.client.command(["PING"])
            if reply.errorMessage != nil { redis = "error: \(reply)" }
        } catch {
            redis = "unavailable: \(error)"
        }
        let offline = self.offline
        do {
            _ = try await runBlocking { try offline.registry.definitions(kind: .entity) }
        } catch {
            sqlite = "unavailable: \(error)"
        }
        let healthy = redis == "ok" && sqlite == "ok"
        var out: [UInt8] = []
        out += "{\"status\":".utf8
        JSONText.appendString(healthy ? "ok" : "unavailable", to: &out)
        out += ",\"redis\":".utf8
        JSONText.appendString(redis, to: &out)
        out += ",\"sqlite\":".utf8
        JSONText.appendString(sqlite, to: &out)
        out += "}".utf8
        return Self.json(out, status: healthy ? .ok : .serviceUnavailable)
    }
}

/// Runs blocking work (SQLite) on a global dispatch queue rather than a cooperative thread.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Created once: looking a counter up by label on every request costs more than counting.
enum ServedCounters {
    static let present = Counter(label: "larder_served_features_total", dimensions: [("status", "present")])
    static let missing = Counter(label: "larder_served_features_total", dimensions: [("status", "missing")])
    static let expired = Counter(label: "larder_served_features_total", dimensions: [("status", "expired")])
}
