import Foundation
import LDAPClient

extension IPBlockPolicy {
    /// 10 failures from one address within 10 minutes block it for 30 minutes.
    public static let standard = IPBlockPolicy(maxFailures: 10, window: .seconds(600), blockDuration: .seconds(1800))
}

/// One address's failure bookkeeping as stored in `ou=ipblocks,ou=audit`.
public struct IPBlockEntry: Sendable, Hashable {
    public var dn: DistinguishedName
    public var ip: String
    public var state: IPFailureState
}

/// The IP auto-block (`auto_blocked_ip`): one `gwIPBlock` entry per address under
/// `ou=ipblocks,ou=audit,<base>`, RDN `gwClientIP=<ip>`, written only by the service.
///
/// Counting is race-free without locks: within a window, a failure is an RFC 4525 increment
/// of `gwFailureCount` guarded by an assertion on `gwWindowStart`, so concurrent failures
/// all count; opening a new window replaces the values under the same assertion, so exactly
/// one of several concurrent writers opens it and the others retry into the new window.
///
/// The same entries and counting serve the per-account limit on wrong OTP codes
/// (``OTPFailureLimit``): their RDN value is `otp.<entryUUID>`, they follow ``otpLimit``, and
/// ``list(blockedOnly:at:)`` and ``lift(_:)`` (the IP commands) leave them out.
///
/// Counting starts from the entry as this service last wrote or read it (``KnownEntries``),
/// so a failure costs one write instead of a read and a write. That is safe because every
/// counting write asserts what it assumes: a remembered entry that went stale (another
/// server counted, an admin lifted the block) fails its assertion and costs a read and a
/// retry, as a snapshot does. Whether an address *is* blocked is always read from slapd.
public struct IPBlockService: Sendable {
    public var context: DirectoryContext
    public var policy: IPBlockPolicy
    public var otpLimit: OTPFailureLimit
    /// Shared by copies of this service (a class), so one server remembers once.
    let known: KnownEntries

    public init(
        context: DirectoryContext, policy: IPBlockPolicy = .standard, otpLimit: OTPFailureLimit = .standard,
        rememberedEntries: Int = 10_000
    ) {
        self.context = context
        self.policy = policy
        self.otpLimit = otpLimit
        self.known = KnownEntries(capacity: rememberedEntries)
    }

    /// The entries as last written or read, by RDN value: `.some(nil)` when read absent.
    /// Bounded: past `capacity` it forgets everything (each forgotten key costs one read).
    final class KnownEntries: Sendable {
        let entries: LockedValue<[String: LDAPEntry?]>
        let capacity: Int

        init(capacity: Int) {
            self.capacity = capacity
            entries = LockedValue([:])
        }

        func entry(_ key: String) -> LDAPEntry?? {
            entries.withLock { $0[key] }
        }

        func remember(_ key: String, _ entry: LDAPEntry?) {
            guard capacity > 0 else { return }
            entries.withLock { entries in
                if entries.count >= capacity, entries[key] == nil { entries.removeAll(keepingCapacity: true) }
                entries[key] = .some(entry)
            }
        }

        func forget(_ key: String) {
            _ = entries.withLock { $0.removeValue(forKey: key) }
        }

        var count: Int { entries.withLock { $0.count } }
    }

    private static let attributes = [AttributeName.clientIP, AttributeName.failureCount, AttributeName.windowStart, AttributeName.blockedUntil]

    func dn(_ ip: IPAddress) throws -> DistinguishedName {
        try dn(key: ip.description)
    }

    private func dn(key: String) throws -> DistinguishedName {
        try context.layout.ipBlocks.child(type: AttributeName.clientIP, value: key)
    }

    public func state(of ip: IPAddress) async throws -> IPFailureState? {
        try await state(key: ip.description, what: "\(ip)")
    }

    /// An address's bookkeeping as read once: whether it blocks, and the starting point of a
    /// ``recordFailure(_:at:after:)`` that follows, which then writes without reading it again.
    public struct Snapshot: Sendable {
        fileprivate var entry: LDAPEntry?
        public var state: IPFailureState?
    }

