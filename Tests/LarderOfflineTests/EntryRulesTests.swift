import Features
import Foundation
import GRDB
import LarderCore
import LarderTestSupport
import Synchronization
import Testing

@testable import LarderOffline

#if canImport(Glibc)
    import Glibc
#endif

/// The rules every way rows enter follows (ingest of CSV and JSON Lines, and `append`, the
/// push path): event times in the future, canonical doubles, files that change while they are
/// read, and input text in messages.
@Suite struct EntryRulesTests {
    let dir: TemporaryDirectory
    let store: OfflineStore
    static let header = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips"

    init() throws {
        dir = try TemporaryDirectory()
        store = try OfflineStore(path: dir.file("offline.sqlite"))
        try store.registry.apply(try store.registry.plan(for: Features.repository))
    }

    func stored() throws -> Int { try store.count("source_driver_stats") }

    func expectIngestFails(_ path: String, containing parts: [String], in store: OfflineStore? = nil) throws {
        let store = store ?? self.store
        let before = try store.count("source_driver_stats")
        #expect(
            performing: { try store.ingest(source: "driver_stats", file: path) },
            throws: { error in
                let text = "\(error)"
                let ok = parts.allSatisfy(text.contains)
                if !ok { Issue.record("got: \(text)") }
                return ok
            })
        #expect(try store.count("source_driver_stats") == before)
    }

    static func row(_ time: String, driver: Int = 1001, trips: Int = 1) -> String { "\(driver),\(time),,0.5,0.25,\(trips)" }

    // MARK: Event times in the future (issue 10.6)

    static let farFuture = "9999-12-31T23:59:59.999999Z"
    static let skewReason = "in the future are rejected, by ingest and push alike (max_event_time_skew at the top level of larder.yaml)"

    @Test func aFarFutureEventTimeRejectsTheWholeCSVFile() throws {
        let path = try dir.write(
            "future.csv", [Self.header, Self.row("2026-01-01T00:00:00Z"), Self.row(Self.farFuture)].joined(separator: "\n") + "\n")
        try expectIngestFails(
            path,
            containing: [
                "\(path):3: column 'event_timestamp', value \"\(Self.farFuture)\": ", "ahead of the clock",
                "more than 5m " + Self.skewReason,
            ])
        #expect(try store.count("larder_ingests") == 0)
    }

    @Test func aFarFutureEventTimeRejectsTheWholeJSONLinesFile() throws {
        let line = { (time: String) in
            #"{"driver_id": 1001, "event_timestamp": "\#(time)", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#
        }
        let path = try dir.write("future.jsonl", line("2026-01-01T00:00:00Z") + "\n" + line("3000-01-01T00:00:00+02:00") + "\n")
        try expectIngestFails(
            path, containing: ["\(path):2: column 'event_timestamp', value \"3000-01-01T00:00:00+02:00\": ", Self.skewReason])
    }

    @Test func aFarFuturePushIsRejectedWithNothingStored() throws {
        let rows: [[String: JSONValue]] = [
            [
                "driver_id": .int(1001), "event_timestamp": .string("2026-01-01T00:00:00Z"), "conv_rate": .double(0.5),
                "acc_rate": .double(0.5), "avg_daily_trips": .int(1),
            ],
            [
                "driver_id": .int(1001), "event_timestamp": .string(Self.farFuture), "conv_rate": .double(0.5),
                "acc_rate": .double(0.5), "avg_daily_trips": .int(2),
            ],
        ]
        #expect(
            performing: { try store.append(source: "driver_stats", rows: rows, origin: "push") },
            throws: { error in
                let text = "\(error)"
                return text.hasPrefix("row 1: column 'event_timestamp': \"\(Self.farFuture)\": ") && text.hasSuffix(Self.skewReason)
            })
        #expect(try stored() == 0)
        #expect(try store.count("larder_ingests") == 0)
    }

    /// A push (`append`) on either store: the same checks and messages, all rows or none, `_seq`
    /// after the rows already stored, and -0.0 stored and returned as 0.0.
    @Test(arguments: Backend.allCases)
    func pushesFollowTheSameRulesOnEitherStore(backend: Backend) async throws {
        let dir = try TemporaryDirectory()
        let store = try await backend.open(dir)
        defer { store.close() }
        try await store.registry.apply(try await store.registry.plan(for: Features.repository))
        _ = try await store.ingest(
            source: "driver_stats", file: dir.write("one.csv", Self.header + "\n" + Self.row("2026-01-01T00:00:00Z") + "\n"),
            format: nil, allowEmpty: false, progress: nil)
        func row(_ time: String, _ extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
            [
                "driver_id": .int(1001), "event_timestamp": .string(time), "conv_rate": .double(-0.0), "acc_rate": .double(0.25),
                "avg_daily_trips": .int(1),
            ].merging(extra) { $1 }
        }
        await #expect(
            performing: {
                try await store.append(source: "driver_stats", rows: [row("2026-01-01T01:00:00Z"), row(Self.farFuture)], origin: "push")
            },
            throws: { error in
                let text = "\(error)"
                return text.hasPrefix("row 1: column 'event_timestamp': \"\(Self.farFuture)\": ") && text.hasSuffix(Self.skewReason)
            })
        await #expect(
            performing: {
                try await store.append(source: "driver_stats", rows: [row("2026-01-01T01:00:00Z", ["speed": .int(3)])], origin: "push")
            },
            throws: {
                "\($0)"
                    == "row 0: column 'speed': unknown column; the source's columns are event_timestamp, created, driver_id, conv_rate, acc_rate, avg_daily_trips"
            })
        #expect(try await store.registry.rowCount(source: "driver_stats") == 1)

        let appended = try await store.append(
            source: "driver_stats", rows: [row("2026-01-01T01:00:00Z"), row("2026-01-01T02:00:00Z")], origin: "push")
        #expect(appended.map(\.sequence) == [2, 3])
        #expect(appended.map(\.eventTime.description) == ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"])
        #expect(appended.first?.values.compactMap(bits) == [(0.0).bitPattern, (0.25).bitPattern])
        #expect(try await store.registry.rowCount(source: "driver_stats") == 3)
    }

    /// Clock drift within the skew is accepted; the skew is the store's (from larder.yaml).
    @Test func eventTimesWithinTheConfiguredSkewAreAccepted() throws {
        let soon = Timestamp(microseconds: Timestamp.now().microseconds + 120_000_000).description  // in 2 minutes
        let path = try dir.write("soon.csv", Self.header + "\n" + Self.row(soon) + "\n")
        #expect(try store.ingest(source: "driver_stats", file: path).rows == 1)

        let strict = try OfflineStore(
            path: dir.file("offline.sqlite"), options: OfflineStoreOptions(eventTimePolicy: .init(maxFutureSkew: .seconds(30))))
        try expectIngestFails(path, containing: ["value \"\(soon)\": 1m", "more than 30s " + Self.skewReason], in: strict)
        let pushed: [String: JSONValue] = [
            "driver_id": .int(1), "event_timestamp": .string(soon), "conv_rate": .double(0), "acc_rate": .double(0),
            "avg_daily_trips": .int(1),
        ]
        #expect(throws: AppendError.self) { try strict.append(source: "driver_stats", rows: [pushed], origin: "push") }

        let lenient = try OfflineStore(
            path: dir.file("offline.sqlite"), options: OfflineStoreOptions(eventTimePolicy: .init(maxFutureSkew: .days(1))))
        let later = Timestamp(microseconds: Timestamp.now().microseconds + 3_600_000_000).description  // in an hour
        #expect(
            try lenient.ingest(source: "driver_stats", file: dir.write("later.csv", Self.header + "\n" + Self.row(later) + "\n")).rows == 1)
        #expect(try stored() == 2)
    }

    /// A row accepted within the skew is ahead of a run that ends now: that run leaves it out,
    /// and the next incremental run, once its time has come, materializes it and pushes it.
    @Test func aRowAheadOfTheClockIsMaterializedOnceItsTimeHasCome() async throws {
        let now = Timestamp.now()
        let soon = Timestamp(microseconds: now.microseconds + 120_000_000)
        let text = [Self.header, Self.row("2026-01-01T00:00:00Z", trips: 1), Self.row(soon.description, trips: 2)]
        _ = try await store.ingest(source: "driver_stats", file: dir.write("rows.csv", text.joined(separator: "\n") + "\n"))

        let first = try await store.materialize(driverHourlyStats, mode: .range(start: nil, end: nil), now: now)
        #expect(first.rows == 1)
        var latest: [Value] = []
        for try await batch in store.latestRows(of: driverHourlyStats, end: first.state.end) { latest += batch.flatMap(\.values) }
        #expect(latest.contains(.int64(1)) && !latest.contains(.int64(2)))
        try await store.recordOnlinePush(first.state, marker: "first", markerSlots: nil)  // as `larder materialize` does after pushing

        let later = Timestamp(microseconds: now.microseconds + 180_000_000)
        let second = try await store.materialize(driverHourlyStats, mode: .incremental(end: nil), now: later)
        #expect(second.rows == 1)
        #expect(try store.count("features_driver_hourly_stats_v1") == 2)
        let pushed = try await #require(try store.onlinePushState(view: "driver_hourly_stats", version: 1))
        latest = []
        for try await batch in store.latestRows(of: driverHourlyStats, end: second.state.end, changedSince: pushed) {
            latest += batch.flatMap(\.values)
        }
        #expect(latest.contains(.int64(2)))
    }

    // MARK: -0.0 (issue 10.7)

    func bits(_ value: Value) -> UInt64? { if case .double(let d) = value { d.bitPattern } else { nil } }

    @Test func negativeZeroFromACSVFieldIsPositiveZero() throws {
        var text = "-0.0"
        let value = try text.withUTF8 { try FieldParsing.value($0, as: .double) }
        #expect(bits(value) == (0.0).bitPattern)
        var negative = "-0.5"
        #expect(bits(try negative.withUTF8 { try FieldParsing.value($0, as: .double) }) == (-0.5).bitPattern)
    }

    /// The push path: the rows `append` returns are what the service applies online.
    @Test func negativeZeroPushedIsPositiveZeroOnlineAndOffline() throws {
        let row: [String: JSONValue] = [
            "driver_id": .int(1001), "event_timestamp": .string("2026-01-01T00:00:00Z"), "conv_rate": .double(-0.0),
            "acc_rate": .double(-0.0), "avg_daily_trips": .int(1),
        ]
        let appended = try store.append(source: "driver_stats", rows: [row], origin: "push")
        let values = try #require(appended.first?.values)
        #expect(values.compactMap(bits) == [(0.0).bitPattern, (0.0).bitPattern])
    }

    @Test func negativeZeroFromJSONLinesIsStoredAsPositiveZero() throws {
        let path = try dir.write(
            "zero.jsonl",
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": -0.0, "acc_rate": -0e0, "avg_daily_trips": 1}"#
                + "\n")
        #expect(try store.ingest(source: "driver_stats", file: path).rows == 1)
        let read = try store.rows("SELECT conv_rate, acc_rate FROM source_driver_stats")
        #expect(read.flatMap { $0.map { Double.fromDatabaseValue($0)?.bitPattern } } == [(0.0).bitPattern, (0.0).bitPattern])
    }

    // MARK: A file that changes while it is read (issue 10.8)

    static func bigCSV(rows: Int) -> String {
        var text = header + "\n"
        text.reserveCapacity(rows * 60)
        for i in 0..<rows { text += "\(1000 + i % 100),2026-01-01T00:00:00Z,,0.5,0.25,\(500 + i % 100)\n" }
        return text
    }

    /// Runs an ingest that calls `change` (once) from its first progress report, then checks
    /// that it failed saying so and wrote nothing.
    func ingestChanging(_ path: String, reason: String, _ change: @escaping @Sendable () -> Void) throws {
        let changed = Mutex(false)
        #expect(
            performing: {
                try store.ingest(source: "driver_stats", file: path) { _ in
                    if changed.withLock({ done in
                        defer { done = true }; return !done
                    }) {
                        change()
                    }
                }
            },
            throws: { error in
                let text = "\(error)"
                let ok =
                    text.hasPrefix("\(path): the file changed while it was read (") && text.contains(reason)
                    && text.hasSuffix("nothing was ingested: ingest it again once whatever writes it has finished")
                if !ok { Issue.record("got: \(text)") }
                return ok
            })
        #expect(changed.withLock { $0 })
        #expect(try stored() == 0)
        #expect(try store.count("larder_ingests") == 0)
    }

    @Test func aFileTruncatedWhileItIsReadIsRejected() throws {
        // 40,000 rows (about 2 MiB): the first progress report comes while the reader is in
        // its first 1 MiB chunk; the file is cut beyond it, after the first digit of a line's
        // last value, so that what is left still parses (a value of 586 read as 5).
        let text = Array(Self.bigCSV(rows: 40_000).utf8)
        let lineStart = try #require(text[1_500_000...].firstIndex(of: 0x0A)) + 1
        let lineEnd = try #require(text[lineStart...].firstIndex(of: 0x0A))
        let cut = try #require(text[lineStart..<lineEnd].lastIndex(of: 0x2C)) + 2
        let path = try dir.write("cut.csv", text)
        try ingestChanging(path, reason: "its size went from \(text.count) to \(cut) bytes") { _ = truncate(path, off_t(cut)) }
    }

    @Test func aFileAppendedToWhileItIsReadIsRejected() throws {
        let path = try dir.write(
            "grow.jsonl",
            String(
                repeating:
                    #"{"driver_id": 1, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#
                    + "\n", count: 20_000))
        try ingestChanging(path, reason: "its size went from") {
            let handle = FileHandle(forWritingAtPath: path)!
            handle.seekToEndOfFile()
            handle.write(
                Data(
                    #"{"driver_id": 2, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#
                        .utf8))
            handle.closeFile()
        }
    }

    @Test func aFileRewrittenInPlaceWhileItIsReadIsRejected() throws {
        let path = try dir.write("rewrite.csv", Self.bigCSV(rows: 20_000))
        // An old modification time, so the rewrite changes it whatever the clock's resolution.
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        try ingestChanging(path, reason: "it was modified") {
            let handle = FileHandle(forWritingAtPath: path)!
            handle.seek(toFileOffset: UInt64(Self.header.utf8.count + 1))
            handle.write(Data("1001".utf8))  // the same size, other bytes
            handle.closeFile()
        }
    }

    @Test func anUnchangedFileWithoutAFinalNewlineIsItsTrueEnd() throws {
        let path = try dir.write("end.csv", Self.header + "\n" + Self.row("2026-01-01T00:00:00Z", trips: 586))
        #expect(try store.ingest(source: "driver_stats", file: path).rows == 1)
        #expect(try store.rows("SELECT avg_daily_trips FROM source_driver_stats") == [[586.databaseValue]])
    }

    // MARK: Input text in messages (issue 10.12)

    @Test func controlCharactersInValuesAndNamesAreEscaped() throws {
        let csv = try dir.write("esc.csv", Self.header + "\n1001,2026-01-01T00:00:00Z,,\"0.5\u{1B}[2J\",0.25,1\n")
        try expectIngestFails(csv, containing: ["esc.csv:2: column 'conv_rate', value \"0.5\\u{1B}[2J\": not a finite double"])
        let header = try dir.write("head.csv", Self.header + ",\"bo\nnus\u{7}\"\n1001,2026-01-01T00:00:00Z,,0.5,0.25,1,2\n")
        try expectIngestFails(header, containing: ["head.csv:1: unknown column 'bo\\nnus\\u{7}'"])
        let jsonl = try dir.write(
            "esc.jsonl",
            #"{"driver_id": "1\r\n2", "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#)
        try expectIngestFails(jsonl, containing: ["esc.jsonl:1: column 'driver_id', value \"1\\r\\n2\": a string, but the column is int64"])
        for path in [csv, header, jsonl] {
            do {
                _ = try store.ingest(source: "driver_stats", file: path)
            } catch {
                #expect(!"\(error)".unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(error)")
            }
        }
        let pushed: [String: JSONValue] = ["driver_id\u{1B}[1m": .int(1)]
        #expect(
            performing: { try store.append(source: "driver_stats", rows: [pushed], origin: "push") },
            throws: { "\($0)".hasPrefix("row 0: column 'driver_id\\u{1B}[1m': unknown column") })
    }

    @Test func jsonLinesErrorsQuoteTheNumberAsWritten() throws {
        let line = { (trips: String) in
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": \#(trips)}"#
        }
        let big = try dir.write("big.jsonl", line("9223372036854775808"))
        try expectIngestFails(
            big, containing: ["big.jsonl:1: column 'avg_daily_trips', value \"9223372036854775808\": an integer outside the int64 range"])
        let exponent = try dir.write("exp.jsonl", line("1.50e1"))
        try expectIngestFails(
            exponent, containing: ["exp.jsonl:1: column 'avg_daily_trips', value \"1.50e1\": a number, but the column is int64"])
        let boolean = try dir.write("bool.jsonl", line("true"))
        try expectIngestFails(boolean, containing: ["value \"true\": a boolean, but the column is int64"])
    }
}
