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

/// Online lookups for a fixed list of features: one MGET per request for every (view,
/// entity) pair, then the point-in-time rule at the request instant, then on-demand features
/// by the same ``FeaturePlan`` the training sets use.
public struct OnlineLookup: Sendable {
    public let plan: FeaturePlan
    public let layouts: [OnlineViewLayout]

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
    }

    /// The join keys every entity row must carry, by name, with their types.
    public var requiredKeys: [ColumnSpec] {
        var out: [ColumnSpec] = []
        for view in plan.views {
            for key in view.entity.joinKeys where !out.contains(where: { $0.name == key.name }) { out.append(key) }
        }
        return out
    }

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
    public func lookup(_ rows: [EntityRow], at t: Timestamp, store: OnlineStore) async throws -> [[ServedFeature]] {
        let lookups = lookupKeys(rows)
        let stored = try await store.read(lookups)
        return assemble(rows, stored: stored, at: t)
    }

    /// The blocking form, for the CLI.
    public func lookupSync(_ rows: [EntityRow], at t: Timestamp, store: OnlineStore) throws -> [[ServedFeature]] {
        assemble(rows, stored: try store.readSync(lookupKeys(rows)), at: t)
    }

    private func lookupKeys(_ rows: [EntityRow]) -> [(layout: OnlineViewLayout, keys: [Value])] {
        var lookups: [(layout: OnlineViewLayout, keys: [Value])] = []
        lookups.reserveCapacity(rows.count * layouts.count)
        for row in rows {
            for (v, view) in plan.views.enumerated() {
                lookups.append((layouts[v], view.entity.joinKeys.map { row.keys[$0.name] ?? .null }))
            }
        }
        return lookups
    }

    private func assemble(_ rows: [EntityRow], stored: [FeatureRow?], at t: Timestamp) -> [[ServedFeature]] {
        var out: [[ServedFeature]] = []
        out.reserveCapacity(rows.count)
        var joined = plan.emptyRow()
        var viewStatus = [FeatureStatus](repeating: .missing, count: plan.views.count)
        var viewTime = [Timestamp?](repeating: nil, count: plan.views.count)
        for (r, row) in rows.enumerated() {
            for (v, view) in plan.views.enumerated() {
                let offset = plan.viewOffsets[v]
                let count = view.features.count
                if let found = stored[r * plan.views.count + v] {
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
                        !value.isNull ? .present : inputs.contains { viewStatus[$0] == .expired } ? .expired : .missing
                    served.append(ServedFeature(value: value, status: status, eventTime: time))
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
