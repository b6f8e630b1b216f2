import Directory
import DirectoryServer
import Foundation
import Testing

/// The pure decisions of the Dovecot policy: `allow`'s refusal and `report`'s failure reason.
@Suite struct PolicyRulesTests {
    let ip = IPAddress("127.0.0.5")!
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func reason(_ account: MailAccountState?, _ proto: MailProtocol? = .imap, blocked: Bool = false, rejected: Bool = false) -> LoginFailureReason {
        MailLoginRules.failureReason(ip: ip, ipBlocked: blocked, protocol: proto, account: account, policyRejected: rejected)
    }

    @Test func allowRefusesInTheAuthenticatorsOrder() {
        let active = MailAccountState()
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: active) == nil)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: true, protocol: .imap, account: nil) == .autoBlockedIP)
        // An unknown login is allowed: Dovecot fails it and the report records it.
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: nil) == nil)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: MailAccountState(accountNetworks: ["10.0.0.0/8"])) == .ipNotAllowed)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: MailAccountState(workspaceNetworks: ["10.0.0.0/8"])) == .ipNotAllowed)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: MailAccountState(workspaceNetworks: ["127.0.0.0/8"])) == nil)
        // An unknown client address with a restriction fails closed.
        #expect(MailLoginRules.refusal(ip: nil, ipBlocked: false, protocol: .imap, account: MailAccountState(accountNetworks: ["127.0.0.0/8"])) == .ipNotAllowed)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: MailAccountState(status: .suspended)) == .accountSuspended)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .imap, account: MailAccountState(status: .disabled)) == .accountDisabled)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .pop3, account: MailAccountState(enabledServices: ["imap"])) == .pop3Disabled)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .smtp, account: MailAccountState(enabledServices: ["imap"])) == .pop3Disabled)
        // A protocol the audit has no type for is not checked against the enabled services.
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: nil, account: MailAccountState(enabledServices: [])) == nil)
        // Networks before status before protocol, as in Authenticator.
        let everything = MailAccountState(status: .suspended, enabledServices: [], accountNetworks: ["10.0.0.0/8"])
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: false, protocol: .pop3, account: everything) == .ipNotAllowed)
        #expect(MailLoginRules.refusal(ip: ip, ipBlocked: true, protocol: .pop3, account: everything) == .autoBlockedIP)
    }

    @Test func reportDerivesTheReasonFromTheAccountState() {
        #expect(reason(nil) == .unauthorizedUser)
        #expect(reason(MailAccountState()) == .wrongPassword)
        #expect(reason(MailAccountState(status: .suspended)) == .accountSuspended)
        #expect(reason(MailAccountState(status: .disabled)) == .accountDisabled)
        #expect(reason(MailAccountState(passwordLocked: true)) == .loginBlocked)
        #expect(reason(MailAccountState(enabledServices: ["imap"]), .pop3) == .pop3Disabled)
        #expect(reason(MailAccountState(otpEnabled: true)) == .otpRequired)
        #expect(reason(MailAccountState(otpEnabled: true, mailPasswordSet: true)) == .wrongPassword)
        let reset = now.addingTimeInterval(-60)
        #expect(reason(MailAccountState(passwordChangedByAdmin: reset)) == .passwordChangedByAdmin)
        #expect(reason(MailAccountState(passwordChangedByAdmin: reset, lastSuccessfulLogin: reset.addingTimeInterval(-1))) == .passwordChangedByAdmin)
        #expect(reason(MailAccountState(passwordChangedByAdmin: reset, lastSuccessfulLogin: reset.addingTimeInterval(1))) == .wrongPassword)
        // The mail-only password is not what the admin reset.
        #expect(reason(MailAccountState(mailPasswordSet: true, passwordChangedByAdmin: reset)) == .wrongPassword)
        // Order: status, protocol, OTP rule, lock, admin reset, wrong password.
        #expect(reason(MailAccountState(status: .suspended, enabledServices: [], passwordLocked: true)) == .accountSuspended)
        #expect(reason(MailAccountState(enabledServices: [], otpEnabled: true), .imap) == .pop3Disabled)
        #expect(reason(MailAccountState(otpEnabled: true, passwordLocked: true)) == .otpRequired)
        #expect(reason(MailAccountState(passwordLocked: true, passwordChangedByAdmin: reset)) == .loginBlocked)
    }

    @Test func aPolicyRejectIsTheReasonAllowGave() {
        #expect(reason(MailAccountState(accountNetworks: ["10.0.0.0/8"]), rejected: true) == .ipNotAllowed)
        #expect(reason(nil, blocked: true, rejected: true) == .autoBlockedIP)
        #expect(reason(MailAccountState(enabledServices: ["imap"]), .pop3, rejected: true) == .pop3Disabled)
        // Without the reject flag a network restriction is not what failed the login.
        #expect(reason(MailAccountState(accountNetworks: ["10.0.0.0/8"]), rejected: false) == .wrongPassword)
        // The state changed since allow: the derivation goes on with what holds now.
        #expect(reason(MailAccountState(), rejected: true) == .wrongPassword)
        #expect(reason(nil, rejected: true) == .unauthorizedUser)
    }

    @Test func ppolicyLocksExpire() {
        #expect(!MailLoginRules.isLocked(lockedAt: nil, now: now, lockoutDuration: 900))
        #expect(MailLoginRules.isLocked(lockedAt: now.addingTimeInterval(-899), now: now, lockoutDuration: 900))
        #expect(!MailLoginRules.isLocked(lockedAt: now.addingTimeInterval(-900), now: now, lockoutDuration: 900))
        #expect(MailLoginRules.isLocked(lockedAt: Date(timeIntervalSince1970: -62_000_000_000), now: now, lockoutDuration: 900))
    }

    @Test func dovecotServicesMapToLoginTypes() {
        #expect(MailLoginRules.mailProtocol(dovecotService: "imap") == .imap)
        #expect(MailLoginRules.mailProtocol(dovecotService: "POP3") == .pop3)
        #expect(MailLoginRules.mailProtocol(dovecotService: "smtp") == .smtp)
        #expect(MailLoginRules.mailProtocol(dovecotService: "submission") == .smtp)
        #expect(MailLoginRules.mailProtocol(dovecotService: "doveadm") == nil)
        #expect(MailLoginRules.mailProtocol(dovecotService: "sieve") == nil)
    }
}
