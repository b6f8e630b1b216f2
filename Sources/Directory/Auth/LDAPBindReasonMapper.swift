import LDAPClient

/// Maps the outcome of an LDAP simple bind (the password check behind every login) to a
/// ``LoginFailureReason``, from plain values so it is testable without a server.
///
/// The codes are `LDAPError.Code`'s; what a bind adds to the shared classification
/// (`DirectoryError.Code(_: LDAPError.Code)`) is the handful of rows that tell a user's
/// mistake from a lockout. Rows are tried top to bottom; the first that matches wins.
/// "ppolicy" is the error of the Password Policy response control
/// (draft-behera-ldap-password-policy §6.2).
///
/// | LDAP result                          | ppolicy                   | reason                       |
/// |--------------------------------------|---------------------------|------------------------------|
/// | any                                  | accountLocked             | `login_blocked`              |
/// | success                              | changeAfterReset          | `password_changed_by_admin`  |
/// | success                              | otherwise                 | nil (not a failure)          |
/// | invalidCredentials                   | passwordExpired           | `login_blocked`              |
/// | invalidCredentials                   | otherwise                 | `wrong_password`             |
/// | noSuchObject                         |                           | `unauthorized_user`          |
/// | timeLimitExceeded, timeout (client)  |                           | `timeout`                    |
/// | domain `.unavailable` or `.failed`   |                           | `mail_server_error`          |
/// | anything else (unwillingToPerform, insufficientAccessRights, invalidDNSyntax, …) | | `cannot_process` |
///
/// Why these choices:
/// - slapd hides whether a DN exists behind 49, so 49 is a wrong password; 32 only appears
///   from servers that do not, and then means no such account.
/// - An expired password without grace logins is refused with 49 + passwordExpired; the
///   account is effectively locked until the password is reset, hence `login_blocked`.
/// - After an administrator reset with `pwdMustChange`, slapd accepts the bind but returns
///   changeAfterReset and allows nothing but a password change: the user must pick a new
///   password, which is `password_changed_by_admin`. (A bind with the *old* password gets a
///   plain 49; telling that apart needs the entry's `pwdReset`, which the caller reads.)
/// - Codes the shared mapping calls the directory's fault (unreachable, busy, internal errors)
///   are `mail_server_error`, the reason the admin manual uses for backend failures; the rest
///   mean the request itself is unusable: `cannot_process`.
/// - No diagnostic text is read. slapd's ppolicy reports a lockout only through the control,
///   which every password check requests; a disabled account is the entry's `gwAccountStatus`,
///   read by the caller. (An earlier version matched "locked"/"disabled" in the message, for
///   servers this project does not target.)
public enum LDAPBindReasonMapper: Sendable {
    /// The failure reason for a bind outcome, or nil when the bind succeeded and nothing in
    /// the policy control prevents the login. See the table above.
    public static func reason(_ code: LDAPError.Code, passwordPolicy: PasswordPolicyResponse.Error?) -> LoginFailureReason? {
        if passwordPolicy == .accountLocked { return .loginBlocked }
        switch code {
        case .success:
            return passwordPolicy == .changeAfterReset ? .passwordChangedByAdmin : nil
        case .invalidCredentials:
            return passwordPolicy == .passwordExpired ? .loginBlocked : .wrongPassword
        case .noSuchObject:
            return .unauthorizedUser
        case .timeLimitExceeded, .timeout:
            return .timeout
        default:
            switch DirectoryError.Code(code) {
            case .unavailable, .failed: return .mailServerError
            default: return .cannotProcess
            }
        }
    }

    /// The reason for a failed bind (or a success carrying a policy error).
    public static func reason(for error: LDAPError) -> LoginFailureReason {
        reason(error.code, passwordPolicy: error.passwordPolicy?.error) ?? .cannotProcess
    }
}
