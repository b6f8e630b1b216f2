import Testing

import Directory

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
        var code: Int32
        var text: String = ""
        var ppolicy: Int? = nil
        var expected: LoginFailureReason?
        var testDescription: String { "\(code) \(text.isEmpty ? "" : "'\(text)' ")ppolicy=\(ppolicy.map(String.init) ?? "-")" }
    }

    static let rows: [Row] = [
        // ppolicy accountLocked wins over any result.
        Row(code: 49, ppolicy: 1, expected: .loginBlocked),
        Row(code: 53, ppolicy: 1, expected: .loginBlocked),
        // Success, with and without a policy error.
        Row(code: 0, expected: nil),
        Row(code: 0, ppolicy: 2, expected: .passwordChangedByAdmin),
        // invalidCredentials.
        Row(code: 49, expected: .wrongPassword),
        Row(code: 49, ppolicy: 0, expected: .loginBlocked),
        Row(code: 49, text: "Account is LOCKED", expected: .loginBlocked),
        Row(code: 49, text: "account lockout in effect", expected: .loginBlocked),
        Row(code: 49, ppolicy: 5, expected: .wrongPassword),
        // unwillingToPerform.
        Row(code: 53, text: "Account locked", expected: .loginBlocked),
        Row(code: 53, text: "account is disabled", expected: .accountDisabled),
        Row(code: 53, text: "unauthenticated bind (DN with no password) disallowed", expected: .cannotProcess),
        // noSuchObject.
        Row(code: 32, expected: .unauthorizedUser),
        // Timeouts.
        Row(code: 3, expected: .timeout),
        Row(code: -5, expected: .timeout),
        // The directory's fault.
        Row(code: 1, expected: .mailServerError),
        Row(code: 51, expected: .mailServerError),
        Row(code: 52, expected: .mailServerError),
        Row(code: 80, expected: .mailServerError),
        Row(code: -1, expected: .mailServerError),
        Row(code: -2, expected: .mailServerError),
        Row(code: -3, expected: .mailServerError),
        Row(code: -4, expected: .mailServerError),
        Row(code: -10, expected: .mailServerError),
        Row(code: -11, expected: .mailServerError),
        // Anything else.
        Row(code: 2, expected: .cannotProcess),
        Row(code: 7, expected: .cannotProcess),
        Row(code: 8, expected: .cannotProcess),
        Row(code: 13, expected: .cannotProcess),
        Row(code: 34, expected: .cannotProcess),
        Row(code: 50, expected: .cannotProcess),
        Row(code: -12, expected: .cannotProcess),
    ]

    @Test(arguments: rows)
    func mapsEveryRow(_ row: Row) {
        #expect(
            LDAPBindReasonMapper.reason(resultCode: row.code, diagnosticMessage: row.text, passwordPolicyError: row.ppolicy)
                == row.expected
        )
    }
}
