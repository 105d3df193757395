/// How to compute a list of requested features for one entity row: which feature views to
/// read, where their values go in the joined row, and how each requested feature comes out
/// of it (a view value, or an on-demand closure evaluated on the joined row).
///
/// Training sets and the online service both build one, so an on-demand feature is computed
/// by the same compiled closure over the same layout on both sides.
///
/// The joined row is laid out as: each view's features in view order (`view:feature`; row
/// features, then aggregations), then the request fields of the on-demand views.
public struct FeaturePlan: Sendable {
    /// How a requested feature is produced.
    public enum Output: Sendable {
        /// The value at this position of the joined row.
        case joined(Int)
        /// An on-demand closure evaluated on the joined row.
        case onDemand(Evaluator)
    }

    public let features: [ResolvedFeature]
    /// The feature views to read, requested or read by on-demand features.
    public let views: [FeatureView]
    /// Where each view's features start in the joined row.
    public let viewOffsets: [Int]
    public let onDemandViews: [OnDemandFeatureView]
    /// Request fields the on-demand features read, after the view features in the row.
    public let requestFields: [InputSpec]
    /// The number of view feature values at the start of the joined row.
    public let viewValueCount: Int
    public let layout: RowLayout
    public let outputs: [Output]
    /// For each requested view feature, the index of its view in ``views`` (-1 for
    /// on-demand features).
    public let viewIndex: [Int]
    /// For each requested on-demand feature, the indexes of the views it reads (empty for
    /// view features).
    public let onDemandInputViews: [[Int]]

    /// The join keys every entity row of a lookup must carry, by name, with their types: the
    /// keys of every view it reads, in first-use order.
    public var joinKeys: [ColumnSpec] {
        var out: [ColumnSpec] = []
        for view in views {
            for key in view.entity.joinKeys where !out.contains(where: { $0.name == key.name }) { out.append(key) }
        }
        return out
    }

    /// Plans `features` (as resolved from a service or references) against `repository`.
    public init(repository: FeatureRepository, features: [ResolvedFeature]) throws(FeatureLookupError) {
        // Only what the requested features read: their views, and for on-demand features
        // the views and request fields their closures take.
        var viewNames: [String] = []
        var onDemand: [OnDemandFeatureView] = []
        var fields: [InputSpec] = []
        for feature in features {
            if feature.isOnDemand {
                guard let odfv = repository.onDemandView(named: feature.view),
                    let f = odfv.features.first(where: { $0.name == feature.feature })
                else {
                    throw FeatureLookupError(description: "unknown on-demand feature '\(feature.reference)'")
                }
                if !onDemand.contains(where: { $0.name == odfv.name }) { onDemand.append(odfv) }
                for input in f.transformation.inputs {
                    if input.key.contains(":") {
                        let view = String(input.key.split(separator: ":")[0])
                        if !viewNames.contains(view) { viewNames.append(view) }
                    } else if !fields.contains(where: { $0.key == input.key }) {
                        fields.append(input)
                    }
                }
            } else if !viewNames.contains(feature.view) {
                viewNames.append(feature.view)
            }
        }
        var views: [FeatureView] = []
        var offsets: [Int] = []
        var keys: [String] = []
        for name in viewNames {
            guard let view = repository.featureView(named: name) else {
                throw FeatureLookupError(description: "unknown feature view '\(name)'")
            }
            views.append(view)
            offsets.append(keys.count)
            keys += view.featureNames.map { "\(name):\($0)" }
        }
        let viewValueCount = keys.count
        keys += fields.map(\.key)
        let layout = RowLayout(keys: keys)

        var outputs: [Output] = []
        for feature in features {
            if feature.isOnDemand {
                let odfv = onDemand.first { $0.name == feature.view }!
                guard let f = odfv.features.first(where: { $0.name == feature.feature }),
                    let evaluate = f.transformation.evaluator(for: layout)
                else {
                    throw FeatureLookupError(description: "on-demand feature \(feature.reference) reads an input that no view provides")
                }
                outputs.append(.onDemand(evaluate))
            } else {
                guard let p = layout.position(of: feature.reference) else {
                    throw FeatureLookupError(description: "unknown feature \(feature.reference)")
                }
                outputs.append(.joined(p))
            }
        }
        self.features = features
        self.views = views
        self.viewOffsets = offsets
        self.onDemandViews = onDemand
        self.requestFields = fields
        self.viewValueCount = viewValueCount
        self.layout = layout
        self.outputs = outputs
        self.viewIndex = features.map { f in f.isOnDemand ? -1 : viewNames.firstIndex(of: f.view)! }
        self.onDemandInputViews = features.map { f in
            guard f.isOnDemand, let odfv = onDemand.first(where: { $0.name == f.view }),
                let feature = odfv.features.first(where: { $0.name == f.feature })
            else { return [] }
            let names = Set(feature.transformation.inputs.filter { $0.key.contains(":") }.map { String($0.key.split(separator: ":")[0]) })
            return viewNames.indices.filter { names.contains(viewNames[$0]) }
        }
    }

    /// A joined row of nulls, to fill.
    public func emptyRow() -> [Value] { [Value](repeating: .null, count: layout.keys.count) }

    /// The value of requested feature `i` for a filled joined row.
    @inline(__always)
    public func value(_ i: Int, in row: [Value]) -> Value {
        switch outputs[i] {
        case .joined(let p): row[p]
        case .onDemand(let evaluate): evaluate(row)
        }
    }
}

extension FeaturePlan {
    /// `features` split into groups whose rows one lookup can serve: the views a group reads
    /// are keyed by the same join keys or by disjoint ones (drivers and customers, combined
    /// row by row), never by overlapping but different ones (a `driver` view and a `driver,
    /// city` view, whose keys one row cannot give both). Each feature goes to the first group
    /// it fits, so a repository with one entity gives one group, in the order given.
    public static func lookupGroups(_ features: [ResolvedFeature], repository: FeatureRepository) throws(FeatureLookupError)
        -> [[ResolvedFeature]]
    {
        var groups: [(features: [ResolvedFeature], keys: [Set<String>])] = []
        for feature in features {
            let keys = try FeaturePlan(repository: repository, features: [feature]).views.map { Set($0.entity.joinKeys.map(\.name)) }
            let fits = { (group: [Set<String>]) in
                group.allSatisfy { a in keys.allSatisfy { b in a == b || a.isDisjoint(with: b) } }
            }
            if let g = groups.firstIndex(where: { fits($0.keys) }) {
                groups[g].features.append(feature)
                groups[g].keys += keys.filter { !groups[g].keys.contains($0) }
            } else {
                groups.append(([feature], keys))
            }
        }
        return groups.map(\.features)
    }
}
