import Foundation
import LDAPClient
import Logging

/// Logs a user in (spec §5, §6): finds the account as the service account, applies the
/// login policies, lets slapd check the password, then the OTP code, and returns the account
/// with every workspace it belongs to, or the reason it was refused.
///
/// Checks, in order; the first that fails is the reason:
///
/// 1. IP auto-block (``IPBlockService``) → `auto_blocked_ip`. Before anything else, so a
///    blocked address learns nothing and costs one read.
/// 2. The account exists: a primary address, or a login id in the given workspace; with an
///    address and a workspace, the account must belong to that workspace. Deleted accounts
///    do not exist here → `unauthorized_user`.
/// 3. Allowed networks of the workspace logged into (the given one, else the home one) and
///    of the account → `ip_not_allowed`.
/// 4. Status → `account_suspended`, `account_disabled`.
/// 5. Mail logins: the protocol is in `gwEnabledService` → `pop3_disabled`; an account with
///    OTP enabled logs in to mail with a mail-only password only → `otp_required` while it has
///    none (a mail client can not send a code, and the account password alone must not open
///    the mailbox; Dovecot's passdb applies the same rule).
/// 6. Password, by a bind as the account (mail logins: as `cn=mail-password,<account>`
///    while a mail-only password is set) → `wrong_password`, `login_blocked` (ppolicy lockout).
///    A wrong account password after an admin reset the user has not logged in since is
///    `password_changed_by_admin` (``LoginRules/isPasswordChangedByAdmin(changedAt:lastSuccessfulLogin:)``).
/// 7. Web and app logins of accounts with OTP enabled: `otp_required` without a code,
///    `login_blocked` while the account has had too many wrong codes (``OTPFailureLimit``:
///    5 in 15 minutes, from any IP, even with the right code now), `wrong_otp` for a wrong
///    or already used one, which counts toward that limit. Mail logins never ask for a code.
///
/// Every attempt is reported to the recorder, and every failure the client caused counts
/// toward the IP auto-block. Neither write changes the outcome: a login does not fail
/// because the audit log is unavailable.
public struct Authenticator: Sendable {
    public var context: DirectoryContext
    public var passwords: any PasswordVerifier
    public var recorder: (any LoginRecorder)?
    public var ipBlocks: IPBlockService
    public var otp: OTPService
    /// Failures that must not change a login's outcome (recording, the IP counter) are logged
    /// here with their cause rather than dropped.
    public var logger: Logger

    public init(
        context: DirectoryContext, passwords: any PasswordVerifier, recorder: (any LoginRecorder)? = nil,
        ipBlockPolicy: IPBlockPolicy = .standard, otpFailureLimit: OTPFailureLimit = .standard,
        logger: Logger = DirectoryLogging.auth
    ) {
        self.logger = logger
        self.context = context
        self.passwords = passwords
        self.recorder = recorder
        self.ipBlocks = IPBlockService(context: context, policy: ipBlockPolicy, otpLimit: otpFailureLimit)
        self.otp = OTPService(context: context)
    }

    public func login(_ request: LoginRequest) async -> LoginResponse {
        let now = context.now()
        var account: LoginAccount?
        let response: LoginResponse
        do {
            response = try await evaluate(request, now: now, account: &account)
        } catch {
            response = .failure(LoginRules.reason(for: error))
        }
        if let reason = response.reason, let ip = request.ip, LoginRules.countsTowardIPBlock(reason) {
            do {
                _ = try await ipBlocks.recordFailure(ip, at: now)
            } catch {
                logger.error("counting a failed login toward the IP auto-block failed", metadata: ["ip": "\(ip)", "error": "\(error)"])
            }
        }
        if let recorder {
            let event = LoginEvent(
                time: now, accountDN: account?.dn, loginName: request.login, type: request.loginType,
                client: request.client.clientCode, ip: request.ip, country: nil, outcome: response.outcome
            )
            do {
                try await recorder.record(event)
            } catch {
                logger.error("recording a login in the audit log failed", metadata: [
                    "login": "\(request.login)", "type": "\(request.loginType.rawValue)", "error": "\(error)",
                ])
            }
        }
        return response
    }

    private func evaluate(_ request: LoginRequest, now: Date, account resolved: inout LoginAccount?) async throws -> LoginResponse {
        if let ip = request.ip, try await ipBlocks.isBlocked(ip, at: now) {
            return .failure(.autoBlockedIP)
        }
        guard let account = try await findAccount(request), account.status != .deleted else {
            return .failure(.unauthorizedUser)
        }
        resolved = account
        let workspaceDN = try request.workspace.map { try context.layout.workspace($0) } ?? account.homeWorkspace
        var workspaceNetworks: [String] = []
        if let workspaceDN { workspaceNetworks = try await allowedNetworks(of: workspaceDN) }
        if let reason = LoginRules.networkReason(ip: request.ip, workspace: workspaceNetworks, account: account.allowedNetworks, logger: logger)
            ?? LoginRules.statusReason(account.status)
            ?? LoginRules.protocolReason(request.loginType, enabledServices: account.enabledServices)
        {
            return .failure(reason)
        }

        if request.loginType.isMailProtocol, account.otpEnabled, !account.mailPasswordSet {
            return .failure(.otpRequired)
        }
        let usesMailPassword = request.loginType.isMailProtocol && account.mailPasswordSet
        let bindDN = usesMailPassword ? account.mailCredentialDN : account.dn
        if let reason = await passwords.verify(dn: bindDN, password: request.password) {
            if reason == .wrongPassword, !usesMailPassword,
               LoginRules.isPasswordChangedByAdmin(changedAt: account.passwordChangedByAdmin, lastSuccessfulLogin: account.lastSuccessfulLogin)
            {
                return .failure(.passwordChangedByAdmin)
            }
            return .failure(reason)
        }
        if !usesMailPassword, account.passwordChangedByAdmin != nil {
            // The user knows the new password now; an old one is just wrong from here on.
            do {
                _ = try await context.ldap.modify(dn: account.dn, [.replace(AttributeName.passwordChangedByAdmin, [])])
            } catch {
                logger.warning("clearing gwPasswordChangedByAdmin failed", metadata: ["account": "\(account.dn)", "error": "\(error)"])
            }
        }

        if !request.loginType.isMailProtocol, account.otpEnabled {
            guard let code = request.otp, !code.isEmpty else { return .failure(.otpRequired) }
            // Without its entryUUID the account's wrong codes could not be counted: fail closed.
            guard let uuid = account.entryUUID else { return .failure(.cannotProcess) }
            if let refusal = try await ipBlocks.otpRefusal(accountUUID: uuid, at: now) { return .failure(refusal) }
            guard let secret = account.otpSecret.flatMap(Base32.decode), !secret.isEmpty else { return .failure(.cannotProcess) }
            let verification = try await otp.consume(code, secret: secret, lastStep: account.otpLastStep, accountDN: account.dn)
            guard verification.isAccepted else {
                if OTPFailureLimit.countsAsWrongCode(verification) { try await ipBlocks.recordWrongOTP(accountUUID: uuid, at: now) }
                return .failure(.wrongOTP)
            }
        }

        return .success(LoginSuccess(
            accountDN: account.dn, address: account.address, displayName: account.displayName,
            workspaces: try await memberships(of: account)
        ))
    }

