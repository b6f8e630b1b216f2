import Directory
import Foundation
import LDAPClient
import Testing

/// The mail-only password as `MailPasswordService` writes it, proven with a real Dovecot
/// (`doveadm auth test`) and the web login of `Authenticator`.
@Suite struct MailPasswordDovecotTests {
    @Test func dovecotUsesOnlyTheMailPasswordWhileItIsSet() async throws {
        try await withDovecot { dovecot, sample async throws in
            let fixture = sample.fixture
            let uid = "mp-\(UUID().uuidString.prefix(6).lowercased())"
            let accountDN = "uid=\(uid),\(sample.salesDN)"
            let address = sample.address(uid)
            let accountPassword = "Account-Pw-\(uid)", mailPassword = "Mail-Only-\(uid)"
            let root = fixture.rootConnection()
            defer { root.close() }
            try await root.add(dn: accountDN.parsedDN, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
                LDAPAttribute("uid", uid), LDAPAttribute("cn", uid), LDAPAttribute("sn", uid),
                LDAPAttribute("mail", address), LDAPAttribute("userPassword", accountPassword),
                LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwServiceType", "both"),
                LDAPAttribute("gwEnabledService", ["imap", "pop3", "smtp", "web"]),
                LDAPAttribute("gwHomeWorkspace", sample.workspaceDN),
            ])
            let service = fixture.gwdirConnection()
            defer { service.close() }
            let context = DirectoryContext(ldap: service, layout: try DirectoryLayout(base: fixture.baseDN))
            let mailPasswords = MailPasswordService(context: context)
            let authenticator = Authenticator(context: context, passwords: LDAPBindVerifier(uris: [fixture.slapd.uri]))
            let web = ClientDescription(userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15")
            func webLogin(_ password: String) async -> LoginResponse {
                await authenticator.login(LoginRequest(login: address, password: password, ip: IPAddress("127.0.0.1"), client: web))
            }

            #expect(try dovecot.login(address, accountPassword))

            try await mailPasswords.set(try MailAddress(address), password: mailPassword)
            for service in ["imap", "pop3", "smtp"] {
                let ok = try dovecot.authTest(address, mailPassword, service: service)
                #expect(ok.status == 0, "\(service): \(ok)")
                #expect(try !dovecot.login(address, accountPassword, service: service), "\(service) must refuse the account password")
            }
            // The web login ignores the mail-only password.
            #expect(await webLogin(accountPassword).success != nil)
            #expect(await webLogin(mailPassword).reason == .wrongPassword)

            try await mailPasswords.clear(try MailAddress(address))
            #expect(try dovecot.login(address, accountPassword))
            #expect(try !dovecot.login(address, mailPassword))
            #expect(await webLogin(accountPassword).success != nil)
        }
    }

    /// Spec §5: accounts with OTP use the mail-only password for mail protocols. Dovecot's
    /// passdb and the Authenticator refuse the account password alone for IMAP/POP3/SMTP.
    @Test func otpAccountsNeedTheMailPasswordForMail() async throws {
        try await withDovecot { dovecot, sample async throws in
            let fixture = sample.fixture
            let uid = "otp-\(UUID().uuidString.prefix(6).lowercased())"
            let address = sample.address(uid)
            let accountPassword = "Account-Pw-\(uid)", mailPassword = "Mail-Only-\(uid)"
            let root = fixture.rootConnection()
            defer { root.close() }
            try await root.add(dn: "uid=\(uid),\(sample.salesDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]),
                LDAPAttribute("uid", uid), LDAPAttribute("cn", uid), LDAPAttribute("sn", uid),
                LDAPAttribute("mail", address), LDAPAttribute("userPassword", accountPassword),
                LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwServiceType", "both"),
                LDAPAttribute("gwEnabledService", ["imap", "pop3", "smtp", "web"]),
                LDAPAttribute("gwOtpSecret", "JBSWY3DPEHPK3PXP"), LDAPAttribute("gwOtpEnabled", "TRUE"),
                LDAPAttribute("gwHomeWorkspace", sample.workspaceDN),
            ])
            let service = fixture.gwdirConnection()
            defer { service.close() }
            let context = DirectoryContext(ldap: service, layout: try DirectoryLayout(base: fixture.baseDN))
            let authenticator = Authenticator(context: context, passwords: LDAPBindVerifier(uris: [fixture.slapd.uri]))
            func imapLogin(_ password: String) async -> LoginResponse {
                await authenticator.login(LoginRequest(login: address, password: password, ip: IPAddress("127.0.0.1"),
                                                       client: ClientDescription(mailProtocol: .imap)))
            }

            #expect(try !dovecot.login(address, accountPassword), "OTP account, no mail-only password: Dovecot refuses")
            #expect(await imapLogin(accountPassword).reason == .otpRequired)

            try await MailPasswordService(context: context).set(try MailAddress(address), password: mailPassword)
            #expect(try dovecot.login(address, mailPassword))
            #expect(try !dovecot.login(address, accountPassword))
            #expect(await imapLogin(mailPassword).success != nil)
        }
    }
}
