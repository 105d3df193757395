import LarderCore
import LarderOffline
import LarderOnline

/// One entity row to check: its join keys, the instant to compare at, the request fields of
/// on-demand features, and how the report names it.
public struct VerificationRow: Sendable {
    public var keys: [String: Value]
    public var instant: Timestamp
    public var requestFields: [String: Value]
    public var context: String

    public init(keys: [String: Value], instant: Timestamp, requestFields: [String: Value], context: String) {
        self.keys = keys
        self.instant = instant
        self.requestFields = requestFields
        self.context = context
    }
}

/// The consistency check of `larder verify` for one group of features, whatever the rows come
/// from (sampled keys, the serving log): the service's online lookup for them, their offline
/// point-in-time recomputation (in memory, by the offline store's training-set join), and a
/// ``FeatureComparison`` per feature.
public struct Verification {
    public let deployment: Deployment
    public let offline: any OfflineBackend
    public let features: [ResolvedFeature]
    public let plan: FeaturePlan
    public let lookup: OnlineLookup
    /// The tallies so far, in ``features`` order.
    public private(set) var comparisons: [FeatureComparison]

    /// The request column holding each row's instant. Definition names never contain `__`
    /// (it is reserved), so it cannot clash with a join key or a request field.
    static let instantColumn = "__verify_instant"
    /// Rows per offline recomputation: bounds the memory of one batch's values.
    static let offlineBatch = 10_000
    /// Rows per pipelined online read.
    static let onlineBatch = 500

    /// Refuses features whose views are not registered as compiled (``Deployment/lookup(_:)``).
    public init(deployment: Deployment, offline: any OfflineBackend, features: [ResolvedFeature]) throws {
        self.deployment = deployment
        self.offline = offline
        self.features = features
        lookup = try deployment.lookup(features)
        plan = lookup.plan
        comparisons = features.map { FeatureComparison(feature: $0.reference) }
    }

    /// The instant to compare at: `at` if given, else 1 µs before the earliest of the
    /// materialized `ends` of the views involved (training sets refuse instants at or after a
    /// view's end, and just before it both sides hold everything materialized).
    public static func instant(_ at: Timestamp?, ends: [(view: String, end: Timestamp)]) throws(EngineError) -> Timestamp {
        let (view, end) = ends.min { $0.end < $1.end }!
        guard let at else { return Timestamp(microseconds: end.microseconds - 1) }
        guard at < end else {
            throw EngineError(
                .notReady,
                "--at \(at) is at or after the end of what feature view \(view) has materialized (\(end)); run `larder materialize --incremental`, or give an earlier --at"
            )
        }
        return at
    }

    /// The earliest end of what the views involved have materialized, and its view: offline
    /// values exist only for instants before it.
    public func materializedEnd() throws(EngineError) -> (view: String, end: Timestamp) {
        guard let end = try deployment.materializedEnd(of: plan.views) else {
            throw EngineError(.invalidRequest, "the features read no feature view: there is nothing to compare")
        }
        return end
    }

