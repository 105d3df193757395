import Foundation
import Hummingbird
import HummingbirdCore
import LarderCore
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

// What one client can cost the service in connections and time. Hummingbird reads requests
// without deadlines: a client that sends its headers one byte at a time, or opens sockets and
// sends nothing, would hold a connection (a file descriptor) for ever. The rules below bound
// that, per connection, in two channel handlers:
//
//   socket → RequestBytesWatcher → HTTP decoder → ConnectionGuard → Hummingbird
//
// The watcher only says that bytes arrived: the decoder says nothing until a request's head is
// complete, and the head's deadline must start at its first byte.

/// The limits each connection is held to (from ``ServerConfiguration``).
struct ConnectionLimits: Sendable {
    var headerTimeout: Duration
    var bodyTimeout: Duration
    var idleTimeout: Duration
    var maxBodyBytes: Int
    /// Shared by every connection of one application: the cap on open connections.
    let connections: OpenConnections

    init(_ configuration: ServerConfiguration, logger: Logger) {
        headerTimeout = configuration.headerTimeout
        bodyTimeout = configuration.bodyTimeout
        idleTimeout = configuration.idleTimeout
        maxBodyBytes = configuration.maxBodyBytes
        connections = OpenConnections(limit: configuration.maxConnections, logger: logger)
    }
}

/// The service's open connections, admitted while fewer than the limit are open. It logs when
/// the limit is reached and when there is room again (one line each, not one per client).
final class OpenConnections: Sendable {
    let limit: Int
    let logger: Logger
    private let state = Mutex((open: 0, refused: 0, full: false))

    static let openGauge = Gauge(label: "larder_connections_open")
    static let refusedCounter = Counter(label: "larder_connections_refused_total")

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    /// Counts a new connection if there is room; false if the limit is reached (the caller
    /// refuses it, and it is not counted).
    func open() -> Bool {
        let (admitted, becameFull) = state.withLock { state -> (Bool, Bool) in
            guard state.open < limit else {
                let becameFull = !state.full
                state.full = true
                state.refused += 1
                return (false, becameFull)
            }
            state.open += 1
            Self.openGauge.record(state.open)  // under the lock: records stay in order
            return (true, false)
        }
        if !admitted {
            Self.refusedCounter.increment()
            if becameFull {
                logger.warning(
                    "\(limit) connections open, the limit (serve.max_connections): new connections get 503 until some close")
            }
        }
        return admitted
    }

    /// Forgets a connection that ``open()`` admitted, once it has closed.
    func close() {
        let refusedWhileFull = state.withLock { state -> Int? in
            state.open -= 1
            Self.openGauge.record(state.open)
            guard state.full else { return nil }
            let refused = state.refused
            (state.full, state.refused) = (false, 0)
            return refused
        }
        if let refusedWhileFull {
            logger.notice("connections below serve.max_connections again; \(refusedWhileFull) were refused while it was reached")
        }
    }
}

/// Sent up the pipeline by ``RequestBytesWatcher`` whenever bytes arrive.
struct RequestBytesArrived {}

/// First in a connection's pipeline, before the HTTP decoder: tells ``ConnectionGuard`` that
/// bytes arrived, so that a request head's deadline starts at its first byte.
final class RequestBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        context.fireChannelRead(data)
    }
}

