import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PatronCore
import PatronEngine

/// Turns every error into an `application/problem+json` answer; the first middleware inside
/// metrics, so every status is counted.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router found no route for this method; the path may exist with other methods.
            let allowed = routes.allowedMethods(for: request.uri.path)
            guard !allowed.isEmpty else { return Problem.from(error, logger: logger).response() }
            return Problem(.methodNotAllowed, code: "method_not_allowed",
                           detail: "\(request.method.rawValue) is not allowed here; use \(allowed.joined(separator: ", ")).",
                           headers: [.allow: allowed.joined(separator: ", ")]).response()
        } catch {
            return Problem.from(error, logger: logger).response()
        }
    }
}

/// Limits request bodies and keeps the bytes for later stages (idempotency fingerprints, PATCH
/// null handling). A body over the limit is refused before it is read in full.
struct RequestBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int
    /// The limit for the one request that carries a file: a back-test's history.
    let maxUploadBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post || request.method == .put || request.method == .patch else {
            return try await next(request, context)
        }
        let maxBodyBytes = request.uri.path.hasSuffix("/simulations") ? max(maxUploadBytes, maxBodyBytes) : maxBodyBytes
        let tooLarge = Problem(.contentTooLarge, code: "body_too_large",
                               detail: "A request body is at most \(maxBodyBytes) bytes.")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw tooLarge
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        let bytes = Data(buffer: buffer)
        if bytes.containsEscapedNUL {
            // PostgreSQL text cannot hold U+0000, so it is refused for every store alike.
            throw Problem(.unprocessableContent, code: "nul_character",
                          detail: "Text cannot contain the NUL character (\\u0000).")
        }
        return try await RequestState.$body.withValue(bytes) {
            try await next(request, context)
        }
    }
}

extension Collection<UInt8> {
    /// Whether JSON text holds the escape `\u0000` (a backslash run of odd length before `u0000`).
    var containsEscapedNUL: Bool {
        let bytes = self
        let escape = Array("u0000".utf8)
        var backslashes = 0
        for (index, byte) in zip(bytes.indices, bytes) {
            if byte == UInt8(ascii: "\\") {
                backslashes += 1
                continue
            }
            if backslashes % 2 == 1, byte == escape[0], bytes[index...].starts(with: escape) { return true }
            backslashes = 0
        }
        return false
    }
}

/// Establishes the caller from `Authorization: Bearer …` on every path but the public ones and the
/// console's.
struct AuthenticationMiddleware<Context: RequestContext>: RouterMiddleware {
    let engine: Engine
    static var publicPaths: Set<String> { ["/healthz", "/metrics", "/openapi.yaml"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // The console and the member portal sign people in with their own sessions.
        if Self.publicPaths.contains(request.uri.path) || request.uri.path.hasPrefix("/console")
            || request.uri.path.hasPrefix("/m/") {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Problem.unauthenticated("Use the Bearer scheme: 'Authorization: Bearer <key>'.")
        }
        // Trimmed by hand: Foundation's trimmingCharacters(in:) was a measured share of every request.
        var secret = parts[1]
        while secret.first == " " || secret.first == "\t" { secret.removeFirst() }
        while secret.last == " " || secret.last == "\t" { secret.removeLast() }
        let principal = try await engine.authenticate(secret: String(secret))
        return try await RequestState.$principal.withValue(principal) {
            try await next(request, context)
        }
    }
}

/// `Idempotency-Key` on POST: a retry with the same key and body gets the first answer again; the
/// same key with another body is refused; keys are scoped to the caller's API key.
struct IdempotencyMiddleware<Context: RequestContext>: RouterMiddleware {
    let engine: Engine
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, let key = request.headers[.idempotencyKey],
              let principal = RequestState.principal else {
            return try await next(request, context)
        }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Problem.badRequest("invalid_idempotency_key", "An Idempotency-Key is 1 to 255 visible ASCII characters.")
        }
        let fingerprint = Engine.requestFingerprint(method: request.method.rawValue, path: request.uri.description,
                                                    body: RequestState.body ?? Data())
        switch try await engine.claimIdempotencyKey(scope: principal.keyID, key: key, fingerprint: fingerprint) {
        case .replay(let stored):
            var headers: HTTPFields = [.idempotentReplayed: "true"]
            if let contentType = stored.contentType { headers[.contentType] = contentType }
            if let location = stored.location { headers[.location] = location }
            return Response(status: .init(code: stored.status), headers: headers,
                            body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
        case .mismatch:
            throw Problem(.unprocessableContent, code: "idempotency_key_reused",
                          detail: "This Idempotency-Key was used with a different request.")
        case .inProgress:
            throw Problem(.conflict, code: "idempotency_key_in_progress",
                          detail: "A request with this Idempotency-Key is still being processed; retry shortly.")
        case .claimed:
            break
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPError {
            // The router found no operation (404, or 405 further out): nothing ran, so nothing to keep.
            try? await engine.store.releaseIdempotencyKey(scope: principal.keyID, key: key)
            throw error
        } catch {
            response = Problem.from(error, logger: logger).response()
        }
        if response.status.code >= 500 {
            try? await engine.store.releaseIdempotencyKey(scope: principal.keyID, key: key)
            return response
        }
        let collector = CollectingWriter()
        try await response.body.write(collector)
        let body = collector.buffer
        try await engine.store.completeIdempotencyKey(
            scope: principal.keyID, key: key,
            response: StoredResponse(status: response.status.code, contentType: response.headers[.contentType],
                                     location: response.headers[.location], body: Data(buffer: body)))
        var replayable = response
        replayable.body = .init(byteBuffer: body)
        return replayable
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// On an answer given again for a retried `Idempotency-Key`.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

/// A response-body writer that keeps what is written, to store it for idempotent replay.
final class CollectingWriter: ResponseBodyWriter {
    // Written by one task only: the middleware awaits the whole write before reading it.
    var buffer = ByteBuffer()

    func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        self.buffer.writeBuffer(&buffer)
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
