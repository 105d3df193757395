import Foundation
import LarderCore
import LarderOffline
import LarderServer
import LarderTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The serving log: what the service logs (exactly, sampled by entity), that it loses nothing
/// it accepted, that it never makes a lookup wait, and the training set built from it.
@Suite struct ServingLogTests {
    /// A double whose shortest text needs 17 digits: it only survives a round trip exactly.
    static let rate = 0.1 + 0.2

    /// A service logging at `sampleRate` (flushing every 20 ms unless told otherwise), with
    /// driver_stats pushed for 1001 (10 minutes old), 1002 (3 hours old: expired) and none for 5.
    func server(
        sampleRate: Double, queueCapacity: Int = 10_000, flushInterval: Duration = .milliseconds(20),
        servingLog: ((OfflineStore) -> ServingLogWriter)? = nil
    ) async throws -> ServerHarness {
        let server = try await ServerHarness(
            configure: {
                $0.servingLog = ServingLogConfiguration(
                    sampleRate: sampleRate, queueCapacity: queueCapacity, flushInterval: flushInterval)
            }, servingLog: servingLog)
        let rows = [(1001, -10, Self.rate), (1002, -180, 0.5)].map { id, minutes, rate in
            #"{"driver_id": \#(id), "event_timestamp": "\#(server.at(minutes: Int64(minutes)))", "conv_rate": \#(rate), "acc_rate": 0.5, "avg_daily_trips": 7}"#
        }
        let pushed = try await server.post("/v1/push", #"{"source": "driver_stats", "rows": [\#(rows.joined(separator: ","))]}"#)
        #expect(pushed.status == 200, "\(pushed.text)")
        return server
    }

    /// Waits until the writer has written (or lost) everything it accepted.
    func drained(_ writer: ServingLogWriter?, within seconds: Double = 10) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while let writer, writer.counts.pending > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect((writer?.counts.pending ?? 0) == 0, "the serving log writer did not drain in \(seconds) s")
    }

    func entries(_ server: ServerHarness, since: Timestamp? = nil, until: Timestamp? = nil) async throws -> [ServingLogEntry] {
        var out: [ServingLogEntry] = []
        for try await batch in server.offline.servingLogEntries(since: since, until: until) { out += batch }
        return out
    }

    /// The members of a JSON object parsed with Larder's parser (exact doubles, unlike
    /// JSONSerialization on Linux).
    func members(_ json: JSONValue?) -> [JSONMember] {
        if case .object(let members)? = json { return members }
        return []
    }

    func member(_ json: JSONValue?, _ key: String) -> JSONValue? { members(json).first { $0.key == key }?.value }

    func array(_ json: JSONValue?) -> [JSONValue] {
        if case .array(let items)? = json { return items }
        return []
    }

    func isBitExact(_ value: JSONValue?, _ expected: Double) -> Bool {
        if case .double(let d)? = value { return d.bitPattern == expected.bitPattern }
        return false
    }

