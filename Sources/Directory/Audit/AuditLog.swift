import Foundation
import GeoIP
import LDAPClient
import Synchronization

/// The login audit log in `ou=events,ou=audit,<base>` (spec §5): one `gwLoginEvent` per web or
/// app login, one folded entry per run of identical IMAP/POP3/SMTP logins, the account's
/// last-login attributes, listing, and retention.
///
/// ``record(_:)`` is the call the authenticator and the Dovecot policy endpoint make for
/// every attempt. It is safe to call from many tasks at once and is built for that: a repeat
/// of a mail login costs one LDAP modify (an RFC 4525 increment), not a search and a modify,
/// because the newest entry of each account is kept in process; requests from concurrent
/// calls are in flight together on the connection.
///
/// Copies share their cache; make one per process (per directory) and pass it around.
/// Two processes writing the same log (two `gwdir serve` replicas) each fold into the entry
/// they know, so a run may be split across two entries — counts stay exact.
public struct AuditLog: LoginRecorder {
    /// What `gwCountry` and `gwLastLoginCountry` hold when the country is not known: no GeoIP
    /// database configured, a private address, or an address the database lacks. Written rather
    /// than left out so that "unknown" can be filtered and shown like any other country.
    public static let unknownCountry = "unknown"

    public let context: DirectoryContext
    public let geoIP: GeoIPDatabase?
    public let folding: AuditFoldingPolicy
    public let retention: AuditRetention
    /// Mail clients log in every few minutes; the account's last-login attributes move at most
    /// this often for IMAP/POP3/SMTP (web and app logins always update them).
    public let mailLastLoginInterval: Duration
    /// How often ``record(_:)`` runs ``purgeExpired(now:)`` by itself, in `context.now()` time;
    /// nil leaves retention to `gwdir audit purge` (a cron job, or a process that only reads).
    public let purgeInterval: Duration?
    private let state: AuditLogState

    public init(
        context: DirectoryContext,
        geoIP: GeoIPDatabase? = nil,
        folding: AuditFoldingPolicy = AuditFoldingPolicy(),
        retention: AuditRetention = AuditRetention(),
        mailLastLoginInterval: Duration = .seconds(60),
        purgeInterval: Duration? = .seconds(3600)
    ) {
        self.context = context
        self.geoIP = geoIP
        self.folding = folding
        self.retention = retention
        self.mailLastLoginInterval = mailLastLoginInterval
        self.purgeInterval = purgeInterval
        self.state = AuditLogState()
    }

    /// What ``write(_:)`` did.
    public enum Written: Sendable, Hashable {
        /// A new entry, count 1.
        case added(DistinguishedName)
        /// One more event in an existing entry.
        case folded(DistinguishedName)

        public var dn: DistinguishedName {
            switch self {
            case .added(let dn), .folded(let dn): dn
            }
        }
    }

    // MARK: Recording

    public func record(_ event: LoginEvent) async throws {
        _ = try await write(event)
    }

    /// Records one login attempt: folds it into the account's newest entry when
    /// ``AuditFoldingPolicy`` says so, else adds an entry; on success also moves the account's
    /// last-login attributes forward (never back). Resolves the country from the IP when the
    /// event has none. At most once per ``purgeInterval`` it first deletes expired entries.
    @discardableResult
    public func write(_ event: LoginEvent) async throws -> Written {
        var resolved = event
        resolved.time = AuditRecords.wholeSecond(event.time)
        if event.country == nil, let ip = event.ip { resolved.country = geoIP?.country(for: ip) }
        let event = resolved
        let now = context.now()
        if let purgeInterval, state.claimPurge(at: now, interval: purgeInterval.timeInterval) {
            // Retention is housekeeping: its failure must not lose the login being recorded; the
            // next claim (an interval later) or `gwdir audit purge` tries again.
            _ = try? await purgeExpired(now: now)
        }
        async let lastLogin: Void = updateLastLogin(event)
        let written: Written
        do {
            written = try await ldapCall("recording a login of \(event.loginName)") { try await writeEntry(event) }
        } catch {
            try? await lastLogin
            throw error
        }
        try await lastLogin
        return written
    }

