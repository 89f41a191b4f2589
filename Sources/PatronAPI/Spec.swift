package import Foundation

/// The OpenAPI document that the generated server code was built from, as served at `/openapi.yaml`.
package enum APISpecification {
    /// The spec's bytes, read from the target's bundled resource.
    package static func yaml() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return try Data(contentsOf: url)
    }
}
