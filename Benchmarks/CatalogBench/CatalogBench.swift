import Foundation
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import LarderServer
import Logging

// larder-catalog-bench: a generated feature repository of 500 features, applied, ingested,
// materialized and pushed like `larder apply`, `ingest` and `materialize` would, then served by
// the real FeatureServer, for `Benchmarks/bench.py catalog` to measure the catalog's pages.
//
//   larder-catalog-bench --directory DIR --redis-url URL [--port 0] [--entities 1000] [--hours 24]
//
// Prints one JSON line once the service listens: its port and one path per page kind. Stops on
// SIGINT or SIGTERM. The repository: 5 entities' sources of 24 columns, 50 feature views of 10
// features each (45 views of 10 row features, 5 of 8 row features and a sum over two windows),
// with descriptions, owners and tags; 4 on-demand views of 2 features; 6 services.

struct Options {
    var directory = ""
    var redisURL = ""
    var host = "127.0.0.1"
    var port = 0
    var entities = 1000
    var hours = 24

    init(_ arguments: [String]) {
        var rest = arguments.dropFirst()
        func value(_ name: String) -> String {
            guard let v = rest.popFirst() else { fail("\(name) needs a value") }
            return v
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--directory": directory = value(argument)
            case "--redis-url": redisURL = value(argument)
            case "--host": host = value(argument)
            case "--port": port = Int(value(argument)) ?? -1
            case "--entities": entities = Int(value(argument)) ?? -1
            case "--hours": hours = Int(value(argument)) ?? -1
            default: fail("unknown argument \(argument)")
            }
        }
        if directory.isEmpty || redisURL.isEmpty { fail("--directory and --redis-url are required") }
        if port < 0 || entities < 1 || hours < 1 { fail("--port, --entities and --hours need numbers") }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("larder-catalog-bench: \(message)\n".utf8))
    exit(2)
}

func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

// MARK: - The generated repository

/// One entity with its source: a key and 24 columns (16 doubles, 4 integers, 2 strings, 2 flags).
struct Domain {
    let entity: Entity
    let key: Column<Int64>
    let source: Source
    let doubles: [Column<Double>]
    let integers: [Column<Int64>]
    let strings: [Column<String>]
    let flags: [Column<Bool>]
    let team: String
}

let domainNames = [
    ("customer", "Customers of the shop", "growth"), ("merchant", "Merchants selling on the platform", "marketplace"),
    ("product", "Products in the catalog", "catalog"), ("courier", "Couriers delivering orders", "logistics"),
    ("store", "Physical stores and their tills", "retail"),
]
let metrics = [
    "spend", "orders", "refunds", "sessions", "clicks", "basket_value", "discount", "returns", "ratings", "complaints",
    "visits", "searches", "cancellations", "delivery_minutes", "margin", "views",
]
let windows = ["1h", "6h", "24h", "7d", "30d"]
let statistics = ["mean", "max", "share", "rate", "trend"]

func makeDomains() -> [Domain] {
    domainNames.map { name, description, team in
        let key = Column<Int64>("\(name)_id")
        let doubles = metrics.map { Column<Double>("\($0)") }
        let integers = (0..<4).map { Column<Int64>("count_\($0)") }
        let strings = [Column<String>("segment"), Column<String>("region")]
        let flags = [Column<Bool>("is_active"), Column<Bool>("is_flagged")]
        let entity = Entity(name, joinKeys: [key], description: description, owner: "\(team)@example.com", tags: ["team": team])
        let source = Source(
            "\(name)_events", eventTimestamp: "event_timestamp", createdTimestamp: "created",
            columns: [key] + doubles + integers + strings + flags,
            description: "Hourly \(name) events exported from the \(team) warehouse", owner: "\(team)@example.com",
            tags: ["team": team, "tier": "raw"])
        return Domain(
            entity: entity, key: key, source: source, doubles: doubles, integers: integers, strings: strings, flags: flags, team: team)
    }
}

/// Feature `k` of view `v`: a column passed through, or one of three computations.
func makeFeature(_ domain: Domain, view v: Int, feature k: Int) -> Feature {
    let a = domain.doubles[(v + k) % domain.doubles.count]
    let b = domain.doubles[(v + 3 * k + 1) % domain.doubles.count]
    let window = windows[(v + k) % windows.count]
    let statistic = statistics[k % statistics.count]
    let name = "\(a.name)_\(statistic)_\(window)_\(k)"
    let description = "The \(statistic) of the \(domain.entity.name)'s \(a.name.replacingOccurrences(of: "_", with: " ")) over \(window)"
    let owner = "\(domain.team)@example.com"
    let tags = ["team": domain.team, "window": window, "tier": v % 3 == 0 ? "gold" : "silver"]
    switch k % 5 {
    case 0:
        return Feature(name, from: a, description: description, owner: owner, tags: tags)
    case 1:
        return Feature(name, from: a, b, description: description, owner: owner, tags: tags) { a, b in a / max(b, 1) }
    case 2:
        let count = domain.integers[(v + k) % domain.integers.count]
        return Feature(name, from: count, description: description, owner: owner, tags: tags) { n in n * 2 + 1 }
    case 3:
        let flag = domain.flags[(v + k) % domain.flags.count]
        return Feature(name, from: flag, a, description: description, owner: owner, tags: tags) { on, x in on ? x : 0 }
    default:
        let segment = domain.strings[(v + k) % domain.strings.count]
        return Feature(name, from: segment, description: description, owner: owner, tags: tags) { s in s.uppercased() }
    }
}

