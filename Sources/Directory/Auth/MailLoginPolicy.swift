import Foundation
import LDAPClient
import Logging

/// What the mail-login policy knows about an account at one moment: the pure input of
/// ``MailLoginRules``, read by ``MailLoginPolicy`` in two searches.
public struct MailAccountState: Sendable, Hashable {
    public var status: LoginAccount.Status
    public var enabledServices: Set<String>
    /// `gwAllowedNetwork` of the account's home workspace, then of the account.
    public var workspaceNetworks: [String]
    public var accountNetworks: [String]
    public var otpEnabled: Bool
    public var mailPasswordSet: Bool
    /// ppolicy's lock (`pwdAccountLockedTime`) on the entry Dovecot binds as, still in force.
    public var passwordLocked: Bool
    public var passwordChangedByAdmin: Date?
    public var lastSuccessfulLogin: Date?

    public init(
        status: LoginAccount.Status = .active, enabledServices: Set<String> = ["imap", "pop3", "smtp"],
        workspaceNetworks: [String] = [], accountNetworks: [String] = [], otpEnabled: Bool = false,
        mailPasswordSet: Bool = false, passwordLocked: Bool = false, passwordChangedByAdmin: Date? = nil,
        lastSuccessfulLogin: Date? = nil
    ) {
        self.status = status
        self.enabledServices = enabledServices
        self.workspaceNetworks = workspaceNetworks
        self.accountNetworks = accountNetworks
        self.otpEnabled = otpEnabled
        self.mailPasswordSet = mailPasswordSet
        self.passwordLocked = passwordLocked
        self.passwordChangedByAdmin = passwordChangedByAdmin
        self.lastSuccessfulLogin = lastSuccessfulLogin
    }
}

/// The decisions of Dovecot's auth policy (spec §4), pure so they are unit-tested without
/// slapd. They reuse ``LoginRules`` so a mail login is judged as ``Authenticator`` judges it.
public enum MailLoginRules {
    /// The `allow` step, before Dovecot checks the password: nil lets Dovecot go on.
    /// An unknown login is allowed (Dovecot fails it, the report records it), so the answer
    /// tells a prober nothing about which addresses exist.
    public static func refusal(
        ip: IPAddress?, ipBlocked: Bool, protocol: MailProtocol?, account: MailAccountState?
    ) -> LoginFailureReason? {
        if ipBlocked { return .autoBlockedIP }
        guard let account else { return nil }
        return LoginRules.networkReason(ip: ip, workspace: account.workspaceNetworks, account: account.accountNetworks)
            ?? LoginRules.statusReason(account.status)
            ?? `protocol`.flatMap { LoginRules.protocolReason($0.loginType, enabledServices: account.enabledServices) }
    }

    /// The reason of a failed login that Dovecot reports (Dovecot 2.3 sends none): a policy
    /// refusal is what `allow` said, recomputed; otherwise the first rule that fails, in the
    /// order Dovecot's passdb applies them (status and protocol in its filter, the mail-only
    /// password rule, then the bind: lock, admin reset, wrong password).
    public static func failureReason(
        ip: IPAddress?, ipBlocked: Bool, protocol: MailProtocol?, account: MailAccountState?, policyRejected: Bool
    ) -> LoginFailureReason {
        if policyRejected, let reason = refusal(ip: ip, ipBlocked: ipBlocked, protocol: `protocol`, account: account) {
            return reason
        }
        guard let account else { return .unauthorizedUser }
        if let reason = LoginRules.statusReason(account.status)
            ?? `protocol`.flatMap({ LoginRules.protocolReason($0.loginType, enabledServices: account.enabledServices) })
        {
            return reason
        }
        if account.otpEnabled, !account.mailPasswordSet { return .otpRequired }
        if account.passwordLocked { return .loginBlocked }
        if !account.mailPasswordSet,
           LoginRules.isPasswordChangedByAdmin(changedAt: account.passwordChangedByAdmin, lastSuccessfulLogin: account.lastSuccessfulLogin)
        {
            return .passwordChangedByAdmin
        }
        return .wrongPassword
    }

