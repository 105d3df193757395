import LarderCore
import LarderOffline

// What the catalog answers: plain `Codable` values, encoded as JSON by `GET /v1/catalog...`
// (keys in snake_case) and rendered as pages at `/ui`. Instants are RFC 3339 text in UTC, ages
// and durations seconds.

/// How many definitions of each kind the compiled repository holds.
public struct CatalogCounts: Codable, Sendable, Equatable {
    public var entities: Int
    public var sources: Int
    public var featureViews: Int
    public var onDemandViews: Int
    /// Row features, aggregation features and on-demand features.
    public var features: Int
    public var services: Int
}

/// A definition in a list: its kind, name and metadata.
public struct CatalogEntry: Codable, Sendable, Equatable {
    /// `entity`, `source`, `feature_view`, `on_demand_view` or `feature_service`.
    public var kind: String
    public var name: String
    public var description: String
    public var owner: String
    public var tags: [String: String]
    /// The registered version of the compiled definition; nil when the registry holds another
    /// definition under its name, or none.
    public var version: Int?
}

/// One applied change of a definition, from the registry's history.
public struct CatalogChange: Codable, Sendable, Equatable {
    public var appliedAt: String
    public var kind: String
    public var name: String
    /// The version after the change (for a removal, the last one).
    public var version: Int
    /// `added`, `changed`, `removed` or `described` (metadata only).
    public var change: String
    /// Readable lines saying what changed (`ttl: 2h -> 3h`).
    public var details: [String]
    public var fingerprint: String
}

/// One materialization run of a feature view version.
public struct CatalogRun: Codable, Sendable, Equatable {
    /// The run's number (`larder statistics-reference` takes it).
    public var id: Int64
    public var view: String
    public var version: Int
    public var finishedAt: String
    /// Source rows the run transformed and wrote.
    public var rows: Int
    public var incremental: Bool
    /// The newest event the view's materialized data held after the run, when known.
    public var newestEvent: String?
    /// How old that event was when the run finished: the view's freshness after the run.
    public var newestEventAgeSeconds: Double?
}

/// A view whose values are not fresh or not served.
public struct CatalogViewAlert: Codable, Sendable, Equatable {
    public var view: String
    /// `feature_view` or `on_demand_view`.
    public var kind: String
    /// `stale-definition` (the service withholds its values), `not-materialized` (only pushed
    /// values, if any, are online) or `expired` (its newest materialized event is older than
    /// its ttl).
    public var status: String
    /// Why, in a sentence, with what to do.
    public var reason: String
}

/// The catalog's front page: counts, recent activity, views needing attention, and every
/// definition by kind.
public struct CatalogHome: Codable, Sendable {
    public var project: String
    /// The instant the answer describes (the service's clock).
    public var generatedAt: String
    public var counts: CatalogCounts
    /// The newest applied changes, newest first.
    public var recentApplies: [CatalogChange]
    /// The newest materialization run of each view, newest first.
    public var recentRuns: [CatalogRun]
    /// Stale, unmaterialized and expired views, by view name.
    public var staleViews: [CatalogViewAlert]
    public var entities: [CatalogEntry]
    public var sources: [CatalogEntry]
    public var featureViews: [CatalogEntry]
    public var onDemandViews: [CatalogEntry]
    public var services: [CatalogEntry]
}

/// How a windowed aggregation feature is computed.
public struct CatalogAggregation: Codable, Sendable, Equatable {
    /// `count`, `sum`, `mean`, `min`, `max`, `last(n)` or `distinct_count`.
    public var function: String
    /// `events`, a source column (`column:fare`) or a row feature (`feature:fare_per_km`).
    public var input: String
    /// The window and hop, compactly (`24h`, `5m`).
    public var window: String
    public var hop: String
    public var windowSeconds: Double
    public var hopSeconds: Double
}

/// What a feature is: a row feature of a feature view, a windowed aggregation of one, or a
/// feature of an on-demand view.
public enum CatalogFeatureKind: String, Codable, Sendable {
    case row
    case aggregation
    case onDemand = "on_demand"
}

/// A feature in a list (a view's, a service's, a search's).
public struct CatalogFeature: Codable, Sendable, Equatable {
    public var view: String
    public var name: String
    /// `view:feature`.
    public var reference: String
    public var kind: CatalogFeatureKind
    /// `int64`, `double`, `string`, `bool` or `timestamp`.
    public var type: String
    public var description: String
    /// The feature's owner, else its view's.
    public var owner: String
    /// Its view's tags, overridden and extended by its own.
    public var tags: [String: String]
    /// For an aggregation feature: its function, input, window and hop.
    public var aggregation: CatalogAggregation?
}

