import Foundation
import Logging
import Synchronization
import Testing

/// A normal shutdown of the service is quiet: nothing at error level or above.
@Suite(.timeLimit(.minutes(1)))
struct ShutdownTests {
    @Test func aNormalShutdownLogsNoErrors() async throws {
        let records = LogRecords()
        var logger = Logger(label: "test") { _ in RecordingLogHandler(records: records) }
        logger.logLevel = .trace
        let server = try await ServerHarness(logger: logger)
        let reply = try await server.post(
            "/v1/features", #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}]}"#)
        #expect(reply.status == 200, "\(reply.text)")
        await server.stop()

        // The logger is the service's: it saw the start (so silence below means something).
        #expect(records.all.contains { $0.message.contains("Server started") }, "\(records.all)")
        let errors = records.all.filter { $0.level >= .error }
        #expect(errors.isEmpty, "\(errors)")
    }
}

/// Log records, from any thread.
final class LogRecords: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        var level: Logger.Level
        var message: String
        var description: String { "\(level): \(message)" }
    }

    private let records = Mutex<[Record]>([])

    func append(_ record: Record) { records.withLock { $0.append(record) } }
    var all: [Record] { records.withLock { $0 } }
}

/// Keeps every record in `records` instead of printing it.
struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        records.append(LogRecords.Record(level: event.level, message: event.message.description))
    }
}
