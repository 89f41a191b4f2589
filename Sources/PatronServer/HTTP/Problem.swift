import Foundation
import Hummingbird
import Logging
import OpenAPIRuntime
import PatronCore
import PatronEngine

/// An error answer in RFC 9457 form (`application/problem+json`), with a stable `code`.
public struct Problem: Error, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var code: String
    public var title: String
    public var detail: String?
    public var errors: [ValidationFault]
    public var headers: HTTPFields
    /// Further members of the problem object, e.g. the balance of an `insufficient_points` answer.
    public var extensions: [String: JSONValue] = [:]

    public init(_ status: HTTPResponse.Status, code: String, title: String? = nil, detail: String? = nil,
                errors: [ValidationFault] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    static func unauthenticated(_ detail: String) -> Problem {
        Problem(.unauthorized, code: "unauthenticated", detail: detail,
                headers: [.wwwAuthenticate: "Bearer realm=\"patron\""])
    }

    static func badRequest(_ code: String, _ detail: String) -> Problem {
        Problem(.badRequest, code: code, detail: detail)
    }

    /// The JSON body.
    var body: Data {
        var object: [String: JSONValue] = extensions
        object.merge([
            "type": .string("urn:patron:problem:\(code)"),
            "title": .string(title),
            "status": .int(Int64(status.code)),
            "code": .string(code),
        ]) { _, standard in standard }
        if let detail { object["detail"] = .string(detail) }
        if !errors.isEmpty {
            object["errors"] = .array(errors.map {
                .object(["pointer": .string($0.pointer), "code": .string($0.code), "message": .string($0.message)])
            })
        }
        return JSONValue.object(object).canonicalData()
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        var headers = headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension Problem {
    /// The problem for any error a handler or middleware threw. Errors that are not the client's
    /// fault are logged and answered with a bare 500, so no internals leak.
    static func from(_ error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let engineError as EngineError:
            return from(engineError)
        case let validation as ValidationError:
            return validationFailed(validation)
        case let syntax as JSONSyntaxError:
            // The generated decoder lets a trailing comma pass; the engine's parser does not.
            return .badRequest("malformed_request", syntax.description)
        case let serverError as ServerError:
            if let inner = serverError.underlyingError as? Problem { return inner }
            if let inner = serverError.underlyingError as? EngineError { return from(inner) }
            if let inner = serverError.underlyingError as? ValidationError { return validationFailed(inner) }
            if let inner = serverError.underlyingError as? JSONSyntaxError { return from(inner, logger: logger) }
            if serverError.operationInput == nil {
                // The request did not match the operation's declared shape.
                if serverError.httpStatus == .unsupportedMediaType {
                    return Problem(.unsupportedMediaType, code: "unsupported_media_type",
                                   detail: "Send the body as application/json.")
                }
                return .badRequest("malformed_request", requestDecodingDetail(serverError))
            }
            return internalError(serverError.underlyingError, logger: logger)
        case let httpError as HTTPError:
            switch httpError.status {
            case .notFound: return Problem(.notFound, code: "not_found", detail: "No such resource.")
            case .contentTooLarge: return Problem(.contentTooLarge, code: "body_too_large", detail: httpError.body)
            default:
                return Problem(httpError.status, code: httpError.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                               detail: httpError.body)
            }
        default:
            return internalError(error, logger: logger)
        }
    }

    static func from(_ error: EngineError) -> Problem {
        switch error {
        case .notFound(let resource, let id):
            return Problem(.notFound, code: "not_found", detail: "No \(resource.replacingOccurrences(of: "_", with: " ")) '\(id)'.")
        case .gone(let code, let detail):
            return Problem(.gone, code: code, detail: detail)
        case .invalid(let validation):
            return validationFailed(validation)
        case .conflict(let code, let detail):
            return Problem(.conflict, code: code, detail: detail)
        case .preconditionFailed(let detail):
            return Problem(.preconditionFailed, code: "precondition_failed", detail: detail)
        case .forbidden(let code, let detail):
            return Problem(.forbidden, code: code, detail: detail)
        case .unauthenticated(let detail):
            return .unauthenticated(detail)
        case .insufficientPoints(let available, let requested):
            var problem = Problem(.conflict, code: "insufficient_points",
                                  detail: "The member has \(available) points available; \(requested) were asked for.")
            problem.extensions = ["available": .int(available), "requested": .int(requested)]
            return problem
        case .insufficientBalance(let unit, let available, let requested):
            var problem = Problem(.conflict, code: "insufficient_\(unit.rawValue)",
                                  detail: "The member has \(available) of \(unit.rawValue) available; \(requested) were asked for.")
            problem.extensions = ["available": .int(available), "requested": .int(requested)]
            return problem
        case .quotaExceeded(let benefit, let remaining, let requested):
            var problem = Problem(.conflict, code: "quota_exceeded",
                                  detail: "The member has \(remaining) uses of '\(benefit)' left in this period; \(requested) were asked for.")
            problem.extensions = ["remaining": .int(remaining), "requested": .int(requested)]
            return problem
        case .limitExceeded(let detail):
            return Problem(.tooManyRequests, code: "limit_exceeded", detail: detail)
        case .unavailable(let code, let detail):
            return Problem(.serviceUnavailable, code: code, detail: detail, headers: [.retryAfter: "1"])
        }
    }

    static func validationFailed(_ error: ValidationError) -> Problem {
        let count = error.faults.count
        return Problem(.unprocessableContent, code: "validation_failed",
                       detail: count == 1 ? error.faults[0].message : "The request has \(count) faults; see errors.",
                       errors: error.faults)
    }

    static func internalError(_ error: any Error, logger: Logger) -> Problem {
        logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
        return Problem(.internalServerError, code: "internal_error", detail: "Something went wrong on our side.")
    }

    /// What was wrong with a request the generated decoder refused, in the client's terms.
    private static func requestDecodingDetail(_ error: ServerError) -> String {
        if let decoding = error.underlyingError as? DecodingError {
            switch decoding {
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                return describe(context)
            case .keyNotFound(let key, let context):
                return "Missing field '\(pointer(context.codingPath + [key]))'."
            @unknown default:
                return "The request body could not be read."
            }
        }
        return error.causeDescription
    }

    private static func describe(_ context: DecodingError.Context) -> String {
        let path = pointer(context.codingPath)
        let reason = context.underlyingError.map { _ in "The body is not valid JSON." } ?? context.debugDescription
        return path.isEmpty ? reason : "At '\(path)': \(reason)"
    }

    private static func pointer(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/").isEmpty
            ? "" : "/" + path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
    }
}