    public func snapshot(of ip: IPAddress) async throws -> Snapshot {
        let dn = try dn(ip)
        let entry = try await ldapCall("reading the block state of \(ip)") { try await context.ldap.entry(dn, attributes: Self.attributes) }
        return Snapshot(entry: entry, state: entry.flatMap { Self.parse($0)?.state })
    }

    public func isBlocked(_ snapshot: Snapshot, at time: Date? = nil) -> Bool {
        policy.isBlocked(snapshot.state, at: time ?? context.now())
    }

    private func state(key: String, what: String) async throws -> IPFailureState? {
        let dn = try dn(key: key)
        let entry = try await ldapCall("reading the block state of \(what)") { try await context.ldap.entry(dn, attributes: Self.attributes) }
        return entry.flatMap { Self.parse($0)?.state }
    }

    public func isBlocked(_ ip: IPAddress, at time: Date? = nil) async throws -> Bool {
        policy.isBlocked(try await state(of: ip), at: time ?? context.now())
    }

    /// Counts a failed login from `ip`; true when the address is blocked afterwards.
    @discardableResult
    public func recordFailure(_ ip: IPAddress, at time: Date? = nil) async throws -> Bool {
        try await recordFailure(key: ip.description, what: "from \(ip)", policy: policy, at: time ?? context.now())
    }

    /// The same, starting from `snapshot` instead of reading the entry first. The writes
    /// assert what they assume of it (the window, the entry's absence), so a snapshot that
    /// went stale meanwhile only costs a read and a retry.
    @discardableResult
    public func recordFailure(_ ip: IPAddress, at time: Date? = nil, after snapshot: Snapshot) async throws -> Bool {
        try await recordFailure(key: ip.description, what: "from \(ip)", policy: policy, at: time ?? context.now(), known: snapshot.entry)
    }

    // MARK: Wrong OTP codes per account

    /// The OTP failure state of the account with this entryUUID.
    public func otpState(accountUUID: String) async throws -> IPFailureState? {
        try await state(key: Self.otpKey(accountUUID), what: "the OTP codes of \(accountUUID)")
    }

    /// `login_blocked` while the account's OTP logins are locked, else nil.
    public func otpRefusal(accountUUID: String, at time: Date? = nil) async throws -> LoginFailureReason? {
        otpLimit.refusal(try await otpState(accountUUID: accountUUID), at: time ?? context.now())
    }

    /// Counts a wrong OTP code of the account; true when its OTP logins are locked afterwards.
    @discardableResult
    public func recordWrongOTP(accountUUID: String, at time: Date? = nil) async throws -> Bool {
        try await recordFailure(key: Self.otpKey(accountUUID), what: "with a wrong OTP code of \(accountUUID)", policy: otpLimit.counter,
                                at: time ?? context.now())
    }

