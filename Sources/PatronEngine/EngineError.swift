import PatronCore

/// The errors of Patron's use cases. Each has a stable code; the API maps them to HTTP problems.
public enum EngineError: Error, Sendable, Hashable {
    /// No such resource, or one the caller may not see.
    case notFound(resource: String, id: String)
    /// The resource existed but is gone for good (an erased member).
    case gone(code: String, detail: String)
    /// The input breaks the rules; every fault is listed.
    case invalid(ValidationError)
    /// The request conflicts with the current state (a duplicate, a concurrent change).
    case conflict(code: String, detail: String)
    /// A precondition the caller gave (`If-Match`) no longer holds.
    case preconditionFailed(detail: String)
    /// The caller's key lacks the role or the program scope.
    case forbidden(code: String, detail: String)
    /// No key, or an unknown or revoked one.
    case unauthenticated(detail: String)
    /// The member cannot spend that many points; nothing was spent.
    case insufficientPoints(available: Int64, requested: Int64)
    /// The member has less of a unit other than points (cash-back) than was asked for; nothing was
    /// spent.
    case insufficientBalance(unit: LedgerUnit, available: Int64, requested: Int64)
    /// A benefit's quota for the period has less left than was asked for; nothing was used.
    case quotaExceeded(benefit: String, remaining: Int64, requested: Int64)
    /// A risk limit of the program refused the request (`limit_exceeded`).
    case limitExceeded(detail: String)
    /// Patron cannot take the request now; a retry later may succeed.
    case unavailable(code: String, detail: String)
}