struct Generated {
    let repository: FeatureRepository
    let domains: [Domain]
    let views: [FeatureView]
    let onDemand: [OnDemandFeatureView]
    let services: [FeatureService]
}

func makeRepository() -> Generated {
    let domains = makeDomains()
    var views: [FeatureView] = []
    for v in 0..<50 {
        let domain = domains[v % domains.count]
        let team = domain.team
        let name = "\(domain.entity.name)_\(metrics[v % metrics.count])_\(v < 10 ? "0" : "")\(v)"
        let withAggregations = v % 10 == 9
        let view = FeatureView(
            name, entity: domain.entity, source: domain.source, ttl: .hours(Int64(2 + v % 5) * 12),
            description: "\(metrics[v % metrics.count].capitalized) features of a \(domain.entity.name), refreshed hourly (set \(v))",
            owner: "\(team)@example.com", tags: ["team": team, "tier": v % 3 == 0 ? "gold" : "silver", "set": "\(v % 7)"]
        ) {
            for k in 0..<(withAggregations ? 8 : 10) { makeFeature(domain, view: v, feature: k) }
        } aggregations: {
            if withAggregations {
                Aggregate(
                    .sum, of: domain.doubles[v % domain.doubles.count], windows: .hours(1), .hours(24),
                    description: "Sum of \(domain.doubles[v % domain.doubles.count].name) per window", owner: "\(team)@example.com")
            }
        }
        views.append(view)
    }
    var onDemand: [OnDemandFeatureView] = []
    for d in 0..<4 {
        let view = views[d * 5]
        let first = view.features[0]
        let input = view.feature(first.name, as: Double.self)
        let factor = RequestField<Double>("factor")
        onDemand.append(
            OnDemandFeatureView(
                "\(view.name)_adjusted", description: "\(first.name) of \(view.name) scaled by the caller's factor",
                owner: view.owner, tags: ["team": view.tags["team"] ?? ""]
            ) {
                OnDemandFeature("\(first.name)_scaled", from: input, factor, description: "\(first.name) times factor") { x, f in x * f }
                OnDemandFeature("\(first.name)_capped", from: input, description: "\(first.name), at most 100") { x in min(x, 100) }
            })
    }
    var services: [FeatureService] = []
    for s in 0..<6 {
        let chosen = (0..<8).map { views[(s * 7 + $0 * 3) % views.count] }
        let extra = onDemand[s % onDemand.count]
        services.append(
            FeatureService(
                "model_\(["churn", "fraud", "ranking", "eta", "pricing", "recommendations"][s])",
                description: "Features of the \(["churn", "fraud", "ranking", "eta", "pricing", "recommendations"][s]) model",
                owner: chosen[0].owner, tags: ["stage": s % 2 == 0 ? "production" : "staging"]
            ) {
                chosen[0].allFeatures
                chosen[1].allFeatures
                chosen[2].allFeatures
                chosen[3].allFeatures
                FeatureSelection(view: chosen[4].name, features: Array(chosen[4].featureNames.prefix(3)))
                FeatureSelection(view: chosen[5].name, features: Array(chosen[5].featureNames.prefix(3)))
                FeatureSelection(view: chosen[6].name, features: Array(chosen[6].featureNames.prefix(3)))
                FeatureSelection(view: chosen[7].name, features: Array(chosen[7].featureNames.prefix(3)))
                extra.allFeatures
            })
    }
    // The bench's own source text, embedded by the build as `features/` is, so that feature
    // pages show the transformations' code.
    TransformationCode.register(featureSourceTexts)
    let repository = FeatureRepository(
        entities: domains.map(\.entity), sources: domains.map(\.source), featureViews: views, onDemandViews: onDemand,
        services: services)
    return Generated(repository: repository, domains: domains, views: views, onDemand: onDemand, services: services)
}

// MARK: - Data

