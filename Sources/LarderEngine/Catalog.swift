import Foundation
import LarderCore
import LarderOffline

/// The catalog of a deployment: what `larder serve` shows at `/ui` and answers at
/// `/v1/catalog`. It describes the compiled definitions (the ones the service serves) with
/// their standing in the registry, their history, and what the offline store holds for them
/// (materializations, runs, ingests, row counts).
///
/// Built from a ``Deployment`` and its offline store; building it indexes the compiled
/// repository once (features, who reads and uses what), and each question reads the store as
/// it stands. Names it does not know are ``EngineError/Kind/notFound``.
public struct Catalog: Sendable {
    public let deployment: Deployment
    let offline: any OfflineBackend
    let index: CatalogIndex

    /// How many recent applies, runs and ingests the answers list at most.
    public static let recentLimit = 10

    public init(deployment: Deployment, offline: any OfflineBackend) {
        self.deployment = deployment
        self.offline = offline
        self.index = CatalogIndex(deployment.repository)
    }

    private init(deployment: Deployment, offline: any OfflineBackend, index: CatalogIndex) {
        self.deployment = deployment
        self.offline = offline
        self.index = index
    }

    /// The catalog of `deployment`, a newer reading of the same compiled repository: the
    /// index is kept.
    public func with(_ deployment: Deployment) -> Catalog {
        Catalog(deployment: deployment, offline: offline, index: index)
    }

    var repository: FeatureRepository { deployment.repository }

    // MARK: Home

    /// Counts of every kind, the newest applies, the newest run of each view (newest first),
    /// the views that are stale, unmaterialized or expired at `now`, and every definition by
    /// kind. It reads each view's newest run (whose newest event tells expiry), never a table.
    public func home(at now: Timestamp) async throws -> CatalogHome {
        async let applies = offline.registry.recentHistory(limit: Self.recentLimit)
        let readings = try await readingsOfViews()
        var runs: [CatalogRun] = []
        for reading in readings.values { runs += reading.runs.map(Self.run) }
        runs.sort { ($0.finishedAt, $0.view) > ($1.finishedAt, $1.view) }
        let alerts = (repository.featureViews.map(\.name) + repository.onDemandViews.map(\.name)).sorted().flatMap {
            self.alerts(view: $0, reading: readings[$0], at: now)
        }
        let specs = index.specs
        func entries(_ kind: DefinitionKind) -> [CatalogEntry] { specs.filter { $0.kind == kind }.map(entry) }
        return CatalogHome(
            project: deployment.project, generatedAt: now.description,
            counts: CatalogCounts(
                entities: repository.entities.count, sources: repository.sources.count, featureViews: repository.featureViews.count,
                onDemandViews: repository.onDemandViews.count, features: index.features.count, services: repository.services.count),
            recentApplies: try await applies.map(Self.change), recentRuns: Array(runs.prefix(Self.recentLimit)), staleViews: alerts,
            entities: entries(.entity), sources: entries(.source), featureViews: entries(.featureView),
            onDemandViews: entries(.onDemandView), services: entries(.featureService))
    }

    // MARK: Search

