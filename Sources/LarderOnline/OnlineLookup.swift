import LarderCore

/// A request for features of one entity row: join key values by name, and the request
/// fields on-demand features read.
public struct EntityRow: Sendable {
    public var keys: [String: Value]
    public var requestFields: [String: Value]

    public init(keys: [String: Value], requestFields: [String: Value] = [:]) {
        self.keys = keys
        self.requestFields = requestFields
    }
}

/// One served feature value.
public struct ServedFeature: Sendable, Equatable {
    public var value: Value
    public var status: FeatureStatus
    /// The event time of the row the value comes from (for an on-demand feature, the latest
    /// of its inputs'); nil when missing.
    public var eventTime: Timestamp?
}

/// Why a lookup request cannot be answered (the service maps these to 4xx).
public struct LookupError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Online lookups for a fixed list of features: one round trip per request (an MGET for every
/// (view, entity) pair's latest row, and an HGETALL for every entity's aggregation tiles),
/// then the point-in-time rule and the window rule at the request instant, then on-demand
/// features by the same ``FeaturePlan`` the training sets use.
///
/// Aggregation features are always `present`: the window rule gives every instant a value
/// (0 or null for an empty window), as the training set does.
public struct OnlineLookup: Sendable {
    public let plan: FeaturePlan
    public let layouts: [OnlineViewLayout]
    /// The tile layout of each view with aggregations (nil for the others).
    public let tileLayouts: [OnlineTiles?]
    /// For each requested feature, whether it is an aggregation.
    let isAggregation: [Bool]
    /// Views whose row features are read (a view with only aggregations has no row to read).
    let rowViews: [Int]
    /// Views whose aggregation tiles are read.
    let tileViews: [Int]
    /// For each view, the index of one requested row feature of it (nil: none requested):
    /// where a view's status and event time can be read in a served row, for metrics.
    public let rowFeatureIndex: [Int?]

    /// - Parameter versions: the registered version of each feature view.
    public init(plan: FeaturePlan, project: String, versions: [String: Int]) throws(LookupError) {
        self.plan = plan
        var layouts: [OnlineViewLayout] = []
        for view in plan.views {
            guard let version = versions[view.name] else {
                throw LookupError("feature view \(view.name) is not registered; run `larder apply` and `larder materialize`")
            }
            layouts.append(OnlineViewLayout(project: project, spec: view.spec, version: version))
        }
        self.layouts = layouts
        self.tileLayouts = zip(plan.views, layouts).map { view, layout in
            view.aggregations.isEmpty ? nil : OnlineTiles(view: layout, tiles: view.tileLayout)
        }
        self.rowViews = plan.views.indices.filter { !plan.views[$0].features.isEmpty }
        self.rowFeatureIndex = plan.views.indices.map { v in
            plan.features.indices.first { i in
                plan.viewIndex[i] == v && plan.views[v].features.contains { $0.name == plan.features[i].feature }
            }
        }
        self.tileViews = plan.views.indices.filter { !plan.views[$0].aggregations.isEmpty }
        self.isAggregation = plan.features.map { feature in
            guard !feature.isOnDemand, let view = plan.views.first(where: { $0.name == feature.view }) else { return false }
            return view.aggregations.contains { $0.name == feature.feature }
        }
    }

    /// The join keys every entity row must carry, by name, with their types.
    public var requiredKeys: [ColumnSpec] { plan.joinKeys }

    /// Checks an entity row: every join key present with its type, every request field an
    /// on-demand feature reads present with its type (or null).
    public func validate(_ row: EntityRow, index: Int) throws(LookupError) {
        for key in requiredKeys {
            guard let value = row.keys[key.name] else {
                throw LookupError("entity row \(index): missing join key '\(key.name)' (\(key.type))")
            }
            guard value.type == key.type else {
                throw LookupError(
                    "entity row \(index): join key '\(key.name)' must be \(key.type), got \(value.type.map(\.rawValue) ?? "null")")
            }
        }
        for field in plan.requestFields {
            guard let value = row.requestFields[field.key] else {
                throw LookupError("entity row \(index): missing request field '\(field.key)' (\(field.type)) that on-demand features read")
            }
            guard value.isNull || value.type == field.type else {
                throw LookupError("entity row \(index): request field '\(field.key)' must be \(field.type), got \(value.type!.rawValue)")
            }
        }
    }

    /// Looks up every row at instant `t` (the request time). Rows must be validated.
    ///
    /// - Parameter stale: views (feature or on-demand) whose definitions changed since their
    ///   online values were computed: their features are `stale-definition`, values withheld.
    public func lookup(_ rows: [EntityRow], at t: Timestamp, store: OnlineStore, stale: Set<String> = []) async throws
        -> [[ServedFeature]]
    {
        let stored = try await store.read(lookupKeys(rows), tiles: tileKeys(rows))
        return try assemble(rows, stored: stored.rows, tiles: stored.tiles, at: t, stale: stale)
    }

    private func tileKeys(_ rows: [EntityRow]) -> [(layout: OnlineTiles, keys: [Value])] {
        var lookups: [(layout: OnlineTiles, keys: [Value])] = []
        for row in rows {
            for v in tileViews {
                lookups.append((tileLayouts[v]!, plan.views[v].entity.joinKeys.map { row.keys[$0.name] ?? .null }))
            }
        }
        return lookups
    }

    private func lookupKeys(_ rows: [EntityRow]) -> [(layout: OnlineViewLayout, keys: [Value])] {
        var lookups: [(layout: OnlineViewLayout, keys: [Value])] = []
        lookups.reserveCapacity(rows.count * layouts.count)
        for row in rows {
            for v in rowViews {
                lookups.append((layouts[v], plan.views[v].entity.joinKeys.map { row.keys[$0.name] ?? .null }))
            }
        }
        return lookups
    }

    private func assemble(
        _ rows: [EntityRow], stored: [FeatureRow?], tiles: [RedisReply], at t: Timestamp, stale: Set<String>
    ) throws -> [[ServedFeature]] {
        let staleView = plan.views.map { stale.contains($0.name) }
        var out: [[ServedFeature]] = []
        out.reserveCapacity(rows.count)
        var joined = plan.emptyRow()
        var viewStatus = [FeatureStatus](repeating: .missing, count: plan.views.count)
        var viewTime = [Timestamp?](repeating: nil, count: plan.views.count)
        for (r, row) in rows.enumerated() {
            for (k, v) in tileViews.enumerated() {
                let offset = plan.viewOffsets[v] + plan.views[v].features.count
                if staleView[v] {
                    for a in plan.views[v].aggregations.indices { joined[offset + a] = .null }
                    continue
                }
                let values = try tileLayouts[v]!.values(tiles[r * tileViews.count + k], at: t.microseconds)
                for (a, value) in values.enumerated() { joined[offset + a] = value }
            }
            for (k, v) in rowViews.enumerated() {
                let view = plan.views[v]
                let offset = plan.viewOffsets[v]
                let count = view.features.count
                if staleView[v] {
                    viewStatus[v] = .staleDefinition
                    viewTime[v] = nil
                    for i in 0..<count { joined[offset + i] = .null }
                } else if let found = stored[r * rowViews.count + k] {
                    let status = found.status(at: t, ttl: layouts[v].ttl)
                    viewStatus[v] = status
                    viewTime[v] = found.eventTime
                    for i in 0..<count { joined[offset + i] = status == .present ? found.values[i] : .null }
                } else {
                    viewStatus[v] = .missing
                    viewTime[v] = nil
                    for i in 0..<count { joined[offset + i] = .null }
                }
            }
            for (k, field) in plan.requestFields.enumerated() {
                joined[plan.viewValueCount + k] = row.requestFields[field.key] ?? .null
            }
            var served: [ServedFeature] = []
            served.reserveCapacity(plan.features.count)
            for (i, feature) in plan.features.enumerated() {
                let value = plan.value(i, in: joined)
                if feature.isOnDemand {
                    // Present when computed; otherwise the worst status among its input views.
                    let inputs = plan.onDemandInputViews[i]
                    let time = inputs.compactMap { viewTime[$0] }.max()
                    let status: FeatureStatus =
                        stale.contains(feature.view) || inputs.contains(where: { staleView[$0] })
                        ? .staleDefinition
                        : !value.isNull ? .present : inputs.contains { viewStatus[$0] == .expired } ? .expired : .missing
                    served.append(ServedFeature(value: status == .staleDefinition ? .null : value, status: status, eventTime: time))
                } else if isAggregation[i] {
                    let v = plan.viewIndex[i]
                    served.append(ServedFeature(value: value, status: staleView[v] ? .staleDefinition : .present, eventTime: nil))
                } else {
                    let v = plan.viewIndex[i]
                    served.append(ServedFeature(value: value, status: viewStatus[v], eventTime: viewTime[v]))
                }
            }
            out.append(served)
        }
        return out
    }
}