    /// Whether ppolicy's `pwdAccountLockedTime` still locks at `now`: ppolicy lifts a lock by
    /// itself after the lockout duration; `000001010000Z` (before 1970 here) is permanent.
    public static func isLocked(lockedAt: Date?, now: Date, lockoutDuration: TimeInterval) -> Bool {
        guard let lockedAt else { return false }
        if lockedAt.timeIntervalSince1970 <= 0 { return true }
        return now < lockedAt.addingTimeInterval(lockoutDuration)
    }

    /// The audit type of Dovecot's `protocol` (`%s`): Postfix's SASL asks as `smtp`, Dovecot's
    /// submission service as `submission`; nil for protocols the audit has no type for.
    public static func mailProtocol(dovecotService: String) -> MailProtocol? {
        switch dovecotService.lowercased() {
        case "imap": .imap
        case "pop3": .pop3
        case "smtp", "submission": .smtp
        default: nil
        }
    }
}

/// One login as Dovecot's policy request describes it.
public struct MailLoginAttempt: Sendable, Hashable {
    /// `%{requested_username}`: what the user typed (Dovecot lower-cases it first here).
    public var login: String
    public var ip: IPAddress?
    /// nil for a Dovecot service the audit has no type for (`doveadm`, `sieve`).
    public var mailProtocol: MailProtocol?

    public init(login: String, ip: IPAddress?, mailProtocol: MailProtocol?) {
        self.login = login
        self.ip = ip
        self.mailProtocol = mailProtocol
    }
}

/// Dovecot's auth policy against the directory: ``allow(_:)`` before the password check,
/// ``report(_:success:policyRejected:)`` after it. Reads as the service account; records
/// through a ``LoginRecorder`` so storage (the audit log, a spool) stays replaceable.
public struct MailLoginPolicy: Sendable {
    public var context: DirectoryContext
    public var recorder: any LoginRecorder
    public var ipBlocks: IPBlockService
    /// ppolicy's `pwdLockoutDuration` of `cn=default,ou=policies` (schema/slapd/base.ldif).
    public var lockoutDuration: TimeInterval
    /// Shared by every request: during an outage they answer at once instead of each waiting
    /// on slapd (``DirectoryBreaker``).
    public let breaker: DirectoryBreakerBox
    public var logger: Logger

    public init(
        context: DirectoryContext, recorder: any LoginRecorder, ipBlockPolicy: IPBlockPolicy = .standard,
        lockoutDuration: TimeInterval = 900, breaker: DirectoryBreakerBox = DirectoryBreakerBox(),
        logger: Logger = DirectoryLogging.auth
    ) {
        self.logger = logger
        self.context = context
        self.recorder = recorder
        self.ipBlocks = IPBlockService(context: context, policy: ipBlockPolicy)
        self.lockoutDuration = lockoutDuration
        self.breaker = breaker
    }

    /// The reason to refuse before authentication, or nil. Throws when the directory fails
    /// or failed within the breaker's cooldown (the caller decides between failing open and closed).
    public func allow(_ attempt: MailLoginAttempt) async throws -> LoginFailureReason? {
        let now = context.now()
        guard breaker.shouldAsk(now: now) else {
            throw DirectoryError(.unavailable, "the directory was unreachable moments ago; not asking again yet")
        }
        let account: MailAccountState?
        do {
            if let ip = attempt.ip, try await ipBlocks.isBlocked(ip, at: now) {
                breaker.answered()
                return .autoBlockedIP
            }
            account = try await lookUp(attempt.login, now: now)?.state
            breaker.answered()
        } catch let error as DirectoryError where error.code == .unavailable {
            breaker.unreachable(now: context.now())
            throw error
        } catch {
            breaker.answered()
            throw error
        }
        return MailLoginRules.refusal(ip: attempt.ip, ipBlocked: false, protocol: attempt.mailProtocol, account: account)
    }

