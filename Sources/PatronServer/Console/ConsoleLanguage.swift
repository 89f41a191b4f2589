import HTTPTypes
import Hummingbird

/// The languages the console and the portal speak, and the words of each.
enum ConsoleLanguage: String, CaseIterable, Sendable {
    case english = "en"
    case chinese = "zh-Hans"

    /// The cookie that remembers a choice made with the language switch.
    static let cookieName = "patron_lang"

    /// The choice remembered in the cookie, else the first language of Accept-Language that is
    /// spoken here (any `zh` is Simplified Chinese), else English.
    init(_ request: Request) {
        if let chosen = request.cookies[Self.cookieName].flatMap({ Self(rawValue: $0.value) }) {
            self = chosen
            return
        }
        self = Self.preferred(acceptLanguage: request.headers[.acceptLanguage] ?? "")
    }

    static func preferred(acceptLanguage: String) -> Self {
        let ranges = acceptLanguage.split(separator: ",").compactMap { part -> (tag: String, quality: Double)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first?.lowercased(), !tag.isEmpty else { return nil }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (tag, quality)
        }
        for range in ranges.enumerated().sorted(by: { ($0.element.quality, -$0.offset) > ($1.element.quality, -$1.offset) }) {
            if range.element.tag.hasPrefix("zh") { return .chinese }
            if range.element.tag.hasPrefix("en") { return .english }
        }
        return .english
    }

    /// The language a switch link offers.
    var other: Self { self == .english ? .chinese : .english }

    /// The language's name in itself.
    var name: String { self == .english ? "English" : "中文" }

    /// Every word of the console in this language, by key, for the templates (`{{t.key}}`).
    var words: [String: String] {
        switch self {
        case .english: Self.englishWords
        case .chinese: Self.chineseWords
        }
    }

    func word(_ key: String) -> String {
        words[key] ?? Self.englishWords[key] ?? key
    }

    private static let englishWords: [String: String] = [
        "console": "Patron console",
        "sign_in_title": "Sign in to Patron",
        "sign_in_lead": "For the people who run member programs.",
        "email": "Email",
        "password": "Password",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "wrong_credentials": "The email or password is not right.",
        "locked": "Too many wrong passwords. Sign-in is locked until %@ (UTC).",
        "programs": "Programs",
        "programs_lead": "The member programs on this server.",
        "no_programs": "No programs yet. Create one with the API (POST /v1/programs).",
        "code": "Code",
        "name": "Name",
        "currency": "Currency",
        "time_zone": "Time zone",
        "operators": "Operators",
        "operators_lead": "The people who sign in to this console, and their roles.",
        "role": "Role",
        "locked_until": "Locked until",
        "created": "Created",
        "not_allowed": "Not allowed",
        "not_allowed_detail": "This page is for the %@ role. You are signed in as %@.",
        "form_expired": "This form has expired or did not come from this console. Go back, reload the page and try again.",
        "form_expired_title": "Form expired",
        "role_owner": "owner",
        "role_marketer": "marketer",
        "role_support": "support",
        "role_analyst": "analyst",
        "signed_in_as": "Signed in as",
        "skip": "Skip to content",
        "language": "Language",
        "add_operator": "Add an operator",
        "add": "Add",
        "choose_role": "Choose a role.",
        "invalid_email": "This is not an email address.",
        "invalid_name": "A name is 1 to 200 characters.",
        "weak_password": "A password is 12 to 72 bytes long.",
        "operator_exists": "Someone with this email is already an operator.",
        "fix_below": "Nothing was saved: see the messages beside the fields.",
        "initial_password": "Initial password",
    ]

    private static let chineseWords: [String: String] = [
        "console": "Patron 管理台",
        "sign_in_title": "登录 Patron",
        "sign_in_lead": "供运营会员计划的工作人员使用。",
        "email": "邮箱",
        "password": "密码",
        "sign_in": "登录",
        "sign_out": "退出登录",
        "wrong_credentials": "邮箱或密码不正确。",
        "locked": "密码错误次数过多，登录已锁定至 %@（UTC）。",
        "programs": "会员计划",
        "programs_lead": "本服务器上的会员计划。",
        "no_programs": "还没有会员计划。请通过 API 创建（POST /v1/programs）。",
        "code": "代码",
        "name": "名称",
        "currency": "币种",
        "time_zone": "时区",
        "operators": "操作员",
        "operators_lead": "登录本管理台的人员及其角色。",
        "role": "角色",
        "locked_until": "锁定至",
        "created": "创建时间",
        "not_allowed": "无权访问",
        "not_allowed_detail": "此页面仅限 %@ 角色。您当前的角色是 %@。",
        "form_expired": "此表单已过期，或并非来自本管理台。请返回并刷新页面后重试。",
        "form_expired_title": "表单已过期",
        "role_owner": "所有者",
        "role_marketer": "市场",
        "role_support": "客服",
        "role_analyst": "分析师",
        "signed_in_as": "当前用户",
        "skip": "跳到正文",
        "language": "语言",
        "add_operator": "添加操作员",
        "add": "添加",
        "choose_role": "请选择角色。",
        "invalid_email": "这不是有效的邮箱地址。",
        "invalid_name": "名称为 1 到 200 个字符。",
        "weak_password": "密码长度为 12 到 72 字节。",
        "operator_exists": "该邮箱已是操作员。",
        "fix_below": "未保存：请查看字段旁的提示。",
        "initial_password": "初始密码",
    ]
}
