import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Testing

@testable import LarderOffline

/// Point-in-time correctness against a brute-force oracle written plainly here, on random
/// data built to hit the edge cases: ties on event time, created-time and ingest-order tie
/// breaks, duplicates, ttl boundaries, requests before all data, unknown keys, composite keys,
/// views with different ttls, and on-demand features.
@Suite struct TrainingSetOracleTests {
    // A repository of its own, with two entities (one with a composite key).
    static let driverID = Column<Int64>("driver_id")
    static let city = Column<String>("city")
    static let driver = Entity("driver", joinKeys: [driverID])
    static let driverCity = Entity("driver_city", joinKeys: [driverID, city])

    static let score = Column<Double>("score")
    static let count = Column<Int64?>("count")
    static let scores = Source("scores", createdTimestamp: "created", columns: [driverID, score, count])
    static let scoreView = FeatureView("score_view", entity: driver, source: scores, ttl: .seconds(7200)) {
        Feature(score)
        Feature(count)
        Feature("score_x10", from: score) { $0 * 10 }
    }

    static let level = Column<Int64>("level")
    static let levels = Source("levels", columns: [driverID, level])
    static let levelView = FeatureView("level_view", entity: driver, source: levels, ttl: .zero) { Feature(level) }

    static let rating = Column<Double>("rating")
    static let ratings = Source("ratings", columns: [driverID, city, rating])
    static let ratingView = FeatureView("rating_view", entity: driverCity, source: ratings, ttl: .seconds(1800)) { Feature(rating) }

    static let bonus = RequestField<Int64>("bonus")
    static let boosted = OnDemandFeatureView("boosted") {
        OnDemandFeature("score_plus_bonus", from: scoreView.feature("score", as: Double.self), bonus) { s, b in s + Double(b) }
    }

    static let repository = FeatureRepository {
        driver; driverCity; scores; levels; ratings; scoreView; levelView; ratingView; boosted
    }

    struct Event {
        var key: Int64
        var city: String
        var ts: Int64
        var created: Int64?
        var order: Int  // ingest order
        var value: Double
        var count: Int64?
    }

    /// The point-in-time rule (docs/SEMANTICS.md), written plainly: greatest event time <= T, ties by greatest
    /// created time (null lowest), then latest ingested; null if none or older than ttl.
    static func oracle(_ events: [Event], key: Int64, city: String? = nil, at t: Int64, ttl: Int64) -> Event? {
        var best: Event?
        for e in events where e.key == key && (city == nil || e.city == city) && e.ts <= t {
            guard let b = best else { best = e; continue }
            let ec = e.created ?? Int64.min, bc = b.created ?? Int64.min
            if (e.ts, ec, e.order) > (b.ts, bc, b.order) { best = e }
        }
        guard let found = best else { return nil }
        if ttl > 0 && t - found.ts > ttl { return nil }
        return found
    }

    static func iso(_ micros: Int64) -> String { Timestamp(microseconds: micros).description }

    /// Random data and requests (seeded), ingested into `store` in three batches per source
    /// and materialized; the request file written into `dir`.
    struct Scenario {
        var scoreEvents: [Event] = [], levelEvents: [Event] = [], ratingEvents: [Event] = []
        var requests: [(key: Int64, city: String, t: Int64, bonus: Int64)] = []
        var requestPath = ""
    }

