import Foundation
import HTTPTypes
import Hummingbird
import LarderCore
import LarderEngine
import LarderOffline
import LarderOnline
import Logging
import NIOCore
import NIOHTTP1

/// An error the service answers with: an HTTP status and a message. Every error a route
/// throws becomes one through ``init(_:logger:)``, so the status of each kind of failure is
/// decided in one place, whatever shape the answer is written in.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    /// The class of `feast.errors` that Feast's client raises for this error on the Feast route;
    /// by default one chosen by the status (see ``ErrorShape/feast``).
    var feastClass: String? = nil
    /// Headers the answer carries besides its content type (`WWW-Authenticate` on a 401).
    var headers: HTTPFields = [:]

    /// The request does not follow the documented shapes: not JSON, an unknown or missing
    /// top-level key, a key of the wrong JSON type (schemas/openapi.yaml).
    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }

    /// The request has the documented shape but its values do not fit the features it names:
    /// join keys and request fields missing or of another type, columns of different lengths,
    /// a feature named twice, pushed values a source's columns refuse. (These rules depend on
    /// the feature repository, so the OpenAPI document cannot state them.)
    static func unprocessable(_ message: String) -> APIError { APIError(status: .unprocessableContent, message: message) }

    /// A name the feature repository does not define (a feature service, view, feature or
    /// source): 404, as Feast's feature server answers for an unknown view or service.
    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, message: message) }

    /// 499, nginx's "client closed request": the client went away before the answer was ready.
    /// Nothing reaches the client; the status is what `/metrics` counts such a request under.
    static let clientClosedRequest = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")
}

extension APIError {
    /// What the service answers for `error`: 400, 404 or 422 for bad requests (see
    /// ``badRequest(_:)``, ``notFound(_:)``, ``unprocessable(_:)``), 499 when the client went
    /// away, 503 when Redis or SQLite is unavailable, an engine error's by its kind
    /// (``status(_:)``), 500 otherwise.
    init(_ error: any Error, logger: Logger) {
        switch error {
        case let error as APIError:
            self = error
        case let error as EngineError:
            self = APIError(status: Self.status(error.kind), message: error.message)
            if error.kind == .failed { logger.error("request failed: \(error)") }
        case let error as FeatureLookupError:
            self = error.isUnknownName ? .notFound(error.description) : .badRequest(error.description)
        case let error as LookupError:
            self = .unprocessable(error.description)
        case let error as RedisError:
            self = APIError(status: .serviceUnavailable, message: "the online store (Redis) is unavailable: \(error)")
        case let error as OfflineStoreError where error.isUnavailable:
            // SQLite failed, is busy with another process's write past the busy timeout, or
            // is read-only.
            self = APIError(status: .serviceUnavailable, message: error.description)
        case HTTPParserError.invalidEOFState, is CancellationError, ChannelError.ioOnClosedChannel, ChannelError.eof,
            ChannelError.inputClosed, ChannelError.alreadyClosed:
            // The connection closed before the whole request was read (the decoder's "stream
            // ended at an unexpected time"): the client gave up, the service did not fail.
            self = APIError(status: Self.clientClosedRequest, message: "the client closed the connection before the answer")
        case let error as HTTPParserError:
            // The body of a request whose head was valid (e.g. a malformed chunk).
            self = .badRequest(HTTPParseErrorHandler.message(for: error))
        case let error as any HTTPResponseError:
            // Hummingbird's own errors, e.g. a body over the limit (NIOTooManyBytesError).
            let message =
                (error as? HTTPError)?.body
                ?? (error.status == .contentTooLarge
                    ? "the request body is larger than the service accepts (serve.max_body_bytes)" : error.status.reasonPhrase)
            self = APIError(status: error.status, message: message)
        default:
            logger.error("request failed: \(error)")
            self = APIError(status: .internalServerError, message: "internal error: \(error)")
        }
    }

    /// The status answering an engine error of `kind`.
    static func status(_ kind: EngineError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalidRequest: .badRequest
        case .notFound: .notFound
        case .unprocessable: .unprocessableContent
        case .notReady: .conflict
        case .unavailable: .serviceUnavailable
        case .failed: .internalServerError
        }
    }

    /// The response carrying this error in `shape`.
    func response(_ shape: ErrorShape) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: shape.body(self))))
    }
}

/// How an error response body is written.
enum ErrorShape: Sendable {
    /// Larder's: `{"error": {"status": 400, "message": "..."}}`.
    case larder
    /// Feast's feature server's, which Feast's client turns back into the exception it names:
    /// a JSON string holding the JSON text of `{"module": "feast.errors", "class": ..., "message": ...}`
    /// (Feast's server serializes the error document and then serializes that text again; its
    /// client decodes twice). The class is ``APIError/feastClass``, else `FeastObjectNotFoundException`
    /// for 404, `FeastPermissionError` for 401 and 403, and `FeastError` otherwise.
    case feast

    func body(_ error: APIError) -> [UInt8] {
        var body: [UInt8] = []
        switch self {
        case .larder:
            body += "{\"error\":{\"status\":\(error.status.code),\"message\":".utf8
            JSONText.appendString(error.message, to: &body)
            body += "}}".utf8
        case .feast:
            let feastClass: String =
                switch (error.feastClass, error.status) {
                case (let named?, _): named
                case (nil, .notFound): "FeastObjectNotFoundException"
                case (nil, .unauthorized), (nil, .forbidden): "FeastPermissionError"
                default: "FeastError"
                }
            var document: [UInt8] = []
            document += "{\"module\":\"feast.errors\",\"class\":".utf8
            JSONText.appendString(feastClass, to: &document)
            document += ",\"message\":".utf8
            JSONText.appendString(error.message, to: &document)
            document += "}".utf8
            JSONText.appendString(String(decoding: document, as: UTF8.self), to: &body)
        }
        return body
    }
}

/// Answers every error thrown by what it wraps with a JSON error response in `shape`. The
/// router has one in Larder's shape for every route; the Feast route has its own in Feast's
/// shape, inside it, so that route's errors are answered there first.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let shape: ErrorShape

    init(shape: ErrorShape = .larder) { self.shape = shape }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return APIError(error, logger: context.logger).response(shape)
        }
    }

    /// A JSON error response in Larder's shape, for middleware that answers without throwing.
    static func response(_ status: HTTPResponse.Status, _ message: String) -> Response {
        APIError(status: status, message: message).response(.larder)
    }
}

/// 405 with an `Allow` header for a known path asked with another method (the router alone
/// would answer 404, as if the path did not exist).
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: [String: HTTPRequest.Method]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let method = allowed[request.uri.path], method != request.method, !(method == .get && request.method == .head) {
            var response = JSONErrorMiddleware<Context>.response(
                .methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path); use \(method)")
            response.headers[.allow] = method.rawValue
            return response
        }
        return try await next(request, context)
    }
}
