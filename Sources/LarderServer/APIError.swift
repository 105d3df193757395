import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import LarderCore
import LarderOnline

/// An error the service answers with: an HTTP status and a message, sent as
/// `{"error": {"status": 400, "message": "..."}}`.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
}

/// Turns every error a route throws into a JSON error response: 4xx for bad requests, 503
/// when Redis or SQLite is unavailable, 500 otherwise. The service never answers with an
/// empty or HTML body.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error.status, error.message)
        } catch let error as LookupError {
            return Self.response(.badRequest, error.description)
        } catch let error as FeatureLookupError {
            return Self.response(.badRequest, error.description)
        } catch let error as RedisError {
            return Self.response(.serviceUnavailable, "the online store (Redis) is unavailable: \(error)")
        } catch let error as DatabaseError {
            return Self.response(.serviceUnavailable, "the offline store (SQLite) is unavailable: \(error)")
        } catch let error as any HTTPResponseError {
            // Hummingbird's own errors, e.g. a body over the limit (NIOTooManyBytesError).
            let message =
                (error as? HTTPError)?.body
                ?? (error.status == .contentTooLarge
                    ? "the request body is larger than the service accepts (serve.max_body_bytes)" : error.status.reasonPhrase)
            return Self.response(error.status, message)
        } catch {
            context.logger.error("request failed: \(error)")
            return Self.response(.internalServerError, "internal error: \(error)")
        }
    }

    static func response(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var body: [UInt8] = []
        body += "{\"error\":{\"status\":\(status.code),\"message\":".utf8
        JSONText.appendString(message, to: &body)
        body += "}}".utf8
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// `Authorization: Bearer TOKEN` on every route but `/health` and `/metrics`, when a token
/// is configured.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" || request.uri.path == "/metrics" {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], Self.equalInConstantTime(header, "Bearer \(token)") else {
            var response = JSONErrorMiddleware<Context>.response(
                .unauthorized, "missing or wrong bearer token: send Authorization: Bearer <token>")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }

    /// Compares without returning early, so response time does not reveal a matching prefix.
    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
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