    private func writeEntry(_ event: LoginEvent) async throws -> Written {
        let account = AuditRecords.account(of: event)
        guard event.foldingKey != nil else {
            let dn = newEntryDN(event)
            try await context.ldap.add(dn: dn, attributes: attributes(for: event, dn: dn))
            state.noteNewest(account, AuditLogState.Newest(dn: dn, summary: AuditEntrySummary(key: nil, firstTime: event.time, lastTime: event.time), created: nil))
            return .added(dn)
        }
        // A few rounds at most: each retry follows an entry that vanished (purged, deleted by
        // hand) or a creation that failed, and the next round adds a fresh one.
        for _ in 0..<4 {
            switch makeStep(event, account: account) {
            case .wait(let load):
                let loaded: AuditLogState.Newest?
                do {
                    loaded = try await load.value
                } catch {
                    state.finishLoad(account, load, with: nil, failed: true)
                    throw error
                }
                state.finishLoad(account, load, with: loaded, failed: false)
            case .create(let dn, let creation):
                try await creation.value
                return .added(dn)
            case .increment(let dn, let creation, let widen):
                if let creation {
                    do { try await creation.value } catch {
                        state.forget(account, dn: dn)
                        continue
                    }
                }
                do {
                    try await increment(dn, widen: widen)
                    return .folded(dn)
                } catch let error as LDAPError where error.code == .noSuchObject {
                    state.forget(account, dn: dn)
                }
            }
        }
        throw DirectoryError(.failed, "recording a login of \(event.loginName): the audit entry kept disappearing")
    }

    private enum Step {
        case wait(Task<AuditLogState.Newest?, any Error>)
        case create(DistinguishedName, Task<Void, any Error>)
        case increment(DistinguishedName, creation: Task<Void, any Error>?, widen: SpanChange?)
    }

    /// Decides under the lock, so concurrent events of one account see each other: the first
    /// miss starts one search that the others wait for, the first event that needs a new entry
    /// starts its add, and the rest increment that entry once the add has landed.
    private func makeStep(_ event: LoginEvent, account: AuditFoldingKey.Account) -> Step {
        state.slots.withLock { slots -> Step in
            switch slots[account] {
            case nil:
                let load = Task { try await self.loadNewest(event, account: account) }
                slots[account] = .loading(load)
                return .wait(load)
            case .loading(let load):
                return .wait(load)
            case .known(let newest):
                if var newest, folding.decide(newest: newest.summary, event: event) == .increment {
                    var widen: SpanChange?
                    if event.time > newest.summary.lastTime {
                        newest.summary.lastTime = event.time
                        widen = SpanChange(time: event.time, isLastTime: true)
                    } else if event.time < newest.summary.firstTime {
                        newest.summary.firstTime = event.time
                        widen = SpanChange(time: event.time, isLastTime: false)
                    }
                    slots[account] = .known(newest)
                    return .increment(newest.dn, creation: newest.created, widen: widen)
                }
                let dnForNew = newEntryDN(event)
                let creation = Task { _ = try await self.context.ldap.add(dn: dnForNew, attributes: self.attributes(for: event, dn: dnForNew)) }
                let summary = AuditEntrySummary(key: event.foldingKey, firstTime: event.time, lastTime: event.time)
                slots[account] = .known(AuditLogState.Newest(dn: dnForNew, summary: summary, created: creation))
                AuditLogState.evictIfLarge(&slots, now: event.time, keep: folding.maxGap.timeInterval)
                return .create(dnForNew, creation)
            }
        }
    }

    /// The account's newest entry that an event at `event.time` could still fold into.
    private func loadNewest(_ event: LoginEvent, account: AuditFoldingKey.Account) async throws -> AuditLogState.Newest? {
        let since = event.time.addingTimeInterval(-folding.maxGap.timeInterval - folding.maxSpan.timeInterval)
        let found = try await context.ldap.search(
            base: context.layout.auditEvents, scope: .oneLevel,
            filter: AuditRecords.foldCandidatesFilter(for: event, since: since),
            attributes: ["gwLoginType", "gwClientIP", "gwLoginResult", "gwFailureReason", "gwFirstTime", "gwLastTime"]
        )
        var newest: AuditLogState.Newest?
        for entry in found.entries {
            guard let summary = AuditRecords.summary(of: entry, account: account), let dn = try? DistinguishedName(entry.dn) else { continue }
            if newest.map({ summary.lastTime > $0.summary.lastTime }) ?? true {
                newest = AuditLogState.Newest(dn: dn, summary: summary, created: nil)
            }
        }
        return newest
    }