    @Test func everyServedRowIsLoggedExactlyAtRateOne() async throws {
        let server = try await server(sampleRate: 1)
        defer { Task { await server.stop() } }
        let reply = try await server.post(
            "/v1/features",
            #"""
            {"service": "driver_ranking", "entities": [{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 5}],
             "request": {"val_to_add": 1, "val_to_add_2": 2}}
            """#)
        #expect(reply.status == 200, "\(reply.text)")
        server.clock.now = server.now + .seconds(1)
        let feast = try await server.post(
            "/get-online-features",
            #"""
            {"features": ["driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1"],
             "entities": {"driver_id": [1001], "val_to_add": [5]}}
            """#)
        #expect(feast.status == 200, "\(feast.text)")
        try await drained(server.servingLog)

        let logged = try await entries(server)
        try #require(logged.count == 4)
        #expect(server.servingLog?.counts == ServingLogWriter.Counts(accepted: 4, dropped: 0, written: 4, failed: 0))
        #expect(try await server.offline.servingLogCount() == 4)
        #expect(logged.map(\.id) == logged.map(\.id).sorted())

        // /v1/features: one entry per entity row, in order, equal to the response.
        let response = try JSONParser.parse(Array(reply.body))
        let names = array(member(response, "features"))
        let rows = array(member(response, "rows"))
        for (r, entry) in logged.prefix(3).enumerated() {
            #expect(entry.servedAt == server.now)
            #expect(entry.endpoint == "/v1/features")
            #expect(entry.service == "driver_ranking")
            #expect(entry.entity == members(member(rows[r], "entity")))
            #expect(entry.request == [JSONMember(key: "val_to_add", value: .int(1)), JSONMember(key: "val_to_add_2", value: .int(2))])
            #expect(entry.features.map { String($0.reference.split(separator: ":").last ?? "") } == names.map(\.text))
            for (f, feature) in entry.features.enumerated() {
                let served = member(member(rows[r], "features"), names[f].text)
                #expect(feature.value == member(served, "value"), "\(feature.reference)")
                #expect(feature.status == member(served, "status")?.text)
                let time: JSONValue = feature.eventTime.map { .string($0.description) } ?? .null
                #expect(time == member(served, "event_timestamp"))
            }
        }
        #expect(logged[0].entity == [JSONMember(key: "driver_id", value: .int(1001))])
        #expect(
            logged[0].features.prefix(5).map(\.reference) == [
                "driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips",
                "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2",
            ])
        // Exact to the bit, with statuses and event times.
        #expect(isBitExact(logged[0].features[0].value, Self.rate))
        #expect(logged[0].features[0].status == "present")
        #expect(logged[0].features[0].eventTime == server.now - .minutes(10))
        #expect(isBitExact(logged[0].features[3].value, Self.rate + 1))
        #expect(
            logged[1].features[0]
                == LoggedFeature(
                    reference: "driver_hourly_stats:conv_rate", value: .null, status: "expired",
                    eventTime: logged[1].features[0].eventTime))
        #expect(
            logged[2].features[0]
                == LoggedFeature(reference: "driver_hourly_stats:conv_rate", value: .null, status: "missing", eventTime: nil))

        // /get-online-features: no service, its own request field, a later instant.
        let last = logged[3]
        #expect(last.endpoint == "/get-online-features")
        #expect(last.service == nil)
        #expect(last.servedAt == server.now + .seconds(1))
        #expect(last.entity == [JSONMember(key: "driver_id", value: .int(1001))])
        #expect(last.request == [JSONMember(key: "val_to_add", value: .int(5))])
        #expect(last.features.map(\.reference) == ["driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1"])
        #expect(isBitExact(last.features[0].value, Self.rate))
        #expect(isBitExact(last.features[1].value, Self.rate + 5))

        // A range selects by the served instant.
        #expect(try await entries(server, since: server.now + .seconds(1)).map(\.id) == [last.id])
        #expect(try await entries(server, until: server.now + .seconds(1)).count == 3)

        let metrics = try await server.get("/metrics").text
        #expect(metrics.contains("larder_serving_log_written_total"))
        #expect(metrics.contains("larder_serving_log_queue_depth"))
    }

    @Test func nothingIsLoggedAtRateZero() async throws {
        let server = try await server(sampleRate: 0)
        defer { Task { await server.stop() } }
        #expect(server.servingLog == nil)
        for _ in 0..<3 {
            let reply = try await server.post(
                "/v1/features",
                #"{"service": "driver_ranking", "entities": [{"driver_id": 1001}], "request": {"val_to_add": 1, "val_to_add_2": 2}}"#)
            #expect(reply.status == 200)
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await server.offline.servingLogCount() == 0)
    }

    @Test func samplingKeepsTheSameEntitiesEveryTime() async throws {
        let server = try await server(sampleRate: 0.5)
        defer { Task { await server.stop() } }
        let ids = Array(1...400)
        let body =
            #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [\#(ids.map { #"{"driver_id": \#($0)}"# }.joined(separator: ","))]}"#
        for _ in 0..<2 {
            #expect(try await server.post("/v1/features", body).status == 200)
        }
        try await drained(server.servingLog)
        let logged = try await entries(server).map { entry -> Int64 in
            guard case .int(let id)? = entry.entity.first?.value else { return -1 }
            return id
        }
        let first = Array(logged.prefix(logged.count / 2)), second = Array(logged.suffix(logged.count / 2))
        // The same entities both times, in request order.
        #expect(logged.count % 2 == 0)
        #expect(first == second)
        // Roughly half (a binomial(400, 0.5) is within 140...260 but for 1 in 10^9).
        #expect((140...260).contains(first.count), "\(first.count) of 400 sampled")
        // The decision is the writer's hash rule, and the same in any writer: stable, not seeded.
        let other = ServingLogWriter(configuration: .init(sampleRate: 0.5), sink: { _ in })
        #expect(first == ids.map(Int64.init).filter { other.isSampled(keys: [JSONMember(key: "driver_id", value: .int($0))]) })
        // Pinned, so the same entities stay sampled across releases: EntityKeyHash (seed 0) of {"driver_id":1001}.
        #expect(ServingLogWriter.entityHash(keys: [JSONMember(key: "driver_id", value: .int(1001))]) == Self.pinnedHash)
        // Key order does not matter.
        let ab = [JSONMember(key: "a", value: .int(1)), JSONMember(key: "b", value: .string("x"))]
        #expect(ServingLogWriter.entityHash(keys: ab) == ServingLogWriter.entityHash(keys: ab.reversed()))
    }

    /// Computed independently (Python) from the documented rule.
    static let pinnedHash: UInt64 = 16_121_154_258_281_190_176

    @Test func everyAcceptedEntryIsWrittenAndShutdownFlushes() async throws {
        // A flush interval far past the test: only the shutdown flush can write.
        let server = try await server(sampleRate: 1, queueCapacity: 5_000, flushInterval: .seconds(3600))
        let body =
            #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [\#((1...20).map { #"{"driver_id": \#($0)}"# }.joined(separator: ","))]}"#
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 { group.addTask { try await server.post("/v1/features", body).status } }
            for try await status in group { #expect(status == 200) }
        }
        let writer = try #require(server.servingLog)
        #expect(writer.counts == ServingLogWriter.Counts(accepted: 1_000, dropped: 0, written: 0, failed: 0))
        await server.stop()
        #expect(writer.counts == ServingLogWriter.Counts(accepted: 1_000, dropped: 0, written: 1_000, failed: 0))
        #expect(try await server.offline.servingLogCount() == 1_000)
    }

    @Test func aGracefulShutdownWritesWhatIsQueued() async throws {
        let directory = try TemporaryDirectory()
        let store = try OfflineStore(path: directory.file("offline.sqlite"))
        // A flush interval far past the test: only the shutdown can write.
        let writer = ServingLogWriter(configuration: .init(sampleRate: 1, flushInterval: .seconds(3600)), store: store)
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        enqueueTenEntries(writer)
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await store.servingLogCount() == 0)
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try await store.servingLogCount() == 10)
        #expect(writer.counts == ServingLogWriter.Counts(accepted: 10, written: 10))
    }

    @Test func aFullQueueDropsAndCountsWithoutBlockingLookups() async throws {
        let gate = Gate()
        let capacity = 10
        let server = try await server(sampleRate: 1) { store in
            // A sink stuck until the gate opens: the disk is "slow".
            ServingLogWriter(
                configuration: .init(sampleRate: 1, queueCapacity: capacity, batchSize: 4, flushInterval: .milliseconds(5)),
                sink: { entries in
                    try await Blocking.write { gate.wait() }
                    try await store.appendServingLog(entries)
                })
        }
        defer { Task { await server.stop() } }
        let writer = try #require(server.servingLog)
        let offered = 100
        let body = #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}]}"#
        var slowest = Duration.zero
        let clock = ContinuousClock()
        for _ in 0..<offered {
            let started = clock.now
            let reply = try await server.post("/v1/features", body)
            slowest = max(slowest, clock.now - started)
            #expect(reply.status == 200)
        }
        // Every lookup answered although nothing could be written: a lookup waiting on the
        // stuck writer would wait until the gate opens below (past URLSession's 60 s). The bound
        // leaves room for a loaded 2-core machine (4.6 s seen with two test runs at once).
        #expect(slowest < .seconds(10), "the slowest lookup took \(slowest)")
        let stuck = writer.counts
        #expect(stuck.written == 0)
        #expect(stuck.accepted == capacity)
        #expect(stuck.dropped == offered - capacity)

        gate.open()
        try await drained(writer)
        let counts = writer.counts
        #expect(counts.written == counts.accepted)
        #expect(counts.failed == 0)
        #expect(counts.written + counts.dropped == offered)
        #expect(try await server.offline.servingLogCount() == counts.written)
        #expect(try await server.get("/metrics").text.contains(#"larder_serving_log_dropped_total{reason="queue_full"}"#))
    }

    @Test func aTrainingSetFromTheLogHoldsTheServedValues() async throws {
        let server = try await server(sampleRate: 1)
        defer { Task { await server.stop() } }
        let first = try await server.post(
            "/v1/features",
            #"""
            {"service": "driver_ranking", "entities": [{"driver_id": 1001}, {"driver_id": 5}],
             "request": [{"val_to_add": 1, "val_to_add_2": 2}, {"val_to_add": 3, "val_to_add_2": null}]}
            """#)
        #expect(first.status == 200, "\(first.text)")
        server.clock.now = server.now + .minutes(1)
        let second = try await server.post(
            "/get-online-features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}"#)
        #expect(second.status == 200, "\(second.text)")
        try await drained(server.servingLog)

        // JSON Lines, the features of the first entry (the service's).
        let jsonl = server.directory.file("served.jsonl")
        let summary = try await server.offline.buildTrainingSetFromServingLog(ServingLogTrainingSetRequest(output: jsonl))
        #expect(summary.rows == 3)
        #expect(Array(summary.columns.prefix(5)) == ["driver_id", "event_timestamp", "val_to_add", "val_to_add_2", "conv_rate"])
        #expect(summary.columns.count == 4 + 10)
        let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n").map {
            try JSONParser.parse(Array($0.utf8))
        }
        try #require(lines.count == 3)
        #expect(member(lines[0], "driver_id") == .int(1001))
        #expect(member(lines[0], "event_timestamp") == .string(server.now.description))
        #expect(member(lines[0], "val_to_add") == .int(1))
        #expect(isBitExact(member(lines[0], "conv_rate"), Self.rate))
        #expect(isBitExact(member(lines[0], "conv_rate_plus_val1"), Self.rate + 1))
        #expect(isBitExact(member(lines[0], "conv_rate_plus_val2"), Self.rate + 2))
        #expect(member(lines[1], "driver_id") == .int(5))
        #expect(member(lines[1], "val_to_add") == .int(3))
        #expect(member(lines[1], "val_to_add_2") == .null)
        #expect(member(lines[1], "conv_rate") == .null)
        // The Feast lookup sent no request fields and asked one feature: the rest are null.
        #expect(member(lines[2], "event_timestamp") == .string((server.now + .minutes(1)).description))
        #expect(member(lines[2], "val_to_add") == .null)
        #expect(isBitExact(member(lines[2], "conv_rate"), Self.rate))
        #expect(member(lines[2], "acc_rate") == .null)

        // CSV, chosen features, full names, a range: only the later row.
        let csv = server.directory.file("served.csv")
        let later = try await server.offline.buildTrainingSetFromServingLog(
            ServingLogTrainingSetRequest(
                since: server.now + .seconds(30), features: ["driver_hourly_stats:conv_rate"], output: csv, fullNames: true,
                commandLine: ["larder", "training-set", "--from-log"]))
        #expect(later.rows == 1)
        #expect(
            try String(contentsOfFile: csv, encoding: .utf8)
                == "driver_id,event_timestamp,driver_hourly_stats__conv_rate\n1001,\((server.now + .minutes(1)).description),\(Self.rate.description)\n"
        )
        let manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: csv + ".manifest.json"))) as? [String: Any])
        #expect(manifest["source"] as? String == "serving_log")
        let request = try #require(manifest["request"] as? [String: Any])
        #expect(request["rows"] as? Int == 1)
        #expect(request["since"] as? String == (server.now + .seconds(30)).description)
        #expect(request["until"] is NSNull)
        #expect((manifest["output"] as? [String: Any])?["rows"] as? Int == 1)
        #expect(manifest["command_line"] as? [String] == ["larder", "training-set", "--from-log"])

        // An empty range is an error that says why, and leaves no file.
        let none = server.directory.file("none.csv")
        await #expect {
            try await server.offline.buildTrainingSetFromServingLog(ServingLogTrainingSetRequest(until: server.now, output: none))
        } throws: { error in
            "\(error)".contains("the serving log has no entries served before \(server.now)")
        }
        #expect(!FileManager.default.fileExists(atPath: none))
    }

    /// A batch the periodic write has taken when the shutdown comes is written, not dropped: the
    /// shutdown cancels the periodic loop, and the store's pool skips cancelled work.
    @Test func aBatchBeingWrittenWhenTheShutdownComesIsWritten() async throws {
        let directory = try TemporaryDirectory()
        let store = try OfflineStore(path: directory.file("offline.sqlite"))
        let shuttingDown = Mutex(false)
        let writer = ServingLogWriter(
            configuration: .init(sampleRate: 1, flushInterval: .milliseconds(5)),
            sink: { entries in
                // Held until the shutdown has begun (a blocking wait: an async one would end
                // at the cancellation itself).
                for _ in 0..<5_000 where !shuttingDown.withLock({ $0 }) { usleep(1_000) }
                try await store.appendServingLog(entries)
            })
        let group = ServiceGroup(configuration: .init(services: [writer], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        enqueueTenEntries(writer)
        try await Task.sleep(for: .milliseconds(50))  // the periodic write has taken them
        await group.triggerGracefulShutdown()
        try await Task.sleep(for: .milliseconds(20))
        shuttingDown.withLock { $0 = true }
        try await running.value
        #expect(writer.counts == ServingLogWriter.Counts(accepted: 10, written: 10))
        #expect(try await store.servingLogCount() == 10)
    }

    @Test func appendAndReadRoundTripEveryValueType() async throws {
        let directory = try TemporaryDirectory()
        let store = try OfflineStore(path: directory.file("offline.sqlite"))
        let t = Timestamp(microseconds: 1_790_000_000_123_456)
        let tricky: [Double] = [Self.rate, .leastNonzeroMagnitude, -0.0, 1.7976931348623157e308, 1e16, 2.0]
        let entry = ServingLogEntry(
            servedAt: t, endpoint: "/v1/features", service: nil,
            entity: [JSONMember(key: "user", value: .string("a \"quoted\"\nname")), JSONMember(key: "n", value: .int(.min))],
            request: [JSONMember(key: "when", value: .string(t.description))],
            features: tricky.enumerated().map { i, d in
                LoggedFeature(reference: "v:f\(i)", value: .double(d), status: "present", eventTime: t - .seconds(Int64(i)))
            } + [
                LoggedFeature(reference: "v:list", value: .array([.int(1), .double(0.5), .null]), status: "present", eventTime: nil),
                LoggedFeature(reference: "v:flag", value: .bool(false), status: "missing", eventTime: nil),
            ])
        try await store.appendServingLog([entry, entry])
        var read: [ServingLogEntry] = []
        for try await batch in store.servingLogEntries() { read += batch }
        #expect(read.count == 2)
        #expect(read.map(\.id) == [1, 2])
        var expected = entry
        expected.id = 1
        #expect(read[0] == expected)
        for (i, d) in tricky.enumerated() { #expect(isBitExact(read[0].features[i].value, d)) }
        #expect(try await store.servingLogCount() == 2)
        // Non-finite doubles are served as null, and logged so.
        #expect(JSONValue(Value.double(.nan)) == .null)
    }
}

/// Closed until opened; then open for good.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false

    func wait() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Ten entries of drivers 0 to 9, served at instants 0 to 9.
private func enqueueTenEntries(_ writer: ServingLogWriter) {
    for i in 0..<10 {
        writer.enqueue(
            ServingLogEntry(
                servedAt: Timestamp(microseconds: Int64(i)), endpoint: "/v1/features", service: nil,
                entity: [JSONMember(key: "driver_id", value: .int(Int64(i)))], features: []))
    }
}
