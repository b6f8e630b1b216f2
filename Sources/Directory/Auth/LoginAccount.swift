import Foundation
import LDAPClient
import Logging

/// What authentication reads about an account, in one search as the service account (which
/// may read gwOtpSecret but never userPassword).
public struct LoginAccount: Sendable {
    /// The values of `gwAccountStatus`; anything else (or none) is treated as disabled,
    /// as Dovecot's `(gwAccountStatus=active)` filter does.
    public enum Status: String, Sendable {
        case active, suspended, disabled, deleted
    }

    public static let attributes = [
        "uid", "mail", "cn", "displayName", AttributeName.accountStatus, AttributeName.enabledService, AttributeName.allowedNetwork,
        AttributeName.mailPasswordSet, AttributeName.otpSecret, AttributeName.otpEnabled, AttributeName.otpLastStep, AttributeName.passwordChangedByAdmin,
        AttributeName.lastLoginTime, "authTimestamp", AttributeName.homeWorkspace, AttributeName.memberOf, "entryUUID",
    ]

    public var dn: DistinguishedName
    public var address: String
    public var displayName: String
    public var status: Status
    public var enabledServices: Set<String>
    public var allowedNetworks: [String]
    public var mailPasswordSet: Bool
    /// Base32 text, as `OTPService` stores it.
    public var otpSecret: String?
    public var otpEnabled: Bool
    public var otpLastStep: Int64?
    public var passwordChangedByAdmin: Date?
    /// The newest of `gwLastLoginTime` (the audit log) and `authTimestamp` (slapo-lastbind,
    /// which also sees Dovecot's binds).
    public var lastSuccessfulLogin: Date?
    /// The workspace the account sits in (`o=<ws>` directly below `ou=workspaces`), read from its
    /// position, never from `gwHomeWorkspace`: that attribute is data a writer could point at
    /// another workspace, whose allowed networks the login would then be judged by (issue 11).
    public var homeWorkspace: DistinguishedName?
    public var memberOf: [DistinguishedName]
    /// Keys the per-account count of wrong OTP codes (``OTPFailureLimit``).
    public var entryUUID: String?

    public init(entry: LDAPEntry) throws {
        dn = try DistinguishedName(entry.dn)
        address = entry.string("mail") ?? ""
        displayName = entry.string("displayName") ?? entry.string("cn") ?? entry.string("uid") ?? ""
        status = entry.string(AttributeName.accountStatus).flatMap { Status(rawValue: $0.lowercased()) } ?? .disabled
        enabledServices = Set(entry.strings(AttributeName.enabledService).map { $0.lowercased() })
        allowedNetworks = entry.strings(AttributeName.allowedNetwork)
        mailPasswordSet = entry.string(AttributeName.mailPasswordSet)?.uppercased() == "TRUE"
        otpSecret = entry.string(AttributeName.otpSecret)
        otpEnabled = entry.string(AttributeName.otpEnabled)?.uppercased() == "TRUE"
        otpLastStep = entry.string(AttributeName.otpLastStep).flatMap { Int64($0) }
        passwordChangedByAdmin = entry.string(AttributeName.passwordChangedByAdmin).flatMap(GeneralizedTime.parse)
        lastSuccessfulLogin = [entry.string(AttributeName.lastLoginTime), entry.string("authTimestamp")]
            .compactMap { $0.flatMap(GeneralizedTime.parse) }.max()
        homeWorkspace = Self.enclosingWorkspace(of: dn)
        // slapd's memberof overlay writes these; one that does not parse is a broken entry, not "no role".
        memberOf = try entry.strings(AttributeName.memberOf).map { try DistinguishedName($0) }
        entryUUID = entry.string("entryUUID")
    }

    /// The `o=` ancestor directly below an `ou=workspaces` RDN, if any.
    static func enclosingWorkspace(of dn: DistinguishedName) -> DistinguishedName? {
        var current = dn
        while let parent = current.parent, !parent.isEmpty {
            if current.rdn?.type.lowercased() == "o", parent.rdn?.type.lowercased() == "ou", parent.rdn?.value?.lowercased() == "workspaces" {
                return current
            }
            current = parent
        }
        return nil
    }

    /// The bindable entry holding the mail-only password.
    public var mailCredentialDN: DistinguishedName {
        try! dn.child(type: "cn", value: MailPasswordService.credentialName)
    }
}

