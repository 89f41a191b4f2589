import Crypto
import Foundation
import PatronCore

/// A newly created key: the record and the secret, which is shown once and never stored.
public struct IssuedAPIKey: Sendable {
    public var key: APIKey
    public var secret: String
}

extension Engine {
    /// The shortest secret accepted from `PATRON_ADMIN_KEY`.
    public static let minimumAdminKeyLength = 16

    /// SHA-256 of a secret. API keys are long random strings, so a fast hash suffices (unlike
    /// passwords, they cannot be guessed from a dictionary).
    static func hash(secret: String) -> String {
        sha256(Data(secret.utf8))
    }

    static func generateSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return "pk_" + String((0..<40).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }

    /// The caller behind a bearer secret.
    public func authenticate(secret: String) async throws -> Principal {
        guard !secret.isEmpty, secret.count <= 512 else {
            throw EngineError.unauthenticated(detail: "The API key is not valid.")
        }
        let hash = Self.hash(secret: secret)
        guard let principal = try await apiKeys.value(for: hash, load: { try await store.apiKey(secretHash: hash) })
            .flatMap(Self.principal) else {
            throw EngineError.unauthenticated(detail: "The API key is not valid or has been revoked.")
        }
        return principal
    }

    /// The caller and the program, with its compiled configuration, when all are cached on this
    /// node, the key is not revoked, has every permission in `needs` and reaches the program: what
    /// a request answered without suspending (`entitlementsAtHand`, `eventAtHand`) starts from.
    /// Nil otherwise, and the ordinary path loads what was missing and words any refusal.
    func programAtHand(secret: String, programCode: String, needs: [Permission]) -> (Principal, Program, ProgramRuntime)? {
        guard let principal = apiKeys.cachedValue(for: Self.hash(secret: secret)).flatMap(Self.principal),
              needs.allSatisfy(principal.has), let program = programs.cachedValue(for: programCode),
              principal.canReach(programID: program.id), let runtime = runtimes.compiled(for: program) else { return nil }
        return (principal, program, runtime)
    }

    /// Who calls with `key`; nil for a revoked key.
    static func principal(_ key: APIKey) -> Principal? {
        key.revokedAt == nil ? Principal(keyID: key.id, role: key.role, programID: key.programID) : nil
    }

    /// Makes sure an owner key exists at start. With `adminSecret` (PATRON_ADMIN_KEY), that secret
    /// becomes the bootstrap owner key and earlier bootstrap keys are revoked. Without it, a key is
    /// generated only when no owner key exists; its secret is returned so it can be printed once.
    public func bootstrapOwnerKey(adminSecret: String?) async throws -> String? {
        let now = now()
        if let adminSecret {
            guard adminSecret.count >= Self.minimumAdminKeyLength else {
                throw EngineError.invalid(ValidationError(pointer: "", code: "admin_key_too_short",
                    message: "The admin key must be at least \(Self.minimumAdminKeyLength) characters."))
            }
            let hash = Self.hash(secret: adminSecret)
            if let existing = try await store.apiKey(secretHash: hash) {
                guard existing.revokedAt == nil else {
                    throw EngineError.conflict(code: "admin_key_revoked",
                                               detail: "This admin key was revoked; set PATRON_ADMIN_KEY to a new secret.")
                }
                return nil
            }
            var cursor: String?
            repeat {
                let keys = try await store.apiKeys(after: cursor, limit: 200)
                for key in keys where key.origin == "bootstrap" && key.revokedAt == nil {
                    _ = try await store.revokeAPIKey(id: key.id, at: now)
                    apiKeys.remove { $0.id == key.id }
                }
                cursor = keys.count == 200 ? keys.last?.id : nil
            } while cursor != nil
            try await store.insertAPIKey(APIKey(id: newID(at: now), name: "admin", role: .owner, programID: nil,
                                                secretHash: hash, prefix: String(adminSecret.prefix(6)),
                                                origin: "bootstrap", createdAt: now, revokedAt: nil))
            return nil
        }
        guard try await store.activeOwnerKeyCount() == 0 else { return nil }
        let secret = Self.generateSecret()
        try await store.insertAPIKey(APIKey(id: newID(at: now), name: "admin", role: .owner, programID: nil,
                                            secretHash: Self.hash(secret: secret), prefix: String(secret.prefix(8)),
                                            origin: "bootstrap", createdAt: now, revokedAt: nil))
        return secret
    }

    /// Creates a key with a role and an optional program scope (a program code).
    public func createAPIKey(name: String, role: Role, programCode: String?, by principal: Principal) async throws
        -> IssuedAPIKey {
        try requireUnscoped(.manageKeys, principal)
        var faults = FaultCollector()
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty || trimmed.count > 100 {
            faults.add(.root / "name", "invalid_name", "A name is 1 to 100 characters and not blank.")
        }
        do throws(ValidationError) { try faults.check() } catch { throw EngineError.invalid(error) }
        var programID: String?
        if let programCode {
            guard let program = try await store.program(code: programCode) else {
                throw EngineError.invalid(ValidationError(pointer: "/program", code: "unknown_program",
                                                          message: "No program has the code '\(programCode)'."))
            }
            programID = program.id
        }
        let now = now()
        let secret = Self.generateSecret()
        let key = APIKey(id: newID(at: now), name: trimmed, role: role, programID: programID,
                         secretHash: Self.hash(secret: secret), prefix: String(secret.prefix(8)), origin: "api",
                         createdAt: now, revokedAt: nil)
        try await store.insertAPIKey(key)
        return IssuedAPIKey(key: key, secret: secret)
    }

    /// Lists keys, revoked ones included, in creation order.
    public func listAPIKeys(limit: Int?, cursor: String?, by principal: Principal) async throws -> Page<APIKey> {
        try requireUnscoped(.manageKeys, principal)
        let limit = try pageSize(limit)
        let fetched = try await store.apiKeys(after: try decodeCursor(cursor), limit: limit + 1)
        return page(fetched, limit: limit, key: \.id)
    }

    /// Revokes a key at once; the key that makes the call cannot revoke itself. Revoking a revoked
    /// key again changes nothing and succeeds, as a repeated DELETE should.
    public func revokeAPIKey(id: String, by principal: Principal) async throws {
        try requireUnscoped(.manageKeys, principal)
        guard id != principal.keyID else {
            throw EngineError.conflict(code: "cannot_revoke_own_key", detail: "A key cannot revoke itself; use another owner key.")
        }
        guard let key = try await store.apiKey(id: id) else {
            throw EngineError.notFound(resource: "api_key", id: id)
        }
        if key.revokedAt == nil { _ = try await store.revokeAPIKey(id: key.id, at: now()) }
        apiKeys.remove { $0.id == key.id }
    }

    /// Key management and program creation act on the whole deployment, so a program-scoped key
    /// may not do them, whatever its role.
    func requireUnscoped(_ permission: Permission, _ principal: Principal) throws(EngineError) {
        try require(permission, principal)
        guard principal.programID == nil else {
            throw .forbidden(code: "program_scoped_key", detail: "A key limited to one program may not do this.")
        }
    }
}
