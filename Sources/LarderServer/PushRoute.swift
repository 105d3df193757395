import Foundation
import Hummingbird
import LarderCore
import LarderOffline
import LarderOnline
import Metrics

// POST /v1/push: events into a source, offline then online.
extension FeatureServer {

    func push(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        try json.only(["source", "rows"], in: "the request")
        guard let sourceValue = json["source"], let rowsValue = json["rows"] else {
            throw APIError.badRequest("a push needs 'source' (a source name) and 'rows' (an array of objects)")
        }
        // The source first: rows are checked against its columns.
        let source = try sourceValue.string("'source'")
        guard repository.source(named: source) != nil else {
            throw APIError.notFound("unknown source '\(source)'; known: \(repository.sources.map(\.name).joined(separator: ", "))")
        }
        let body = (source: source, rows: try rowsValue.array("'rows'").enumerated().map { i, r in try r.object("rows[\(i)]") })
        guard !body.rows.isEmpty else { throw APIError.badRequest("'rows' is empty") }
        let rows = body.rows
        // Offline first, all or none (SQLite blocks: keep it off the event loop).
        let offline = self.offline
        let stored: [SourceRow]
        do {
            stored = try await runBlocking { try offline.append(source: source, rows: rows, origin: "push") }
        } catch let error as AppendError {
            throw APIError.unprocessable(error.description)
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
                let viewLayout = OnlineViewLayout(project: configuration.project, spec: view.spec, version: version)
                if !view.features.isEmpty { written += try await online.write(featureRows, layout: viewLayout) }
                // Aggregations: the events go into the current tiles at once.
                let tiles = view.tileLayout
                if !tiles.isEmpty, let inputs = tiles.inputEvaluators(features: view.features, layout: layout) {
                    let events = stored.map { row in
                        (
                            keys: keyPositions.map { row.values[$0] },
                            order: EventOrder(
                                eventTime: row.eventTime.microseconds, createdTime: row.createdTime?.microseconds, sequence: row.sequence),
                            inputs: inputs.map { $0(row.values) }
                        )
                    }
                    written += try await online.addEvents(events, layout: OnlineTiles(view: viewLayout, tiles: tiles))
                }
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
}