/// A CSV file of `hours` hourly rows per entity, ending at the last whole hour, values from a
/// fixed-seed generator.
func writeRows(_ domain: Domain, entities: Int, hours: Int, end: Int64, to path: String) throws {
    var generator = SplitMix64(seed: UInt64(domain.entity.name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }))
    let columns = domain.source.columns.map(\.name)
    var text = "event_timestamp,created," + columns.joined(separator: ",") + "\n"
    let segments = ["new", "regular", "vip", "dormant"]
    let regions = ["north", "south", "east", "west", "centre"]
    for h in 0..<hours {
        let event = Timestamp(microseconds: (end - Int64(hours - h) * 3600) * 1_000_000).description
        let created = Timestamp(microseconds: (end - Int64(hours - h) * 3600 + 60) * 1_000_000).description
        for e in 0..<entities {
            var row = [event, created, String(1000 + e)]
            for _ in domain.doubles { row.append(String(format: "%.4f", generator.nextDouble() * 200)) }
            for _ in domain.integers { row.append(String(generator.next() % 500)) }
            row.append(segments[Int(generator.next() % 4)])
            row.append(regions[Int(generator.next() % 5)])
            row.append(generator.next() % 5 == 0 ? "false" : "true")
            row.append(generator.next() % 20 == 0 ? "true" : "false")
            text += row.joined(separator: ",") + "\n"
        }
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

// MARK: - Run

@main
struct CatalogBench {
    static func main() async throws {
        let options = Options(CommandLine.arguments)
        let generated = makeRepository()
        let repository = generated.repository
        do {
            try repository.validate()
        } catch {
            fail("the generated repository is invalid: \(error)")
        }
        let featureCount = generated.views.reduce(0) { $0 + $1.featureNames.count }
        let onDemandCount = generated.onDemand.reduce(0) { $0 + $1.features.count }
        note(
            "repository: \(generated.domains.count) entities and sources, \(generated.views.count) views, \(featureCount) view features, "
                + "\(generated.onDemand.count) on-demand views (\(onDemandCount) features), \(generated.services.count) services")

        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        let storePath = options.directory + "/offline.sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: storePath + suffix) }
        let offline = try OfflineStore(path: storePath)
        defer { offline.close() }
        let online = OnlineStore(redis: try OnlineRedisURL(options.redisURL).client(poolSize: 4))
        var started = Date()
        try await offline.registry.apply(try await offline.registry.plan(for: repository))
        note("applied in \(seconds(since: started)) s")

        let end = Timestamp.now().microseconds / 3_600_000_000 * 3600
        started = Date()
        var ingested = 0
        for domain in generated.domains {
            let file = options.directory + "/\(domain.source.name).csv"
            try writeRows(domain, entities: options.entities, hours: options.hours, end: end, to: file)
            ingested += try await offline.ingest(source: domain.source.name, file: file).rows
        }
        note("ingested \(ingested) rows into \(generated.domains.count) sources in \(seconds(since: started)) s")

        started = Date()
        var materialized = 0
        for view in generated.views {
            let summary = try await offline.materialize(view, mode: .range(start: nil, end: nil))
            materialized += summary.rows
            _ = try await MaterializedPush.push(view, summary: summary, store: offline, online: online, project: "catalog-bench")
        }
        note("materialized and pushed \(generated.views.count) views (\(materialized) rows) in \(seconds(since: started)) s")

        var logger = Logger(label: "larder-catalog-bench")
        logger.logLevel = .warning
        let configuration = ServerConfiguration(host: options.host, port: options.port, project: "catalog-bench")
        let server = try await FeatureServer(
            repository: repository, offline: offline, online: online, configuration: configuration, logger: logger)

        // One path per page kind, for bench.py; the search term is in about a tenth of the
        // features' names.
        let view = generated.views[17]
        let search = metrics[5]
        let pages: [(String, String)] = [
            ("home", "/ui"),
            ("search", "/ui/search?q=\(search)"),
            ("feature", "/ui/features/\(view.name)/\(view.features[3].name)"),
            ("view", "/ui/views/\(view.name)"),
            ("service", "/ui/services/\(generated.services[2].name)"),
            ("source", "/ui/sources/\(generated.domains[2].source.name)"),
            ("entity", "/ui/entities/\(generated.domains[2].entity.name)"),
            ("health", "/health"),
        ]
        let matching = generated.views.flatMap { v in v.featureNames.filter { $0.contains(search) } }.count
        let line =
            "{\"port\": PORT, \"features\": \(featureCount), \"on_demand_features\": \(onDemandCount), \"search_matches\": \(matching), "
            + "\"rows\": \(ingested), \"pages\": {" + pages.map { "\"\($0.0)\": \"\($0.1)\"" }.joined(separator: ", ") + "}}"
        try await server.makeApplication { port in
            FileHandle.standardOutput.write(Data((line.replacingOccurrences(of: "PORT", with: String(port)) + "\n").utf8))
        }.runService()
    }
}

func seconds(since start: Date) -> String { String(format: "%.2f", Date().timeIntervalSince(start)) }