    /// The features matching `query` (all of them for an empty query), in repository order,
    /// and the other definitions matching its text, tags and owner. A feature matches by the
    /// rule of `larder list` (``DefinitionSpec/matches(_:tags:owner:search:)``) applied to its
    /// own name and description and its owner and tags (its view's where it has none), and by
    /// its type when one is asked. An unknown type is ``EngineError/Kind/invalidRequest``.
    public func searchFeatures(_ query: CatalogFeatureQuery) throws(EngineError) -> CatalogSearchResult {
        var query = query
        if query.text?.trimmingCharacters(in: .whitespaces).isEmpty ?? false { query.text = nil }
        if query.owner?.isEmpty ?? false { query.owner = nil }
        if query.type?.isEmpty ?? false { query.type = nil }
        if let type = query.type, ValueType(rawValue: type) == nil {
            throw EngineError(
                .invalidRequest, "unknown type '\(type)'; types: \(ValueType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let text = query.text?.trimmingCharacters(in: .whitespaces)
        let features = index.features.filter { feature in
            (query.type == nil || feature.type == query.type)
                && DefinitionSpec.matches(
                    [(feature.name, feature.description, feature.owner, feature.tags)], tags: query.tags, owner: query.owner, search: text)
        }
        let filtered = text != nil || !query.tags.isEmpty || query.owner != nil
        let definitions =
            filtered ? index.specs.filter { $0.matches(tags: query.tags, owner: query.owner, search: text) }.map(entry) : []
        return CatalogSearchResult(query: query, features: features, definitions: definitions)
    }

    // MARK: Features

    /// One feature of a view: what it is, how it is computed (its Swift source when it has
    /// some), what reads it, the services that list it, its view's history, and its statistics
    /// after its view's recent runs (a row or aggregation feature of a registered view).
    public func feature(view viewName: String, name: String) async throws -> CatalogFeatureDetail {
        let reference = "\(viewName):\(name)"
        guard let position = index.featurePosition[reference] else {
            let known = index.features.filter { $0.view == viewName }.map(\.name)
            if known.isEmpty, repository.featureView(named: viewName) == nil, repository.onDemandView(named: viewName) == nil {
                throw EngineError(.notFound, "unknown view '\(viewName)'; known views: \(index.viewNames.joined(separator: ", "))")
            }
            throw EngineError(.notFound, "view \(viewName) has no feature '\(name)'; its features: \(known.joined(separator: ", "))")
        }
        let feature = index.features[position]
        var transformation = "aggregation"
        var inputs: [CatalogInput] = []
        var codeHash: String? = nil
        var location: CodeLocation? = nil
        if let view = repository.featureView(named: viewName) {
            if let row = view.features.first(where: { $0.name == name }) {
                let spec = row.spec
                transformation = spec.transformation
                inputs = spec.inputs.map(Self.input)
                codeHash = spec.code
                location = row.location
            } else if let aggregation = view.aggregations.first(where: { $0.name == name }) {
                switch aggregation.input {
                case .events: break
                case .column(let column): inputs = [CatalogInput(key: column.name, type: column.type.rawValue, nullable: column.nullable)]
                case .feature(let input):
                    if let row = view.features.first(where: { $0.name == input }) {
                        inputs = [CatalogInput(key: "\(viewName):\(input)", type: row.type.rawValue, nullable: true)]
                    }
                }
            }
        } else if let view = repository.onDemandView(named: viewName), let onDemand = view.features.first(where: { $0.name == name }) {
            transformation = "swift"
            inputs = onDemand.transformation.inputs.map(Self.input)
            codeHash = TransformationCode.hash(at: onDemand.location)
            location = onDemand.location
        }
        var statistics: CatalogFeatureStatistics? = nil
        if let view = repository.featureView(named: viewName), let version = deployment.versions[viewName] {
            let report = try await ViewStatisticsReport.load(view: view.spec, version: version, offline: offline, runs: Self.statisticsRuns)
            if let entry = report.features.first(where: { $0.name == name }) {
                statistics = CatalogFeatureStatistics(
                    run: report.runs.first, reference: report.reference, latest: entry.latest, histogram: entry.histogram,
                    drift: entry.drift)
            }
        }
        let history = try await offline.registry.history(named: viewName)
        return CatalogFeatureDetail(
            feature: feature, viewKind: repository.featureView(named: viewName) != nil ? "feature_view" : "on_demand_view",
            version: deployment.registrations[viewName]?.version, transformation: transformation, inputs: inputs,
            code: location.flatMap(TransformationCode.source(at:)), codeHash: codeHash,
            readBy: index.readersOfFeature[reference] ?? [], services: index.servicesByFeature[reference] ?? [],
            history: history.reversed().map(Self.change), statistics: statistics)
    }

    // MARK: Views

    /// A feature view or an on-demand view: its definition, materialization, recent runs and
    /// their statistics, alerts at `now`, lineage, the services using it and its history.
    public func view(named name: String, at now: Timestamp) async throws -> CatalogViewDetail {
        let history = try await offline.registry.history(named: name).reversed().map(Self.change)
        let registration = Self.registrationText(deployment.registrations[name] ?? .unregistered)
        let features = index.features.filter { $0.view == name }
        if let view = repository.featureView(named: name) {
            let spec = view.spec
            var reading: ViewReading? = nil
            var statistics: ViewStatisticsReport? = nil
            var online: OnlinePushState? = nil
            if let version = deployment.versions[name] {
                async let report = ViewStatisticsReport.load(view: spec, version: version, offline: offline, runs: Self.statisticsRuns)
                async let pushed = offline.onlinePushState(view: name, version: version)
                reading = try await self.reading(of: view, version: version, runs: nil)
                statistics = try await report
                online = try await pushed
            }
            let runs = statistics.map { report in report.runs.map { Self.run(view: name, version: report.version, $0) } } ?? []
            return CatalogViewDetail(
                name: name, kind: DefinitionKind.featureView.rawValue, description: view.description, owner: view.owner, tags: view.tags,
                version: deployment.versions[name], registration: registration, entity: view.entity.name,
                joinKeys: view.entity.joinKeys.map { Self.column($0) }, source: view.source.name,
                ttl: spec.ttlMicroseconds == 0 ? "none" : Duration.compact(microseconds: spec.ttlMicroseconds),
                ttlSeconds: Double(spec.ttlMicroseconds) / 1e6, features: features, reads: [], requestFields: [],
                materialization: reading.flatMap { Self.materialization($0, online: online, at: now) }, runs: runs,
                alerts: alerts(view: name, reading: reading, at: now), lineage: lineage(of: name),
                services: index.servicesByView[name] ?? [], history: history, statistics: statistics)
        }
        guard let view = repository.onDemandView(named: name) else {
            throw EngineError(.notFound, "unknown view '\(name)'; known views: \(index.viewNames.joined(separator: ", "))")
        }
        return CatalogViewDetail(
            name: name, kind: DefinitionKind.onDemandView.rawValue, description: view.description, owner: view.owner, tags: view.tags,
            version: deployment.registrations[name]?.version, registration: registration, entity: nil, joinKeys: [], source: nil,
            ttl: nil, ttlSeconds: nil, features: features, reads: view.featureInputs.map(\.key),
            requestFields: view.requestFields.map { Self.column(ColumnSpec(name: $0.key, type: $0.type, nullable: $0.nullable)) },
            materialization: nil, runs: [], alerts: alerts(view: name, reading: nil, at: now), lineage: lineage(of: name),
            services: index.servicesByView[name] ?? [], history: history, statistics: nil)
    }

    /// Source → feature view → on-demand views reading it → services using either; for an
    /// on-demand view, the feature views it reads (and their sources) on its left.
    public func lineage(of name: String) -> CatalogLineage {
        var nodes: [CatalogLineageNode] = []
        var edges: [CatalogLineageEdge] = []
        func node(_ kind: DefinitionKind, _ name: String, _ column: Int) -> String {
            let id = "\(kind.rawValue):\(name)"
            if !nodes.contains(where: { $0.id == id }) {
                nodes.append(CatalogLineageNode(id: id, kind: kind.rawValue, name: name, column: column))
            }
            return id
        }
        func edge(_ from: String, _ to: String) {
            if !edges.contains(where: { $0.from == from && $0.to == to }) { edges.append(CatalogLineageEdge(from: from, to: to)) }
        }
        func services(of view: String, from id: String) {
            for service in index.servicesByView[view] ?? [] { edge(id, node(.featureService, service, 3)) }
        }
        if let view = repository.featureView(named: name) {
            let source = node(.source, view.source.name, 0)
            let me = node(.featureView, name, 1)
            edge(source, me)
            for reader in index.readersOfView[name] ?? [] {
                let id = node(.onDemandView, reader, 2)
                edge(me, id)
            }
            // Services after the on-demand views, so that boxes of one column stay together.
            services(of: name, from: me)
            for reader in index.readersOfView[name] ?? [] {
                services(of: reader, from: "\(DefinitionKind.onDemandView.rawValue):\(reader)")
            }
        } else if let view = repository.onDemandView(named: name) {
            var read: [String] = []
            for input in view.featureInputs {
                let viewName = String(input.key.prefix { $0 != ":" })
                if !read.contains(viewName) { read.append(viewName) }
            }
            for viewName in read {
                guard let upstream = repository.featureView(named: viewName) else { continue }
                edge(node(.source, upstream.source.name, 0), node(.featureView, viewName, 1))
            }
            let me = node(.onDemandView, name, 2)
            for viewName in read { edge("\(DefinitionKind.featureView.rawValue):\(viewName)", me) }
            services(of: name, from: me)
        }
        return CatalogLineage(nodes: nodes, edges: edges)
    }

    // MARK: Services

    /// A feature service: its features in order, the keys and request fields a lookup needs,
    /// and a `POST /v1/features` request for one entity as a `curl` command to `baseURL`,
    /// with the bearer header when `authorization` is set. The entity's keys are those of a
    /// materialized entity when the store has one, else placeholders of the keys' types.
    public func service(named name: String, baseURL: String, authorization: Bool) async throws -> CatalogServiceDetail {
        guard let service = repository.service(named: name) else {
            throw EngineError(
                .notFound, "unknown feature service '\(name)'; known: \(repository.services.map(\.name).sorted().joined(separator: ", "))")
        }
        let resolved = try repository.resolve(service: service)
        let features = resolved.compactMap { index.featurePosition[$0.reference].map { index.features[$0] } }
        var views: [String] = []
        for feature in resolved where !views.contains(feature.view) { views.append(feature.view) }
        let plan = try FeaturePlan(repository: repository, features: resolved)
        let keys = plan.joinKeys
        var values: [String: Value] = [:]
        for view in plan.views where deployment.versions[view.name] != nil {
            guard keys.contains(where: { key in values[key.name] == nil }) else { break }
            guard let sample = try? await firstEntityKey(of: view) else { continue }
            for (key, value) in zip(view.entity.joinKeys, sample) where values[key.name] == nil { values[key.name] = value }
        }
        let request = Self.requestBody(
            service: name, keys: keys.map { ($0.name, values[$0.name] ?? Self.placeholder($0.type)) },
            fields: plan.requestFields.map { ($0.key, Self.placeholder($0.type)) })
        let history = try await offline.registry.history(named: name).reversed().map(Self.change)
        return CatalogServiceDetail(
            name: name, description: service.description, owner: service.owner, tags: service.tags,
            version: deployment.registrations[name]?.version, features: features, views: views,
            joinKeys: keys.map { Self.column($0) },
            requestFields: plan.requestFields.map { Self.column(ColumnSpec(name: $0.key, type: $0.type, nullable: $0.nullable)) },
            request: request, curl: Self.curl(baseURL: baseURL, body: request, authorization: authorization), history: history)
    }

    private func firstEntityKey(of view: FeatureView) async throws -> [Value]? {
        for try await batch in offline.entityKeys(of: view, batchSize: 1) {
            if let first = batch.first { return first }
        }
        return nil
    }

    /// `{"service": ..., "entities": [{keys}], "request": {fields}}`, the request object only
    /// when there are fields.
    static func requestBody(service: String, keys: [(String, Value)], fields: [(String, Value)]) -> String {
        var out: [UInt8] = Array("{\"service\": ".utf8)
        JSONText.appendString(service, to: &out)
        func object(_ pairs: [(String, Value)]) {
            out.append(UInt8(ascii: "{"))
            for (i, (name, value)) in pairs.enumerated() {
                if i > 0 { out += ", ".utf8 }
                JSONText.appendString(name, to: &out)
                out += ": ".utf8
                JSONText.appendValue(value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out += ", \"entities\": [".utf8
        object(keys)
        out += "]".utf8
        if !fields.isEmpty {
            out += ", \"request\": ".utf8
            object(fields)
        }
        out += "}".utf8
        return String(decoding: out, as: UTF8.self)
    }

    /// A value of `type` to fill in: zero, empty, false, the epoch.
    static func placeholder(_ type: ValueType) -> Value {
        switch type {
        case .int64: .int64(0)
        case .double: .double(0)
        case .string: .string("")
        case .bool: .bool(false)
        case .timestamp: .timestamp(Timestamp(microseconds: 0))
        default: .null
        }
    }

    /// A POSIX shell command posting `body` to `baseURL`/v1/features; the token is read from
    /// `$LARDER_API_TOKEN` when the service wants one.
    static func curl(baseURL: String, body: String, authorization: Bool) -> String {
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var lines = [
            "curl -sS -X POST \(quoted(baseURL + "/v1/features"))",
            "  -H 'Content-Type: application/json'",
        ]
        if authorization { lines.append("  -H \"Authorization: Bearer $LARDER_API_TOKEN\"") }
        lines.append("  -d \(quoted(body))")
        return lines.joined(separator: " \\\n")
    }

    // MARK: Sources and entities

    /// A source: its columns (timestamps first), row count, newest ingests and the views
    /// reading it.
    public func source(named name: String) async throws -> CatalogSourceDetail {
        guard let source = repository.source(named: name) else {
            throw EngineError(
                .notFound, "unknown source '\(name)'; known: \(repository.sources.map(\.name).sorted().joined(separator: ", "))")
        }
        let views = index.viewsBySource[name] ?? []
        let keys = Set(views.compactMap { repository.featureView(named: $0) }.flatMap { $0.entity.joinKeys.map(\.name) })
        var columns = [CatalogColumn(name: source.eventTimestamp, type: ValueType.timestamp.rawValue, nullable: false, role: "event time")]
        if let created = source.createdTimestamp {
            columns.append(CatalogColumn(name: created, type: ValueType.timestamp.rawValue, nullable: true, role: "created time"))
        }
        columns += source.columns.map { Self.column($0, role: keys.contains($0.name) ? "join key" : nil) }
        let registered = deployment.registrations[name].map { $0 != .unregistered } ?? false
        async let rows = registered ? offline.registry.rowCount(source: name) : 0
        async let ingests = registered ? offline.ingests(source: name, limit: Self.recentLimit) : []
        async let history = offline.registry.history(named: name)
        return CatalogSourceDetail(
            name: name, description: source.description, owner: source.owner, tags: source.tags,
            version: deployment.registrations[name]?.version, table: "source_\(name)", columns: columns, rowCount: try await rows,
            ingests: try await ingests.map(Self.ingest), views: views, history: try await history.reversed().map(Self.change))
    }

    /// An entity: its join keys and the feature views keyed by it.
    public func entity(named name: String) throws(EngineError) -> CatalogEntityDetail {
        guard let entity = repository.entity(named: name) else {
            throw EngineError(
                .notFound, "unknown entity '\(name)'; known: \(repository.entities.map(\.name).sorted().joined(separator: ", "))")
        }
        return CatalogEntityDetail(
            name: name, description: entity.description, owner: entity.owner, tags: entity.tags,
            version: deployment.registrations[name]?.version, joinKeys: entity.joinKeys.map { Self.column($0) },
            views: (index.viewsByEntity[name] ?? []).compactMap { view in index.specs.first { $0.name == view }.map(entry) })
    }

    // MARK: Freshness and alerts

    /// How many recent runs a view's page and its features' statistics show.
    public static let statisticsRuns = 20

    /// What the store says of a registered feature view version now: what its table covers,
    /// its newest materialized event, and its newest runs.
    struct ViewReading: Sendable {
        var state: MaterializationState?
        var newestEvent: Timestamp?
        var runs: [MaterializationRun]
    }

    /// The reading of `view` at `version`, with its newest `limit` runs (none: only the newest,
    /// for its newest event, is read and not kept). The newest event is the one the last run
    /// recorded; for runs recorded before Larder kept it, the store's ``ViewFreshness``.
    func reading(of view: FeatureView, version: Int, runs limit: Int?) async throws -> ViewReading {
        async let state = offline.materializationState(view: view.name, version: version)
        // Without statistics: decoding them is most of the cost of reading a run, and no
        // reading shows them (the statistics report reads its own).
        async let runs = offline.materializationRuns(
            view: view.name, version: version, limit: max(limit ?? 1, 1), withStatistics: false)
        let (materialized, newestRuns) = try await (state, runs)
        var newest = newestRuns.first?.newestEvent
        if newest == nil, materialized != nil {
            newest = try await offline.freshness(of: view.spec, version: version).newestEvent
        }
        return ViewReading(state: materialized, newestEvent: newest, runs: limit == nil ? [] : newestRuns)
    }

    /// The reading of every feature view whose compiled definition is registered, with its
    /// newest run, read concurrently.
    func readingsOfViews() async throws -> [String: ViewReading] {
        try await withThrowingTaskGroup(of: (String, ViewReading).self) { group in
            for view in repository.featureViews {
                guard let version = deployment.versions[view.name] else { continue }
                group.addTask { (view.name, try await self.reading(of: view, version: version, runs: 1)) }
            }
            var out: [String: ViewReading] = [:]
            for try await (name, reading) in group { out[name] = reading }
            return out
        }
    }

    /// Why a view needs attention at `now`, if it does: its values are withheld
    /// (`stale-definition`), it was never materialized, or its newest materialized event is
    /// older than its ttl.
    func alerts(view name: String, reading: ViewReading?, at now: Timestamp) -> [CatalogViewAlert] {
        let featureView = repository.featureView(named: name)
        let kind = (featureView != nil ? DefinitionKind.featureView : .onDemandView).rawValue
        func alert(_ status: String, _ reason: String) -> [CatalogViewAlert] {
            [CatalogViewAlert(view: name, kind: kind, status: status, reason: reason)]
        }
        if deployment.staleViews.contains(name) {
            switch deployment.registrations[name] ?? .unregistered {
            case .unregistered:
                return alert("stale-definition", "not registered: its values are withheld until `larder apply` registers it")
            case .differs(let registered):
                return alert(
                    "stale-definition",
                    "the registry holds another definition (v\(registered)) than the one this service was built with: its values are withheld"
                )
            case .current(let version):
                return alert(
                    "stale-definition",
                    "v\(version) has not been materialized: its values are withheld until `larder materialize --views \(name)`")
            }
        }
        guard let featureView, deployment.versions[name] != nil else { return [] }
        guard let reading, reading.state != nil else {
            return alert(
                "not-materialized", "never materialized: only pushed values are online; run `larder materialize --views \(name)`")
        }
        let ttl = featureView.ttl.microseconds
        if ttl > 0, !featureView.features.isEmpty, let newest = reading.newestEvent, now.microseconds - newest.microseconds > ttl {
            let age = Duration.compact(microseconds: (now.microseconds - newest.microseconds) / 1_000_000 * 1_000_000)
            return alert(
                "expired",
                "its newest materialized event (\(newest)) is \(age) old, past its ttl of \(Duration.compact(microseconds: ttl)): lookups answer expired unless newer values were pushed"
            )
        }
        return []
    }

    // MARK: Conversions

    func entry(_ spec: DefinitionSpec) -> CatalogEntry {
        let own = spec.metadata[0]
        return CatalogEntry(
            kind: spec.kind.rawValue, name: spec.name, description: own.description, owner: own.owner, tags: own.tags,
            version: deployment.registrations[spec.name]?.version)
    }

    static func change(_ entry: HistoryEntry) -> CatalogChange {
        CatalogChange(
            appliedAt: entry.appliedAt.description, kind: entry.kind.rawValue, name: entry.name, version: entry.version,
            change: entry.change.rawValue, details: entry.details, fingerprint: entry.fingerprint)
    }

    static func run(_ run: MaterializationRun) -> CatalogRun {
        CatalogRun(
            id: run.id, view: run.view, version: run.version, finishedAt: run.finishedAt.description, rows: run.rows,
            incremental: run.incremental, newestEvent: run.newestEvent?.description,
            newestEventAgeSeconds: run.newestEvent.map { Double(run.finishedAt.microseconds - $0.microseconds) / 1e6 })
    }

    static func run(view: String, version: Int, _ run: ViewStatisticsReport.Run) -> CatalogRun {
        CatalogRun(
            id: run.id, view: view, version: version, finishedAt: run.finishedAt, rows: run.rows, incremental: run.incremental,
            newestEvent: run.newestEvent, newestEventAgeSeconds: run.newestEventAgeSeconds)
    }

    static func materialization(_ reading: ViewReading, online: OnlinePushState?, at now: Timestamp) -> CatalogMaterialization? {
        guard let state = reading.state else { return nil }
        return CatalogMaterialization(
            start: state.start.description, end: state.end.description, seqWatermark: state.seqWatermark,
            updatedAt: state.updatedAt.description, newestEvent: reading.newestEvent?.description,
            newestEventAgeSeconds: reading.newestEvent.map { Double(now.microseconds - $0.microseconds) / 1e6 },
            onlinePushedEnd: online?.end.description)
    }

    static func ingest(_ record: IngestRecord) -> CatalogIngest {
        CatalogIngest(
            file: record.file, rows: record.rows, startedAt: record.startedAt.description, finishedAt: record.finishedAt.description,
            seconds: Double(record.finishedAt.microseconds - record.startedAt.microseconds) / 1e6,
            firstSeq: record.sequences?.lowerBound, lastSeq: record.sequences?.upperBound)
    }

    static func column(_ spec: ColumnSpec, role: String? = nil) -> CatalogColumn {
        CatalogColumn(name: spec.name, type: spec.type.rawValue, nullable: spec.nullable, role: role)
    }

    static func input(_ spec: InputSpec) -> CatalogInput {
        CatalogInput(key: spec.key, type: spec.type.rawValue, nullable: spec.nullable)
    }

    static func registrationText(_ registration: Registration) -> String {
        switch registration {
        case .current: "current"
        case .differs(let version): "differs (registered v\(version))"
        case .unregistered: "unregistered"
        }
    }
}

/// The compiled repository indexed for the catalog's questions, built once per ``Catalog``.
struct CatalogIndex: Sendable {
    /// Every compiled definition, sorted by kind then name.
    let specs: [DefinitionSpec]
    /// Every feature: each feature view's row features then aggregations, then each on-demand
    /// view's features, in declaration order.
    let features: [CatalogFeature]
    /// `view:feature` to its position in ``features``.
    let featurePosition: [String: Int]
    let viewNames: [String]
    /// `view:feature` to the services that list it, and view to the services that list one of
    /// its features.
    let servicesByFeature: [String: [String]]
    let servicesByView: [String: [String]]
    /// Feature view to the on-demand views reading it.
    let readersOfView: [String: [String]]
    /// `view:feature` to the on-demand features and aggregations computed from it.
    let readersOfFeature: [String: [String]]
    let viewsBySource: [String: [String]]
    let viewsByEntity: [String: [String]]

    init(_ repository: FeatureRepository) {
        specs = repository.specs
        var features: [CatalogFeature] = []
        func add(
            view: String, name: String, kind: CatalogFeatureKind, type: ValueType, own: (String, String, [String: String]),
            of viewMetadata: (owner: String, tags: [String: String]), aggregation: CatalogAggregation? = nil
        ) {
            features.append(
                CatalogFeature(
                    view: view, name: name, reference: "\(view):\(name)", kind: kind, type: type.rawValue, description: own.0,
                    owner: own.1.isEmpty ? viewMetadata.owner : own.1,
                    tags: viewMetadata.tags.merging(own.2) { _, feature in feature }, aggregation: aggregation))
        }
        var readersOfFeature: [String: [String]] = [:]
        var viewsBySource: [String: [String]] = [:]
        var viewsByEntity: [String: [String]] = [:]
        for view in repository.featureViews {
            let metadata = (view.owner, view.tags)
            for feature in view.features {
                add(
                    view: view.name, name: feature.name, kind: .row, type: feature.type,
                    own: (feature.description, feature.owner, feature.tags), of: metadata)
            }
            for aggregation in view.aggregations {
                let spec = aggregation.spec
                add(
                    view: view.name, name: aggregation.name, kind: .aggregation, type: aggregation.type,
                    own: (aggregation.metadata.description, aggregation.metadata.owner, aggregation.metadata.tags), of: metadata,
                    aggregation: CatalogAggregation(
                        function: spec.function, input: spec.input, window: Duration.compact(microseconds: spec.windowMicroseconds),
                        hop: Duration.compact(microseconds: spec.hopMicroseconds), windowSeconds: Double(spec.windowMicroseconds) / 1e6,
                        hopSeconds: Double(spec.hopMicroseconds) / 1e6))
                if case .feature(let input) = aggregation.input {
                    readersOfFeature["\(view.name):\(input)", default: []].append("\(view.name):\(aggregation.name)")
                }
            }
            viewsBySource[view.source.name, default: []].append(view.name)
            viewsByEntity[view.entity.name, default: []].append(view.name)
        }
        var readersOfView: [String: [String]] = [:]
        for view in repository.onDemandViews {
            for feature in view.features {
                add(
                    view: view.name, name: feature.name, kind: .onDemand, type: feature.type,
                    own: (feature.description, feature.owner, feature.tags), of: (view.owner, view.tags))
                for input in feature.transformation.inputs where input.key.contains(":") {
                    readersOfFeature[input.key, default: []].append("\(view.name):\(feature.name)")
                }
            }
            for input in view.featureInputs {
                let read = String(input.key.prefix { $0 != ":" })
                if !(readersOfView[read]?.contains(view.name) ?? false) { readersOfView[read, default: []].append(view.name) }
            }
        }
        var servicesByFeature: [String: [String]] = [:]
        var servicesByView: [String: [String]] = [:]
        for service in repository.services {
            for feature in (try? repository.resolve(service: service)) ?? [] {
                if !(servicesByFeature[feature.reference]?.contains(service.name) ?? false) {
                    servicesByFeature[feature.reference, default: []].append(service.name)
                }
                if !(servicesByView[feature.view]?.contains(service.name) ?? false) {
                    servicesByView[feature.view, default: []].append(service.name)
                }
            }
        }
        self.features = features
        self.featurePosition = Dictionary(features.enumerated().map { ($1.reference, $0) }, uniquingKeysWith: { first, _ in first })
        self.viewNames = (repository.featureViews.map(\.name) + repository.onDemandViews.map(\.name)).sorted()
        self.servicesByFeature = servicesByFeature
        self.servicesByView = servicesByView
        self.readersOfView = readersOfView
        self.readersOfFeature = readersOfFeature
        self.viewsBySource = viewsBySource
        self.viewsByEntity = viewsByEntity
    }
}
