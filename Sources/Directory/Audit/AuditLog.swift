import Foundation
import GeoIP
import LDAPClient
import Logging
import Synchronization

/// The login audit log in `ou=events,ou=audit,<base>` (spec §5): one `gwLoginEvent` per web or
/// app login, one folded entry per run of identical IMAP/POP3/SMTP logins, the account's
/// last-login attributes, listing, and retention.
///
/// ``record(_:)`` is the call the authenticator and the Dovecot policy endpoint make for
/// every attempt. It is safe to call from many tasks at once and is built for that: a repeat
/// of a mail login costs at most one LDAP modify (an RFC 4525 increment), not a search and a
/// modify, because the newest entry of each account is kept in process; repeats that arrive
/// while their entry's previous write is in flight share the next one (`increment by n`), and
/// the writes of concurrent calls are in flight together on the connection. Bound the number
/// of concurrent calls per connection (a few hundred): slapd drops a flooded connection.
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
    /// The account's last-login attributes move at most once per this interval of login time.
    /// The first login of an interval is written at once; the newest of the later ones is
    /// written when the interval has passed (by ``AuditSweepService``), by the account's next
    /// login after it, or by ``flushLastLogins()``, so the attributes lag the newest login by at
    /// most the interval and never lose it. Mail clients poll every few minutes and a user opens
    /// several apps within a minute: this saves most writes to account entries, the trade
    /// Zimbra's `zimbraLastLogonTimestampFrequency` and AD's `lastLogonTimestamp` make too.
    public let lastLoginInterval: Duration
    /// How often ``record(_:)`` runs ``purgeExpired(now:)`` by itself, in `context.now()` time;
    /// nil leaves retention to `gwdir audit purge` (a cron job, or a process that only reads).
    public let purgeInterval: Duration?
    /// Housekeeping failures (retention, the sweep) that must not fail a recording are logged here.
    public let logger: Logger
    let state: AuditLogState
    /// `ou=events,ou=audit,<base>`: every new entry is a child of it.
    private let eventsDN: DistinguishedName

    public init(
        context: DirectoryContext,
        geoIP: GeoIPDatabase? = nil,
        folding: AuditFoldingPolicy = AuditFoldingPolicy(),
        retention: AuditRetention = AuditRetention(),
        lastLoginInterval: Duration = .seconds(60),
        purgeInterval: Duration? = .seconds(3600),
        logger: Logger = DirectoryLogging.audit
    ) {
        self.context = context
        self.geoIP = geoIP
        self.folding = folding
        self.retention = retention
        self.lastLoginInterval = lastLoginInterval
        self.purgeInterval = purgeInterval
        self.logger = logger
        self.state = AuditLogState(folding: folding, lastLoginInterval: lastLoginInterval)
        self.eventsDN = context.layout.auditEvents
    }

    /// What ``write(_:)`` did, with the entry's DN.
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
    /// last-login attributes forward (never back), at once or within ``lastLoginInterval``.
    /// Resolves the country from the IP when the event has none. At most once per
    /// ``purgeInterval`` it first deletes expired entries.
    ///
    /// A write that other recordings joined is never abandoned because the calling task was
    /// cancelled: it completes and reports to all of them.
    @discardableResult
    public func write(_ event: LoginEvent) async throws -> Written {
        try await write(event, mark: nil)
    }

    /// The same, with the event's spool position written into the entry by the same
    /// operation that counts it (``SpooledLoginRecorder``'s replay reads it back).
    @discardableResult
    public func write(_ event: LoginEvent, mark: AuditSpoolMark?) async throws -> Written {
        try await write(FoldedLoginRun(event), mark: mark)
    }

    /// Records a run of repeats as one write: the count goes up by the run's length (or a new
    /// entry starts with it), and its last event is the one the last login and the mark take.
    @discardableResult
    public func write(_ run: FoldedLoginRun, mark: AuditSpoolMark?) async throws -> Written {
        var resolved = run.first
        resolved.time = AuditRecords.wholeSecond(run.first.time)
        if resolved.country == nil, let ip = resolved.ip { resolved.country = geoIP?.country(for: ip) }
        let event = resolved
        let lastTime = AuditRecords.wholeSecond(run.lastTime)
        let now = context.now()
        if let purgeInterval, state.claimPurge(at: now, interval: purgeInterval.timeInterval) {
            // Retention is housekeeping: its failure must not lose the login being recorded; the
            // next claim (an interval later) or `gwdir audit purge` tries again.
            do {
                _ = try await purgeExpired(now: now)
            } catch {
                logger.warning("audit retention failed; retried in \(purgeInterval)", metadata: ["error": "\(error)"])
            }
        }
        // The account, lowercased once: the folding key, the cache and the last-login write share it.
        let account = AuditRecords.account(of: event)
        let key = event.foldingKey(account: account)
        // Only repeats fold into one write; a run of events that never fold is not a run.
        precondition(run.count == 1 || key != nil, "a run of \(run.count) events without a folding key")
        let written = try await ldapCall("recording a login of \(event.loginName)") {
            try await writeEntry(event, count: run.count, lastTime: lastTime, account: account, key: key, mark: mark)
        }
        var newest = event
        newest.time = max(event.time, lastTime)
        try await recordLastLogin(newest, account: account, now: now)
        return written
    }

    /// Runs one LDAP write to completion even if the calling task is cancelled. LDAPClient
    /// refuses to send a write for a cancelled task (CancellationError, nothing sent) and never
    /// abandons one it sent, so only that refusal needs a fresh, uncancelled task: shared
    /// writes (batches others joined) then reach slapd and report to everyone.
    static func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if !Task.isCancelled {
            do {
                return try await body()
            } catch is CancellationError where Task.isCancelled {}
        }
        return try await Task { try await body() }.value
    }

    /// The batch vanished from the state before its sender took it (its entry was forgotten):
    /// everyone who joined offers again.
    struct EntryGone: Error {}

    private func writeEntry(
        _ event: LoginEvent, count: Int, lastTime: Date, account: AuditFoldingKey.Account, key: AuditFoldingKey?, mark: AuditSpoolMark?
    ) async throws -> Written {
        let ldap = context.ldap
        guard let key else {
            let entry = newEntry(event)
            let attributes = attributes(for: event, id: entry.id, mark: mark)
            _ = try await Self.uncancelled { try await ldap.add(dn: entry.dn, attributes: attributes, controls: []) }
            state.fold.withLock {
                $0.noteNewest(account, AuditFoldMachine.Newest(dn: entry.dn, summary: AuditEntrySummary(key: nil, firstTime: event.time, lastTime: event.time)))
            }
            return .added(entry.dn)
        }
        // A few rounds at most: each retry follows an entry that vanished (purged, deleted by
        // hand) or a creation that failed, and the next round adds a fresh one.
        for _ in 0..<4 {
            let action = state.fold.withLock {
                $0.offer(event, count: count, through: lastTime, account: account, key: key, mark: mark, newEntry: { newEntry(event) })
            }
            switch action {
            case .load(let load):
                // Its own task: a search is abandoned when its task is cancelled, and others wait for it.
                let log = self
                Task {
                    do {
                        let newest = try await log.loadNewest(event, account: account)
                        log.state.fold.withLock { $0.loadFinished(account, load, newest: newest, failed: false) }
                        load.finish(.success(newest))
                    } catch {
                        log.state.fold.withLock { $0.loadFinished(account, load, newest: nil, failed: true) }
                        load.finish(.failure(error))
                    }
                }
                _ = try await load.wait()
            case .awaitLoad(let load):
                _ = try await load.wait()
            case .add(let entry, let outcome):
                let attributes = attributes(for: event, id: entry.id, mark: mark, count: count, lastTime: lastTime)
                do {
                    _ = try await Self.uncancelled { try await ldap.add(dn: entry.dn, attributes: attributes, controls: []) }
                    outcome.finish(.success(()))
                    return .added(entry.dn)
                } catch {
                    outcome.finish(.failure(error))
                    throw error
                }
            case .send(let dn, let previous, let outcome):
                // The previous write's outcome is its waiters' business; if it was the add and
                // it failed, this increment finds no entry and everyone in the batch retries.
                if let previous { _ = await previous.result() }
                guard let batch = state.fold.withLock({ $0.takeBatch(account, outcome) }) else {
                    outcome.finish(.failure(EntryGone()))
                    continue
                }
                do {
                    try await increment(dn, batch)
                    outcome.finish(.success(()))
                    return .folded(dn)
                } catch let error as LDAPError where error.code == .noSuchObject {
                    outcome.finish(.failure(error))
                    state.fold.withLock { $0.forget(account, dn: dn) }
                } catch {
                    outcome.finish(.failure(error))
                    throw error
                }
            case .join(let dn, let outcome):
                switch await outcome.result() {
                case .success:
                    return .folded(dn)
                case .failure(let error as LDAPError) where error.code == .noSuchObject:
                    // The entry is gone (or its add failed): this batch was not counted.
                    state.fold.withLock { $0.forget(account, dn: dn) }
                case .failure(is EntryGone):
                    continue
                case .failure(let error):
                    throw error
                }
            }
        }
        throw DirectoryError(.failed, "recording a login of \(event.loginName): the audit entry kept disappearing")
    }

    /// The account's newest entry that an event at `event.time` could still fold into.
    private func loadNewest(_ event: LoginEvent, account: AuditFoldingKey.Account) async throws -> AuditFoldMachine.Newest? {
        let since = event.time.addingTimeInterval(-folding.maxGap.timeInterval - folding.maxSpan.timeInterval)
        let found = try await context.ldap.search(
            base: context.layout.auditEvents, scope: .oneLevel,
            filter: AuditRecords.foldCandidatesFilter(for: event, since: since),
            attributes: [AttributeName.loginType, AttributeName.clientIP, AttributeName.loginResult, AttributeName.failureReason, AttributeName.firstTime, AttributeName.lastTime]
        )
        var newest: AuditFoldMachine.Newest?
        for entry in found.entries {
            guard let summary = AuditRecords.summary(of: entry, account: account) else { continue }
            if newest.map({ summary.lastTime > $0.summary.lastTime }) ?? true {
                newest = AuditFoldMachine.Newest(dn: try entry.distinguishedName, summary: summary)
            }
        }
        return newest
    }

    /// A batch of folded events: the count goes up atomically (RFC 4525), with the batch's
    /// spool mark in the same operation; the span only widens — time replaces carry an
    /// assertion, so a write overtaken by a concurrent one (two processes, or a retry) never
    /// narrows it: the count is then added alone and each time moved separately if it is
    /// still an extension.
    private func increment(_ dn: DistinguishedName, _ batch: FoldBatch) async throws {
        let ldap = context.ldap
        let count = [LDAPModification.increment(AttributeName.eventCount, by: batch.count)] + (batch.mark.map(Self.markModifications) ?? [])
        var widen: [(LDAPModification, LDAPFilter)] = []
        if let last = batch.lastTime.map(GeneralizedTime.format) {
            widen.append((.replace(AttributeName.lastTime, last), .not(.greaterOrEqual("gwLastTime", last))))
        }
        if let first = batch.firstTime.map(GeneralizedTime.format) {
            widen.append((.replace(AttributeName.firstTime, first), .not(.lessOrEqual("gwFirstTime", first))))
        }
        if widen.isEmpty {
            _ = try await Self.uncancelled { try await ldap.modify(dn: dn, count, controls: []) }
            return
        }
        do {
            let assertion: LDAPFilter = widen.count == 1 ? widen[0].1 : .and(widen.map(\.1))
            let all = count + widen.map(\.0)
            _ = try await Self.uncancelled { try await ldap.modify(dn: dn, all, controls: [.assertion(assertion)]) }
            return
        } catch let error as LDAPError where error.code == .assertionFailed {}
        _ = try await Self.uncancelled { try await ldap.modify(dn: dn, count, controls: []) }
        for (replace, assertion) in widen {
            do {
                _ = try await Self.uncancelled { try await ldap.modify(dn: dn, [replace], controls: [.assertion(assertion)]) }
            } catch let error as LDAPError where error.code == .assertionFailed {}
        }
    }

    static func markModifications(_ mark: AuditSpoolMark) -> [LDAPModification] {
        [.replace(AttributeName.spoolId, mark.spool), .replace(AttributeName.spoolSeq, String(mark.sequence))]
    }

    /// A fresh entry's id and DN, built from RDNs like every other DN.
    private func newEntry(_ event: LoginEvent) -> NewEntry {
        let id = state.newEventID(time: event.time)
        // A constant type and a non-empty id: the builder cannot fail.
        return NewEntry(id: id, dn: try! eventsDN.child(type: AttributeName.eventId, value: id))
    }

    struct NewEntry: Sendable {
        var id: String
        var dn: DistinguishedName
    }

    private func attributes(for event: LoginEvent, id: String, mark: AuditSpoolMark?, count: Int = 1, lastTime: Date? = nil) -> [LDAPAttribute] {
        let workspace = state.homeWorkspace(of: event.accountDN) { AuditRecords.homeWorkspace(of: $0, layout: context.layout)?.description }
        var attributes = AuditRecords.attributes(
            for: event, id: id, country: event.country ?? Self.unknownCountry, workspace: workspace, count: count, lastTime: lastTime
        )
        if let mark {
            attributes.append(LDAPAttribute(AttributeName.spoolId, mark.spool))
            attributes.append(LDAPAttribute(AttributeName.spoolSeq, String(mark.sequence)))
        }
        return attributes
    }

    /// gwLastLogin* on the account, for successful logins only, with the assertion
    /// `(!(gwLastLoginTime>=t))` so an older event (a slow request, a replayed log) never
    /// overwrites a newer one; at most once per ``lastLoginInterval``. While a write for the
    /// account is in flight, later logins wait and only the newest of them is written next.
    private func recordLastLogin(_ event: LoginEvent, account: AuditFoldingKey.Account, now: Date) async throws {
        guard event.result == .success, case .dn(let accountKey) = account else { return }
        let action = state.lastLogins.withLock { $0.offer(accountKey, event, now: now) }
        if case .deferred(wakeSweep: true) = action { state.sweepWakeups.yield() }
        try await perform(action)
    }

    private func perform(_ action: LastLoginMachine.Action) async throws {
        switch action {
        case .none, .deferred:
            return
        case .join(let outcome):
            try await outcome.wait()
        case .send(let account, let previous, let outcome):
            if let previous { _ = await previous.result() }
            do {
                if let newest = state.lastLogins.withLock({ $0.take(account, outcome) }) { try await writeLastLogin(newest) }
                outcome.finish(.success(()))
            } catch {
                outcome.finish(.failure(error))
                throw error
            }
        }
    }

    /// Writes every deferred last login now and waits until they and those in flight are
    /// stored. A process that records logins calls it before it stops (``AuditSweepService``
    /// does on shutdown); tests call it to see the newest login without waiting out the interval.
    public func flushLastLogins() async throws {
        try await perform(state.lastLogins.withLock { $0.takeDeferred(dueBy: nil) }.actions)
    }

    /// One pass of the sweep: writes the deferred last logins due by the context's `now`.
    /// Returns how many were due and when the next one falls due (nil: nothing deferred).
    func sweepDueLastLogins() async throws -> (written: Int, nextDue: Date?) {
        let now = context.now()
        let taken = state.lastLogins.withLock { $0.takeDeferred(dueBy: now) }
        try await perform(taken.actions)
        return (taken.actions.count, taken.nextDue)
    }

    /// Writes of different accounts go out together, at most ``maxConcurrentWrites`` at a time;
    /// every one is attempted, the first failure is thrown.
    private func perform(_ actions: [LastLoginMachine.Action]) async throws {
        try await forEachConcurrently(actions) { action in try await self.perform(action) }
    }

    private func writeLastLogin(_ event: LoginEvent) async throws {
        guard let account = event.accountDN else { return }
        let time = GeneralizedTime.format(event.time)
        let ldap = context.ldap
        let modifications: [LDAPModification] = [
            .replace(AttributeName.lastLoginTime, time),
            .replace(AttributeName.lastLoginType, event.type.rawValue),
            event.ip.map { .replace(AttributeName.lastLoginIP, $0.description) } ?? .replace(AttributeName.lastLoginIP, []),
            .replace(AttributeName.lastLoginCountry, event.country ?? Self.unknownCountry),
        ]
        do {
            _ = try await Self.uncancelled {
                try await ldap.modify(dn: account, modifications, controls: [.assertion(LDAPFilter.not(.greaterOrEqual("gwLastLoginTime", time)))])
            }
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
                entries.append(try AuditEntry(entry))
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
                            _ = try await ldap.delete(dn: try entry.distinguishedName, controls: [])
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

/// The in-process memory of ``AuditLog``: the two decision machines behind their locks, the
/// sweep's wake-up, entry ids, home workspaces, when retention last ran.
final class AuditLogState: Sendable {
    let fold: LockedValue<AuditFoldMachine>
    let lastLogins: LockedValue<LastLoginMachine>
    /// Signalled when a deferral begins while none was pending: an idle sweep starts timing it.
    let sweepWakeups: AsyncStream<Void>.Continuation
    let sweepSignals: AsyncStream<Void>
    /// Entry ids: the event's time, then a 64-bit number unique in this process (a counter
    /// through a bijective mix) and, from its random seed, across processes — one
    /// getrandom(2) per log instead of one per entry.
    private let idSeed = UInt64.random(in: .min ... .max)
    private let idCounter = Atomic<UInt64>(0)
    private let workspaces = LockedValue<[DistinguishedName: String?]>([:])
    private let lastPurge = LockedValue<Date?>(nil)

    init(folding: AuditFoldingPolicy = AuditFoldingPolicy(), lastLoginInterval: Duration = .seconds(60)) {
        fold = LockedValue(AuditFoldMachine(policy: folding))
        lastLogins = LockedValue(LastLoginMachine(interval: lastLoginInterval))
        (sweepSignals, sweepWakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The home workspace DN of an account DN, derived once per parent entry (a unit's
    /// accounts share it), looked up by the parent's DN.
    func homeWorkspace(of accountDN: DistinguishedName?, derive: (DistinguishedName) -> String?) -> String? {
        guard let accountDN, let parent = accountDN.parent else { return nil }
        if let known = workspaces.withLock({ $0[parent] }) { return known }
        let derived = derive(accountDN)
        workspaces.withLock { cache in
            if cache.count >= AuditFoldMachine.evictionThreshold { cache.removeAll(keepingCapacity: true) }
            cache[parent] = .some(derived)
        }
        return derived
    }

    func newEventID(time: Date) -> String {
        let number = AuditRecords.mix(idSeed &+ idCounter.add(1, ordering: .relaxed).oldValue)
        return AuditRecords.eventID(time: time, number: number)
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

/// The outcome of one operation that several recordings wait for (an entry's add, a batch of
/// increments, a last-login write, a search): the recording that performs it finishes it.
/// Waiting is not cancellable: a waiter learns what really happened.
final class Promise<Value: Sendable>: Sendable {
    private enum State {
        case pending([UnsafeContinuation<Result<Value, any Error>, Never>])
        case finished(Result<Value, any Error>)
    }

    private let state = LockedValue<State>(.pending([]))

    func result() async -> Result<Value, any Error> {
        // Unsafe rather than checked: each continuation is resumed exactly once, by `finish`
        // or right here, and this runs for most recorded logins.
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Result<Value, any Error>, Never>) in
            let finished = state.withLock { state -> Result<Value, any Error>? in
                switch state {
                case .finished(let result):
                    return result
                case .pending(var waiters):
                    waiters.append(continuation)
                    state = .pending(waiters)
                    return nil
                }
            }
            if let finished { continuation.resume(returning: finished) }
        }
    }

    func wait() async throws -> Value {
        try await result().get()
    }

    func finish(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [UnsafeContinuation<Result<Value, any Error>, Never>] in
            guard case .pending(let waiters) = state else { return [] }
            state = .finished(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }
}

typealias WriteOutcome = Promise<Void>
