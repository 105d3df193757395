import HTTPTypes
import Hummingbird
import LarderCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers bytes that are not a valid HTTP/1.1 request (a garbage request line, headers over
/// the size limit, a negative `Content-Length`) with 400 and Larder's JSON error, then closes
/// the connection. Without it Hummingbird answers them with an empty 400.
///
/// It sits in each connection's pipeline after the HTTP decoder (see
/// ``FeatureServer/makeApplication(onServerRunning:)``), where the decoder's errors pass. Only
/// an error between exchanges is answered here: once a request head has been read, the error
/// belongs to that request (its route reads the body and answers, see ``APIError``), and a
/// response being written must not be interleaved with another.
final class HTTPParseErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// From a request head read to the end of its response written.
    private var inExchange = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { inExchange = true }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { inExchange = false }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError, !inExchange else {
            context.fireErrorCaught(error)
            return
        }
        inExchange = true  // the decoder reads nothing more: this is the connection's last answer
        let body = ErrorShape.larder.body(APIError.badRequest(Self.message(for: error)))
        let head = HTTPResponse(
            status: .badRequest,
            headerFields: [.contentType: "application/json", .contentLength: String(body.count), .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// What is wrong with the request, for the client.
    static func message(for error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow: "the request is not valid HTTP/1.1: its headers are larger than the service accepts (80 KiB)"
        case .invalidContentLength: "the request is not valid HTTP/1.1: its Content-Length is not a non-negative integer"
        default: "the request is not valid HTTP/1.1: \(error.debugDescription)"
        }
    }
}
