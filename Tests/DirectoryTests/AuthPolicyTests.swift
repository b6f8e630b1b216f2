@testable import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// Lockout, IP auto-block, OTP and the mail-only password against the harness slapd.
@Suite struct AuthPolicyTests {
    // MARK: ppolicy lockout

    @Test func lockoutReleasesAfterTheDurationAndAdminsCanUnlock() async throws {
        let world = try await AuthWorld.make("auth-lock")
        defer { world.close() }
        // una: a lock that outlasts the test (the assertions below can not race its expiry on a
        // loaded machine); lou: a 3 s lock that is waited out.
        let longPolicy = try await world.addLockoutPolicy(maxFailures: 3, lockoutSeconds: 600)
        let shortPolicy = try await world.addLockoutPolicy(maxFailures: 3, lockoutSeconds: 3)
        try await world.addAccount("lou", extra: [LDAPAttribute("pwdPolicySubentry", shortPolicy)])
        try await world.addAccount("una", extra: [LDAPAttribute("pwdPolicySubentry", longPolicy)])
        let authenticator = world.authenticator(ipBlockPolicy: IPBlockPolicy(maxFailures: 1000, window: .seconds(60), blockDuration: .seconds(60)))
        let ip = uniqueTestIP()
        func login(_ uid: String, _ password: String) async -> LoginResponse {
            await authenticator.login(world.web(world.address(uid), password, ip: ip))
        }
        let lockout = AccountLockout(context: world.context())

        for _ in 0..<3 { #expect(await login("una", "wrong").reason == .wrongPassword) }
        // Locked: even the right password is refused, and a wrong one says locked too.
        #expect(await login("una", AuthWorld.password("una")).reason == .loginBlocked)
        #expect(await login("una", "wrong").reason == .loginBlocked)
        for _ in 0..<3 { #expect(await login("lou", "wrong").reason == .wrongPassword) }
        #expect(try await lockout.status(world.mailAddress("lou")).lockedAt != nil)
        #expect(try await lockout.status(world.mailAddress("una")).lockedAt != nil)

        // An admin unlocks una through the service; lou waits out pwdLockoutDuration.
        #expect(try await lockout.unlock(world.mailAddress("una")))
        #expect(try await lockout.status(world.mailAddress("una")).lockedAt == nil)
        #expect(try await lockout.status(world.mailAddress("una")).recentFailures == 0)
        #expect(await login("una", AuthWorld.password("una")).success != nil)
        #expect(try await lockout.unlock(world.mailAddress("una")) == false)

        var released = false
        for _ in 0..<40 where !released {
            try await Task.sleep(for: .milliseconds(500))
            released = await login("lou", AuthWorld.password("lou")).success != nil
        }
        #expect(released, "ppolicy lifts the lock after pwdLockoutDuration (3 s)")
    }

    /// Who may clear a lockout (slapd 2.5.13): only the service. `pwdFailureTime` is
    /// NO-USER-MODIFICATION and needs `manage` plus Relax; `pwdAccountLockedTime` is
    /// user-modifiable but admins hold no raw write right. The user cannot unlock themself.
    @Test func onlyTheServiceClearsTheFailureCount() async throws {
        let world = try await AuthWorld.make("auth-lockacl")
        defer { world.close() }
        let policy = try await world.addLockoutPolicy(maxFailures: 2, lockoutSeconds: 600)
        let victim = try await world.addAccount("vic", extra: [LDAPAttribute("pwdPolicySubentry", policy)])
        let boss = try await world.addAccount("boss")
        try await world.asRoot { root in
            try await root.add(dn: "cn=admins,\(world.workspaceDN)".parsedDN, attributes: [
                LDAPAttribute("objectClass", ["groupOfNames", "gwAdminGroup"]), LDAPAttribute("cn", "admins"), LDAPAttribute("member", [boss]),
            ])
        }
        let authenticator = world.authenticator()
        let ip = uniqueTestIP()
        func vic(_ password: String) async -> LoginFailureReason? {
            await authenticator.login(world.web(world.address("vic"), password, ip: ip)).reason
        }
        _ = await vic("wrong")
        _ = await vic("wrong")
        #expect(await vic(AuthWorld.password("vic")) == .loginBlocked)

        // The user cannot unlock themself.
        let me = world.fixture.connection(.simple(dn: victim, password: AuthWorld.password("vic")))
        defer { me.close() }
        await #expect(throws: LDAPError.self) { try await me.modify(dn: victim.parsedDN, [.delete("pwdAccountLockedTime")]) }

        let admin = world.fixture.connection(.simple(dn: boss, password: AuthWorld.password("boss")))
        defer { admin.close() }
        for controls in [[], [LDAPRequestControl.relax]] {
            await #expect(throws: LDAPError.self, "\(controls)") {
                try await admin.modify(dn: victim.parsedDN, [.delete("pwdFailureTime")], controls: controls)
            }
        }
        // Admins hold no raw write right: not even the lock itself. The service unlocks for them.
        await #expect(throws: LDAPError.self) { try await admin.modify(dn: victim.parsedDN, [.delete("pwdAccountLockedTime")]) }
        #expect(try await world.attribute(victim, "pwdAccountLockedTime").count == 1)
        #expect(try await AccountLockout(context: world.context()).unlock(world.mailAddress("vic")))
        #expect(try await world.attribute(victim, "pwdAccountLockedTime").isEmpty)
        #expect(try await world.attribute(victim, "pwdFailureTime").isEmpty)
        #expect(await vic(AuthWorld.password("vic")) == nil)

        // Failures below the limit can only be forgotten by the service.
        #expect(await vic("wrong") == .wrongPassword)
        #expect(try await world.attribute(victim, "pwdFailureTime").count == 1)
        #expect(try await AccountLockout(context: world.context()).unlock(world.mailAddress("vic")))
        #expect(try await world.attribute(victim, "pwdFailureTime").isEmpty)
        #expect(await vic("wrong") == .wrongPassword)
        #expect(await vic(AuthWorld.password("vic")) == nil)
    }

    // MARK: IP auto-block

    @Test func bruteForceFromOneIPIsBlockedWhileOthersLogIn() async throws {
        let world = try await AuthWorld.make("auth-ipblock")
        defer { world.close() }
        try await world.addAccount("ivy")
        try await world.addAccount("jon")
        let policy = IPBlockPolicy(maxFailures: 4, window: .seconds(600), blockDuration: .seconds(600))
        let authenticator = world.authenticator(ipBlockPolicy: policy)
        let attacker = uniqueTestIP(), other = uniqueTestIP()
        // Spread over accounts, as a spray attack would be; unknown logins count too.
        let guesses = [world.address("ivy"), world.address("jon"), world.address("nobody"), world.address("ivy")]
        for login in guesses {
            #expect(await authenticator.login(world.web(login, "guess", ip: attacker)).reason != .autoBlockedIP)
        }
        #expect(await authenticator.login(world.web(world.address("ivy"), AuthWorld.password("ivy"), ip: attacker)).reason == .autoBlockedIP)
        #expect(await authenticator.login(world.mail(world.address("jon"), AuthWorld.password("jon"), ip: attacker)).reason == .autoBlockedIP)
        #expect(await authenticator.login(world.web(world.address("ivy"), AuthWorld.password("ivy"), ip: other)).success != nil)

        let service = IPBlockService(context: world.context(), policy: policy)
        let blocked = try await service.list()
        let entry = try #require(blocked.first { $0.ip == attacker })
        #expect(entry.state.failureCount == 4)
        #expect(entry.dn.description == "gwClientIP=\(attacker),ou=ipblocks,ou=audit,\(world.fixture.baseDN)")
        #expect(!blocked.contains { $0.ip == other })
        try await service.lift(IPAddress(attacker)!)
        #expect(await authenticator.login(world.web(world.address("ivy"), AuthWorld.password("ivy"), ip: attacker)).success != nil)
        await #expect(throws: DirectoryError.self) { try await service.lift(IPAddress(attacker)!) }
    }

    @Test func concurrentFailuresAllCount() async throws {
        let world = try await AuthWorld.make("auth-ipcount")
        defer { world.close() }
        let service = IPBlockService(context: world.context(), policy: IPBlockPolicy(maxFailures: 1000, window: .seconds(600), blockDuration: .seconds(60)))
        let ip = IPAddress(uniqueTestIP())!
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 { group.addTask { try await service.recordFailure(ip) } }
            try await group.waitForAll()
        }
        let state = try await service.state(of: ip)
        #expect(state?.failureCount == 40, "\(String(describing: state))")
    }