    static func scenario(seed: UInt64, store: some OfflineBackend, dir: TemporaryDirectory) async throws -> Scenario {
        var rng = SeededGenerator(seed: seed)
        try await store.registry.apply(try await store.registry.plan(for: Self.repository))

        let base: Int64 = 1_767_225_600_000_000  // 2026-01-01
        let hour: Int64 = 3_600_000_000
        let keys: [Int64] = [1, 2, 3, 4, 5]
        let cities = ["ams", "ber"]
        // Coarse timestamps (whole half-hours) make event-time ties common.
        func randomTime() -> Int64 { base + Int64.random(in: 0..<48, using: &rng) * hour / 2 }

        var scoreEvents: [Event] = [], levelEvents: [Event] = [], ratingEvents: [Event] = []
        func ingest(_ source: String, _ file: String) async throws {
            _ = try await store.ingest(source: source, file: file, format: nil, allowEmpty: false, progress: nil)
        }
        var order = 0
        // Three ingests per source, so ingest order also breaks ties.
        for batch in 0..<3 {
            var scoreCSV = "driver_id,event_timestamp,created,score,count\n"
            for _ in 0..<60 {
                order += 1
                let created: Int64? = Bool.random(using: &rng) ? nil : base + Int64.random(in: 0..<4, using: &rng) * hour
                let count: Int64? = Int.random(in: 0..<4, using: &rng) == 0 ? nil : Int64.random(in: 0..<100, using: &rng)
                let e = Event(
                    key: keys.randomElement(using: &rng)!, city: "", ts: randomTime(), created: created, order: order,
                    value: Double(Int.random(in: 0..<1000, using: &rng)) / 8, count: count)
                scoreEvents.append(e)
                scoreCSV += "\(e.key),\(Self.iso(e.ts)),\(created.map(Self.iso) ?? ""),\(e.value),\(count.map(String.init) ?? "")\n"
            }
            try await ingest("scores", dir.write("scores\(batch).csv", scoreCSV))

            var levelCSV = "driver_id,event_timestamp,level\n"
            for _ in 0..<20 {
                order += 1
                let e = Event(
                    key: keys.randomElement(using: &rng)!, city: "", ts: randomTime(), created: nil, order: order,
                    value: Double(Int.random(in: 0..<10, using: &rng)), count: nil)
                levelEvents.append(e)
                levelCSV += "\(e.key),\(Self.iso(e.ts)),\(Int64(e.value))\n"
            }
            try await ingest("levels", dir.write("levels\(batch).csv", levelCSV))

            var ratingCSV = "driver_id,event_timestamp,city,rating\n"
            for _ in 0..<40 {
                order += 1
                let e = Event(
                    key: keys.randomElement(using: &rng)!, city: cities.randomElement(using: &rng)!, ts: randomTime(),
                    created: nil, order: order, value: Double(Int.random(in: 0..<50, using: &rng)) / 10, count: nil)
                ratingEvents.append(e)
                ratingCSV += "\(e.key),\(Self.iso(e.ts)),\(e.city),\(e.value)\n"
            }
            try await ingest("ratings", dir.write("ratings\(batch).csv", ratingCSV))
        }
        let end = Timestamp(microseconds: base + 400 * hour)
        for view in [Self.scoreView, Self.levelView, Self.ratingView] {
            _ = try await store.materialize(view, mode: .range(start: nil, end: end), now: .now(), progress: nil)
        }

        // Requests: random instants, exact ttl boundaries, before all data, unknown keys, duplicates.
        var requests: [(key: Int64, city: String, t: Int64, bonus: Int64)] = []
        for _ in 0..<300 {
            let key = Int.random(in: 0..<10, using: &rng) == 0 ? 99 : keys.randomElement(using: &rng)!
            requests.append(
                (
                    key, cities.randomElement(using: &rng)!, randomTime() + Int64.random(in: -hour...hour, using: &rng),
                    Int64.random(in: -5...5, using: &rng)
                ))
        }
        for e in scoreEvents.prefix(40) {
            requests.append((e.key, "ams", e.ts + 7_200_000_000, 1))  // exactly ttl: still valid
            requests.append((e.key, "ams", e.ts + 7_200_000_001, 1))  // ttl + 1 µs: expired
            requests.append((e.key, "ams", e.ts, 0))  // exactly at an event
        }
        for e in ratingEvents.prefix(20) {
            requests.append((e.key, e.city, e.ts + 1_800_000_000, 2))
            requests.append((e.key, e.city, e.ts + 1_800_000_001, 2))
        }
        requests.append((1, "ams", base - hour, 3))  // before all data
        requests += requests.prefix(25)  // duplicates
        requests.shuffle(using: &rng)

        var requestCSV = "driver_id,city,event_timestamp,bonus,label\n"
        for (i, r) in requests.enumerated() { requestCSV += "\(r.key),\(r.city),\(Self.iso(r.t)),\(r.bonus),L\(i)\n" }
        let requestPath = try dir.write("requests.csv", requestCSV)

        return Scenario(
            scoreEvents: scoreEvents, levelEvents: levelEvents, ratingEvents: ratingEvents, requests: requests, requestPath: requestPath)
    }

    static let features = [
        "score_view", "level_view:level", "rating_view:rating", "boosted:score_plus_bonus",
    ]

    @Test(arguments: Backend.allCases, [1, 2, 3] as [UInt64])
    func matchesTheOracleOnRandomData(backend: Backend, seed: UInt64) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        let scenario = try await Self.scenario(seed: seed, store: store, dir: dir)
        let (scoreEvents, levelEvents, ratingEvents) = (scenario.scoreEvents, scenario.levelEvents, scenario.ratingEvents)
        let (requests, requestPath) = (scenario.requests, scenario.requestPath)
        let features = try Self.repository.resolve(references: Self.features)
        let out = dir.file("train.csv")
        let request = TrainingSetRequest(
            features: features, rows: .file(path: requestPath, format: nil, timestampColumn: "event_timestamp"), output: out)
        let summary = try await store.buildTrainingSet(request, repository: Self.repository, progress: nil)
        #expect(summary.rows == requests.count)
        // The same rows when the requests come in many chunks (and, in SQLite, when every
        // lookup seeks: no steps between a key's instants).
        let chunkedOut = dir.file("train-chunked.csv")
        var chunked = request
        chunked.output = chunkedOut
        try await backend.buildInSmallChunks(chunked, store: store, repository: Self.repository)
        #expect(try readCSV(chunkedOut) == readCSV(out))