    /// The rows to check at `instant`: up to `limit` entity keys sampled from the offline
    /// store by ``EntityKeySample``, each with request fields from ``RequestFieldSample``.
    ///
    /// Views keyed by the same join keys share one sample. Views of different entities (a
    /// service mixing drivers and customers) are sampled apart and the i-th row takes the i-th
    /// key of each; an entity with fewer sampled keys than rows repeats them in order.
    public func sampleRows(limit: Int, seed: UInt64, at instant: Timestamp) async throws -> [VerificationRow] {
        // The entities: the views grouped by their join key names.
        var entities: [(keys: [ColumnSpec], views: [FeatureView])] = []
        for view in plan.views {
            let names = Set(view.entity.joinKeys.map(\.name))
            if let e = entities.firstIndex(where: { Set($0.keys.map(\.name)) == names }) {
                entities[e].views.append(view)
            } else if let other = entities.first(where: { !Set($0.keys.map(\.name)).isDisjoint(with: names) }) {
                throw EngineError(
                    .invalidRequest,
                    "feature views \(other.views[0].name) and \(view.name) are keyed by overlapping but different join keys (\(other.keys.map(\.name).joined(separator: ", ")) and \(view.entity.joinKeys.map(\.name).joined(separator: ", "))); verify them separately with --features"
                )
            } else {
                entities.append((view.entity.joinKeys, [view]))
            }
        }
        var samples: [[[Value]]] = []
        for entity in entities {
            var sample = EntityKeySample(limit: limit, seed: seed)
            for view in entity.views {
                // Keys come in the view's join key order; the sample uses the entity's.
                let order = entity.keys.map { key in view.entity.joinKeys.firstIndex { $0.name == key.name }! }
                for try await batch in offline.entityKeys(of: view) {
                    for keys in batch { sample.offer(order.map { keys[$0] }) }
                }
            }
            guard !sample.keys.isEmpty else {
                throw EngineError(
                    .notReady,
                    "feature view\(entity.views.count == 1 ? "" : "s") \(entity.views.map(\.name).joined(separator: ", ")) \(entity.views.count == 1 ? "has" : "have") no materialized entities to sample; ingest and run `larder materialize` first"
                )
            }
            samples.append(sample.keys)
        }

        let required = lookup.requiredKeys
        return (0..<samples.map(\.count).max()!).map { i in
            var keys: [String: Value] = [:]
            for (entity, sample) in zip(entities, samples) {
                for (k, key) in entity.keys.enumerated() { keys[key.name] = sample[i % sample.count][k] }
            }
            let ordered = required.map { keys[$0.name]! }
            let text = EntityKeyHash.canonicalText(ordered)
            var fields: [String: Value] = [:]
            for field in plan.requestFields {
                fields[field.key] = RequestFieldSample.value(of: field.type, field: field.key, row: text, seed: seed, at: instant)
            }
            let context = zip(required, ordered).map { "\($0.name)=\($1)" } + plan.requestFields.map { "\($0.key)=\(fields[$0.key]!)" }
            return VerificationRow(keys: keys, instant: instant, requestFields: fields, context: context.joined(separator: ","))
        }
    }

    /// Reads `rows`' online values with the service's lookup at `instant`, in pipelined
    /// batches, and compares them with their offline recomputation (``compare(_:online:)``).
    /// Returns how many online values have an event time after `instant`.
    public mutating func compareOnline(_ rows: [VerificationRow], at instant: Timestamp, store online: OnlineStore) async throws
        -> Int
    {
        var onlineValues: [[Value]] = []
        onlineValues.reserveCapacity(rows.count)
        var newer = 0
        for start in stride(from: 0, to: rows.count, by: Self.onlineBatch) {
            let batch = rows[start..<min(start + Self.onlineBatch, rows.count)]
            let entityRows = batch.map { EntityRow(keys: $0.keys, requestFields: $0.requestFields) }
            for (i, row) in entityRows.enumerated() {
                do { try lookup.validate(row, index: start + i) } catch { throw EngineError(.invalidRequest, "\(error)") }
            }
            // No view is stale-definition here, so no `stale:` set is passed: a definition that
            // differs from the registry is refused by `Deployment.lookup`, and a changed view's
            // unmaterialized new version by `materializedEnd` (the service's staleness rules).
            for served in try await lookup.lookup(entityRows, at: instant, store: online) {
                // Only a present value is served; missing, expired and stale-definition are null.
                onlineValues.append(served.map { $0.status == .present ? $0.value : .null })
                newer += served.filter { ($0.eventTime ?? instant) > instant }.count
            }
        }
        try await compare(rows, online: onlineValues)
        return newer
    }

    /// Compares each row's online values (`online[r][f]`, in ``features`` order) with the
    /// offline recomputation of the row, adding to ``comparisons``.
    public mutating func compare(_ rows: [VerificationRow], online: [[Value]]) async throws {
        precondition(rows.count == online.count)
        for start in stride(from: 0, to: rows.count, by: Self.offlineBatch) {
            let end = min(start + Self.offlineBatch, rows.count)
            let offline = try await recompute(rows[start..<end])
            for (r, values) in zip(start..<end, offline) {
                for f in features.indices {
                    comparisons[f].add(online: online[r][f], offline: values[f], context: rows[r].context)
                }
            }
        }
    }

