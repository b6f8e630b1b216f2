/// Why a login failed (spec §5). The raw value is the stable code stored in audit entries
/// and returned by the API; labels are for people and may be reworded.
public enum LoginFailureReason: String, Sendable, Hashable, CaseIterable, Labelled {
    case wrongPassword = "wrong_password"
    case ipNotAllowed = "ip_not_allowed"
    /// Locked out by the password policy (slapd ppolicy): repeated wrong passwords, or an
    /// expired password with no grace logins left.
    case loginBlocked = "login_blocked"
    case accountDisabled = "account_disabled"
    case accountSuspended = "account_suspended"
    /// No such account in the workspace.
    case unauthorizedUser = "unauthorized_user"
    case wrongOTP = "wrong_otp"
    case otpRequired = "otp_required"
    /// Any mail protocol (POP3, IMAP or SMTP) not enabled for the account; the code keeps
    /// the spec's historical name.
    case pop3Disabled = "pop3_disabled"
    case passwordChangedByAdmin = "password_changed_by_admin"
    case autoBlockedIP = "auto_blocked_ip"
    case mailServerError = "mail_server_error"
    case sendingNotAllowed = "sending_not_allowed"
    case quotaExceeded = "quota_exceeded"
    case timeout = "timeout"
    case cannotProcess = "cannot_process"

    public var englishLabel: String {
        switch self {
        case .wrongPassword: "Wrong password"
        case .ipNotAllowed: "IP address not allowed"
        case .loginBlocked: "Login blocked (account locked)"
        case .accountDisabled: "Account disabled"
        case .accountSuspended: "Account suspended"
        case .unauthorizedUser: "Unauthorized user"
        case .wrongOTP: "Wrong OTP code"
        case .otpRequired: "OTP required"
        case .pop3Disabled: "Protocol not allowed (POP3/IMAP/SMTP)"
        case .passwordChangedByAdmin: "Password changed by administrator"
        case .autoBlockedIP: "IP address automatically blocked"
        case .mailServerError: "Mail server error"
        case .sendingNotAllowed: "Sending not allowed"
        case .quotaExceeded: "Mailbox quota exceeded"
        case .timeout: "Timed out"
        case .cannotProcess: "Request could not be processed"
        }
    }

    public var koreanLabel: String {
        switch self {
        case .wrongPassword: "비밀번호 오류"
        case .ipNotAllowed: "허용되지 않은 IP"
        case .loginBlocked: "로그인 차단 (계정 잠김)"
        case .accountDisabled: "사용 중지된 계정"
        case .accountSuspended: "일시 정지된 계정"
        case .unauthorizedUser: "등록되지 않은 사용자"
        case .wrongOTP: "OTP 인증번호 오류"
        case .otpRequired: "OTP 인증 필요"
        case .pop3Disabled: "허용되지 않은 프로토콜 (POP3/IMAP/SMTP)"
        case .passwordChangedByAdmin: "관리자가 비밀번호를 변경함"
        case .autoBlockedIP: "IP 자동 차단"
        case .mailServerError: "메일 서버 오류"
        case .sendingNotAllowed: "메일 발송 제한"
        case .quotaExceeded: "메일함 용량 초과"
        case .timeout: "시간 초과"
        case .cannotProcess: "요청을 처리할 수 없음"
        }
    }
}
