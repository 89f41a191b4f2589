import Hummingbird
import PatronEngine

/// The CSRF token of forms shown before there is a session (the console's sign-in, the portal's
/// code forms): the double-submit pattern. The page sets the token as a `SameSite=Strict` cookie
/// and puts it in the form; a POST must carry both, equal.
struct FormToken: Sendable {
    let cookieName: String
    let path: String

    /// The token for a page and the cookie that holds it: one per browser, kept while it lasts,
    /// so that two open tabs both work.
    func issue(for request: Request) -> (token: String, cookie: Cookie) {
        let token = request.cookies[cookieName]?.value ?? Engine.randomToken()
        return (token, Cookie(name: cookieName, value: token, maxAge: 3600, path: path, httpOnly: true, sameSite: .strict))
    }

    /// Whether a posted form carries the token its browser's cookie holds.
    func verify(_ request: Request, form: [String: String]) -> Bool {
        guard let cookie = request.cookies[cookieName]?.value, !cookie.isEmpty, let token = form["_csrf"] else { return false }
        return Engine.constantTimeEqual(cookie, token)
    }
}
