import Foundation
import LarderServer
import LarderTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What one client can cost the service: deadlines, the connection cap, the early 413, the
/// lookup size limits. Real sockets on loopback, small configured limits; the blocking socket
/// calls run on a dedicated thread (the service's routes run on the cooperative pool).
@Suite struct ServiceLimitsTests {
    static let lookup = #"{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1}]}"#

    @Test func aTricklingHeadIsClosedAtItsDeadlineWhileHealthAnswers() async throws {
        let server = try await ServerHarness(configure: { $0.headerTimeout = .seconds(1) })
        defer { Task { await server.stop() } }
        try await onDedicatedThread {
            let slow = try RawConnection(port: server.port)
            let started = Date()
            // One header byte every 200 ms, for at most 5 s: without a deadline it never ends.
            var reply = RawConnection.Reading()
            for byte in "POST /v1/features HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
                guard slow.send([byte]) else { break }
                reply = slow.read(for: 0.2)
                // Stop sending once the answer has begun: a byte sent after the service closed
                // would be answered with a reset, which can discard the 408 not yet read.
                if reply.closed || !reply.text.isEmpty || Date().timeIntervalSince(started) > 20 { break }
            }
            if !reply.closed {
                let rest = slow.read(for: 20 - Date().timeIntervalSince(started))
                reply = RawConnection.Reading(bytes: reply.bytes + rest.bytes, closed: rest.closed)
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(reply.closed, "a client trickling its headers must be closed; after \(elapsed) s it is open")
            #expect(elapsed >= 0.9 && elapsed < 10, "closed after \(elapsed) s; the deadline is 1 s")
            #expect(reply.status == 408, "\(reply.text)")
            #expect(reply.text.contains("serve.header_timeout_seconds"), "\(reply.text)")

            // A connection that sends nothing is closed at the same deadline.
            let silent = try RawConnection(port: server.port)
            #expect(silent.read(for: 20).closed)
        }
        #expect(try await server.get("/health").status == 200)
    }

    @Test func anIdleKeepAliveConnectionIsClosed() async throws {
        let server = try await ServerHarness(configure: { $0.idleTimeout = .seconds(1) })
        defer { Task { await server.stop() } }
        try await onDedicatedThread {
            let client = try RawConnection(port: server.port)
            #expect(client.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            let first = client.read(for: 20, untilResponse: true)
            #expect(first.status == 200, "\(first.text)")
            #expect(!first.closed, "the connection is kept alive after a response")
            let answered = Date()
            let after = client.read(for: 20)
            let idle = Date().timeIntervalSince(answered)
            #expect(after.closed, "an idle connection must be closed after the idle timeout")
            #expect(idle >= 0.9 && idle < 10, "closed after \(idle) s idle; the timeout is 1 s")
            #expect(after.text.isEmpty, "an idle connection is closed without a response: \(after.text)")
        }
    }

    @Test func connectionsBeyondTheCapAreRefusedWhileEstablishedOnesWork() async throws {
        let server = try await ServerHarness(configure: { $0.maxConnections = 3 })
        defer { Task { await server.stop() } }
        try await onDedicatedThread {
            // Three keep-alive connections, each known to be accepted (it has been answered).
            var open: [RawConnection] = []
            for _ in 0..<3 {
                let client = try RawConnection(port: server.port)
                #expect(client.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
                #expect(client.read(for: 20, untilResponse: true).status == 200)
                open.append(client)
            }
            let refused = try RawConnection(port: server.port)
            _ = refused.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let reply = refused.read(for: 20)
            #expect(reply.status == 503, "\(reply.text)")
            #expect(reply.text.contains("serve.max_connections"), "\(reply.text)")
            #expect(reply.closed)

            // An established client still gets its health check.
            #expect(open[0].send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
            #expect(open[0].read(for: 20, untilResponse: true).status == 200)

            // Once connections close, new ones are admitted again.
            open.removeLast(2)  // closes them
            var status = 0
            for _ in 0..<50 where status != 200 {
                let client = try RawConnection(port: server.port)
                _ = client.send("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                status = client.read(for: 20).status
                if status != 200 { usleep(50_000) }
            }
            #expect(status == 200)
        }
    }

    @Test(arguments: ["/v1/features", "/get-online-features", "/v1/push"])
    func aDeclaredBodyOverTheLimitGets413BeforeItIsSent(path: String) async throws {
        let server = try await ServerHarness(maxBodyBytes: 1024)
        defer { Task { await server.stop() } }
        try await onDedicatedThread {
            let client = try RawConnection(port: server.port)
            // The head only: the answer must not wait for the 100,000 bytes announced.
            #expect(
                client.send(
                    "POST \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"))
            let reply = client.read(for: 20, untilResponse: true)
            #expect(reply.status == 413, "\(reply.text)")
            #expect(reply.text.contains("declares 100000 bytes"), "\(reply.text)")
            #expect(reply.text.contains("serve.max_body_bytes"), "\(reply.text)")
            // A client that sends its body anyway is not reset: the body is discarded, then the
            // connection is closed.
            #expect(client.send([UInt8](repeating: 0x20, count: 100_000)))
            let rest = client.read(for: 20)
            #expect(rest.closed, "the connection is closed once the body is in")
            #expect(rest.text.isEmpty, "\(rest.text)")
        }
    }

