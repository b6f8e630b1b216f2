import Foundation
import LDAPClient

/// Success or failure, the audit log's "result" column.
public enum LoginResult: String, Sendable, Hashable, CaseIterable {
    case success
    case failure
}

/// A login's outcome; a failure always carries its reason.
public enum LoginOutcome: Sendable, Hashable {
    case success
    case failure(LoginFailureReason)

    public var result: LoginResult {
        switch self {
        case .success: .success
        case .failure: .failure
        }
    }

    public var reason: LoginFailureReason? {
        switch self {
        case .success: nil
        case .failure(let reason): reason
        }
    }
}

/// One login attempt as the audit subtree records it (spec §5).
public struct LoginEvent: Sendable, Hashable {
    public var time: Date
    /// The account's DN when the login name resolved to one.
    public var accountDN: DistinguishedName?
    /// The login string as typed, kept even when it matched no account.
    public var loginName: String
    public var type: LoginType
    /// The client code (``ClientDescription/clientCode``): a browser or an app.
    public var client: String
    public var ip: IPAddress?
    /// ISO 3166 country code from the GeoIP database; nil when unknown or none configured.
    public var country: String?
    public var outcome: LoginOutcome
    /// Set when the directory was unreachable as the login was reported: `accountDN` is not
    /// known yet, and the spool's drainer resolves `loginName` to the account when slapd is back.
    public var accountUnresolved: Bool

    public init(
        time: Date,
        accountDN: DistinguishedName?,
        loginName: String,
        type: LoginType,
        client: String,
        ip: IPAddress?,
        country: String?,
        outcome: LoginOutcome,
        accountUnresolved: Bool = false
    ) {
        self.time = time
        self.accountDN = accountDN
        self.loginName = loginName
        self.type = type
        self.client = client
        self.ip = ip
        self.country = country
        self.outcome = outcome
        self.accountUnresolved = accountUnresolved
    }

    public var result: LoginResult { outcome.result }
    public var reason: LoginFailureReason? { outcome.reason }

    /// What must match for two events to share an audit entry; nil for web and app logins,
    /// which are rare enough to keep one entry each.
    public var foldingKey: AuditFoldingKey? {
        foldingKey(account: accountDN.map { .dn($0.description.lowercased()) } ?? .loginName(loginName.lowercased()))
    }

    /// The folding key with the account already normalised (lowercased) by the caller.
    func foldingKey(account: AuditFoldingKey.Account) -> AuditFoldingKey? {
        guard type.isMailProtocol else { return nil }
        return AuditFoldingKey(
            account: account,
            type: type,
            ip: ip,
            result: outcome.result,
            reason: outcome.reason
        )
    }
}