    /// Step 2: the account named by the request, nil when there is none (or the login is
    /// not well-formed).
    private func findAccount(_ request: LoginRequest) async throws -> LoginAccount? {
        let login = request.login.trimmingBlanks()
        let base: DistinguishedName
        let filter: LDAPFilter
        if login.contains("@") {
            guard let address = try? MailAddress(login) else { return nil }
            base = context.layout.workspaces
            filter = Account.filter(mail: address)
        } else {
            guard let workspace = request.workspace, let dn = try? context.layout.workspace(workspace),
                  let uid = try? EntryName.validate(login, what: "login id")
            else { return nil }
            base = dn
            filter = .and([.equal("objectClass", ObjectClassName.account), .equal("uid", uid)])
        }
        let entries: [LDAPEntry]
        do {
            entries = try await context.ldap.search(base: base, scope: .subtree, filter: filter, attributes: LoginAccount.attributes).entries
        } catch let error as LDAPError where error.code == .noSuchObject {
            return nil
        }
        guard let entry = entries.first else { return nil }
        // Two accounts for one login (a uid the service should have refused): fail closed.
        guard entries.count == 1 else { throw DirectoryError(.failed, "several accounts match \(login)") }
        let account = try LoginAccount(entry: entry)
        if let workspace = request.workspace, login.contains("@") {
            let wanted = try context.layout.workspace(workspace)
            guard workspaceDNs(of: account).contains(wanted.normalizedForComparison) else { return nil }
        }
        return account
    }

    private func allowedNetworks(of workspace: DistinguishedName) async throws -> [String] {
        try await context.ldap.entry(workspace, attributes: [AttributeName.allowedNetwork])?.strings(AttributeName.allowedNetwork) ?? []
    }

    /// Home first: the workspace the entry sits in.
    private func homeDN(of account: LoginAccount) -> DistinguishedName? { account.homeWorkspace }

    /// Guest memberships: `cn=members,o=<ws>` groups the account is in (slapo-memberof),
    /// the authority for membership; `gwMemberWorkspace` is only a hint and is not trusted.
    private func guestDNs(of account: LoginAccount) -> [DistinguishedName] {
        account.memberOf.compactMap { group in
            guard let rdn = group.rdn, rdn.type.lowercased() == "cn", rdn.value?.lowercased() == "members",
                  let workspace = group.parent, workspace.parent?.normalizedForComparison == context.layout.workspaces.normalizedForComparison
            else { return nil }
            return workspace
        }
    }

    private func workspaceDNs(of account: LoginAccount) -> [DistinguishedName] {
        ([homeDN(of: account)].compactMap { $0 } + guestDNs(of: account)).map(\.normalizedForComparison)
    }

    private func memberships(of account: LoginAccount) async throws -> [WorkspaceMembership] {
        let home = homeDN(of: account)
        var dns = [home].compactMap { $0 }
        for guest in guestDNs(of: account) where !dns.contains(where: { $0.normalizedForComparison == guest.normalizedForComparison }) {
            dns.append(guest)
        }
        let ids = dns.compactMap { $0.rdn?.value }
        guard !ids.isEmpty else { return [] }
        let entries = try await context.ldap.search(
            base: context.layout.workspaces, scope: .oneLevel,
            filter: .and([.equal("objectClass", ObjectClassName.workspace), .or(ids.map { .equal("o", $0) })]),
            attributes: ["o", "displayName"]
        ).entries
        var names: [String: String] = [:]
        for entry in entries {
            if let dn = try? DistinguishedName(entry.dn) { names[dn.normalizedForComparison.description] = entry.string("displayName") }
        }
        let existing = Set(entries.compactMap { try? DistinguishedName($0.dn).normalizedForComparison.description })
        let memberships = dns.filter { existing.contains($0.normalizedForComparison.description) }.map { dn in
            WorkspaceMembership(
                id: dn.rdn?.value ?? "", dn: dn, displayName: names[dn.normalizedForComparison.description],
                isHome: home.map { $0.normalizedForComparison == dn.normalizedForComparison } ?? false
            )
        }
        return memberships.filter(\.isHome) + memberships.filter { !$0.isHome }.sorted { $0.id < $1.id }
    }
}