    /// One more event: the count goes up atomically (RFC 4525); the span only widens — a
    /// time replace carries an assertion, so a request overtaken by a concurrent one does not
    /// narrow it, and the count is then incremented alone.
    private func increment(_ dn: DistinguishedName, widen: SpanChange?) async throws {
        if let widen {
            let time = GeneralizedTime.format(widen.time)
            let attribute: LDAPFilter.AttributeDescription = widen.isLastTime ? "gwLastTime" : "gwFirstTime"
            let stale: LDAPFilter = widen.isLastTime ? .greaterOrEqual(attribute, time) : .lessOrEqual(attribute, time)
            do {
                _ = try await context.ldap.modify(
                    dn: dn, [.increment("gwEventCount"), .replace(attribute.name, [time])], controls: [.assertion(.not(stale))]
                )
                return
            } catch let error as LDAPError where error.code == .assertionFailed {}
        }
        try await context.ldap.modify(dn: dn, [.increment("gwEventCount")])
    }

    /// A folded event outside the entry's span moves its last (or, arriving late, first) time.
    struct SpanChange: Sendable, Hashable {
        var time: Date
        var isLastTime: Bool
    }

    private func newEntryDN(_ event: LoginEvent) -> DistinguishedName {
        // The id is digits, hex and '-': always a valid RDN value.
        try! context.layout.auditEvents.child(type: "gwEventId", value: AuditRecords.newEventID(time: event.time))
    }

    private func attributes(for event: LoginEvent, dn: DistinguishedName) -> [LDAPAttribute] {
        AuditRecords.attributes(for: event, id: dn.rdn?.value ?? "", country: event.country ?? Self.unknownCountry, layout: context.layout)
    }

