/// One materialized row of a feature view for one entity: what the online store holds per
/// entity and view, and what materialization pushes to it.
public struct FeatureRow: Sendable, Hashable {
    /// The entity's join key values, in the entity's order.
    public var keys: [Value]
    public var eventTime: Timestamp
    public var createdTime: Timestamp?
    /// The source row's ingest sequence: the last tie-break, after event and created time.
    public var sequence: Int64
    /// The view's feature values, in the view's order.
    public var values: [Value]

    public init(keys: [Value], eventTime: Timestamp, createdTime: Timestamp?, sequence: Int64, values: [Value]) {
        self.keys = keys
        self.eventTime = eventTime
        self.createdTime = createdTime
        self.sequence = sequence
        self.values = values
    }
}

/// A feature value's state as served.
public enum FeatureStatus: String, Sendable {
    /// A value within the view's ttl.
    case present
    /// No value for the entity (or none that the online store still holds).
    case missing
    /// A value older than the view's ttl: reported, never served as present.
    case expired
    /// The definition changed (new transformation code, schema or windows) and the online
    /// values were computed by an older one: withheld until `larder materialize` runs for
    /// the new version (or the service runs the registered definitions).
    case staleDefinition = "stale-definition"
}

extension FeatureRow {
    /// The status of this row's values at instant `t` for a view with `ttl` microseconds
    /// (0: no limit). Exactly ttl old is still present, as offline.
    public func status(at t: Timestamp, ttl: Int64) -> FeatureStatus {
        Self.isFresh(eventTime: eventTime.microseconds, at: t.microseconds, ttl: ttl) ? .present : .expired
    }

    /// The ttl rule, the one place both sides take it from: a value with event time `event`
    /// is valid at instant `t` if `t - event <= ttl` (exactly ttl old is still valid), or
    /// always when `ttl` is 0. Microseconds throughout.
    @inline(__always)
    public static func isFresh(eventTime event: Int64, at t: Int64, ttl: Int64) -> Bool {
        ttl == 0 || t - event <= ttl
    }
}