    /// Records one reported attempt and returns the event written. Failures count toward the
    /// IP auto-block as the authenticator's do; a success clears an admin-reset mark as the
    /// authenticator does. An attempt of a protocol without an audit type is not recorded (nil).
    @discardableResult
    public func report(_ attempt: MailLoginAttempt, success: Bool, policyRejected: Bool) async throws -> LoginEvent? {
        guard let mailProtocol = attempt.mailProtocol else { return nil }
        let now = context.now()
        // A success needs nothing derived now: a recorder that finds accounts itself (the
        // spool's drainer, a batch of logins at a time) takes it as it is, and the report
        // costs no LDAP read (``MailAccountResolver``).
        if success, recorder.resolvesAccounts {
            let event = LoginEvent(
                time: now, accountDN: nil, loginName: attempt.login, type: mailProtocol.loginType,
                client: mailProtocol.loginType.rawValue, ip: attempt.ip, country: nil, outcome: .success, accountUnresolved: true
            )
            try await recorder.record(event)
            return event
        }
        // slapd is away, but Dovecot's attempt happened: record what is known so the spool
        // keeps it until slapd is back. The drainer then finds the account; a failure keeps
        // `mail_server_error`: Dovecot's passdb reads the same slapd, so the outage is the
        // likely cause, and Dovecot 2.3 reports none. No IP-block count: that needs slapd now.
        let unresolved = LoginEvent(
            time: now, accountDN: nil, loginName: attempt.login, type: mailProtocol.loginType,
            client: mailProtocol.loginType.rawValue, ip: attempt.ip, country: nil,
            outcome: success ? .success : .failure(.mailServerError), accountUnresolved: true
        )
        guard breaker.shouldAsk(now: now) else {
            try await recorder.record(unresolved)
            return unresolved
        }
        let found: (dn: DistinguishedName, state: MailAccountState)?
        let outcome: LoginOutcome
        // The address's block state as read for the reason, reused to count the failure.
        var blockState: IPBlockService.Snapshot?
        do {
            // A failure's reason needs the networks and the address's block only to repeat
            // what `allow` refused for (``MailLoginRules/failureReason``); counting the failure
            // below needs no read first (``IPBlockService``).
            found = try await lookUp(attempt.login, now: now, includingNetworks: policyRejected)
            if success {
                outcome = .success
            } else {
                var blocked = false
                if policyRejected, let ip = attempt.ip {
                    let snapshot = try await ipBlocks.snapshot(of: ip)
                    blockState = snapshot
                    blocked = ipBlocks.isBlocked(snapshot, at: now)
                }
                outcome = .failure(MailLoginRules.failureReason(
                    ip: attempt.ip, ipBlocked: blocked, protocol: mailProtocol, account: found?.state, policyRejected: policyRejected
                ))
            }
            breaker.answered()
        } catch let error as DirectoryError where error.code == .unavailable {
            breaker.unreachable(now: context.now())
            try await recorder.record(unresolved)
            return unresolved
        } catch {
            breaker.answered()
            throw error
        }
        let event = LoginEvent(
            time: now, accountDN: found?.dn, loginName: attempt.login, type: mailProtocol.loginType,
            client: mailProtocol.loginType.rawValue, ip: attempt.ip, country: nil, outcome: outcome
        )
        // The event is what the answer vouches for: its failure fails the report.
        try await recorder.record(event)
        // What follows only completes it; once the event is recorded a failure here is logged
        // with its cause, not answered as a failed report (the event would be recorded twice
        // by a retry, and a durable spool already holds it).
        if let reason = outcome.reason, let ip = attempt.ip, LoginRules.countsTowardIPBlock(reason) {
            do {
                if let blockState {
                    try await ipBlocks.recordFailure(ip, at: now, after: blockState)
                } else {
                    try await ipBlocks.recordFailure(ip, at: now)
                }
            } catch {
                noteFailure(error, "a failed login was recorded but not counted toward the IP auto-block", ["ip": "\(ip)", "login": "\(attempt.login)"])
            }
        }
        if success, let found, !found.state.mailPasswordSet, found.state.passwordChangedByAdmin != nil {
            do {
                _ = try await ldapCall("clearing the admin-reset mark of \(found.dn)") {
                    try await context.ldap.modify(dn: found.dn, [.replace(AttributeName.passwordChangedByAdmin, [])])
                }
            } catch {
                noteFailure(error, "a successful login was recorded but the admin-reset mark stays", ["account": "\(found.dn)"])
            }
        }
        return event
    }

