/// Maps the outcome of an LDAP simple bind (the password check behind every login) to a
/// ``LoginFailureReason``, from plain values so it is testable without a server.
///
/// Rows are tried top to bottom; the first that matches wins. "ppolicy" is the error of the
/// Password Policy response control (draft-behera-ldap-password-policy §6.2), `text` the
/// server's diagnostic message, matched case-insensitively. Negative codes are libldap's
/// client-side `LDAP_*` errors (ldap.h), e.g. −1 is `LDAP_SERVER_DOWN`.
///
/// | LDAP result                         | ppolicy / text                    | reason                       |
/// |-------------------------------------|-----------------------------------|------------------------------|
/// | any                                 | ppolicy 1 accountLocked           | `login_blocked`              |
/// | 0 success                           | ppolicy 2 changeAfterReset        | `password_changed_by_admin`  |
/// | 0 success                           | otherwise                         | nil (not a failure)          |
/// | 49 invalidCredentials               | ppolicy 0 passwordExpired         | `login_blocked`              |
/// | 49 invalidCredentials               | text has "locked" or "lockout"    | `login_blocked`              |
/// | 49 invalidCredentials               | otherwise                         | `wrong_password`             |
/// | 53 unwillingToPerform               | text has "locked" or "lockout"    | `login_blocked`              |
/// | 53 unwillingToPerform               | text has "disabled"               | `account_disabled`           |
/// | 53 unwillingToPerform               | otherwise                         | `cannot_process`             |
/// | 32 noSuchObject                     |                                   | `unauthorized_user`          |
/// | 3 timeLimitExceeded, −5 TIMEOUT     |                                   | `timeout`                    |
/// | 1 operationsError, 51 busy, 52 unavailable, 80 other |                | `mail_server_error`          |
/// | −1 SERVER_DOWN, −2 LOCAL_ERROR, −3 ENCODING_ERROR |                    | `mail_server_error`          |
/// | −4 DECODING_ERROR, −10 NO_MEMORY, −11 CONNECT_ERROR |                  | `mail_server_error`          |
/// | anything else (2 protocolError, 7, 8, 13, 34, 50, …) |                  | `cannot_process`             |
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
/// - Result codes that mean the directory, not the user, is at fault are reported as
///   `mail_server_error`, the reason the admin manual uses for backend failures; codes that
///   mean the request itself is unusable are `cannot_process`.
public enum LDAPBindReasonMapper: Sendable {
    /// Password Policy control errors (draft-behera-ldap-password-policy §6.2).
    public enum PasswordPolicyError {
        public static let passwordExpired = 0
        public static let accountLocked = 1
        public static let changeAfterReset = 2
    }

    static let success: Int32 = 0
    static let operationsError: Int32 = 1
    static let timeLimitExceeded: Int32 = 3
    static let noSuchObject: Int32 = 32
    static let invalidCredentials: Int32 = 49
    static let busy: Int32 = 51
    static let unavailable: Int32 = 52
    static let unwillingToPerform: Int32 = 53
    static let other: Int32 = 80
    // libldap's client-side API errors (ldap.h).
    static let serverDown: Int32 = -1
    static let localError: Int32 = -2
    static let encodingError: Int32 = -3
    static let decodingError: Int32 = -4
    static let clientTimeout: Int32 = -5
    static let noMemory: Int32 = -10
    static let connectError: Int32 = -11

    static let serverFaults: Set<Int32> = [
        operationsError, busy, unavailable, other,
        serverDown, localError, encodingError, decodingError, noMemory, connectError,
    ]

    /// The failure reason for a bind outcome, or nil when the bind succeeded and nothing in
    /// the policy control prevents the login. See the table above.
    public static func reason(
        resultCode: Int32,
        diagnosticMessage: String,
        passwordPolicyError: Int?
    ) -> LoginFailureReason? {
        if passwordPolicyError == PasswordPolicyError.accountLocked { return .loginBlocked }
        let text = diagnosticMessage.lowercased()
        let saysLocked = text.contains("locked") || text.contains("lockout")
        switch resultCode {
        case success:
            return passwordPolicyError == PasswordPolicyError.changeAfterReset ? .passwordChangedByAdmin : nil
        case invalidCredentials:
            if passwordPolicyError == PasswordPolicyError.passwordExpired || saysLocked { return .loginBlocked }
            return .wrongPassword
        case unwillingToPerform:
            if saysLocked { return .loginBlocked }
            if text.contains("disabled") { return .accountDisabled }
            return .cannotProcess
        case noSuchObject:
            return .unauthorizedUser
        case timeLimitExceeded, clientTimeout:
            return .timeout
        case _ where serverFaults.contains(resultCode):
            return .mailServerError
        default:
            return .cannotProcess
        }
    }
}
