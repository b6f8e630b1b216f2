import Foundation
import LDAPClient

/// One login attempt as a client sends it (web form, app, or a mail server asking for IMAP,
/// POP3 or SMTP).
public struct LoginRequest: Sendable {
    /// A primary address (`alice@acme.com`) or, with `workspace`, a login id (`alice`).
    public var login: String
    /// The workspace the user picked; required for a login id, optional for an address
    /// (then the account must belong to it).
    public var workspace: String?
    public var password: String
    /// The TOTP code, for web and app logins of accounts with OTP enabled.
    public var otp: String?
    /// The client's address; nil when unknown (then allowed-network rules refuse the login
    /// if any apply, and the IP auto-block is skipped).
    public var ip: IPAddress?
    public var client: ClientDescription

    public init(
        login: String, workspace: String? = nil, password: String, otp: String? = nil,
        ip: IPAddress? = nil, client: ClientDescription
    ) {
        self.login = login
        self.workspace = workspace
        self.password = password
        self.otp = otp
        self.ip = ip
        self.client = client
    }

    public var loginType: LoginType { client.loginType }
}

/// A workspace a login belongs to.
public struct WorkspaceMembership: Sendable, Hashable {
    public var id: String
    public var dn: DistinguishedName
    public var displayName: String?
    /// The workspace holding the account's mailbox; every other one is a guest membership.
    public var isHome: Bool

    public init(id: String, dn: DistinguishedName, displayName: String?, isHome: Bool) {
        self.id = id
        self.dn = dn
        self.displayName = displayName
        self.isHome = isHome
    }
}

/// Who logged in.
public struct LoginSuccess: Sendable, Hashable {
    public var accountDN: DistinguishedName
    public var address: String
    public var displayName: String
    /// The home workspace first, then guest memberships by id.
    public var workspaces: [WorkspaceMembership]

    public init(accountDN: DistinguishedName, address: String, displayName: String, workspaces: [WorkspaceMembership]) {
        self.accountDN = accountDN
        self.address = address
        self.displayName = displayName
        self.workspaces = workspaces
    }
}

public enum LoginResponse: Sendable, Hashable {
    case success(LoginSuccess)
    case failure(LoginFailureReason)

    public var reason: LoginFailureReason? {
        if case .failure(let reason) = self { return reason }
        return nil
    }

    public var success: LoginSuccess? {
        if case .success(let success) = self { return success }
        return nil
    }

    public var outcome: LoginOutcome {
        switch self {
        case .success: .success
        case .failure(let reason): .failure(reason)
        }
    }
}