    /// gwLastLogin* on the account, for successful logins only, with the assertion
    /// `(!(gwLastLoginTime>=t))` so an older event (a slow request, a replayed log) never
    /// overwrites a newer one. Mail logins update at most once per ``mailLastLoginInterval``.
    private func updateLastLogin(_ event: LoginEvent) async throws {
        guard event.result == .success, let account = event.accountDN else { return }
        if event.type.isMailProtocol,
           !state.claimLastLogin(account.lowercased(), at: event.time, interval: mailLastLoginInterval.timeInterval) {
            return
        }
        let time = GeneralizedTime.format(event.time)
        do {
            _ = try await context.ldap.modify(dn: account, [
                .replace("gwLastLoginTime", [time]),
                .replace("gwLastLoginType", [event.type.rawValue]),
                .replace("gwLastLoginIP", event.ip.map { [$0.description] } ?? []),
                .replace("gwLastLoginCountry", [event.country ?? Self.unknownCountry]),
            ], controls: [.assertion(LDAPFilter.not(.greaterOrEqual("gwLastLoginTime", time)))])
        } catch let error as LDAPError where error.code == .assertionFailed || error.code == .noSuchObject {
            // A newer login is stored already, or the account is gone: nothing to move forward.
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "updating the last login of \(account)")
        }
    }

    // MARK: Listing

    /// Audit entries, newest first (by last time). Every condition is an indexed equality or
    /// time range; `since`/`until` select entries whose span overlaps the period.
    public func events(
        account: DistinguishedName? = nil, loginName: String? = nil, type: LoginType? = nil, result: LoginResult? = nil,
        since: Date? = nil, until: Date? = nil, limit: Int? = nil
    ) async throws -> [AuditEntry] {
        let filter = AuditRecords.listFilter(account: account, loginName: loginName, type: type, result: result, since: since, until: until)
        var entries: [AuditEntry] = []
        try await ldapCall("listing audit events") {
            for try await entry in context.ldap.pagedSearch(
                base: context.layout.auditEvents, scope: .oneLevel, filter: filter, attributes: AuditEntry.attributes, pageSize: 1000
            ) {
                entries.append(AuditEntry(entry))
            }
        }
        entries.sort(by: AuditEntry.newestFirst)
        if let limit, limit >= 0, entries.count > limit { entries.removeLast(entries.count - limit) }
        return entries
    }

    // MARK: Retention

    /// What ``purgeExpired(now:)`` removed.
    public struct Purged: Sendable, Hashable {
        public var events: Int
        public var ipBlocks: Int
        public var cutoff: Date
    }

    /// Deletes the events whose last time is before the retention cutoff, and IP block entries
    /// idle since before it. The account's last-login attributes are not touched: they keep
    /// the newest login beyond the retention period (spec §5).
    @discardableResult
    public func purgeExpired(now: Date? = nil) async throws -> Purged {
        let cutoff = retention.cutoff(now: now ?? context.now())
        return try await ldapCall("purging audit events older than \(GeneralizedTime.format(cutoff))") {
            let events = try await deleteAll(under: context.layout.auditEvents, AuditRecords.expiredFilter(cutoff: cutoff))
            let blocks = try await deleteAll(under: context.layout.ipBlocks, AuditRecords.staleIPBlocksFilter(cutoff: cutoff))
            return Purged(events: events, ipBlocks: blocks, cutoff: cutoff)
        }
    }

    /// Deletes one page at a time, the page's deletes in flight together; an entry already
    /// gone (a concurrent purge) is not an error.
    private func deleteAll(under base: DistinguishedName, _ filter: LDAPFilter) async throws -> Int {
        var deleted = 0
        for try await page in context.ldap.pagedSearch(base: base, scope: .oneLevel, filter: filter, attributes: ["1.1"], pageSize: 500).pages {
            let ldap = context.ldap
            deleted += try await withThrowingTaskGroup(of: Int.self) { group in
                for entry in page {
                    group.addTask {
                        do {
                            _ = try await ldap.delete(dn: entry.dn, controls: [])
                            return 1
                        } catch let error as LDAPError where error.code == .noSuchObject {
                            return 0
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        return deleted
    }
}

/// The in-process memory of ``AuditLog``: per account, the newest entry (or the search for
/// it in flight); per account, when its last login was last written; when retention last ran.
final class AuditLogState: Sendable {
    struct Newest: Sendable {
        var dn: DistinguishedName
        var summary: AuditEntrySummary
        /// The add that creates the entry, while it may still be in flight.
        var created: Task<Void, any Error>?
    }

    enum Slot: Sendable {
        case loading(Task<Newest?, any Error>)
        case known(Newest?)
    }

    static let evictionThreshold = 50_000

    let slots = Mutex<[AuditFoldingKey.Account: Slot]>([:])
    private let lastLoginWrites = Mutex<[String: Date]>([:])
    private let lastPurge = Mutex<Date?>(nil)

    func finishLoad(_ account: AuditFoldingKey.Account, _ load: Task<Newest?, any Error>, with newest: Newest?, failed: Bool) {
        slots.withLock { slots in
            guard case .loading(let current) = slots[account], current == load else { return }
            slots[account] = failed ? nil : .known(newest)
        }
    }

    /// Forgets an entry that turned out to be gone, unless a newer one replaced it already.
    func forget(_ account: AuditFoldingKey.Account, dn: DistinguishedName) {
        slots.withLock { slots in
            guard case .known(let newest?) = slots[account], newest.dn == dn else { return }
            slots[account] = .known(nil)
        }
    }

    /// A web or app login is the account's newest entry too: the next mail login starts a
    /// new entry rather than folding across it. Only known slots change; a search in flight
    /// will find the entry itself.
    func noteNewest(_ account: AuditFoldingKey.Account, _ newest: Newest) {
        slots.withLock { slots in
            guard case .known(let current) = slots[account] else { return }
            if current.map({ newest.summary.lastTime >= $0.summary.lastTime }) ?? true { slots[account] = .known(newest) }
        }
    }

    /// Bounds the cache: entries idle longer than the folding gap can no longer be folded
    /// into, so forgetting them costs at most one search when the account returns.
    static func evictIfLarge(_ slots: inout [AuditFoldingKey.Account: Slot], now: Date, keep: TimeInterval) {
        guard slots.count > evictionThreshold else { return }
        slots = slots.filter { _, slot in
            guard case .known(let newest) = slot else { return true }
            return newest.map { now.timeIntervalSince($0.summary.lastTime) <= keep } ?? false
        }
    }

    /// True when the caller should write the account's last login now; records that it will.
    func claimLastLogin(_ account: String, at time: Date, interval: TimeInterval) -> Bool {
        lastLoginWrites.withLock { writes in
            if let last = writes[account], time < last.addingTimeInterval(interval) { return false }
            if writes.count > Self.evictionThreshold {
                writes = writes.filter { time.timeIntervalSince($0.value) < interval }
            }
            writes[account] = time
            return true
        }
    }

    /// True once per interval (the first call always): the caller runs retention.
    func claimPurge(at now: Date, interval: TimeInterval) -> Bool {
        lastPurge.withLock { last in
            if let last, now.timeIntervalSince(last) < interval, now >= last { return false }
            last = now
            return true
        }
    }
}