        let rows = try readCSV(out)
        #expect(
            rows.first == [
                "driver_id", "city", "event_timestamp", "bonus", "label", "score", "count", "score_x10", "level", "rating",
                "score_plus_bonus",
            ])
        #expect(rows.count == requests.count + 1)
        for (i, r) in requests.enumerated() {
            let s = Self.oracle(scoreEvents, key: r.key, at: r.t, ttl: 7_200_000_000)
            let l = Self.oracle(levelEvents, key: r.key, at: r.t, ttl: 0)
            let g = Self.oracle(ratingEvents, key: r.key, city: r.city, at: r.t, ttl: 1_800_000_000)
            var expected: [String] = ["\(r.key)", r.city, Self.iso(r.t), "\(r.bonus)", "L\(i)"]
            expected.append(s.map { "\($0.value)" } ?? "")
            expected.append(s?.count.map { "\($0)" } ?? "")
            expected.append(s.map { "\($0.value * 10)" } ?? "")
            expected.append(l.map { "\(Int64($0.value))" } ?? "")
            expected.append(g.map { "\($0.value)" } ?? "")
            expected.append(s.map { "\($0.value + Double(r.bonus))" } ?? "")
            #expect(rows[i + 1] == expected, "request row \(i + 1): \(r)")
        }
    }

    /// Both stores write the same bytes for the same data and requests, as CSV and JSON Lines,
    /// from a request file and as a snapshot (`--at`) of every entity.
    @Test(arguments: [1, 2] as [UInt64])
    func bothStoresWriteTheSameBytes(seed: UInt64) async throws {
        var outputs: [[String: Data]] = []
        for backend in Backend.allCases {
            let dir = try TemporaryDirectory()
            let store = try await backend.open(dir)
            defer { store.close() }
            let scenario = try await Self.scenario(seed: seed, store: store, dir: dir)
            var files: [String: Data] = [:]
            for format in ["csv", "jsonl"] {
                let rows: [(String, TrainingSetRequest.Rows, [String])] = [
                    ("file", .file(path: scenario.requestPath, format: nil, timestampColumn: "event_timestamp"), Self.features),
                    (
                        "snapshot", .snapshot(at: Timestamp(microseconds: 1_767_225_600_000_000 + 20 * 3_600_000_000)),
                        ["score_view", "level_view"]
                    ),
                ]
                for (name, rows, references) in rows {
                    let out = dir.file("\(name).\(format)")
                    _ = try await store.buildTrainingSet(
                        TrainingSetRequest(features: try Self.repository.resolve(references: references), rows: rows, output: out),
                        repository: Self.repository, progress: nil)
                    files["\(name).\(format)"] = try Data(contentsOf: URL(fileURLWithPath: out))
                }
            }
            outputs.append(files)
        }
        #expect(outputs[0].count == 4)
        for (name, sqlite) in outputs[0] {
            #expect(sqlite.count > 100)
            #expect(outputs[1][name] == sqlite, "\(name) differs between SQLite and PostgreSQL")
        }
    }

    @Test(arguments: Backend.allCases)
    func snapshotAtGivesEveryKnownEntity(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Self.repository))
        _ = try await store.ingest(
            source: "levels",
            file: dir.write(
                "l.csv",
                """
                driver_id,event_timestamp,level
                2,2026-01-01T00:00:00Z,5
                1,2026-01-01T01:00:00Z,7
                1,2026-01-01T03:00:00Z,8
                3,2026-01-02T00:00:00Z,9

                """), format: nil, allowEmpty: false, progress: nil)
        _ = try await store.materialize(
            Self.levelView, mode: .range(start: nil, end: try Timestamp(rfc3339: "2026-02-01T00:00:00Z")), now: .now(), progress: nil)
        let out = dir.file("snap.csv")
        _ = try await store.buildTrainingSet(
            TrainingSetRequest(
                features: try Self.repository.resolve(references: ["level_view:level"]),
                rows: .snapshot(at: try Timestamp(rfc3339: "2026-01-01T02:00:00Z")), output: out),
            repository: Self.repository, progress: nil)
        // Driver 3 is not known yet at the instant; driver 1 has its value as of 01:00.
        #expect(
            try readCSV(out) == [
                ["driver_id", "event_timestamp", "level"],
                ["1", "2026-01-01T02:00:00Z", "7"],
                ["2", "2026-01-01T02:00:00Z", "5"],
            ])
    }
}

/// Reads a whole CSV file with Larder's own reader (its parsing is tested on its own).
func readCSV(_ path: String) throws -> [[String]] {
    var reader = CSVReader(file: try InputFile(path: path))
    var rows: [[String]] = []
    while try reader.next() { rows.append((0..<reader.fieldCount).map(reader.fieldString)) }
    return rows
}