/// A column of a source, a join key or a request field.
public struct CatalogColumn: Codable, Sendable, Equatable {
    public var name: String
    public var type: String
    public var nullable: Bool
    /// For a source's columns: `event time`, `created time` or `join key`; else nil.
    public var role: String?
}

/// An input of a transformation: a source column, a feature (`view:feature`) or a request
/// field.
public struct CatalogInput: Codable, Sendable, Equatable {
    public var key: String
    public var type: String
    public var nullable: Bool
}

/// Everything the catalog knows about one feature.
public struct CatalogFeatureDetail: Codable, Sendable {
    public var feature: CatalogFeature
    /// `feature_view` or `on_demand_view`.
    public var viewKind: String
    /// The registered version of its view's definition (nil: the registry holds another one).
    public var version: Int?
    /// `passthrough` (a source column as is), `swift` (a compiled closure) or `aggregation`.
    public var transformation: String
    public var inputs: [CatalogInput]
    /// The Swift source of the call that declares it (closure included), as written in
    /// features/; nil for passthroughs, aggregations, and definitions built without their
    /// source text.
    public var code: String?
    /// The hash of that code that the fingerprint covers.
    public var codeHash: String?
    /// On-demand features and aggregations computed from this feature (`view:feature`).
    public var readBy: [String]
    /// The feature services that list it.
    public var services: [String]
    /// Its view's applied changes, newest first.
    public var history: [CatalogChange]
    /// Its statistics after its view's recent runs; nil for on-demand features, for views
    /// whose compiled definition is not the registered one, and for types without statistics.
    public var statistics: CatalogFeatureStatistics?
}

/// A feature's statistics, from its view's ``ViewStatisticsReport``.
public struct CatalogFeatureStatistics: Codable, Sendable {
    /// The newest run, which ``latest`` and ``histogram`` describe; nil before the first run.
    public var run: ViewStatisticsReport.Run?
    /// The run drift is measured against.
    public var reference: ViewStatisticsReport.Reference?
    /// Count, nulls, NaNs, min, max, mean, standard deviation, distinct count, quantiles, top
    /// values or true and false counts; nil when the newest run has none for the feature.
    public var latest: ViewStatisticsReport.Summary?
    /// The newest run's histogram, as labelled bins.
    public var histogram: [ViewStatisticsReport.Bin]?
    /// Each recent run's population stability index against the reference, newest first.
    public var drift: [ViewStatisticsReport.Drift]
}

/// What a view version's offline feature table covers, and how fresh it is.
public struct CatalogMaterialization: Codable, Sendable, Equatable {
    /// Source rows with event times in `[start, end)` and `_seq` up to `seqWatermark` are
    /// materialized.
    public var start: String
    public var end: String
    public var seqWatermark: Int64
    public var updatedAt: String
    /// The newest materialized event, as the last run recorded it.
    public var newestEvent: String?
    /// Its age at the answer's instant.
    public var newestEventAgeSeconds: Double?
    /// The end of what the last push to Redis covered.
    public var onlinePushedEnd: String?
}

/// A box of a lineage graph: a source, a view or a feature service.
public struct CatalogLineageNode: Codable, Sendable, Equatable {
    /// `kind:name`, unique in the graph.
    public var id: String
    /// `source`, `feature_view`, `on_demand_view` or `feature_service`.
    public var kind: String
    public var name: String
    /// 0 sources, 1 feature views, 2 on-demand views, 3 feature services.
    public var column: Int
}

/// An arrow of a lineage graph: `from` feeds `to`.
public struct CatalogLineageEdge: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
}

/// Where a view's data comes from and where it goes: source → feature view → on-demand views
/// that read it → feature services that use them.
public struct CatalogLineage: Codable, Sendable, Equatable {
    public var nodes: [CatalogLineageNode]
    public var edges: [CatalogLineageEdge]
}

