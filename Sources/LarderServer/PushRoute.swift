import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Metrics

// POST /v1/push: events into a source, offline then online.
extension FeatureServer {

    func push(_ request: Request, _ context: ServiceRequestContext) async throws -> Response {
        let json = try await jsonObject(request)
        try json.only(["source", "rows"], in: "the request")
        guard let sourceValue = json["source"], let rowsValue = json["rows"] else {
            throw APIError.badRequest("a push needs 'source' (a source name) and 'rows' (an array of objects)")
        }
        // The source first: rows are checked against its columns.
        let source = try sourceValue.string("'source'")
        try authorize([.push(.exact(source))], context, request: request)
        guard repository.source(named: source) != nil else {
            throw APIError.notFound("unknown source '\(source)'; known: \(repository.sources.map(\.name).joined(separator: ", "))")
        }
        let body = (source: source, rows: try rowsValue.array("'rows'").enumerated().map { i, r in try r.object("rows[\(i)]") })
        guard !body.rows.isEmpty else { throw APIError.badRequest("'rows' is empty") }
        let rows = body.rows
        let targets = pushTargets[source]!  // one per source of the repository, bound at start
        // Offline first, all or none.
        let stored: [SourceRow]
        do {
            stored = try await offline.append(source: source, rows: rows, origin: "push")
        } catch let error as AppendError {
            throw APIError.unprocessable(error.description)
        }
        // Then online, through each view's projector (the one materialization uses). The rows
        // are stored already: if Redis fails now, say so with 202 (retrying would store them
        // twice); `larder materialize --incremental` brings them online.
        var written = 0
        do {
            for (projector, layout) in targets.views {
                if !projector.evaluators.isEmpty { written += try await online.write(stored.map(projector.featureRow), layout: layout) }
                // Aggregations: the events go into the current tiles at once.
                if !projector.tiles.isEmpty {
                    written += try await online.addEvents(
                        stored.map(projector.tileEvent), layout: OnlineTiles(view: layout, tiles: projector.tiles))
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
        targets.pushedRows.increment(by: stored.count)
        var out: [UInt8] = []
        out += "{\"source\":".utf8
        JSONText.appendString(source, to: &out)
        out += ",\"rows\":\(stored.count),\"online_updated\":\(written)}".utf8
        return Self.json(out)
    }
}

/// What a push to one source updates online: each of its feature views, through the projector
/// materialization uses, under the view's registered version. Bound once when the service
/// starts (the registry must hold the compiled definitions then), not per request.
struct PushTargets: Sendable {
    var views: [(projector: RowProjector, layout: OnlineViewLayout)]
    /// `larder_pushed_rows_total` for the source: created once, not looked up per request.
    let pushedRows: Counter

    static func all(repository: FeatureRepository, versions: [String: Int], project: String) throws -> [String: PushTargets] {
        var targets: [String: PushTargets] = [:]
        for source in repository.sources {
            let columns = source.columns.map(\.name)
            var views: [(projector: RowProjector, layout: OnlineViewLayout)] = []
            for view in repository.featureViews where view.source.name == source.name {
                guard let version = versions[view.name] else {
                    throw OfflineStoreError(
                        "feature view \(view.name) has no registered version; run `larder apply` and `larder materialize`, then start the service"
                    )
                }
                views.append(
                    (try RowProjector(view: view, columns: columns), OnlineViewLayout(project: project, spec: view.spec, version: version)))
            }
            targets[source.name] = PushTargets(
                views: views, pushedRows: Counter(label: "larder_pushed_rows_total", dimensions: [("source", source.name)]))
        }
        return targets
    }
}