/// The login checks that need no I/O, in the order ``Authenticator`` applies them.
public enum LoginRules {
    /// Step "status": nil when the account may log in.
    public static func statusReason(_ status: LoginAccount.Status) -> LoginFailureReason? {
        switch status {
        case .active: nil
        case .suspended: .accountSuspended
        case .disabled: .accountDisabled
        case .deleted: .unauthorizedUser
        }
    }

    /// Step "protocol": mail logins need their protocol in `gwEnabledService`; any missing
    /// one is `pop3_disabled` (the spec's name for all three).
    public static func protocolReason(_ type: LoginType, enabledServices: Set<String>) -> LoginFailureReason? {
        guard type.isMailProtocol else { return nil }
        return enabledServices.contains(type.rawValue) ? nil : .pop3Disabled
    }

    /// Step "allowed networks": the workspace's and the account's lists must both allow the
    /// address (an empty list allows all). Fails closed: an unknown address, or a list with
    /// an entry that is not a CIDR block, refuses the login when a restriction exists.
    public static func networkReason(
        ip: IPAddress?, workspace: [String], account: [String], logger: Logger = DirectoryLogging.auth
    ) -> LoginFailureReason? {
        for (list, entries) in [("workspace", workspace), ("account", account)] where entries.contains(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            let networks: AllowedNetworks
            do {
                networks = try AllowedNetworks(parsing: entries)
            } catch {
                // Refused all the same, but an admin has to learn which entry locks everyone out.
                logger.warning("gwAllowedNetwork holds an entry that is not a CIDR block; refusing the login",
                               metadata: ["list": "\(list)", "error": "\(error)"])
                return .ipNotAllowed
            }
            guard let ip, networks.allows(ip) else { return .ipNotAllowed }
        }
        return nil
    }

    /// Step "password changed by admin": a wrong account password is reported as
    /// `password_changed_by_admin` while an admin reset (`gwPasswordChangedByAdmin`) is newer
    /// than the account's last successful login, i.e. the user is most likely typing the old
    /// password. The first successful login ends it (the authenticator also clears the mark).
    public static func isPasswordChangedByAdmin(changedAt: Date?, lastSuccessfulLogin: Date?) -> Bool {
        guard let changedAt else { return false }
        guard let lastSuccessfulLogin else { return true }
        return lastSuccessfulLogin < changedAt
    }

    /// Whether a failure counts towards the IP auto-block: guesses and refusals the client
    /// caused. Not counted: the block itself, a pending OTP step (the password was right) and
    /// failures of the directory rather than the client.
    public static func countsTowardIPBlock(_ reason: LoginFailureReason) -> Bool {
        switch reason {
        case .autoBlockedIP, .otpRequired, .mailServerError, .timeout, .cannotProcess: false
        default: true
        }
    }

    /// A failure of the directory itself, while authenticating.
    public static func reason(for error: any Error) -> LoginFailureReason {
        switch error {
        case let error as LDAPError:
            return LDAPBindReasonMapper.reason(error.code, passwordPolicy: nil) ?? .cannotProcess
        case let error as DirectoryError:
            switch error.code {
            case .invalidArgument, .notFound: return .unauthorizedUser
            case .unavailable: return .mailServerError
            default: return .cannotProcess
            }
        default:
            return .cannotProcess
        }
    }
}

/// Account look-ups shared by the authentication services (the service account's view).
enum AuthLookup {
    /// The account whose primary address is `address`, or `notFound`.
    static func account(_ address: MailAddress, context: DirectoryContext, attributes: [String]) async throws -> LDAPEntry {
        let result = try await ldapCall("looking up \(address)") {
            try await context.ldap.search(
                base: context.layout.workspaces, scope: .subtree, filter: Account.filter(mail: address),
                attributes: attributes
            )
        }
        guard let entry = result.entries.first else {
            throw DirectoryError(.notFound, "no account with the address \(address)")
        }
        guard result.entries.count == 1 else {
            throw DirectoryError(.failed, "several accounts have the address \(address)")
        }
        return entry
    }

    static func accountDN(_ address: MailAddress, context: DirectoryContext) async throws -> DistinguishedName {
        let entry = try await account(address, context: context, attributes: ["1.1"])
        return try DistinguishedName(entry.dn)
    }
}
