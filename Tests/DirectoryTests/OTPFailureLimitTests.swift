import Directory
import Foundation
import LDAPClient
import Testing

/// Wrong OTP codes counted per account against the real slapd (security issue 11): the limit
/// holds across IPs, outlasts a right code, counts concurrent failures exactly, and an
/// admin's unlock clears it.
@Suite struct OTPFailureLimitTests {
    /// An account with OTP on, its secret, and its entryUUID.
    static func otpAccount(_ world: AuthWorld, _ uid: String) async throws -> (secret: [UInt8], uuid: String) {
        let secret = TOTP.generateSecret()
        let dn = try await world.addAccount(uid, extra: [
            LDAPAttribute("gwOtpSecret", Base32.encode(secret, padding: false)), LDAPAttribute("gwOtpEnabled", "TRUE"),
        ])
        let uuid = try #require(try await world.attribute(dn, "entryUUID").first)
        return (secret, uuid)
    }

    static func wrongCode(for right: String) -> String { right == "000000" ? "111111" : "000000" }

    @Test func fiveWrongCodesFromFiveIPsBlockTheRightCodeFromASixth() async throws {
        let world = try await AuthWorld.make("otp-limit")
        defer { world.close() }
        let (secret, uuid) = try await Self.otpAccount(world, "wes")
        let clock = TestClock(otpTestNow)
        let context = world.context(now: { clock.now })
        let authenticator = Authenticator(context: context, passwords: LDAPBindVerifier(uris: [world.fixture.slapd.uri]))
        let totp = TOTP(secret: secret)
        func login(_ code: String?, ip: String = uniqueTestIP(), password: String = AuthWorld.password("wes")) async -> LoginResponse {
            await authenticator.login(world.web(world.address("wes"), password, otp: code, ip: ip))
        }
        // A wrong password and a missing code are no OTP attempts: they do not count.
        #expect(await login("123456", password: "nope").reason == .wrongPassword)
        #expect(await login(nil).reason == .otpRequired)
        let wrong = Self.wrongCode(for: totp.code(at: clock.now))
        for attempt in 1...5 {
            #expect(await login(wrong).reason == .wrongOTP, "attempt \(attempt)")
            clock.advance(by: 10)
        }
        let ipBlocks = IPBlockService(context: context)
        #expect(try await ipBlocks.otpState(accountUUID: uuid)?.failureCount == 5)
        // The sixth attempt, from yet another address, with the right code: blocked.
        #expect(await login(totp.code(at: clock.now)).reason == .loginBlocked)
        #expect(await login(nil).reason == .otpRequired)
        // The OTP bookkeeping is not an IP block: `ipblock list` does not show it.
        #expect(try await ipBlocks.list(blockedOnly: false).allSatisfy { !OTPFailureLimit.isAccountKey($0.ip) })
        // Still blocked just before 15 minutes have passed since the fifth wrong code.
        clock.advance(by: 880)
        #expect(await login(totp.code(at: clock.now)).reason == .loginBlocked)
        clock.advance(by: 30)
        #expect(await login(totp.code(at: clock.now)).success != nil)

        // Locked again, then an admin's unlock clears it at once.
        clock.advance(by: 60)
        for _ in 1...5 { #expect(await login(Self.wrongCode(for: totp.code(at: clock.now))).reason == .wrongOTP) }
        #expect(await login(totp.code(at: clock.now)).reason == .loginBlocked)
        #expect(try await AccountLockout(context: context).unlock(world.mailAddress("wes")))
        #expect(try await ipBlocks.otpState(accountUUID: uuid) == nil)
        #expect(await login(totp.code(at: clock.now)).success != nil)
    }

    @Test func concurrentWrongCodesAreCountedExactly() async throws {
        let world = try await AuthWorld.make("otp-count")
        defer { world.close() }
        let (secret, uuid) = try await Self.otpAccount(world, "cas")
        let context = world.context(now: { otpTestNow })
        // A limit above the burst, so every one of the 20 is counted rather than refused.
        let roomy = OTPFailureLimit(maxFailures: 100, window: .seconds(900), lockDuration: .seconds(900))
        let authenticator = Authenticator(
            context: context, passwords: LDAPBindVerifier(uris: [world.fixture.slapd.uri]), otpFailureLimit: roomy
        )
        let wrong = Self.wrongCode(for: TOTP(secret: secret).code(at: otpTestNow))
        let reasons = await withTaskGroup(of: LoginFailureReason?.self) { group in
            for _ in 0..<20 {
                group.addTask { await authenticator.login(world.web(world.address("cas"), AuthWorld.password("cas"), otp: wrong, ip: uniqueTestIP())).reason }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reasons.allSatisfy { $0 == .wrongOTP }, "\(reasons)")
        let state = try await IPBlockService(context: context, otpLimit: roomy).otpState(accountUUID: uuid)
        #expect(state?.failureCount == 20, "\(String(describing: state))")
    }

    @Test func aBurstOfWrongCodesLocksTheAccount() async throws {
        let world = try await AuthWorld.make("otp-burst")
        defer { world.close() }
        let (secret, uuid) = try await Self.otpAccount(world, "bea")
        let context = world.context(now: { otpTestNow })
        let authenticator = Authenticator(context: context, passwords: LDAPBindVerifier(uris: [world.fixture.slapd.uri]))
        let totp = TOTP(secret: secret)
        let wrong = Self.wrongCode(for: totp.code(at: otpTestNow))
        let reasons = await withTaskGroup(of: LoginFailureReason?.self) { group in
            for _ in 0..<20 {
                group.addTask { await authenticator.login(world.web(world.address("bea"), AuthWorld.password("bea"), otp: wrong, ip: uniqueTestIP())).reason }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        // Each refused either as a wrong code or, once the limit was reached, as blocked.
        #expect(reasons.allSatisfy { $0 == .wrongOTP || $0 == .loginBlocked }, "\(reasons)")
        #expect(reasons.filter { $0 == .wrongOTP }.count >= 5)
        let state = try #require(try await IPBlockService(context: context).otpState(accountUUID: uuid))
        #expect(state.failureCount >= 5 && state.blockedUntil != nil, "\(state)")
        #expect(await authenticator.login(world.web(world.address("bea"), AuthWorld.password("bea"), otp: totp.code(at: otpTestNow), ip: uniqueTestIP())).reason == .loginBlocked)
    }

    /// Twenty concurrent failures recorded straight through the service all count.
    @Test func serviceCountsConcurrentFailures() async throws {
        let world = try await AuthWorld.make("otp-svc")
        defer { world.close() }
        let service = IPBlockService(context: world.context(), otpLimit: OTPFailureLimit(maxFailures: 1000, window: .seconds(900), lockDuration: .seconds(60)))
        let uuid = UUID().uuidString
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { try await service.recordWrongOTP(accountUUID: uuid) } }
            try await group.waitForAll()
        }
        #expect(try await service.otpState(accountUUID: uuid)?.failureCount == 20)
        #expect(try await service.clearOTPFailures(accountUUID: uuid))
        #expect(try await service.clearOTPFailures(accountUUID: uuid) == false)
    }

    /// A failure counted from a snapshot read earlier (the mail policy reads the block state
    /// for the reason, then counts from it): stale snapshots still count exactly, whether the
    /// entry appeared or its count moved meanwhile, and the tenth failure blocks.
    @Test func failuresCountedFromAStaleSnapshotCountExactly() async throws {
        let world = try await AuthWorld.make("ip-snap")
        defer { world.close() }
        let service = IPBlockService(context: world.context())
        let ip = try #require(IPAddress(uniqueTestIP()))
        let absent = try await service.snapshot(of: ip)
        #expect(absent.state == nil && !service.isBlocked(absent))
        // Someone else counts first: the entry exists now, the snapshot says it does not.
        try await service.recordFailure(ip)
        try await service.recordFailure(ip, after: absent)
        #expect(try await service.state(of: ip)?.failureCount == 2)
        // A snapshot at 2, then three more elsewhere: counting from it still adds one.
        let atTwo = try await service.snapshot(of: ip)
        for _ in 0..<3 { try await service.recordFailure(ip) }
        try await service.recordFailure(ip, after: atTwo)
        #expect(try await service.state(of: ip)?.failureCount == 6)
        // Fresh snapshots up to the limit: the tenth blocks.
        var blocked = false
        for _ in 0..<4 { blocked = try await service.recordFailure(ip, after: try await service.snapshot(of: ip)) }
        #expect(blocked)
        #expect(service.isBlocked(try await service.snapshot(of: ip)))
    }
}