    /// The offline point-in-time values of the features for each row, exactly as a training
    /// set computes them: the rows go to the store's `trainingSetValues`
    /// as typed values in memory (join keys, the instant, request fields) and the values come
    /// back typed, so nothing is written, parsed or rounded on the way.
    private func recompute(_ rows: ArraySlice<VerificationRow>) async throws -> [[Value]] {
        let required = lookup.requiredKeys
        let columns = required.map(\.name) + [Self.instantColumn] + plan.requestFields.map(\.key)
        let requests = RequestRows(
            columns: columns,
            rows: rows.map { row in
                var values: [Value] = required.map { row.keys[$0.name] ?? .null }
                values.append(.timestamp(row.instant))
                for field in plan.requestFields { values.append(row.requestFields[field.key] ?? .null) }
                return values
            })
        let values: [[Value]]
        do {
            values = try await offline.trainingSetValues(
                of: features, for: requests, timestampColumn: Self.instantColumn, repository: deployment.repository)
        } catch {
            throw EngineError(.failed, "recomputing the offline values failed: \(error)")
        }
        guard values.count == rows.count else {
            throw EngineError(.failed, "the offline recomputation gave \(values.count) rows for \(rows.count) requested")
        }
        return values
    }
}

/// What a `larder verify` run found: the tallies per feature, in report order, and what the
/// command line says beside them. The command line renders it and decides the exit status.
public struct VerificationReport: Sendable {
    public var comparisons: [FeatureComparison]
    /// The features of ``comparisons``, in the same order.
    public var features: [ResolvedFeature]
    /// The instant compared at (nil from the serving log: each row at its own).
    public var instant: Timestamp?
    /// Sampled runs: the entity rows sampled.
    public var sampled = 0
    /// Sampled runs: the online values with an event time after ``instant`` (the online store
    /// keeps only each entity's latest row).
    public var newer = 0
    /// Serving log runs: the entries read in the range.
    public var entries = 0
    /// Serving log runs: the rows not compared, by reason.
    public var skipped: [String: Int] = [:]
    /// Serving log runs: logged features features/ no longer defines (not compared).
    public var gone: [String] = []
}

/// The runs behind `larder verify`: sampled entity keys at one instant, or the serving log
/// (``fromLog(_:offline:features:since:until:)``).
public enum VerificationRun {
    /// Samples up to `sample` entity keys per group of `requested` (nil: every feature of
    /// every view, in groups one entity row can look up together), reads their online values
    /// at `at` (default: just before the earliest materialized end) and compares them with
    /// their offline recomputation.
    public static func sampled(
        _ deployment: Deployment, offline: any OfflineBackend, online: OnlineStore, requested: [ResolvedFeature]?, sample: Int,
        seed: UInt64, at: Timestamp?
    ) async throws -> VerificationReport {
        let repository = deployment.repository
        // Without a feature list, every feature of every view (a deployment gate), in groups
        // one entity row can look up together: views keyed by overlapping but different join
        // keys (a driver view, a driver-and-city view) are sampled apart.
        let all = requested ?? repository.allFeatures
        guard !all.isEmpty else { throw EngineError(.invalidRequest, "features/ defines no feature: there is nothing to verify") }
        let groups: [[ResolvedFeature]]
        do {
            groups = try requested.map { [$0] } ?? FeaturePlan.lookupGroups(all, repository: repository)
        } catch {
            throw EngineError(.invalidRequest, "\(error)")
        }
        var checks = try groups.map { try Verification(deployment: deployment, offline: offline, features: $0) }
        let instant = try Verification.instant(at, ends: checks.map { try $0.materializedEnd() })
        var report = VerificationReport(comparisons: [], features: all, instant: instant)
        for c in checks.indices {
            let rows = try await checks[c].sampleRows(limit: sample, seed: seed, at: instant)
            report.newer += try await checks[c].compareOnline(rows, at: instant, store: online)
            report.sampled += rows.count
        }
        // The features in the order asked for, or declared (several groups only without a
        // feature list, where each feature comes once).
        report.comparisons = checks[0].comparisons
        if checks.count > 1 {
            var tallies: [String: FeatureComparison] = [:]
            for check in checks {
                for (feature, comparison) in zip(check.features, check.comparisons) { tallies[feature.reference] = comparison }
            }
            report.comparisons = all.map { tallies[$0.reference]! }
        }
        return report
    }
}
