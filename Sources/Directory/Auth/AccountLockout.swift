import Foundation
import LDAPClient

/// The ppolicy lockout of an account (and of its mail-only credential, which has a counter
/// of its own): status and the admin's unlock.
///
/// Who may write the lockout attributes (slapd 2.5.13, checked by AuthPolicyTests):
/// `pwdAccountLockedTime` is user-modifiable, so anyone with `write` on the account (its
/// workspace or unit admins, the service) can delete it, and ppolicy then drops the failure
/// times too. `pwdFailureTime` is NO-USER-MODIFICATION: clearing failures of an account that
/// is not (yet) locked needs `manage` plus the Relax Rules control, which only the service
/// account `cn=gwdir` and root have. `unlock` therefore runs as the service and clears both.
public struct AccountLockout: Sendable {
    public var context: DirectoryContext

    public init(context: DirectoryContext) {
        self.context = context
    }

    public struct Status: Sendable, Hashable {
        public var accountDN: DistinguishedName
        /// When ppolicy locked the account; nil when it is not locked. ppolicy lifts a lock by
        /// itself after `pwdLockoutDuration`, so a time in the past may no longer lock.
        public var lockedAt: Date?
        public var recentFailures: Int
        public var mailCredentialLockedAt: Date?
    }

    private static let attributes = [AttributeName.pwdAccountLockedTime, AttributeName.pwdFailureTime]

    public func status(_ address: MailAddress) async throws -> Status {
        let dn = try await AuthLookup.accountDN(address, context: context)
        let account = try await read(dn)
        let credential = try await read(try dn.child(type: "cn", value: MailPasswordService.credentialName))
        return Status(
            accountDN: dn,
            lockedAt: account?.string(AttributeName.pwdAccountLockedTime).flatMap(GeneralizedTime.parse),
            recentFailures: account?.strings(AttributeName.pwdFailureTime).count ?? 0,
            mailCredentialLockedAt: credential?.string(AttributeName.pwdAccountLockedTime).flatMap(GeneralizedTime.parse)
        )
    }

    /// Clears the lock and the failure count of the account and of its mail-only credential,
    /// and its count of wrong OTP codes (``OTPFailureLimit``). Returns whether anything was cleared.
    @discardableResult
    public func unlock(_ address: MailAddress) async throws -> Bool {
        let dn = try await AuthLookup.accountDN(address, context: context)
        return try await unlock(accountDN: dn)
    }

    @discardableResult
    public func unlock(accountDN dn: DistinguishedName) async throws -> Bool {
        var cleared = false
        for target in [dn, try dn.child(type: "cn", value: MailPasswordService.credentialName)] {
            guard let entry = try await read(target) else { continue }
            let present = Self.attributes.filter { !entry.strings($0).isEmpty }
            guard !present.isEmpty else { continue }
            _ = try await ldapCall("unlocking \(target)") {
                try await context.ldap.modify(dn: target, present.map { .delete($0) }, controls: [.relax])
            }
            cleared = true
        }
        let uuid = try await ldapCall("reading \(dn)") { try await context.ldap.entry(dn, attributes: ["entryUUID"]) }?.string("entryUUID")
        if let uuid, try await IPBlockService(context: context).clearOTPFailures(accountUUID: uuid) { cleared = true }
        return cleared
    }

    private func read(_ dn: DistinguishedName) async throws -> LDAPEntry? {
        try await ldapCall("reading the lockout state of \(dn)") {
            try await context.ldap.entry(dn, attributes: Self.attributes)
        }
    }
}

/// An administrator's password reset, done by the service: sets `userPassword` (ppolicy
/// hashes it) and `gwPasswordChangedByAdmin` = now, so a later login with the old password is
/// reported as `password_changed_by_admin` rather than `wrong_password`; it also clears a
/// lockout, the usual reason for the reset.
public struct AdminPasswordReset: Sendable {
    public var context: DirectoryContext

    public init(context: DirectoryContext) {
        self.context = context
    }

    public func reset(_ address: MailAddress, newPassword: String) async throws {
        let dn = try await AuthLookup.accountDN(address, context: context)
        try await reset(accountDN: dn, newPassword: newPassword)
    }

    public func reset(accountDN dn: DistinguishedName, newPassword: String) async throws {
        guard !newPassword.isEmpty else { throw DirectoryError(.invalidArgument, "the new password must not be empty") }
        _ = try await ldapCall("resetting the password of \(dn)") {
            try await context.ldap.modify(dn: dn, [
                .replace(AttributeName.userPassword, [newPassword]),
                .replace(AttributeName.passwordChangedByAdmin, [GeneralizedTime.format(context.now())]),
            ])
        }
        do {
            try await AccountLockout(context: context).unlock(accountDN: dn)
        } catch let error as DirectoryError where error.code == .permissionDenied {
            // An identity without manage (a raw admin bind, not `--as`, which writes through the
            // service) may not clear ppolicy's failure times; a lock then ends after its duration.
        }
    }
}
