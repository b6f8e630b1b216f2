/// A web browser family, as the audit log names PC and mobile web clients.
public enum Browser: String, Sendable, Hashable, CaseIterable, Labelled {
    case chrome
    case edge
    case firefox
    case safari
    case samsungInternet = "samsung_internet"
    case whale
    case opera
    case internetExplorer = "ie"
    case other

    public var englishLabel: String {
        switch self {
        case .chrome: "Chrome"
        case .edge: "Edge"
        case .firefox: "Firefox"
        case .safari: "Safari"
        case .samsungInternet: "Samsung Internet"
        case .whale: "Whale"
        case .opera: "Opera"
        case .internetExplorer: "Internet Explorer"
        case .other: "Other browser"
        }
    }

    public var koreanLabel: String {
        switch self {
        case .chrome: "크롬"
        case .edge: "엣지"
        case .firefox: "파이어폭스"
        case .safari: "사파리"
        case .samsungInternet: "삼성 인터넷"
        case .whale: "네이버 웨일"
        case .opera: "오페라"
        case .internetExplorer: "인터넷 익스플로러"
        case .other: "기타 브라우저"
        }
    }

    /// Product tokens in the order they must be tested: browsers built on Chromium (Whale,
    /// Samsung Internet, Edge, Opera) also send `Chrome/`, and nearly everything on Apple
    /// platforms also sends `Safari/`, so the specific tokens come first.
    private static let signatures: [(token: String, browser: Browser)] = [
        ("Trident/", .internetExplorer), ("MSIE ", .internetExplorer),
        ("Whale/", .whale),
        ("SamsungBrowser/", .samsungInternet),
        ("Edg/", .edge), ("EdgA/", .edge), ("EdgiOS/", .edge), ("Edge/", .edge),
        ("OPR/", .opera), ("OPT/", .opera), ("OPiOS/", .opera), ("Opera", .opera),
        ("Firefox/", .firefox), ("FxiOS/", .firefox),
        ("CriOS/", .chrome), ("Chrome/", .chrome), ("Chromium/", .chrome),
        ("Safari/", .safari),
    ]

    /// The browser a User-Agent names; `.other` for unknown agents and non-browsers.
    public init(userAgent: String) {
        self = Self.signatures.first { userAgent.contains($0.token) }?.browser ?? .other
    }
}

/// What the audit log records as a login's type and client, derived from the request.
///
/// Web logins are classified from the User-Agent: a phone or tablet token makes it mobile
/// web, anything else PC. iPadOS 13+ Safari sends a Mac User-Agent by default and is
/// therefore counted as PC; nothing in the header tells them apart.
public struct ClientDescription: Sendable, Hashable {
    public var loginType: LoginType
    /// The browser, for web logins and declared clients that sent a User-Agent.
    public var browser: Browser?
    public var isMobile: Bool

    /// Tokens that mark a phone or tablet browser.
    private static let mobileTokens = ["Android", "iPhone", "iPad", "iPod", "Mobile", "Mobi", "Windows Phone"]

    /// Classifies a web login. `declared` wins over the User-Agent for clients that say what
    /// they are (messenger and office apps embed browser engines whose User-Agents look like
    /// ordinary browsers).
    public init(userAgent: String?, declared: DeclaredClient? = nil) {
        let userAgent = userAgent ?? ""
        let isMobile = Self.mobileTokens.contains { userAgent.contains($0) }
        self.isMobile = isMobile
        self.browser = userAgent.isEmpty ? nil : Browser(userAgent: userAgent)
        if let declared {
            loginType = declared.loginType
        } else {
            loginType = isMobile ? .mobileWeb : .pcBrowser
            if browser == nil { browser = .other }
        }
    }

    /// A login over IMAP, POP3 or SMTP.
    public init(mailProtocol: MailProtocol) {
        loginType = mailProtocol.loginType
        browser = nil
        isMobile = false
    }

    /// The "client" column: the browser for web logins, the login type otherwise.
    public func clientLabel(for language: DisplayLanguage) -> String {
        switch loginType {
        case .pcBrowser, .mobileWeb: (browser ?? .other).label(for: language)
        default: loginType.label(for: language)
        }
    }

    /// The stable client code stored in audit entries: the browser code for web logins,
    /// the login type code otherwise.
    public var clientCode: String {
        switch loginType {
        case .pcBrowser, .mobileWeb: (browser ?? .other).rawValue
        default: loginType.rawValue
        }
    }
}
