import Foundation
import Hummingbird
import PatronCore

/// The one request context of the application.
public struct PatronRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Per-request state that the OpenAPI handlers read: the generated handler signatures carry no
/// request context, so the middleware hands these over as task-local values.
enum RequestState {
    /// The authenticated caller.
    @TaskLocal static var principal: Principal?
    /// The request body as received, so handlers can tell an explicit `null` from an absent field.
    @TaskLocal static var body: Data?

    /// The caller; the authentication middleware guarantees one on every authenticated route.
    static func requirePrincipal() throws -> Principal {
        guard let principal else { throw Problem.unauthenticated("An API key is required.") }
        return principal
    }
}
