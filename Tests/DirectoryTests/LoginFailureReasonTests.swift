import Testing

import Directory
import LDAPClient

@Suite struct LoginFailureReasonTests {
    @Test func stableCodes() {
        #expect(LoginFailureReason.allCases.map(\.rawValue) == [
            "wrong_password", "ip_not_allowed", "login_blocked", "account_disabled",
            "account_suspended", "unauthorized_user", "wrong_otp", "otp_required",
            "pop3_disabled", "password_changed_by_admin", "auto_blocked_ip", "mail_server_error",
            "sending_not_allowed", "quota_exceeded", "timeout", "cannot_process",
        ])
        for reason in LoginFailureReason.allCases {
            #expect(LoginFailureReason(rawValue: reason.rawValue) == reason)
        }
    }

    @Test func everyReasonHasDistinctLabelsInBothLanguages() {
        let english = LoginFailureReason.allCases.map(\.englishLabel)
        let korean = LoginFailureReason.allCases.map(\.koreanLabel)
        #expect(Set(english).count == english.count)
        #expect(Set(korean).count == korean.count)
        for label in korean {
            #expect(label.unicodeScalars.contains { (0xAC00...0xD7A3).contains($0.value) }, "\(label) has Hangul")
        }
    }

    @Test func labelsForLocales() {
        #expect(LoginFailureReason.wrongPassword.label(forLocale: "ko_KR.UTF-8") == "비밀번호 오류")
        #expect(LoginFailureReason.wrongPassword.label(forLocale: "en_US.UTF-8") == "Wrong password")
        #expect(LoginFailureReason.wrongPassword.label(for: .korean) == "비밀번호 오류")
        #expect(LoginFailureReason.pop3Disabled.label(for: .english) == "Protocol not allowed (POP3/IMAP/SMTP)")
        #expect(LoginFailureReason.pop3Disabled.label(for: .korean).contains("POP3/IMAP/SMTP"))
    }

    @Test(arguments: [
        ("ko_KR.UTF-8", DisplayLanguage.korean), ("ko_KR", .korean), ("ko-KR", .korean), ("ko", .korean),
        ("KO_KR.utf8", .korean), ("ko_KR.eucKR", .korean), ("ko@euro", .korean),
        ("en_US.UTF-8", .english), ("C", .english), ("POSIX", .english), ("C.UTF-8", .english),
        ("", .english), ("kok_IN", .english), ("ja_JP.UTF-8", .english),
    ])
    func languageFromLang(lang: String, expected: DisplayLanguage) {
        #expect(DisplayLanguage(lang: lang) == expected)
    }

    @Test func languageFromEnvironmentFollowsPOSIXPrecedence() {
        #expect(DisplayLanguage(lang: nil) == .english)
        #expect(DisplayLanguage(environment: [:]) == .english)
        #expect(DisplayLanguage(environment: ["LANG": "ko_KR.UTF-8"]) == .korean)
        #expect(DisplayLanguage(environment: ["LANG": "ko_KR.UTF-8", "LC_ALL": "C"]) == .english)
        #expect(DisplayLanguage(environment: ["LANG": "en_US.UTF-8", "LC_MESSAGES": "ko_KR.UTF-8"]) == .korean)
        #expect(DisplayLanguage(environment: ["LANG": "ko_KR.UTF-8", "LC_ALL": ""]) == .korean)
    }
}

@Suite struct LDAPBindReasonMapperTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var code: LDAPError.Code
        var ppolicy: PasswordPolicyResponse.Error? = nil
        var expected: LoginFailureReason?
        var testDescription: String { "\(code.rawValue) ppolicy=\(ppolicy.map { "\($0)" } ?? "-")" }
    }

    /// The rows a bind adds to the shared classification; every other code's reason is in
    /// `DirectoryErrorMappingTests.rows`.
    static let rows: [Row] = [
        // ppolicy accountLocked wins over any result.
        Row(code: .invalidCredentials, ppolicy: .accountLocked, expected: .loginBlocked),
        Row(code: .unwillingToPerform, ppolicy: .accountLocked, expected: .loginBlocked),
        // Success, with and without a policy error.
        Row(code: .success, expected: nil),
        Row(code: .success, ppolicy: .changeAfterReset, expected: .passwordChangedByAdmin),
        Row(code: .success, ppolicy: .passwordExpired, expected: nil),
        // invalidCredentials.
        Row(code: .invalidCredentials, expected: .wrongPassword),
        Row(code: .invalidCredentials, ppolicy: .passwordExpired, expected: .loginBlocked),
        Row(code: .invalidCredentials, ppolicy: .insufficientPasswordQuality, expected: .wrongPassword),
        // unwillingToPerform without the control (e.g. an unauthenticated bind refused).
        Row(code: .unwillingToPerform, expected: .cannotProcess),
        Row(code: .noSuchObject, expected: .unauthorizedUser),
        Row(code: .timeLimitExceeded, expected: .timeout),
        Row(code: .timeout, expected: .timeout),
        Row(code: .busy, expected: .mailServerError),
        Row(code: .serverDown, expected: .mailServerError),
        Row(code: .insufficientAccessRights, expected: .cannotProcess),
        // A code no constant names: the server's fault.
        Row(code: LDAPError.Code(rawValue: 4242), expected: .mailServerError),
    ]

    @Test(arguments: rows)
    func mapsEveryRow(_ row: Row) {
        #expect(LDAPBindReasonMapper.reason(row.code, passwordPolicy: row.ppolicy) == row.expected)
    }

    @Test func aFailedBindAlwaysHasAReason() {
        for code in LDAPError.Code.allKnown {
            let error = LDAPError(code: code, operation: .bind)
            #expect(LDAPBindReasonMapper.reason(for: error) == (LDAPBindReasonMapper.reason(code, passwordPolicy: nil) ?? .cannotProcess))
        }
    }
}