    private func noteFailure(_ error: any Error, _ message: Logger.Message, _ metadata: Logger.Metadata) {
        if let error = error as? DirectoryError, error.code == .unavailable { breaker.unreachable(now: context.now()) }
        var metadata = metadata
        metadata["error"] = "\(error)"
        logger.error(message, metadata: metadata)
    }

    /// The account whose primary address is `login` (Dovecot logs in by primary address),
    /// with its workspace's networks (unless `includingNetworks` is false: then empty) and
    /// ppolicy lock; nil when there is none.
    public func lookUp(_ login: String, now: Date, includingNetworks: Bool = true) async throws -> (dn: DistinguishedName, state: MailAccountState)? {
        guard let (entry, account) = try await Self.account(login: login, context: context, extraAttributes: [AttributeName.pwdAccountLockedTime]) else {
            return nil
        }
        let workspace = account.homeWorkspace
        var workspaceNetworks: [String] = []
        if let workspace, includingNetworks {
            workspaceNetworks = try await ldapCall("reading the allowed networks of \(workspace)") {
                try await context.ldap.entry(workspace, attributes: [AttributeName.allowedNetwork])?.strings(AttributeName.allowedNetwork) ?? []
            }
        }
        // Dovecot binds as the mail-only credential while one is set: its lock is the one that counts.
        var lockedAt = entry.string(AttributeName.pwdAccountLockedTime).flatMap(GeneralizedTime.parse)
        if account.mailPasswordSet {
            let credential = account.mailCredentialDN
            lockedAt = try await ldapCall("reading the lock of \(credential)") {
                try await context.ldap.entry(credential, attributes: [AttributeName.pwdAccountLockedTime])?
                    .string(AttributeName.pwdAccountLockedTime).flatMap(GeneralizedTime.parse)
            }
        }
        let state = MailAccountState(
            status: account.status, enabledServices: account.enabledServices, workspaceNetworks: workspaceNetworks,
            accountNetworks: account.allowedNetworks, otpEnabled: account.otpEnabled, mailPasswordSet: account.mailPasswordSet,
            passwordLocked: MailLoginRules.isLocked(lockedAt: lockedAt, now: now, lockoutDuration: lockoutDuration),
            passwordChangedByAdmin: account.passwordChangedByAdmin, lastSuccessfulLogin: account.lastSuccessfulLogin
        )
        return (account.dn, state)
    }


    static func account(login: String, context: DirectoryContext, extraAttributes: [String] = []) async throws -> (entry: LDAPEntry, account: LoginAccount)? {
        // A login that is no address names no account (Dovecot logs in by primary address).
        guard let address = try? MailAddress(login) else { return nil }
        let result = try await ldapCall("looking up \(address)") {
            try await context.ldap.search(
                base: context.layout.workspaces, scope: .subtree, filter: Account.filter(mail: address),
                attributes: LoginAccount.attributes + extraAttributes
            )
        }
        guard let entry = result.entries.first else { return nil }
        guard result.entries.count == 1 else { throw DirectoryError(.failed, "several accounts have the address \(address)") }
        let account = try LoginAccount(entry: entry)
        guard account.status != .deleted else { return nil }
        return (entry, account)
    }
}

/// Finds the account of a Dovecot login (its primary address) for the spool's drainer, as
/// ``MailLoginPolicy`` finds it, and clears the admin-reset mark a success outdates.
public struct MailAccountResolver: LoginAccountResolver {
    public var context: DirectoryContext
    /// Logins resolved in the last ``ResolvedLoginCache/ttl``: a mail server's logins repeat
    /// (clients poll), and one search per event would cost the drainer as much as the write.
    let cache: CacheBox