    /// Forgets the account's wrong OTP codes (an admin's unlock); true when there were any.
    @discardableResult
    public func clearOTPFailures(accountUUID: String) async throws -> Bool {
        let key = try Self.otpKey(accountUUID)
        known.forget(key)
        do {
            _ = try await context.ldap.delete(dn: dn(key: key))
            return true
        } catch let error as LDAPError where error.code == .noSuchObject {
            return false
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "clearing the OTP failures of \(accountUUID)")
        }
    }

    private static func otpKey(_ accountUUID: String) throws -> String {
        guard let key = OTPFailureLimit.key(accountUUID: accountUUID) else {
            throw DirectoryError(.failed, "\"\(accountUUID)\" is not an entryUUID")
        }
        return key
    }

    // MARK: Counting

    /// One failure under `key` by `policy`: a new window, or an increment asserting the window.
    /// `known`: the entry as a caller just read it (`.some(nil)`: absent), used for the first
    /// round; else the entry as last written or read here (``KnownEntries``).
    private func recordFailure(key: String, what: String, policy: IPBlockPolicy, at now: Date, known: LDAPEntry?? = nil) async throws -> Bool {
        let dn = try dn(key: key)
        let ldap = context.ldap
        // A remembered entry only starts a write, which asserts it; a block it shows may have
        // been lifted since, so that is read again before the failure goes uncounted.
        var remembered = known == nil
        var known = known ?? self.known.entry(key)
        for _ in 0..<8 {
            let entry: LDAPEntry?
            let fresh: Bool
            if let first = known {
                entry = first
                known = nil
                fresh = false
            } else {
                entry = try await ldapCall("reading the failures \(what)") { try await ldap.entry(dn, attributes: Self.attributes) }
                remembered = false
                fresh = true
            }
            let parsedEntry = entry.flatMap(Self.parse)
            // Not an entry it cannot read: that one is replaced (deleted first), which only a
            // fresh read may decide.
            if fresh, entry == nil || parsedEntry != nil { self.known.remember(key, entry) }
            guard let parsed = parsedEntry else {
                let (next, blocked) = policy.record(failureAt: now, state: nil)
                let values = Self.values(next).filter { !$0.value.isEmpty }.map { LDAPAttribute($0.key, $0.value) }
                do {
                    if entry != nil { _ = try await ldap.delete(dn: dn) }
                    try await ldap.add(dn: dn, attributes: [
                        LDAPAttribute(AttributeName.objectClass, [ObjectClassName.iPBlock]),
                        LDAPAttribute(AttributeName.clientIP, key),
                    ] + values)
                    self.known.remember(key, LDAPEntry(dn: dn.description, attributes: values))
                    return blocked
                } catch let error as LDAPError where [.entryAlreadyExists, .noSuchObject].contains(error.code) {
                    self.known.forget(key)
                    continue
                } catch let error as LDAPError {
                    self.known.forget(key)
                    throw DirectoryError.ldap(error, "recording a failed login \(what)")
                }
            }
            let (state, windowText) = parsed
            if policy.isBlocked(state, at: now) {
                if remembered {
                    remembered = false
                    continue
                }
                return true
            }
            let (next, blocked) = policy.record(failureAt: now, state: state)
            let sameWindow: LDAPFilter = .equal("gwWindowStart", windowText)
            do {
                if next.windowStart == state.windowStart, next.failureCount == state.failureCount + 1 {
                    // `record` continues a window only while it holds no block: asserted too.
                    let openWindow: LDAPFilter = .and([sameWindow, .not(.present("gwBlockedUntil"))])
                    let result = try await ldap.modify(
                        dn: dn, [.increment(AttributeName.failureCount, by: 1)],
                        controls: [.assertion(openWindow), .postRead([AttributeName.failureCount])]
                    )
                    let count = result.postReadEntry?.string(AttributeName.failureCount).flatMap { Int($0) } ?? next.failureCount
                    var counted = state
                    counted.failureCount = count
                    guard count >= policy.maxFailures else {
                        self.known.remember(key, Self.entry(dn, counted, windowText: windowText))
                        return false
                    }
                    let until = now.addingTimeInterval(policy.blockDuration.timeInterval)
                    do {
                        _ = try await ldap.modify(
                            dn: dn, [.replace(AttributeName.blockedUntil, [GeneralizedTime.format(until)])],
                            controls: [.assertion(openWindow)]
                        )
                        counted.blockedUntil = until
                        self.known.remember(key, Self.entry(dn, counted, windowText: windowText))
                    } catch let error as LDAPError where error.code == .assertionFailed {
                        // Another failure of the same burst set the block already.
                        self.known.forget(key)
                    }
                    return true
                }
                let values = Self.values(next)
                _ = try await ldap.modify(
                    dn: dn, [AttributeName.windowStart, AttributeName.failureCount, AttributeName.blockedUntil].map { .replace($0, values[$0] ?? []) },
                    controls: [.assertion(sameWindow)]
                )
                self.known.remember(key, Self.entry(dn, next))
                return blocked
            } catch let error as LDAPError where [.assertionFailed, .noSuchObject].contains(error.code) {
                self.known.forget(key)
                remembered = false
                continue
            } catch let error as LDAPError {
                self.known.forget(key)
                throw DirectoryError.ldap(error, "recording a failed login \(what)")
            }
        }
        throw DirectoryError(.failed, "recording a failed login \(what): too many concurrent updates")
    }

    /// Every address with bookkeeping; `blockedOnly` keeps those blocked at `time`. The
    /// accounts' OTP bookkeeping is not listed.
    public func list(blockedOnly: Bool = true, at time: Date? = nil) async throws -> [IPBlockEntry] {
        let now = time ?? context.now()
        return try await entries().filter { entry in
            !OTPFailureLimit.isAccountKey(entry.ip) && (!blockedOnly || policy.isBlocked(entry.state, at: now))
        }
    }

    /// Every entry under `ou=ipblocks`, addresses and accounts' OTP bookkeeping alike.
    private func entries() async throws -> [IPBlockEntry] {
        let result = try await ldapCall("listing IP blocks") {
            try await context.ldap.search(base: context.layout.ipBlocks, scope: .oneLevel, filter: .equal("objectClass", ObjectClassName.iPBlock), attributes: Self.attributes)
        }
        return result.entries.compactMap { entry -> IPBlockEntry? in
            guard let dn = try? DistinguishedName(entry.dn), let state = Self.parse(entry)?.state else { return nil }
            return IPBlockEntry(dn: dn, ip: entry.string(AttributeName.clientIP) ?? dn.rdn?.value ?? "", state: state)
        }.sorted { $0.ip < $1.ip }
    }

    /// Lifts a block (and forgets the address's failures).
    public func lift(_ ip: IPAddress) async throws {
        let dn = try dn(ip)
        known.forget(ip.description)
        do {
            _ = try await context.ldap.delete(dn: dn)
        } catch let error as LDAPError where error.code == .noSuchObject {
            throw DirectoryError(.notFound, "\(ip) is not blocked and has no recorded failures")
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "lifting the block of \(ip)")
        }
    }

    /// Deletes bookkeeping that neither blocks nor counts any more; returns how many.
    @discardableResult
    public func purgeStale(at time: Date? = nil) async throws -> Int {
        let now = time ?? context.now()
        var removed = 0
        for entry in try await entries() where (OTPFailureLimit.isAccountKey(entry.ip) ? otpLimit.counter : policy).isStale(entry.state, at: now) {
            known.forget(entry.ip)
            do {
                _ = try await context.ldap.delete(dn: entry.dn)
                removed += 1
            } catch let error as LDAPError where error.code == .noSuchObject {}
        }
        return removed
    }

    static func parse(_ entry: LDAPEntry) -> (state: IPFailureState, windowText: String)? {
        guard let windowText = entry.string(AttributeName.windowStart), let windowStart = GeneralizedTime.parse(windowText) else { return nil }
        let count = entry.string(AttributeName.failureCount).flatMap { Int($0) } ?? 0
        let blockedUntil = entry.string(AttributeName.blockedUntil).flatMap(GeneralizedTime.parse)
        return (IPFailureState(windowStart: windowStart, failureCount: count, blockedUntil: blockedUntil), windowText)
    }

    /// The entry as `state` stores it, for ``KnownEntries``; `windowText`: the window's value
    /// as slapd holds it, kept verbatim because the next write asserts it.
    static func entry(_ dn: DistinguishedName, _ state: IPFailureState, windowText: String? = nil) -> LDAPEntry {
        var values = values(state)
        if let windowText { values[AttributeName.windowStart] = [windowText] }
        return LDAPEntry(dn: dn.description, attributes: values.filter { !$0.value.isEmpty }.map { LDAPAttribute($0.key, $0.value) })
    }

    static func values(_ state: IPFailureState) -> [String: [String]] {
        [
            AttributeName.windowStart: [GeneralizedTime.format(state.windowStart)],
            AttributeName.failureCount: [String(state.failureCount)],
            AttributeName.blockedUntil: state.blockedUntil.map { [GeneralizedTime.format($0)] } ?? [],
        ]
    }
}
