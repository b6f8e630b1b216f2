import Foundation
import LDAPClient

/// Where authentication reports each attempt. The audit log implements it; the authenticator
/// and the Dovecot policy endpoint only see this, so they stay independent of storage.
public protocol LoginRecorder: Sendable {
    /// Records one attempt (and, on success, the account's last-login attributes).
    /// `event.country` may be nil: the recorder resolves it from `event.ip` when it can.
    func record(_ event: LoginEvent) async throws

    /// Whether it takes events with ``LoginEvent/accountUnresolved`` and finds their account
    /// itself before writing (the spool does, when it has a resolver): a caller may then
    /// record a success without looking the account up first.
    var resolvesAccounts: Bool { get }
}

extension LoginRecorder {
    public var resolvesAccounts: Bool { false }
}

/// Finds the account of a login name for events recorded with
/// ``LoginEvent/accountUnresolved``, and completes a success the way a login at that moment
/// would have (``MailAccountResolver`` for Dovecot's logins).
public protocol LoginAccountResolver: Sendable {
    /// The account whose login `login` is, or nil when there is none.
    func account(of login: String) async throws -> ResolvedLoginAccount?
    /// After a success of `account` at `time` was written: clears an admin-reset mark the
    /// login outdates.
    func loggedIn(_ account: ResolvedLoginAccount, at time: Date) async throws
}

/// An account as ``LoginAccountResolver`` found it.
public struct ResolvedLoginAccount: Sendable, Hashable {
    public var dn: DistinguishedName
    /// An admin reset the password and no mail-only password is set: the next success
    /// clears the mark (as ``Authenticator`` does).
    public var adminResetPending: Bool

    public init(dn: DistinguishedName, adminResetPending: Bool) {
        self.dn = dn
        self.adminResetPending = adminResetPending
    }
}