/// Everything the catalog knows about one view (feature view or on-demand view).
public struct CatalogViewDetail: Codable, Sendable {
    public var name: String
    /// `feature_view` or `on_demand_view`.
    public var kind: String
    public var description: String
    public var owner: String
    public var tags: [String: String]
    /// The registered version of the compiled definition (nil: the registry holds another
    /// one, or none).
    public var version: Int?
    /// `current`, `differs (registered vN)` or `unregistered`.
    public var registration: String
    /// A feature view's entity and its join keys; nil for an on-demand view.
    public var entity: String?
    public var joinKeys: [CatalogColumn]
    /// A feature view's source.
    public var source: String?
    /// A feature view's ttl (`2h`; `none` for no limit) and in seconds (0: no limit).
    public var ttl: String?
    public var ttlSeconds: Double?
    /// Row features, then aggregations; an on-demand view's features.
    public var features: [CatalogFeature]
    /// An on-demand view's inputs: features of other views (`view:feature`) and request
    /// fields.
    public var reads: [String]
    public var requestFields: [CatalogColumn]
    /// What the registered version's feature table covers; nil when never materialized (and
    /// for on-demand views, which have no table).
    public var materialization: CatalogMaterialization?
    /// Its recent materialization runs (at most ``Catalog/statisticsRuns``), newest first.
    public var runs: [CatalogRun]
    /// Whether it is stale, unmaterialized or expired.
    public var alerts: [CatalogViewAlert]
    public var lineage: CatalogLineage
    /// The feature services that use its features.
    public var services: [String]
    /// Applied changes, newest first.
    public var history: [CatalogChange]
    /// A feature view's statistics after its recent runs (nil for an on-demand view, and for
    /// a feature view whose compiled definition is not the registered one).
    public var statistics: ViewStatisticsReport?
}

/// A feature service: its features and how to call the service for them.
public struct CatalogServiceDetail: Codable, Sendable {
    public var name: String
    public var description: String
    public var owner: String
    public var tags: [String: String]
    public var version: Int?
    /// In the service's order.
    public var features: [CatalogFeature]
    /// The views its features come from, in first-use order.
    public var views: [String]
    /// The join keys each entity row of a lookup must carry, and the request fields its
    /// on-demand features read.
    public var joinKeys: [CatalogColumn]
    public var requestFields: [CatalogColumn]
    /// A `POST /v1/features` body for one entity (a materialized entity's keys when there is
    /// one) and a `curl` command sending it.
    public var request: String
    public var curl: String
    public var history: [CatalogChange]
}

/// One committed ingest of a source.
public struct CatalogIngest: Codable, Sendable, Equatable {
    /// The file read, or `push` for rows pushed through `/v1/push`.
    public var file: String
    public var rows: Int
    public var startedAt: String
    public var finishedAt: String
    public var seconds: Double
    /// The `_seq` range the rows received.
    public var firstSeq: Int64?
    public var lastSeq: Int64?
}

/// Everything the catalog knows about one source.
public struct CatalogSourceDetail: Codable, Sendable {
    public var name: String
    public var description: String
    public var owner: String
    public var tags: [String: String]
    public var version: Int?
    /// Its table in the offline store.
    public var table: String
    /// The event timestamp column, the created timestamp column if any, then the declared
    /// columns.
    public var columns: [CatalogColumn]
    public var rowCount: Int
    /// Its newest ingests (files and pushes), newest first.
    public var ingests: [CatalogIngest]
    /// The feature views that read it.
    public var views: [String]
    public var history: [CatalogChange]
}

/// An entity: its join keys and the views keyed by it.
public struct CatalogEntityDetail: Codable, Sendable {
    public var name: String
    public var description: String
    public var owner: String
    public var tags: [String: String]
    public var version: Int?
    public var joinKeys: [CatalogColumn]
    public var views: [CatalogEntry]
}

/// What a feature search asks: text in a feature's name or description, tags (all of them),
/// an owner and a type, each optional.
public struct CatalogFeatureQuery: Codable, Sendable, Equatable {
    public var text: String?
    public var tags: [String: String]
    public var owner: String?
    public var type: String?

    public init(text: String? = nil, tags: [String: String] = [:], owner: String? = nil, type: String? = nil) {
        self.text = text
        self.tags = tags
        self.owner = owner
        self.type = type
    }

    /// Reads `key=value` tag filters; refuses a filter without `=` or with an empty key.
    public static func tags(_ filters: [String]) throws(EngineError) -> [String: String] {
        var tags: [String: String] = [:]
        for filter in filters where !filter.isEmpty {
            guard let equals = filter.firstIndex(of: "="), equals != filter.startIndex else {
                throw EngineError(.invalidRequest, "tag filter '\(filter)' is not KEY=VALUE")
            }
            tags[String(filter[..<equals])] = String(filter[filter.index(after: equals)...])
        }
        return tags
    }
}

/// The features a search found, and the other definitions whose name, description, owner or
/// tags match.
public struct CatalogSearchResult: Codable, Sendable {
    public var query: CatalogFeatureQuery
    public var features: [CatalogFeature]
    /// Entities, sources, views and services that match the same text, tags and owner (not
    /// the type), by the rule of `larder list`.
    public var definitions: [CatalogEntry]
}