    /// Each server counts from the entry as it last wrote it (one write per failure); what
    /// others did meanwhile (counts, a new window, a lift, a first entry) must still count exactly.
    @Test func countingFromRememberedEntriesStaysExactAcrossServers() async throws {
        let world = try await AuthWorld.make("auth-ipknown")
        defer { world.close() }
        let policy = IPBlockPolicy(maxFailures: 6, window: .seconds(60), blockDuration: .seconds(120))
        let first = IPBlockService(context: world.context(), policy: policy)
        let second = IPBlockService(context: world.context(), policy: policy)
        let admin = IPBlockService(context: world.context(), policy: policy)
        let ip = IPAddress(uniqueTestIP())!
        // Now (whole seconds, as stored): neither the purge of aNewWindowStartsAfterTheBlockAndIPv6Works
        // (in 2020) nor a server's sweep in another test (at now) finds these entries stale.
        let start = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))

        // Both remember stale counts; the increments are counted by slapd, not by them.
        for step in 0..<5 {
            #expect(try await (step.isMultiple(of: 2) ? first : second).recordFailure(ip, at: start.addingTimeInterval(Double(step))) == false)
        }
        #expect(first.known.entry(ip.description) != nil)
        #expect(try await admin.state(of: ip)?.failureCount == 5)
        #expect(try await first.recordFailure(ip, at: start.addingTimeInterval(5)))
        let blocked = try #require(try await admin.state(of: ip))
        #expect(blocked.failureCount == 6 && blocked.blockedUntil == start.addingTimeInterval(125))

        // An admin lifts the block: `first` still remembers it blocked, and must count anew.
        try await admin.lift(ip)
        #expect(try await first.recordFailure(ip, at: start.addingTimeInterval(6)) == false)
        #expect(try await admin.state(of: ip) == IPFailureState(windowStart: start.addingTimeInterval(6), failureCount: 1))

        // `second` opens a new window after this one ran out; `first`, remembering the old
        // window, must count into the new one, not replace it.
        #expect(try await second.recordFailure(ip, at: start.addingTimeInterval(100)) == false)
        #expect(try await first.recordFailure(ip, at: start.addingTimeInterval(101)) == false)
        #expect(try await admin.state(of: ip) == IPFailureState(windowStart: start.addingTimeInterval(100), failureCount: 2))

        // Lifted and counted again by `second` in a window of its own: `first`'s increment,
        // asserting the window it remembers, must not count into another one unseen.
        let other = IPAddress(uniqueTestIP())!
        #expect(try await first.recordFailure(other, at: start) == false)
        try await admin.lift(other)
        #expect(try await second.recordFailure(other, at: start.addingTimeInterval(5)) == false)
        #expect(try await first.recordFailure(other, at: start.addingTimeInterval(6)) == false)
        #expect(try await admin.state(of: other) == IPFailureState(windowStart: start.addingTimeInterval(5), failureCount: 2))
    }

    @Test func rememberedEntriesAreBounded() {
        let known = IPBlockService.KnownEntries(capacity: 3)
        for index in 0..<3 { known.remember("10.0.0.\(index)", nil) }
        #expect(known.count == 3)
        known.remember("10.0.0.1", nil)
        #expect(known.count == 3)
        known.remember("10.0.0.9", nil)
        #expect(known.count == 1 && known.entry("10.0.0.9") != nil && known.entry("10.0.0.0") == nil)
        known.forget("10.0.0.9")
        #expect(known.count == 0)
        let none = IPBlockService.KnownEntries(capacity: 0)
        none.remember("10.0.0.1", nil)
        #expect(none.count == 0)
    }

    @Test func aNewWindowStartsAfterTheBlockAndIPv6Works() async throws {
        let world = try await AuthWorld.make("auth-ipwindow")
        defer { world.close() }
        let policy = IPBlockPolicy(maxFailures: 2, window: .seconds(60), blockDuration: .seconds(120))
        let service = IPBlockService(context: world.context(), policy: policy)
        let ip = IPAddress("2001:db8::\(String(UInt16.random(in: 1...0xfffe), radix: 16))")!
        // In the past, so purging at `start + 1000` cannot touch other tests' current state.
        let start = Date(timeIntervalSince1970: 1_600_000_000)
        #expect(try await service.recordFailure(ip, at: start) == false)
        #expect(try await service.recordFailure(ip, at: start.addingTimeInterval(1)))
        #expect(try await service.isBlocked(ip, at: start.addingTimeInterval(100)))
        #expect(try await service.isBlocked(ip, at: start.addingTimeInterval(200)) == false)
        // After the block a failure opens a new window at count 1.
        #expect(try await service.recordFailure(ip, at: start.addingTimeInterval(200)) == false)
        let state = try #require(try await service.state(of: ip))
        #expect(state.failureCount == 1 && state.blockedUntil == nil)
        #expect(try await service.purgeStale(at: start.addingTimeInterval(1000)) >= 1)
        #expect(try await service.state(of: ip) == nil)
    }

    // MARK: OTP

    @Test func otpEnrolConfirmLoginAndDisable() async throws {
        let world = try await AuthWorld.make("auth-otp")
        defer { world.close() }
        let dn = try await world.addAccount("olive")
        let clock = TestClock(otpTestNow)
        let context = world.context(now: { clock.now })
        let otp = OTPService(context: context, issuer: "Acme Mail")
        let enrolment = try await otp.enrol(world.mailAddress("olive"))
        #expect(enrolment.secret.count == 32, "20 bytes in Base32")
        #expect(enrolment.uri.hasPrefix("otpauth://totp/Acme%20Mail:olive%40\(world.domain)?secret=\(enrolment.secret)&issuer=Acme%20Mail"))
        #expect(try await world.attribute(dn, "gwOtpSecret") == [enrolment.secret])
        let status = try await otp.status(world.mailAddress("olive"))
        #expect(status.enrolled && !status.enabled)

        let authenticator = Authenticator(context: context, passwords: LDAPBindVerifier(uris: [world.fixture.slapd.uri]))
        let ip = uniqueTestIP()
        // Not confirmed yet: the password alone logs in.
        #expect(await authenticator.login(world.web(world.address("olive"), AuthWorld.password("olive"), ip: ip)).success != nil)

        let totp = TOTP(secret: Base32.decode(enrolment.secret)!)
        await #expect(throws: DirectoryError.self) { try await otp.confirm(world.mailAddress("olive"), code: "000000" == totp.code(at: clock.now) ? "111111" : "000000") }
        try await otp.confirm(world.mailAddress("olive"), code: totp.code(at: clock.now))
        #expect(try await otp.status(world.mailAddress("olive")).enabled)
        // Enabled OTP cannot be re-enrolled over.
        await #expect(throws: DirectoryError.self) { try await otp.enrol(world.mailAddress("olive")) }

        func web(_ code: String?) async -> LoginResponse {
            await authenticator.login(world.web(world.address("olive"), AuthWorld.password("olive"), otp: code, ip: ip))
        }
        // The code used to confirm is spent.
        #expect(await web(totp.code(at: clock.now)).reason == .wrongOTP)
        #expect(await web(nil).reason == .otpRequired)
        clock.advance(by: 30)
        let code = totp.code(at: clock.now)
        #expect(await web(code).success != nil)
        // Replay of the same code: wrong_otp.
        #expect(await web(code).reason == .wrongOTP)
        // ±1 step: the next step's code is accepted now (clock drift), the previous one is not.
        #expect(await web(totp.code(at: clock.now.addingTimeInterval(30))).success != nil)
        clock.advance(by: 90)
        #expect(await web(totp.code(at: clock.now.addingTimeInterval(-30))).success != nil)
        #expect(try await world.attribute(dn, "gwOtpLastStep") == [String(totp.step(at: clock.now) - 1)])
        // Mail protocols never ask for a code; with OTP on they need a mail-only password.
        #expect(await authenticator.login(world.mail(world.address("olive"), AuthWorld.password("olive"), ip: ip)).reason == .otpRequired)

        try await otp.disable(world.mailAddress("olive"))
        #expect(try await world.attribute(dn, "gwOtpSecret").isEmpty)
        #expect(await web(nil).success != nil)
    }

    @Test func concurrentUsesOfOneCodeLetExactlyOneThrough() async throws {
        let world = try await AuthWorld.make("auth-otprace")
        defer { world.close() }
        let secret = TOTP.generateSecret()
        try await world.addAccount("rita", extra: [
            LDAPAttribute("gwOtpSecret", Base32.encode(secret, padding: false)), LDAPAttribute("gwOtpEnabled", "TRUE"),
        ])
        let authenticator = world.authenticator(now: { otpTestNow })
        let code = TOTP(secret: secret).code(at: otpTestNow)
        let ip = uniqueTestIP()
        let results = await withTaskGroup(of: LoginResponse.self) { group in
            for _ in 0..<8 {
                group.addTask { await authenticator.login(world.web(world.address("rita"), AuthWorld.password("rita"), otp: code, ip: ip)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0.success != nil }.count == 1)
        #expect(results.filter { $0.reason == .wrongOTP }.count == 7)
    }

    // MARK: Mail-only password

    @Test func mailOnlyPasswordIsUsedForMailAndIgnoredForWeb() async throws {
        let world = try await AuthWorld.make("auth-mailpw")
        defer { world.close() }
        let dn = try await world.addAccount("mia")
        let service = MailPasswordService(context: world.context())
        let address = world.mailAddress("mia")
        #expect(try await service.isSet(address) == false)
        try await service.set(address, password: "app-secret-1")
        #expect(try await service.isSet(address))
        #expect(try await world.attribute(dn, "gwMailPasswordSet") == ["TRUE"])
        #expect(try await world.attribute("cn=mail-password,\(dn)", "gwCredentialFor") == [world.address("mia")])

        let authenticator = world.authenticator()
        let ip = uniqueTestIP()
        let pw = AuthWorld.password("mia")
        for mailProtocol in MailProtocol.allCases {
            #expect(await authenticator.login(world.mail(world.address("mia"), "app-secret-1", mailProtocol, ip: ip)).success != nil)
            #expect(await authenticator.login(world.mail(world.address("mia"), pw, mailProtocol, ip: ip)).reason == .wrongPassword)
        }
        #expect(await authenticator.login(world.web(world.address("mia"), pw, ip: ip)).success != nil)
        #expect(await authenticator.login(world.web(world.address("mia"), "app-secret-1", ip: ip)).reason == .wrongPassword)

        // Replacing it keeps one credential.
        try await service.set(address, password: "app-secret-2")
        #expect(await authenticator.login(world.mail(world.address("mia"), "app-secret-1", ip: ip)).reason == .wrongPassword)
        #expect(await authenticator.login(world.mail(world.address("mia"), "app-secret-2", ip: ip)).success != nil)

        try await service.clear(address)
        #expect(try await service.isSet(address) == false)
        #expect(try await world.attribute(dn, "gwMailPasswordSet").isEmpty)
        #expect(try await world.asRoot { try await $0.entry("cn=mail-password,\(dn)".parsedDN) } == nil)
        #expect(await authenticator.login(world.mail(world.address("mia"), pw, ip: ip)).success != nil)
        #expect(await authenticator.login(world.mail(world.address("mia"), "app-secret-2", ip: ip)).reason == .wrongPassword)
        // Clearing twice is harmless; unknown accounts are notFound.
        try await service.clear(address)
        await #expect(throws: DirectoryError.self) { try await service.set(world.mailAddress("ghost"), password: "x") }
    }
}