    @Test func aTricklingBodyIsRefusedAtItsDeadline() async throws {
        let server = try await ServerHarness(configure: { $0.bodyTimeout = .seconds(1) })
        defer { Task { await server.stop() } }
        try await onDedicatedThread {
            let client = try RawConnection(port: server.port)
            let body = Array(Self.lookup.utf8)
            #expect(
                client.send(
                    "POST /v1/features HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                ))
            let started = Date()
            var reply = RawConnection.Reading()
            for byte in body.dropLast() {  // never complete: a cut body must not be served
                guard client.send([byte]) else { break }
                reply = client.read(for: 0.2)
                if reply.closed || !reply.text.isEmpty || Date().timeIntervalSince(started) > 20 { break }
            }
            if !reply.closed { reply.append(client.read(for: 20)) }
            let elapsed = Date().timeIntervalSince(started)
            #expect(reply.status == 408, "\(reply.text)")
            #expect(reply.text.contains("serve.body_timeout_seconds"), "\(reply.text)")
            #expect(reply.closed, "the connection is closed after the 408")
            #expect(elapsed >= 0.9 && elapsed < 10, "answered after \(elapsed) s; the deadline is 1 s")
        }
        #expect(try await server.post("/v1/features", Self.lookup).status == 200)
    }

    @Test func lookupsOverTheEntityAndValueLimitsGet413() async throws {
        let server = try await ServerHarness(configure: {
            $0.maxEntities = 5
            $0.maxValues = 12
        })
        defer { Task { await server.stop() } }
        func rows(_ n: Int) -> String { (0..<n).map { #"{"driver_id": \#($0)}"# }.joined(separator: ",") }
        func column(_ n: Int) -> String { (0..<n).map(String.init).joined(separator: ",") }
        let one = #""driver_hourly_stats:conv_rate""#
        let three = #""driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips""#

        let entities = try await server.post("/v1/features", #"{"features": [\#(one)], "entities": [\#(rows(6))]}"#)
        #expect(entities.status == 413, "\(entities.text)")
        #expect(
            entities.errorMessage?.contains("too many entities: 6 in one lookup; the service accepts at most 5 (serve.max_entities)")
                == true,
            "\(entities.text)")
        let feastEntities = try await server.post(
            "/get-online-features", #"{"features": [\#(one)], "entities": {"driver_id": [\#(column(6))]}}"#)
        #expect(feastEntities.status == 413, "\(feastEntities.text)")
        #expect(feastEntities.text.contains("at most 5 (serve.max_entities)"), "\(feastEntities.text)")

        let values = try await server.post("/v1/features", #"{"features": [\#(three)], "entities": [\#(rows(5))]}"#)
        #expect(values.status == 413, "\(values.text)")
        #expect(
            values.errorMessage?.contains("too many values: 5 entities × 3 features = 15 in one lookup") == true, "\(values.text)")
        #expect(values.errorMessage?.contains("at most 12 (serve.max_values)") == true, "\(values.text)")
        let feastValues = try await server.post(
            "/get-online-features", #"{"features": [\#(three)], "entities": {"driver_id": [\#(column(5))]}}"#)
        #expect(feastValues.status == 413, "\(feastValues.text)")
        #expect(feastValues.text.contains("(serve.max_values)"), "\(feastValues.text)")

        // At the limits, lookups are served.
        #expect(try await server.post("/v1/features", #"{"features": [\#(one)], "entities": [\#(rows(5))]}"#).status == 200)
        #expect(try await server.post("/v1/features", #"{"features": [\#(three)], "entities": [\#(rows(4))]}"#).status == 200)
        #expect(
            try await server.post("/get-online-features", #"{"features": [\#(three)], "entities": {"driver_id": [\#(column(4))]}}"#)
                .status == 200)
    }

    @Test func theConnectionCapFitsTheOpenFileLimit() throws {
        let fallback = ServerConfiguration.defaultMaxConnections
        #expect(try OpenFileLimit.connectionCap(configured: nil, fileLimit: 1_048_576, otherFiles: 68) == fallback)
        #expect(try OpenFileLimit.connectionCap(configured: nil, fileLimit: 1024, otherFiles: 68) == 956)
        #expect(try OpenFileLimit.connectionCap(configured: 5000, fileLimit: 1_048_576, otherFiles: 68) == 5000)
        #expect(try OpenFileLimit.connectionCap(configured: 500, fileLimit: nil, otherFiles: 68) == 500)
        let error = #expect(throws: ConnectionCapError.self) {
            try OpenFileLimit.connectionCap(configured: 5000, fileLimit: 1024, otherFiles: 68)
        }
        #expect(error?.description.contains("serve.max_connections is 5000, but this process may open only 1024 files") == true)
        #expect(error?.description.contains("at most 956") == true)
    }
}

#if canImport(Glibc)
    private let systemSend = Glibc.send
#else
    private let systemSend = Darwin.send
#endif

/// A blocking TCP client on 127.0.0.1 that can send a request a byte at a time and tell
/// whether the server closed the connection. Closes its socket when released.
final class RawConnection {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// What arrived during one read, and whether the server closed the connection.
    struct Reading {
        var bytes: [UInt8] = []
        var closed = false
        var text: String { String(decoding: bytes, as: UTF8.self) }
        /// The status of the response read, or 0.
        var status: Int {
            let line = text.prefix { $0 != "\r" }
            let parts = line.split(separator: " ")
            return parts.count >= 2 && parts[0].hasPrefix("HTTP/") ? Int(parts[1]) ?? 0 : 0
        }
        /// A whole response: its head and `Content-Length` bytes of body.
        var hasWholeResponse: Bool {
            guard let end = text.range(of: "\r\n\r\n") else { return false }
            let length =
                text[..<end.lowerBound].split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            return text.utf8.count - text[..<end.upperBound].utf8.count >= length
        }
        mutating func append(_ other: Reading) {
            bytes += other.bytes
            closed = closed || other.closed
        }
    }

    private let fd: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket() failed: \(String(cString: strerror(errno)))") }
        var poll = timeval(tv_sec: 0, tv_usec: 50_000)  // reads wake up to check their deadline
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &poll, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connecting to 127.0.0.1:\(port) failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Sends `bytes`; false if the connection is closed.
    func send(_ bytes: [UInt8]) -> Bool {
        #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)  // a closed peer must not kill the test process
        #else
            let flags: Int32 = 0
        #endif
        return bytes.withUnsafeBytes { systemSend(fd, $0.baseAddress, $0.count, flags) } == bytes.count
    }

    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads for at most `seconds`, until the server closes the connection (or, with
    /// `untilResponse`, until a whole response arrived).
    func read(for seconds: TimeInterval, untilResponse: Bool = false) -> Reading {
        var reading = Reading()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                reading.bytes += buffer[0..<count]
                if untilResponse && reading.hasWholeResponse { break }
            } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                reading.closed = true  // end of stream, or reset
                break
            }
        }
        return reading
    }
}