    public init(context: DirectoryContext, cache: ResolvedLoginCache = ResolvedLoginCache()) {
        self.context = context
        self.cache = CacheBox(cache)
    }

    public func account(of login: String) async throws -> ResolvedLoginAccount? {
        // The cache ages in elapsed time, not on ``DirectoryContext/now``: a TTL bounds how long
        // an answer from slapd is reused, and the directory's clock is event time, which tests
        // and the benchmark move by days and a wall-clock step can move backwards.
        let now = ContinuousClock.now
        if let known = cache.state.withLock({ $0.lookUp(login, now: now) }) { return known }
        let resolved: ResolvedLoginAccount?
        if let (_, account) = try await MailLoginPolicy.account(login: login, context: context) {
            resolved = ResolvedLoginAccount(
                dn: account.dn, adminResetPending: !account.mailPasswordSet && account.passwordChangedByAdmin != nil
            )
        } else {
            resolved = nil
        }
        cache.state.withLock { $0.store(login, resolved, now: now) }
        return resolved
    }

    /// Only a mark older than the login goes: an admin who reset the password again after it
    /// keeps the new mark (the assertion fails and nothing changes).
    public func loggedIn(_ account: ResolvedLoginAccount, at time: Date) async throws {
        let dn = account.dn
        try await ldapCall("clearing the admin-reset mark of \(dn)") {
            do {
                _ = try await context.ldap.modify(
                    dn: dn, [.replace(AttributeName.passwordChangedByAdmin, [])],
                    controls: [.assertion(.lessOrEqual("gwPasswordChangedByAdmin", GeneralizedTime.format(time)))]
                )
            } catch let error as LDAPError where error.code == .assertionFailed {}
        }
        cache.state.withLock { $0.clearedAdminReset(dn: account.dn) }
    }

    final class CacheBox: Sendable {
        let state: LockedValue<ResolvedLoginCache>
        init(_ cache: ResolvedLoginCache) { state = LockedValue(cache) }
    }
}

/// What ``MailAccountResolver`` remembers of recent lookups, pure so tests drive it with instants.
/// An account found is kept for `ttl` (a rename or a delete shows after at most that long: the
/// events of those seconds name the old DN); a login without an account for `negativeTTL`. An
/// admin reset made meanwhile is cleared by the first success after the cache forgets it.
/// Bounded: past `capacity` the expired entries go, then all.
public struct ResolvedLoginCache: Sendable {
    struct Entry: Sendable {
        var account: ResolvedLoginAccount?
        var expires: ContinuousClock.Instant
    }

    var entries: [String: Entry] = [:]
    public let ttl: Duration
    public let negativeTTL: Duration
    public let capacity: Int

    public init(ttl: Duration = .seconds(30), negativeTTL: Duration = .seconds(5), capacity: Int = 100_000) {
        self.ttl = ttl
        self.negativeTTL = negativeTTL
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// `.some(account)` (an account or none) while remembered, nil when it must be looked up.
    public func lookUp(_ login: String, now: ContinuousClock.Instant) -> ResolvedLoginAccount?? {
        guard let entry = entries[login], now < entry.expires else { return nil }
        return .some(entry.account)
    }

    public mutating func store(_ login: String, _ account: ResolvedLoginAccount?, now: ContinuousClock.Instant) {
        if entries.count >= capacity {
            entries = entries.filter { now < $0.value.expires }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[login] = Entry(account: account, expires: now.advanced(by: account == nil ? negativeTTL : ttl))
    }

    /// The mark is gone: later successes of the account need not clear it again.
    public mutating func clearedAdminReset(dn: DistinguishedName) {
        for (login, entry) in entries where entry.account?.dn == dn {
            entries[login]?.account?.adminResetPending = false
        }
    }
}
