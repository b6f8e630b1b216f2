import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// The secrets the auth services write, checked with raw LDAP binds as every identity that
/// could want them, and the attacks the login policies exist for.
@Suite struct AuthSecurityTests {
    /// alice's OTP secret and mail-only password written through the services; boss is a
    /// workspace admin, sam an admin of alice's unit.
    private func setUp() async throws -> (world: AuthWorld, alice: String, identities: [(String, LDAPCredentials)]) {
        let world = try await AuthWorld.make("auth-sec")
        let alice = try await world.addAccount("alice")
        let boss = try await world.addAccount("boss")
        let sam = try await world.addAccount("sam")
        try await world.asRoot { root in
            try await root.add(dn: "cn=admins,\(world.workspaceDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup"]), LDAPAttribute("cn", "admins"), LDAPAttribute("member", [boss]),
            ])
            try await root.add(dn: "cn=admins,\(world.unitDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup"]), LDAPAttribute("cn", "admins"), LDAPAttribute("member", [sam]),
            ])
        }
        let context = world.context()
        _ = try await OTPService(context: context).enrol(world.mailAddress("alice"))
        try await MailPasswordService(context: context).set(world.mailAddress("alice"), password: "alice-app-pw")
        let f = world.fixture
        let identities: [(String, LDAPCredentials)] = [
            ("gwdir", .simple(dn: f.gwdirDN, password: f.gwdirPassword)),
            ("dovecot", .simple(dn: f.dovecotDN, password: f.dovecotPassword)),
            ("postfix", .simple(dn: f.postfixDN, password: f.postfixPassword)),
            ("workspace admin", .simple(dn: boss, password: AuthWorld.password("boss"))),
            ("unit admin", .simple(dn: sam, password: AuthWorld.password("sam"))),
            ("alice herself", .simple(dn: alice, password: AuthWorld.password("alice"))),
            ("anonymous", .anonymous),
        ]
        return (world, alice, identities)
    }

    @Test func nobodyReadsPasswordsAndOnlyTheServiceReadsOTPSecrets() async throws {
        let (world, alice, identities) = try await setUp()
        defer { world.close() }
        let credential = "cn=mail-password,\(alice)"
        // The values exist (root sees them), so an empty read below means hidden.
        #expect(try await world.attribute(alice, "gwOtpSecret").count == 1)
        #expect(try await world.attribute(alice, "userPassword").count == 1)
        #expect(try await world.attribute(credential, "userPassword").count == 1)
        for (name, credentials) in identities {
            let connection = world.fixture.connection(credentials)
            defer { connection.close() }
            let account = try? await connection.entry(alice.parsedDN, attributes: ["userPassword", "gwOtpSecret"])
            #expect(account?.strings("userPassword").isEmpty ?? true, "\(name) reads alice's userPassword")
            let secret = account?.strings("gwOtpSecret") ?? []
            if name == "gwdir" {
                #expect(secret.count == 1, "the service verifies TOTP codes, so it reads the secret")
            } else {
                #expect(secret.isEmpty, "\(name) reads alice's gwOtpSecret")
            }
            let mailCredential = try? await connection.entry(credential.parsedDN, attributes: ["userPassword"])
            #expect(mailCredential?.strings("userPassword").isEmpty ?? true, "\(name) reads the mail-only password")
            // No guessing by compare either.
            for (dn, value) in [(alice, AuthWorld.password("alice")), (credential, "alice-app-pw")] {
                let matched = try? await connection.compare(dn: dn.parsedDN, attribute: "userPassword", value: Array(value.utf8), controls: [])
                #expect(matched != true, "\(name) compares userPassword of \(dn)")
            }
        }
    }

    @Test func anEmptyPasswordNeverLogsIn() async throws {
        let world = try await AuthWorld.make("auth-empty")
        defer { world.close() }
        try await world.addAccount("ed")
        let verifier = LDAPBindVerifier(uris: [world.fixture.slapd.uri])
        // slapd would accept it as an unauthenticated bind (RFC 4513 §5.1.2).
        #expect(await verifier.verify(dn: try DistinguishedName(world.accountDN("ed")), password: "") == .wrongPassword)
        #expect(await world.authenticator().login(world.web(world.address("ed"), "", ip: uniqueTestIP())).reason == .wrongPassword)
        await verifier.close()
    }

    @Test func aReplayedOTPCodeFails() async throws {
        let world = try await AuthWorld.make("auth-replay")
        defer { world.close() }
        let secret = TOTP.generateSecret()
        try await world.addAccount("otto", extra: [
            LDAPAttribute("gwOtpSecret", Base32.encode(secret, padding: false)), LDAPAttribute("gwOtpEnabled", "TRUE"),
        ])
        let authenticator = world.authenticator(now: { otpTestNow })
        let code = TOTP(secret: secret).code(at: otpTestNow)
        let request = world.web(world.address("otto"), AuthWorld.password("otto"), otp: code, ip: uniqueTestIP())
        #expect(await authenticator.login(request).success != nil)
        // Same code again, also from another address: spent.
        #expect(await authenticator.login(request).reason == .wrongOTP)
        var elsewhere = request
        elsewhere.ip = IPAddress(uniqueTestIP())
        #expect(await authenticator.login(elsewhere).reason == .wrongOTP)
    }

    @Test func bruteForceFromOneIPIsBlockedAnotherIPLogsIn() async throws {
        let world = try await AuthWorld.make("auth-brute")
        defer { world.close() }
        try await world.addAccount("vera")
        let authenticator = world.authenticator(ipBlockPolicy: IPBlockPolicy(maxFailures: 3, window: .seconds(300), blockDuration: .seconds(900)))
        let attacker = uniqueTestIP(), user = uniqueTestIP()
        var reasons: [LoginFailureReason?] = []
        for guess in 0..<8 {
            reasons.append(await authenticator.login(world.web(world.address("vera"), "guess-\(guess)", ip: attacker)).reason)
        }
        // Blocked attempts never reach slapd, so they do not add to ppolicy's lockout (5) either.
        #expect(reasons == Array(repeating: .wrongPassword, count: 3) + Array(repeating: .autoBlockedIP, count: 5))
        // The right password from the blocked address is still refused; vera at her desk is not.
        #expect(await authenticator.login(world.web(world.address("vera"), AuthWorld.password("vera"), ip: attacker)).reason == .autoBlockedIP)
        #expect(await authenticator.login(world.web(world.address("vera"), AuthWorld.password("vera"), ip: user)).success != nil)
    }
}
