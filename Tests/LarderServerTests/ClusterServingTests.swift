import Features
import Foundation
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import LarderTestSupport
import Testing

/// The service on a six-node Redis Cluster through what a cluster does in production: a
/// primary dies under load, a slot moves while lookups and pushes run, one primary loses its
/// data. Always a cluster, whatever the run's topology.
@Suite(.timeLimit(.minutes(3))) struct ClusterServingTests {
    static let drivers: [Int64] = Array(1001...1030)

    /// Pushes one row per driver, `conv_rate` = `rate(driver)`, `minutes` before now.
    func push(_ server: ServerHarness, minutes: Int64, rate: (Int64) -> Double) async throws -> ServerHarness.Reply {
        let rows = Self.drivers.map { id in
            #"{"driver_id": \#(id), "event_timestamp": "\#(server.at(minutes: minutes))", "conv_rate": \#(rate(id)), "acc_rate": 0.5, "avg_daily_trips": 7}"#
        }
        return try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(rows.joined(separator: ","))]}"#)
    }

    /// One lookup of every driver's `conv_rate`: the status, and each driver's value and status.
    func lookUp(_ server: ServerHarness) async throws -> (status: Int, values: [Int64: (Double?, String?)]) {
        let entities = Self.drivers.map { #"{"driver_id": \#($0)}"# }.joined(separator: ",")
        let reply = try await server.post(
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [\#(entities)]}"#)
        guard reply.status == 200 else { return (reply.status, [:]) }
        let rows = (reply.json as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        var values: [Int64: (Double?, String?)] = [:]
        for (driver, row) in zip(Self.drivers, rows) {
            let feature = (row["features"] as? [String: Any])?["conv_rate"] as? [String: Any]
            values[driver] = (feature?["value"] as? Double, feature?["status"] as? String)
        }
        return (200, values)
    }

    @Test func aPrimaryKilledUnderLoadGives503ThenTheSameValues() async throws {
        let server = try await ServerHarness(redis: .cluster)
        defer { Task { await server.stop() } }
        let cluster = try #require(server.redis.cluster)
        #expect(try await push(server, minutes: -10) { Double($0 - 1000) / 100 }.status == 200)
        let expected = try await lookUp(server)
        #expect(expected.status == 200 && expected.values.count == Self.drivers.count)
        #expect(expected.values.values.allSatisfy { $0.1 == "present" })

        // The primary that holds driver 1001, once its replica has every write.
        let layout = OnlineViewLayout(
            project: "test", spec: try #require(Features.repository.featureView(named: "driver_hourly_stats")).spec,
            version: 1)
        let victim = try cluster.primary(forSlot: HashSlot.slot(of: layout.key(for: [.int64(1001)])))
        try await onDedicatedThread { try cluster.waitForReplication(of: victim) }

        // A bounded load: four clients, each one lookup at a time.
        struct Answer { var at: ContinuousClock.Instant; var status: Int; var wrong: [String] }
        let answers = Locked<[Answer]>([])
        let stop = Locked(false)
        let clock = ContinuousClock()
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.value {
                            let answer = try await lookUp(server)
                            var wrong: [String] = []
                            if answer.status == 200 {
                                for driver in Self.drivers where answer.values[driver]! != expected.values[driver]! {
                                    wrong.append("\(driver): \(answer.values[driver]!) instead of \(expected.values[driver]!)")
                                }
                            }
                            answers.withLock { $0.append(Answer(at: clock.now, status: answer.status, wrong: wrong)) }
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let killed = clock.now
        victim.kill()
        try await onDedicatedThread { try cluster.waitForFailover(of: victim, timeout: 30) }
        // Then lookups answer again: wait for a second of 200s in a row, and more than ten of
        // them (on a loaded machine a second may hold fewer).
        var recovered: ContinuousClock.Instant?
        while clock.now - killed < .seconds(30) {
            try await Task.sleep(for: .milliseconds(100))
            let recent = answers.withLock { $0.filter { $0.at > killed } }
            if let lastFailure = recent.last(where: { $0.status != 200 })?.at ?? Optional(killed),
                let firstSuccess = recent.first(where: { $0.at > lastFailure && $0.status == 200 }),
                clock.now - firstSuccess.at > .seconds(1), recent.filter({ $0.at >= firstSuccess.at }).count > 10
            {
                recovered = firstSuccess.at
                break
            }
        }
        stop.value = true
        try await load.value

        let all = answers.withLock { $0 }
        let failures = all.filter { $0.status != 200 }
        #expect(recovered != nil, "lookups did not recover within 30 s of the kill")
        #expect(failures.allSatisfy { $0.status == 503 }, "statuses: \(Set(failures.map(\.status)))")
        #expect(all.allSatisfy { $0.wrong.isEmpty }, "wrong answers: \(all.flatMap(\.wrong).prefix(5))")
        #expect(all.filter { $0.at > killed && $0.status == 200 }.count > 10)
        if let recovered {
            print(
                "ClusterServingTests: lookups answered 503 for \(failures.count) of \(all.count) requests; the same values again \(recovered - killed) after the primary was killed"
            )
        }
        // The promoted replica has never run the write script (scripts are not replicated):
        // a push loads it there (NOSCRIPT) and lands.
        let pushed = try await push(server, minutes: -5) { Double($0 - 1000) / 10 }
        #expect(pushed.status == 200, "\(pushed.text)")
        let after = try await lookUp(server)
        #expect(after.status == 200 && Self.drivers.allSatisfy { after.values[$0]?.0 == Double($0 - 1000) / 10 })
        let health = try await server.get("/health")
        #expect((health.json as? [String: Any])?["redis_cluster"] != nil, "\(health.text)")
    }

    @Test func aSlotMovedDuringLookupsAndPushesLosesNothing() async throws {
        let server = try await ServerHarness(redis: .cluster)
        defer { Task { await server.stop() } }
        let cluster = try #require(server.redis.cluster)
        #expect(try await push(server, minutes: -60) { _ in 0.0 }.status == 200)
        let layout = OnlineViewLayout(
            project: "test", spec: try #require(Features.repository.featureView(named: "driver_hourly_stats")).spec,
            version: 1)
        let slot = HashSlot.slot(of: layout.key(for: [.int64(1001)]))
        let source = try cluster.primary(forSlot: slot)
        let target = try #require(try cluster.primaries().first { $0 !== source })

        // Lookups run throughout; each push raises every driver's rate; a lookup must never
        // go back to an older rate than one already acknowledged, nor miss a driver.
        let acknowledged = Locked(0)
        let stop = Locked(false)
        let problems = Locked<[String]>([])
        let lookups = Task { () async throws -> Int in
            var count = 0
            while !stop.value {
                let floor = acknowledged.value
                let answer = try await lookUp(server)
                count += 1
                guard answer.status == 200 else {
                    problems.withLock { $0.append("a lookup answered \(answer.status)") }
                    continue
                }
                for (driver, served) in answer.values where served.1 != "present" || (served.0 ?? -1) < Double(floor) {
                    let problem = "driver \(driver): \(served.0.map { String($0) } ?? "null") \(served.1 ?? "") after push \(floor)"
                    problems.withLock { $0.append(problem) }
                }
            }
            return count
        }

        try await onDedicatedThread { try cluster.beginMigration(ofSlot: slot, to: target) }
        for round in 1...6 {
            let reply = try await push(server, minutes: -60 + Int64(round)) { _ in Double(round) }
            #expect(reply.status == 200, "push \(round): \(reply.text)")
            acknowledged.value = round
            // Keys move one a round: lookups and pushes meet a slot split between two nodes.
            try await onDedicatedThread { _ = try cluster.migrateKeys(inSlot: slot, from: source, to: target, count: 1) }
        }
        try await onDedicatedThread {
            _ = try cluster.migrateKeys(inSlot: slot, from: source, to: target)
            try cluster.finishMigration(ofSlot: slot, to: target)
        }
        #expect(try await push(server, minutes: -50) { _ in 7.0 }.status == 200)
        acknowledged.value = 7
        try await Task.sleep(for: .milliseconds(200))
        stop.value = true
        let count = try await lookups.value

        #expect(count > 10)
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 }.prefix(5))")
        let final = try await lookUp(server)
        #expect(final.status == 200 && final.values.values.allSatisfy { $0.0 == 7.0 && $0.1 == "present" })
        #expect(try cluster.primary(forSlot: slot) === target)
        #expect(
            try cluster.redisCLI(on: target, ["EXISTS", String(decoding: layout.key(for: [.int64(1001)]), as: UTF8.self)]).hasPrefix("1"))
    }

    @Test func healthReportsTheClusterAndEachPrimary() async throws {
        let server = try await ServerHarness(redis: .cluster)
        defer { Task { await server.stop() } }
        let health = try await server.get("/health")
        #expect(health.status == 200, "\(health.text)")
        let body = try #require(health.json as? [String: Any])
        #expect(body["redis"] as? String == "ok")
        let cluster = try #require(body["redis_cluster"] as? [String: Any])
        #expect(cluster["state"] as? String == "ok")
        #expect(cluster["slots_covered"] as? Int == 16384)
        #expect((cluster["primaries"] as? [String: String])?.count == 3)

        server.redis.stop()
        let down = try await server.get("/health")
        #expect(down.status == 503)
        #expect((down.json as? [String: Any])?["redis"] as? String != "ok")
    }

    @Test func aPrimaryThatLostItsDataIsRefilledByAnIncrementalPush() async throws {
        let server = try await ServerHarness(redis: .cluster)
        defer { Task { await server.stop() } }
        let cluster = try #require(server.redis.cluster)
        let view = try #require(Features.repository.featureView(named: "driver_hourly_stats"))
        let directory = try TemporaryDirectory()
        let rows = Self.drivers.map { "\($0),\(server.at(minutes: -10)),,0.5,0.5,7" }
        let file = try directory.write(
            "stats.csv", "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips\n" + rows.joined(separator: "\n") + "\n")
        _ = try await server.offline.ingest(source: "driver_stats", file: file)
        let end = Timestamp(microseconds: server.now.microseconds + 1)
        let first = try await server.offline.materialize(view, mode: .range(start: nil, end: end))
        _ = try await MaterializedPush.push(view, summary: first, store: server.offline, online: server.online, project: "test")
        let pushed = try #require(try await server.offline.onlinePushState(view: view.name, version: 1))
        #expect(pushed.markerSlots?.count == 3)

        // One primary (and so its replica) loses everything.
        let victim = try cluster.primary(forSlot: pushed.markerSlots![1])
        _ = try cluster.redisCLI(on: victim, ["FLUSHALL"])
        #expect(try await lookUp(server).values.values.contains { $0.1 == "missing" })

        let second = try await server.offline.materialize(view, mode: .incremental(end: end))
        var notices: [String] = []
        let summary = try await MaterializedPush.push(
            view, summary: second, store: server.offline, online: server.online, project: "test"
        ) { notices.append($0) }
        #expect(notices.count == 1 && notices[0].contains("on the primary of slot \(pushed.markerSlots![1])"), "\(notices)")
        #expect(summary.entities == Self.drivers.count)
        #expect(try await lookUp(server).values.values.allSatisfy { $0.1 == "present" })

        // With every primary intact, the next incremental push is incremental again.
        let third = try await server.offline.materialize(view, mode: .incremental(end: end))
        notices = []
        let quiet = try await MaterializedPush.push(
            view, summary: third, store: server.offline, online: server.online, project: "test"
        ) { notices.append($0) }
        #expect(notices.isEmpty && quiet.entities == 0, "\(notices)")
    }
}

/// A value shared between a test and the load it runs, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `stored` is only touched under `lock`.
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&stored)
    }

    var value: Value {
        get { withLock { $0 } }
        set { withLock { $0 = newValue } }
    }
}
