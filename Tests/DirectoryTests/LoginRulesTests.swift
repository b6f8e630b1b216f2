import Directory
import Foundation
import LDAPClient
import Testing

/// The I/O-free login checks.
@Suite struct LoginRulesTests {
    @Test func status() {
        #expect(LoginRules.statusReason(.active) == nil)
        #expect(LoginRules.statusReason(.suspended) == .accountSuspended)
        #expect(LoginRules.statusReason(.disabled) == .accountDisabled)
        #expect(LoginRules.statusReason(.deleted) == .unauthorizedUser)
    }

    @Test func protocols() {
        let services: Set<String> = ["imap", "web"]
        #expect(LoginRules.protocolReason(.imap, enabledServices: services) == nil)
        #expect(LoginRules.protocolReason(.pop3, enabledServices: services) == .pop3Disabled)
        #expect(LoginRules.protocolReason(.smtp, enabledServices: services) == .pop3Disabled)
        // Web and app logins are not protocol-gated.
        for type in LoginType.allCases where !type.isMailProtocol {
            #expect(LoginRules.protocolReason(type, enabledServices: []) == nil, "\(type)")
        }
    }

    @Test func networks() {
        let inside = IPAddress("10.1.2.3"), outside = IPAddress("192.0.2.1")
        #expect(LoginRules.networkReason(ip: outside, workspace: [], account: []) == nil)
        #expect(LoginRules.networkReason(ip: nil, workspace: [], account: [" "]) == nil)
        #expect(LoginRules.networkReason(ip: inside, workspace: ["10.0.0.0/8"], account: []) == nil)
        #expect(LoginRules.networkReason(ip: outside, workspace: ["10.0.0.0/8"], account: []) == .ipNotAllowed)
        #expect(LoginRules.networkReason(ip: inside, workspace: ["10.0.0.0/8"], account: ["10.9.0.0/16"]) == .ipNotAllowed)
        #expect(LoginRules.networkReason(ip: inside, workspace: [], account: ["10.1.0.0/16", "192.0.2.0/24"]) == nil)
        // Unknown address or an unreadable list fail closed.
        #expect(LoginRules.networkReason(ip: nil, workspace: ["10.0.0.0/8"], account: []) == .ipNotAllowed)
        #expect(LoginRules.networkReason(ip: inside, workspace: ["10.0.0.0/8", "bogus"], account: []) == .ipNotAllowed)
    }

    @Test func passwordChangedByAdmin() {
        let reset = Date(timeIntervalSince1970: 1_000_000)
        #expect(!LoginRules.isPasswordChangedByAdmin(changedAt: nil, lastSuccessfulLogin: nil))
        #expect(LoginRules.isPasswordChangedByAdmin(changedAt: reset, lastSuccessfulLogin: nil))
        #expect(LoginRules.isPasswordChangedByAdmin(changedAt: reset, lastSuccessfulLogin: reset - 1))
        #expect(!LoginRules.isPasswordChangedByAdmin(changedAt: reset, lastSuccessfulLogin: reset))
        #expect(!LoginRules.isPasswordChangedByAdmin(changedAt: reset, lastSuccessfulLogin: reset + 60))
    }

    @Test func whatCountsTowardTheIPBlock() {
        let counted = LoginFailureReason.allCases.filter(LoginRules.countsTowardIPBlock)
        #expect(!counted.contains(.autoBlockedIP))
        #expect(!counted.contains(.otpRequired))
        #expect(!counted.contains(.mailServerError))
        for reason in [LoginFailureReason.wrongPassword, .unauthorizedUser, .wrongOTP, .loginBlocked, .ipNotAllowed, .passwordChangedByAdmin] {
            #expect(counted.contains(reason), "\(reason)")
        }
    }

    @Test func accountFromEntry() throws {
        let entry = LDAPEntry(dn: "uid=a,ou=u,o=w,ou=workspaces,dc=example,dc=com", attributes: [
            LDAPAttribute("mail", "a@w.test"), LDAPAttribute("cn", "A"), LDAPAttribute("gwAccountStatus", "Suspended"),
            LDAPAttribute("gwEnabledService", ["IMAP", "smtp"]), LDAPAttribute("gwMailPasswordSet", "TRUE"),
            LDAPAttribute("gwOtpEnabled", "true"), LDAPAttribute("gwOtpLastStep", "59"),
            LDAPAttribute("gwPasswordChangedByAdmin", "20261129120000Z"),
            LDAPAttribute("gwLastLoginTime", "20261129110000Z"), LDAPAttribute("authTimestamp", "20261129130000Z"),
            LDAPAttribute("memberOf", ["cn=members,o=x,ou=workspaces,dc=example,dc=com"]),
        ])
        let account = try LoginAccount(entry: entry)
        #expect(account.status == .suspended)
        #expect(account.enabledServices == ["imap", "smtp"])
        #expect(account.displayName == "A")
        #expect(account.mailPasswordSet && account.otpEnabled && account.otpLastStep == 59)
        #expect(account.lastSuccessfulLogin == GeneralizedTime.parse("20261129130000Z"))
        #expect(account.mailCredentialDN.description == "cn=mail-password,uid=a,ou=u,o=w,ou=workspaces,dc=example,dc=com")
        // No status at all: disabled, like Dovecot's (gwAccountStatus=active) filter.
        let bare = try LoginAccount(entry: LDAPEntry(dn: "uid=b,o=w,ou=workspaces,dc=example,dc=com", attributes: []))
        #expect(bare.status == .disabled)
    }
}
