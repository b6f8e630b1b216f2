/// A request control. Encoding happens on the connection's thread because libldap's encoders
/// need a live handle; this type only says what to send.
public struct LDAPRequestControl: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case pagedResults(size: Int32, cookie: [UInt8])
        case assertion(filter: LDAPFilter)
        case preRead(attributes: [String])
        case postRead(attributes: [String])
        case manageDsaIT
        case relax
        case passwordPolicy
        case raw(oid: String, value: [UInt8]?)
    }

    var kind: Kind
    public var isCritical: Bool

    /// RFC 2696; `pagedSearch` manages this for you.
    public static func pagedResults(size: Int, cookie: [UInt8] = []) -> Self {
        .init(kind: .pagedResults(size: Int32(clamping: size), cookie: cookie), isCritical: true)
    }

    /// RFC 4528: the operation happens only if the target entry matches `filter`, atomically.
    public static func assertion(_ filter: LDAPFilter) -> Self {
        .init(kind: .assertion(filter: filter), isCritical: true)
    }

    /// RFC 4527: return the entry as it was before the change.
    public static func preRead(_ attributes: [String]) -> Self {
        .init(kind: .preRead(attributes: attributes), isCritical: true)
    }

    /// RFC 4527: return the entry as it is after the change (e.g. the value an increment produced).
    public static func postRead(_ attributes: [String]) -> Self {
        .init(kind: .postRead(attributes: attributes), isCritical: true)
    }

    /// RFC 3296: treat referral objects as ordinary entries.
    public static let manageDsaIT = Self(kind: .manageDsaIT, isCritical: true)

    /// OpenLDAP's Relax Rules: lets an administrator set operational attributes such as pwdAccountLockedTime.
    public static let relax = Self(kind: .relax, isCritical: true)

    /// Asks ppolicy to explain a bind's outcome (locked, expired, grace logins left).
    public static let passwordPolicy = Self(kind: .passwordPolicy, isCritical: false)

    public static func raw(oid: String, value: [UInt8]?, isCritical: Bool) -> Self {
        .init(kind: .raw(oid: oid, value: value), isCritical: isCritical)
    }

    /// The control's OID, so a caller can decide which controls it passes on (a raw control
    /// naming Relax is Relax too).
    public var oid: String {
        switch kind {
        case .pagedResults: "1.2.840.113556.1.4.319"
        case .assertion: "1.3.6.1.1.12"
        case .preRead: "1.3.6.1.1.13.1"
        case .postRead: "1.3.6.1.1.13.2"
        case .manageDsaIT: "2.16.840.1.113730.3.4.2"
        case .relax: "1.3.6.1.4.1.4203.666.5.12"
        case .passwordPolicy: "1.3.6.1.4.1.42.2.27.8.5.1"
        case .raw(let oid, _): oid
        }
    }

    var isFirstPageRequest: Bool {
        if case .pagedResults(_, let cookie) = kind { return cookie.isEmpty }
        return false
    }
}

/// A control as the server returned it.
public struct LDAPResponseControl: Sendable, Hashable {
    public var oid: String
    public var value: [UInt8]?
    public var isCritical: Bool
}

/// What ppolicy said about a bind (draft-behera-ldap-password-policy).
public struct PasswordPolicyResponse: Sendable, Hashable {
    public enum Error: Int32, Sendable {
        case passwordExpired = 0
        case accountLocked = 1
        case changeAfterReset = 2
        case passwordModNotAllowed = 3
        case mustSupplyOldPassword = 4
        case insufficientPasswordQuality = 5
        case passwordTooShort = 6
        case passwordTooYoung = 7
        case passwordInHistory = 8
    }

    /// Seconds until the password expires, when the server warns.
    public var secondsUntilExpiration: Int?
    public var graceLoginsRemaining: Int?
    public var error: Error?
}

/// The outcome of a successful non-search operation, with what its controls returned.
public struct LDAPResult: Sendable {
    public var controls: [LDAPResponseControl]
    /// The entry before the change, when `.preRead` was requested.
    public var preReadEntry: LDAPEntry?
    /// The entry after the change, when `.postRead` was requested.
    public var postReadEntry: LDAPEntry?
    public var passwordPolicy: PasswordPolicyResponse?
    /// Diagnostic text the server sent along with success (rare).
    public var message: String

    /// Public so that conformers outside LDAPClient (test doubles, gates) can answer.
    public init(
        controls: [LDAPResponseControl] = [], preReadEntry: LDAPEntry? = nil, postReadEntry: LDAPEntry? = nil,
        passwordPolicy: PasswordPolicyResponse? = nil, message: String = ""
    ) {
        self.controls = controls
        self.preReadEntry = preReadEntry
        self.postReadEntry = postReadEntry
        self.passwordPolicy = passwordPolicy
        self.message = message
    }
}

/// The entries of a search, with its final result's controls.
public struct LDAPSearchResult: Sendable {
    public var entries: [LDAPEntry]
    public var referrals: [String]
    public var controls: [LDAPResponseControl]
    /// The RFC 2696 cookie for the next page; empty when the last page was returned.
    public var pagedResultsCookie: [UInt8]?

    /// Public so that conformers outside LDAPClient (test doubles, gates) can answer.
    public init(entries: [LDAPEntry], referrals: [String] = [], controls: [LDAPResponseControl] = [], pagedResultsCookie: [UInt8]? = nil) {
        self.entries = entries
        self.referrals = referrals
        self.controls = controls
        self.pagedResultsCookie = pagedResultsCookie
    }
}
