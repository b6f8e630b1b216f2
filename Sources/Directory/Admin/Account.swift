import Foundation
import LDAPClient

/// What an account is for (spec §3): a mailbox, a groupware login, or both.
public enum ServiceType: String, Sendable, CaseIterable {
    case mail, groupware, both

    /// Accounts without a mailbox get no aliases and no mail protocols.
    public var hasMailbox: Bool { self != .groupware }

    /// iRedMail-style enabled services a new account starts with.
    public var defaultServices: [String] {
        switch self {
        case .mail: ["imap", "pop3", "smtp"]
        case .groupware: ["web"]
        case .both: ["imap", "pop3", "smtp", "web"]
        }
    }
}

public enum AccountStatus: String, Sendable, CaseIterable {
    case active, suspended, disabled, deleted
}

/// The services an account may use (`gwEnabledService`).
public enum EnabledService: String, Sendable, CaseIterable {
    case imap, pop3, smtp, web

    public static func parse(_ text: String) throws -> EnabledService {
        guard let service = EnabledService(rawValue: text.lowercased()) else {
            throw DirectoryError(.invalidArgument, "unknown service \"\(text)\" (use imap, pop3, smtp or web)")
        }
        return service
    }
}

/// The newest login the account keeps beyond the audit retention (`gwLastLogin*`).
public struct LastLogin: Sendable, Hashable {
    public var time: Date
    public var type: String?
    public var ip: String?
    public var country: String?
}

/// An account: one login and (for mail and both) one mailbox.
public struct Account: Sendable, Hashable {
    public var dn: DistinguishedName
    public var workspace: String
    public var unit: UnitPath?
    public var loginId: String
    public var mail: String
    public var firstName: String
    public var lastName: String
    public var displayName: String
    public var serviceType: ServiceType
    public var enabledServices: [String]
    public var status: AccountStatus
    /// False when the bound identity may not read the status (a member of the workspace who is
    /// no admin): `status` then says `active` only by default.
    public var statusVisible: Bool
    public var deletedAt: Date?
    public var quota: Int?
    public var usage: Int?
    public var aliasCount: Int
    public var mailPasswordSet: Bool
    public var otpEnabled: Bool
    public var allowedNetworks: [String]
    public var passwordChangedByAdmin: Date?
    public var lastLogin: LastLogin?
    /// Filled by ``AccountService/show(_:)``.
    public var aliases: [Alias] = []

    static let attributes = [
        "uid", "mail", "givenName", "sn", "cn", "displayName", AttributeName.serviceType, AttributeName.enabledService, AttributeName.accountStatus,
        AttributeName.deletedAt, AttributeName.mailQuota, AttributeName.mailUsage, AttributeName.aliasCount, AttributeName.mailPasswordSet, AttributeName.otpEnabled, AttributeName.allowedNetwork,
        AttributeName.passwordChangedByAdmin, AttributeName.lastLoginTime, AttributeName.lastLoginType, AttributeName.lastLoginIP, AttributeName.lastLoginCountry, AttributeName.objectClass,
    ]

    /// The account whose primary address is `mail` (indexed: objectClass and mail, eq).
    static func filter(mail: MailAddress) -> LDAPFilter {
        .and([.equal("objectClass", ObjectClassName.account), .equal("mail", mail.description)])
    }

    init(entry: LDAPEntry, layout: DirectoryLayout) throws {
        dn = try entry.distinguishedName
        let location = layout.location(of: dn)
        workspace = location?.workspace ?? ""
        unit = location?.unit
        loginId = entry.string("uid") ?? ""
        mail = entry.string("mail") ?? ""
        firstName = entry.string("givenName") ?? ""
        lastName = entry.string("sn") ?? ""
        displayName = entry.string("displayName") ?? entry.string("cn") ?? loginId
        serviceType = entry.string(AttributeName.serviceType).flatMap { ServiceType(rawValue: $0.lowercased()) } ?? .both
        enabledServices = entry.strings(AttributeName.enabledService).map { $0.lowercased() }.sorted()
        status = entry.string(AttributeName.accountStatus).flatMap { AccountStatus(rawValue: $0.lowercased()) } ?? .active
        statusVisible = entry.string(AttributeName.accountStatus) != nil
        deletedAt = entry.time(AttributeName.deletedAt)
        quota = entry.integer(AttributeName.mailQuota)
        usage = entry.integer(AttributeName.mailUsage)
        aliasCount = entry.integer(AttributeName.aliasCount) ?? 0
        mailPasswordSet = entry.bool(AttributeName.mailPasswordSet)
        otpEnabled = entry.bool(AttributeName.otpEnabled)
        allowedNetworks = entry.strings(AttributeName.allowedNetwork)
        passwordChangedByAdmin = entry.time(AttributeName.passwordChangedByAdmin)
        lastLogin = entry.time(AttributeName.lastLoginTime).map {
            LastLogin(time: $0, type: entry.string(AttributeName.lastLoginType), ip: entry.string(AttributeName.lastLoginIP), country: entry.string(AttributeName.lastLoginCountry))
        }
    }

    /// The last login if it is within `window` of `now` (the admin view shows three months).
    public func recentLogin(now: Date, window: TimeInterval = 92 * 86_400) -> LastLogin? {
        guard let lastLogin, now.timeIntervalSince(lastLogin.time) <= window else { return nil }
        return lastLogin
    }
}

/// The fields of a new account.
extension Account {
    /// `gwLoginKey`: slapo-unique keeps it unique directory-wide, which makes a login id unique
    /// per workspace across its units, race free (two concurrent adds in different units).
    public static func loginKey(workspace: String, loginId: String) -> String {
        "\(workspace)/\(loginId)".lowercased()
    }
}

public struct NewAccount: Sendable {
    public var loginId: String
    public var workspace: String
    public var unit: UnitPath
    public var firstName: String
    public var lastName: String
    public var displayName: String?
    public var mail: String
    public var password: String
    public var serviceType: ServiceType = .both
    public var quota: Int?
    public var enabledServices: [EnabledService]?

    public init(loginId: String, workspace: String, unit: UnitPath, firstName: String, lastName: String, mail: String, password: String) {
        self.loginId = loginId
        self.workspace = workspace
        self.unit = unit
        self.firstName = firstName
        self.lastName = lastName
        self.mail = mail
        self.password = password
    }

    /// Korean names read family name first without a space (김 + 민준 → 김민준); others given first.
    static func defaultDisplayName(first: String, last: String) -> String {
        let isHangul: (String) -> Bool = { $0.unicodeScalars.contains { (0xAC00...0xD7A3).contains($0.value) } }
        if isHangul(first) || isHangul(last) { return last + first }
        return [first, last].filter { !$0.isEmpty }.joined(separator: " ")
    }
}

/// How `user find` matches.
public enum AccountSearchField: String, Sendable, CaseIterable {
    case mail, firstName = "first-name", lastName = "last-name"

    var attribute: LDAPFilter.AttributeDescription {
        switch self {
        case .mail: "mail"
        case .firstName: "givenName"
        case .lastName: "sn"
        }
    }
}
