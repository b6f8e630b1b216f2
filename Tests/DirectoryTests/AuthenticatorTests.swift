import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// The authenticator against the harness slapd, one reason code per row, plus successes.
@Suite struct AuthenticatorTests {
    /// Every reason the authenticator itself decides, each from a setup that produces only it.
    @Test func everyReasonCode() async throws {
        let world = try await AuthWorld.make("auth-reasons")
        defer { world.close() }
        let secret = "JBSWY3DPEHPK3PXP"
        try await world.addAccount("alice")
        try await world.addAccount("sus", status: "suspended")
        try await world.addAccount("dis", status: "disabled")
        try await world.addAccount("gone", status: "deleted")
        try await world.addAccount("noattr", extra: [])
        try await world.asRoot { _ = try await $0.modify(dn: world.accountDN("noattr").parsedDN, [.delete("gwAccountStatus")]) }
        try await world.addAccount("imaponly", services: ["imap", "web"])
        try await world.addAccount("fenced", extra: [LDAPAttribute("gwAllowedNetwork", ["10.0.0.0/8"])])
        try await world.addAccount("otp", extra: [LDAPAttribute("gwOtpSecret", secret), LDAPAttribute("gwOtpEnabled", "TRUE")])
        try await world.addAccount("reset")
        try await world.addAccount("dup")
        try await world.asRoot { root in
            try await root.add(dn: "ou=other,\(world.workspaceDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["organizationalUnit"]), LDAPAttribute("ou", "other"),
            ])
        }
        try await world.asRoot { root in
            try await root.add(dn: "uid=dup,ou=other,\(world.workspaceDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", "dup"), LDAPAttribute("cn", "dup"),
                LDAPAttribute("sn", "dup"), LDAPAttribute("mail", "dup2@\(world.domain)"), LDAPAttribute("userPassword", "pw-dup"),
                LDAPAttribute("gwAccountStatus", "active"),
            ])
        }
        let now = Date()
        try await AdminPasswordReset(context: world.context()).reset(world.mailAddress("reset"), newPassword: "new-reset-pw")
        let authenticator = world.authenticator(now: { now })
        let totp = TOTP(secret: Base32.decode(secret)!)
        let outsider = uniqueTestIP(in: "172.16")
        let pw = AuthWorld.password

        let cases: [(String, LoginRequest, LoginFailureReason)] = [
            ("wrong password", world.web(world.address("alice"), "nope", ip: uniqueTestIP()), .wrongPassword),
            ("empty password", world.web(world.address("alice"), "", ip: uniqueTestIP()), .wrongPassword),
            ("another account's password", world.web(world.address("alice"), pw("sus"), ip: uniqueTestIP()), .wrongPassword),
            ("not in the allowed networks", world.web(world.address("fenced"), pw("fenced"), ip: outsider), .ipNotAllowed),
            ("no client address but networks apply", world.web(world.address("fenced"), pw("fenced")), .ipNotAllowed),
            ("suspended", world.web(world.address("sus"), pw("sus"), ip: uniqueTestIP()), .accountSuspended),
            ("disabled", world.web(world.address("dis"), pw("dis"), ip: uniqueTestIP()), .accountDisabled),
            ("no status at all", world.web(world.address("noattr"), pw("noattr"), ip: uniqueTestIP()), .accountDisabled),
            ("deleted", world.web(world.address("gone"), pw("gone"), ip: uniqueTestIP()), .unauthorizedUser),
            ("unknown address", world.web(world.address("nobody"), "x", ip: uniqueTestIP()), .unauthorizedUser),
            ("not an address", world.web("alice@", pw("alice"), ip: uniqueTestIP()), .unauthorizedUser),
            ("login id without workspace", world.web("alice", pw("alice"), ip: uniqueTestIP()), .unauthorizedUser),
            ("login id in another workspace", world.web("alice", pw("alice"), ip: uniqueTestIP(), workspace: world.id + "-x"), .unauthorizedUser),
            ("address outside the given workspace", world.web(world.address("alice"), pw("alice"), ip: uniqueTestIP(), workspace: "nope-\(world.id)"), .unauthorizedUser),
            ("filter metacharacters", world.web("*", pw("alice"), ip: uniqueTestIP(), workspace: world.id), .unauthorizedUser),
            ("pop3 not enabled", world.mail(world.address("imaponly"), pw("imaponly"), .pop3, ip: uniqueTestIP()), .pop3Disabled),
            ("smtp not enabled", world.mail(world.address("imaponly"), pw("imaponly"), .smtp, ip: uniqueTestIP()), .pop3Disabled),
            ("old password after an admin reset", world.web(world.address("reset"), pw("reset"), ip: uniqueTestIP()), .passwordChangedByAdmin),
            ("OTP missing", world.web(world.address("otp"), pw("otp"), ip: uniqueTestIP()), .otpRequired),
            ("OTP wrong", world.web(world.address("otp"), pw("otp"), otp: "000000" == totp.code(at: now) ? "111111" : "000000", ip: uniqueTestIP()), .wrongOTP),
            ("OTP malformed", world.web(world.address("otp"), pw("otp"), otp: "12ab56", ip: uniqueTestIP()), .wrongOTP),
            ("OTP right but password wrong", world.web(world.address("otp"), "nope", otp: totp.code(at: now), ip: uniqueTestIP()), .wrongPassword),
            ("one login id, two accounts", world.web("dup", pw("dup"), ip: uniqueTestIP(), workspace: world.id), .cannotProcess),
        ]
        for (name, request, expected) in cases {
            let response = await authenticator.login(request)
            #expect(response.reason == expected, "\(name): \(response)")
        }
    }

    @Test func successReturnsTheAccountAndEveryWorkspace() async throws {
        let world = try await AuthWorld.make("auth-ok")
        let guestWorld = try await AuthWorld.make("auth-guest")
        defer { world.close(); guestWorld.close() }
        let alice = try await world.addAccount("alice", extra: [LDAPAttribute("displayName", "앨리스 Kim")])
        // A guest membership (the authority: cn=members of the other workspace) and a stale
        // gwMemberWorkspace hint to a workspace she is not a member of.
        try await world.asRoot { root in
            try await root.add(dn: "cn=members,\(guestWorld.workspaceDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["groupOfNames"]), LDAPAttribute("cn", "members"), LDAPAttribute("member", [alice]),
            ])
            _ = try await root.modify(dn: alice.parsedDN, [.add("gwMemberWorkspace", ["o=\(world.id)-stale,\(world.fixture.workspacesDN)"])])
        }
        let recorder = MemoryRecorder()
        let authenticator = world.authenticator(recorder: recorder)
        let ip = uniqueTestIP()

        let byAddress = try #require(await authenticator.login(world.web(world.address("alice").uppercased(), AuthWorld.password("alice"), ip: ip)).success)
        #expect(byAddress.accountDN.description == alice)
        #expect(byAddress.address == world.address("alice"))
        #expect(byAddress.displayName == "앨리스 Kim")
        #expect(byAddress.workspaces.map(\.id) == [world.id, guestWorld.id])
        #expect(byAddress.workspaces.map(\.isHome) == [true, false])
        #expect(byAddress.workspaces.first?.displayName == "Workspace \(world.id)")

        // Login id + home workspace, login id + guest workspace fails (uid lives in the home one),
        // address + guest workspace succeeds.
        let byID = await authenticator.login(world.web("alice", AuthWorld.password("alice"), ip: ip, workspace: world.id))
        #expect(byID.success?.accountDN.description == alice)
        #expect(await authenticator.login(world.web("alice", AuthWorld.password("alice"), ip: ip, workspace: guestWorld.id)).reason == .unauthorizedUser)
        #expect(await authenticator.login(world.web(world.address("alice"), AuthWorld.password("alice"), ip: ip, workspace: guestWorld.id)).success != nil)

        // Mail protocols work with the account password while no mail-only password is set.
        for mailProtocol in MailProtocol.allCases {
            #expect(await authenticator.login(world.mail(world.address("alice"), AuthWorld.password("alice"), mailProtocol, ip: ip)).success != nil)
        }

        // Every attempt was reported, with the account, the type and the client.
        let events = await recorder.events
        #expect(events.count == 7)
        #expect(events.allSatisfy { $0.ip?.description == ip })
        #expect(events.enumerated().allSatisfy { $0.offset == 2 || $0.element.accountDN?.description == alice })
        #expect(events[0].outcome == .success && events[0].type == .pcBrowser && events[0].client == "chrome")
        #expect(events[2].outcome == .failure(.unauthorizedUser) && events[2].loginName == "alice" && events[2].accountDN == nil)
        #expect(events.suffix(3).map(\.type) == [.imap, .pop3, .smtp])
    }

    @Test func failuresAreRecordedWithTheLoginAsTyped() async throws {
        let world = try await AuthWorld.make("auth-rec")
        defer { world.close() }
        try await world.addAccount("bob")
        let recorder = MemoryRecorder()
        let authenticator = world.authenticator(recorder: recorder)
        _ = await authenticator.login(world.web("Nobody@\(world.domain)", "x", ip: "10.9.8.7"))
        _ = await authenticator.login(world.mail(world.address("bob"), "wrong", .pop3))
        let events = await recorder.events
        #expect(events.count == 2)
        #expect(events[0].loginName == "Nobody@\(world.domain)" && events[0].accountDN == nil && events[0].reason == .unauthorizedUser)
        #expect(events[1].accountDN?.description == world.accountDN("bob") && events[1].reason == .wrongPassword && events[1].type == .pop3 && events[1].ip == nil)
    }

    @Test func workspaceAllowedNetworks() async throws {
        let world = try await AuthWorld.make("auth-net", workspaceExtra: [LDAPAttribute("gwAllowedNetwork", ["192.0.2.0/24", "2001:db8::/32"])])
        defer { world.close() }
        try await world.addAccount("carl")
        try await world.addAccount("narrow", extra: [LDAPAttribute("gwAllowedNetwork", ["192.0.2.128/25"])])
        let authenticator = world.authenticator()
        let pw = AuthWorld.password
        #expect(await authenticator.login(world.web(world.address("carl"), pw("carl"), ip: "192.0.2.10")).success != nil)
        #expect(await authenticator.login(world.web(world.address("carl"), pw("carl"), ip: "2001:db8::7")).success != nil)
        #expect(await authenticator.login(world.web(world.address("carl"), pw("carl"), ip: "::ffff:192.0.2.11")).success != nil)
        #expect(await authenticator.login(world.web(world.address("carl"), pw("carl"), ip: uniqueTestIP(in: "172.17"))).reason == .ipNotAllowed)
        // Both lists must allow: the account narrows the workspace's range.
        #expect(await authenticator.login(world.web(world.address("narrow"), pw("narrow"), ip: "192.0.2.200")).success != nil)
        #expect(await authenticator.login(world.web(world.address("narrow"), pw("narrow"), ip: "192.0.2.20")).reason == .ipNotAllowed)
        // The network check comes before the password: a wrong password from outside is ip_not_allowed.
        #expect(await authenticator.login(world.web(world.address("carl"), "wrong", ip: uniqueTestIP(in: "172.18"))).reason == .ipNotAllowed)
    }

    @Test func passwordChangedByAdminEndsWithTheFirstSuccessfulLogin() async throws {
        let world = try await AuthWorld.make("auth-reset")
        defer { world.close() }
        let dn = try await world.addAccount("erin")
        let authenticator = world.authenticator()
        let ip = uniqueTestIP()
        // Before any reset, a wrong password is just wrong.
        #expect(await authenticator.login(world.web(world.address("erin"), "old-guess", ip: ip)).reason == .wrongPassword)
        try await AdminPasswordReset(context: world.context()).reset(world.mailAddress("erin"), newPassword: "Fresh-1")
        #expect(try await world.attribute(dn, "gwPasswordChangedByAdmin").count == 1)
        #expect(await authenticator.login(world.web(world.address("erin"), AuthWorld.password("erin"), ip: ip)).reason == .passwordChangedByAdmin)
        #expect(await authenticator.login(world.web(world.address("erin"), "Fresh-1", ip: ip)).success != nil)
        #expect(try await world.attribute(dn, "gwPasswordChangedByAdmin").isEmpty)
        #expect(await authenticator.login(world.web(world.address("erin"), AuthWorld.password("erin"), ip: ip)).reason == .wrongPassword)
    }

    @Test func directoryUnreachableIsAMailServerError() async throws {
        let world = try await AuthWorld.make("auth-down")
        defer { world.close() }
        // Nothing listens on port 1.
        let dead = LDAPConnection(configuration: LDAPConfiguration(uri: "ldap://127.0.0.1:1"))
        defer { dead.close() }
        let authenticator = Authenticator(
            context: DirectoryContext(ldap: dead, layout: world.layout), passwords: LDAPBindVerifier(uris: ["ldap://127.0.0.1:1"])
        )
        #expect(await authenticator.login(world.web(world.address("x"), "x", ip: uniqueTestIP())).reason == .mailServerError)
    }
}
