import Crypto
import Foundation
import PatronCore

extension Engine {
    /// The fingerprint of a request for idempotency: method, path and body.
    public static func requestFingerprint(method: String, path: String, body: Data) -> String {
        var hasher = SHA256()
        hasher.update(data: Data("\(method) \(path)\n".utf8))
        hasher.update(data: body)
        return Hex.lowercase(hasher.finalize())
    }

    /// Claims an idempotency key for the caller.
    public func claimIdempotencyKey(scope: String, key: String, fingerprint: String) async throws -> IdempotencyClaim {
        let now = now()
        return try await store.claimIdempotencyKey(scope: scope, key: key, fingerprint: fingerprint, at: now,
                                                   staleBefore: now.addingTimeInterval(-Self.idempotencyClaimTimeout))
    }

    /// Deletes idempotency records past their retention; run periodically.
    public func purgeExpiredIdempotencyKeys() async throws -> Int {
        try await store.purgeIdempotencyKeys(createdBefore: now().addingTimeInterval(-Self.idempotencyRetention))
    }
}
