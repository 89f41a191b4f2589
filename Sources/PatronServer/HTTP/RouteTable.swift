import HTTPTypes
import Hummingbird
import OpenAPIHummingbird
import OpenAPIRuntime
import Foundation
import Synchronization

/// The API's routes as the generated code registers them, so that a request for a known path with
/// a method it does not have gets 405 and an `Allow` header instead of 404.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: Set<String>)]>([])

    func add(method: HTTPRequest.Method, path: String) {
        let segments = path.split(separator: "/")
        routes.withLock { routes in
            if let index = routes.firstIndex(where: { $0.segments == segments }) {
                routes[index].methods.insert(method.rawValue)
            } else {
                routes.append((segments, [method.rawValue]))
            }
        }
    }

    /// The methods the path allows, empty when no route has that path. As in OpenAPI (and the
    /// router), a path with more literal segments wins: `…/events/preview` is not `…/events/{event}`.
    func allowedMethods(for path: String) -> [String] {
        let requested = path.split(separator: "/")
        /// How many segments of `route` equal the path's, or nil when the route does not match it.
        func literals(_ route: [Substring]) -> Int? {
            guard route.count == requested.count else { return nil }
            var count = 0
            for (template, actual) in zip(route, requested) {
                if template == actual {
                    count += 1
                } else if !(template.hasPrefix("{") && template.hasSuffix("}")) {
                    return nil
                }
            }
            return count
        }
        return routes.withLock { routes in
            let matching = routes.compactMap { route in literals(route.segments).map { (route.methods, $0) } }
            return matching.max { $0.1 < $1.1 }?.0.sorted() ?? []
        }
    }
}

/// Registers the generated handlers on the router and records each route in the table.
struct RecordingTransport: ServerTransport {
    let router: Router<PatronRequestContext>
    let table: RouteTable

    func register(
        _ handler: @Sendable @escaping (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method,
        path: String
    ) throws {
        table.add(method: method, path: path)
        router.register({ request, body, metadata in
            // Hummingbird hands every request a body, so an empty one would be decoded as JSON and
            // refused. An empty body is no body: an operation whose body is optional (voiding a
            // hold) can then be called without one, and a required one is still reported missing.
            let body = RequestState.body?.isEmpty == true ? nil : body
            var (response, responseBody) = try await handler(request, body, metadata)
            Self.undoPercentEncoding(of: &response)
            return (response, responseBody)
        }, method: method, path: path)
    }

    /// The OpenAPI runtime percent-encodes every header value it serialises (as URI `simple` style),
    /// which turns `Location: /v1/programs/shop` into `%2Fv1%2F…`. Patron's headers are plain ASCII
    /// URLs and quoted versions, so they are sent as written.
    static func undoPercentEncoding(of response: inout HTTPResponse) {
        for name in [HTTPField.Name.location, .eTag] {
            if let value = response.headerFields[name], let decoded = value.removingPercentEncoding {
                response.headerFields[name] = decoded
            }
        }
    }
}
