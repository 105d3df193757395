import Foundation
import LarderCore
import LarderOffline
import LarderOnline

/// The push that follows a materialization: each entity's latest row as of the materialized end,
/// and the aggregation tiles the run rebuilt, from the offline store to Redis.
public enum MaterializedPush {
    /// What one push did.
    public struct Summary: Sendable {
        /// Entities pushed (the larger of row and tile entities).
        public var entities: Int
        /// Keys Redis updated (compare-and-set writes that won).
        public var written: Int
        public var seconds: Double
    }

    /// Pushes the view's latest value per entity as of the materialized end to Redis: every
    /// entity, or after an incremental run only those changed since the last push, unless Redis
    /// has lost the last push (its marker is gone), when every entity is pushed again (`notice`
    /// says so). Writes are compare-and-set, so a push that failed half-way is finished by
    /// running it again; the push is recorded offline only once every batch is in.
    public static func push(
        _ view: FeatureView, summary: MaterializationSummary, store: some OfflineBackend, online: OnlineStore, project: String,
        notice: (String) -> Void = { _ in }
    ) async throws -> Summary {
        let started = Date()
        let (spec, version) = try await store.registeredView(view)
        let layout = OnlineViewLayout(project: project, spec: spec, version: version)
        func failed(_ what: String, progress: String = "", _ error: any Error) -> EngineError {
            EngineError(
                .unavailable,
                "pushing \(what) to Redis failed\(progress): \(error). The offline part is committed; run `larder materialize\(summary.incremental ? " --incremental" : "")` again to finish the push."
            )
        }
        var since = summary.incremental ? try await store.onlinePushState(view: view.name, version: version) : nil
        if let last = since {
            // Every place the last push left its marker must still hold it: on a cluster each
            // primary can lose its data alone.
            let held: [String?]
            do {
                held = try await online.pushMarkers(layout: layout, slots: last.markerSlots)
            } catch {
                throw failed(view.name, progress: " after 0 entities", error)
            }
            if held.isEmpty || held.contains(where: { last.marker == nil || $0 != last.marker }) {
                var place = ""
                if let slots = last.markerSlots, let lost = held.firstIndex(where: { $0 != last.marker }) {
                    place = " on the primary of slot \(slots[lost])"
                }
                notice(
                    "\(view.name) v\(version): Redis no longer holds the last push\(place) (restarted without persistence, or flushed); pushing every entity"
                )
                since = nil
            }
        }
        // A full push starts a new marker; an incremental one keeps the one Redis holds. It
        // goes to every primary there is now (a primary added since gets it too).
        let marker = since?.marker ?? UUID().uuidString
        let markerSlots: [Int]?
        do {
            markerSlots = try await online.markerSlots()
        } catch {
            throw failed(view.name, progress: " after 0 entities", error)
        }
        var entities = 0
        var tileEntities = 0
        var written = 0
        if !view.features.isEmpty {
            for try await batch in store.latestRows(of: view, end: summary.state.end, changedSince: since, batchSize: 1000) {
                do {
                    written += try await online.write(batch, layout: layout)
                } catch {
                    throw failed(view.name, progress: " after \(MessageText.grouped(entities)) entities", error)
                }
                entities += batch.count
            }
        }
        // Aggregation tiles: those the run rebuilt, or every retained one on a full push.
        if !view.aggregations.isEmpty {
            let tiles = OnlineTiles(view: layout, tiles: view.tileLayout)
            let from =
                since == nil
                ? nil
                : summary.tilesFrom.map { t in
                    view.tileLayout.groups.map { WindowRule.hopStart(t, hop: $0.hop) }.min()!
                }
            if since == nil || from != nil {
                for try await batch in store.retainedTiles(of: view, from: from) {
                    do {
                        written += try await online.writeTiles(batch, layout: tiles)
                    } catch {
                        throw failed("the aggregation tiles of \(view.name)", error)
                    }
                    tileEntities += batch.count
                }
            }
        }
        try await online.setPushMarker(marker, layout: layout, slots: markerSlots)
        try await store.recordOnlinePush(summary.state, marker: marker, markerSlots: markerSlots)
        return Summary(entities: max(entities, tileEntities), written: written, seconds: Date().timeIntervalSince(started))
    }
}