/// Holds one connection to ``ConnectionLimits``, between the HTTP decoder and Hummingbird:
///
/// - beyond `serve.max_connections` open connections, a new one gets 503 and is closed;
/// - a request's head must arrive within the header timeout of its first byte (or of the
///   connection's start), else 408 and the connection is closed;
/// - its body must arrive within the body timeout of its head, else the request fails with 408
///   (the route's body stream fails: no route sees a cut body as complete) and the connection
///   is closed;
/// - a connection with no request for the idle timeout is closed;
/// - a head declaring a `Content-Length` over `serve.max_body_bytes` fails with 413 at once,
///   before its body is read.
///
/// The 408 and 413 of a request go through the routes' error handling (the route's body stream
/// fails with them), so they have the routes' error shape and are counted in the metrics.
/// What the client still sends is then discarded, so that a client which sends its whole body
/// before reading gets the answer rather than a reset, and the connection is closed once the
/// answer is out and the body is in (or at the body deadline).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum Deadline { case head, body, idle }

    static let headTimeouts = Counter(label: "larder_request_timeouts_total", dimensions: [("part", "head")])
    static let bodyTimeouts = Counter(label: "larder_request_timeouts_total", dimensions: [("part", "body")])

    let limits: ConnectionLimits
    private var started = false
    /// A new connection owes its first request's head at once.
    private var readingHead = true
    private var readingBody = false
    /// Requests whose response has not ended yet.
    private var unanswered = 0
    /// Set once a request failed (413, 408) or the connection is refused: the connection is
    /// closing, and what it still receives is dropped.
    private var discarding = false
    /// The deadline that applies now and when it expires. Changing it is an assignment: the
    /// one timer of the connection fires at the earliest deadline it was armed for and re-arms
    /// itself for a later one, so a request costs no timer scheduling of its own.
    private var phase: Deadline?
    private var expiresAt: NIODeadline?
    private var timer: (fires: NIODeadline, task: Scheduled<Void>)?

    init(limits: ConnectionLimits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        start(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        let connections = limits.connections
        guard connections.open() else {
            respondAndClose(
                context, .serviceUnavailable,
                "the service has \(connections.limit) connections open, its limit (serve.max_connections); retry later",
                headers: [.retryAfter: "1"])
            return
        }
        context.channel.closeFuture.whenComplete { _ in connections.close() }
        updateDeadline(context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is RequestBytesArrived else { return context.fireUserInboundEventTriggered(event) }
        if !readingHead && !readingBody && unanswered == 0 {
            readingHead = true  // the first bytes of the next request: its head's deadline starts
            updateDeadline(context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            (readingHead, readingBody) = (false, true)
            if !discarding { unanswered += 1 }  // a request dropped after a failure gets no answer
            updateDeadline(context)
            guard !discarding else { return }
            context.fireChannelRead(data)
            if let declared = head.headerFields[.contentLength].flatMap(Int.init), declared > limits.maxBodyBytes {
                fail(
                    context,
                    HTTPError(
                        .contentTooLarge,
                        message:
                            "the request body declares \(declared) bytes (Content-Length); the service accepts at most \(limits.maxBodyBytes) (serve.max_body_bytes)"
                    ))
            }
        case .body:
            if !discarding { context.fireChannelRead(data) }
        case .end:
            readingBody = false
            updateDeadline(context)
            if discarding { closeIfDone(context) } else { context.fireChannelRead(data) }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        // Hummingbird stops reading once its stream failed: keep draining what the client sends.
        if discarding { context.read() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        unanswered = max(0, unanswered - 1)
        updateDeadline(context)
        guard discarding && !readingBody && unanswered == 0 else { return context.write(data, promise: promise) }
        let written = promise ?? context.eventLoop.makePromise()
        context.write(data, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in self.closeIfDone(context) }
    }

    /// Fails the request being read: its body stream throws `error`, which the route answers.
    private func fail(_ context: ChannelHandlerContext, _ error: HTTPError) {
        discarding = true
        context.fireErrorCaught(error)
    }

    /// After a failed request, closes the connection once the answer is out and the body in.
    private func closeIfDone(_ context: ChannelHandlerContext) {
        if discarding && !readingBody && unanswered == 0 { context.close(promise: nil) }
    }

    /// Runs the deadline that applies now: the body's while one is read, the head's while one
    /// is awaited, none while a response is due, else the idle one. A deadline already running
    /// keeps its start.
    private func updateDeadline(_ context: ChannelHandlerContext) {
        let due: Deadline? = readingBody ? .body : readingHead ? .head : unanswered > 0 ? nil : .idle
        guard due != phase else { return }
        phase = due
        guard let due else {
            expiresAt = nil
            return
        }
        let delay =
            switch due {
            case .head: limits.headerTimeout
            case .body: limits.bodyTimeout
            case .idle: limits.idleTimeout
            }
        let deadline = NIODeadline.now() + TimeAmount(delay)
        expiresAt = deadline
        if let timer, timer.fires <= deadline { return }  // it fires first, then re-arms
        arm(at: deadline, context)
    }

    private func arm(at deadline: NIODeadline, _ context: ChannelHandlerContext) {
        timer?.task.cancel()
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired(context) }
        timer = (deadline, task)
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard let phase, let expiresAt else { return }  // no deadline now: armed again when one starts
        guard expiresAt <= .now() else { return arm(at: expiresAt, context) }
        self.phase = nil
        self.expiresAt = nil
        expired(phase, context)
    }

    private func cancelTimer() {
        timer?.task.cancel()
        timer = nil
    }

    private func expired(_ deadline: Deadline, _ context: ChannelHandlerContext) {
        switch deadline {
        case .head:
            Self.headTimeouts.increment()
            respondAndClose(
                context, .requestTimeout,
                "the request head (request line and headers) did not arrive within \(Self.seconds(limits.headerTimeout)) (serve.header_timeout_seconds)"
            )
        case .body:
            Self.bodyTimeouts.increment()
            readingBody = false
            fail(
                context,
                HTTPError(
                    .requestTimeout,
                    message:
                        "the request body did not arrive within \(Self.seconds(limits.bodyTimeout)) of its head (serve.body_timeout_seconds)"
                ))
            closeIfDone(context)  // if already answered; else once the 408 is out
        case .idle:
            context.close(promise: nil)
        }
    }

    /// Answers with a JSON error (the shape of ``JSONErrorMiddleware``'s) outside any route,
    /// then closes the connection.
    private func respondAndClose(
        _ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]
    ) {
        discarding = true
        cancelTimer()
        var json: [UInt8] = []
        json += "{\"error\":{\"status\":\(status.code),\"message\":".utf8
        JSONText.appendString(message, to: &json)
        json += "}}".utf8
        var fields: HTTPFields = [.contentType: "application/json", .contentLength: String(json.count), .connection: "close"]
        fields.append(contentsOf: headers)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: json))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// `10 s`, `0.5 s`.
    static func seconds(_ duration: Duration) -> String {
        let (whole, attoseconds) = duration.components
        return attoseconds == 0 ? "\(whole) s" : "\(Double(whole) + Double(attoseconds) / 1e18) s"
    }
}

/// Hummingbird's HTTP/1 channel with ``RequestBytesWatcher`` first in each connection's
/// pipeline, and ``HTTPParseErrorHandler`` and ``ConnectionGuard`` after the decoder.
struct LimitedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let http1: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits) {
        // No Hummingbird idle timeout: the guard keeps every deadline.
        // The parse-error handler first, so a request that is not HTTP gets its JSON 400.
        http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [HTTPParseErrorHandler(), ConnectionGuard(limits: limits)]))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(RequestBytesWatcher(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with Larder's ``ConnectionLimits``.
    static func http1(limits: ConnectionLimits) -> HTTPServerBuilder {
        .init { responder in LimitedHTTP1Channel(responder: responder, limits: limits) }
    }
}
