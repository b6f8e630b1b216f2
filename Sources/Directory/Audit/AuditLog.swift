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
    /// written when the interval has passed (by a background sweep), by the account's next
    /// login after it, or by ``flushLastLogins()``, so the attributes lag the newest login by at
    /// most the interval and never lose it. Mail clients poll every few minutes and a user opens
    /// several apps within a minute: this saves most writes to account entries, the trade
    /// Zimbra's `zimbraLastLogonTimestampFrequency` and AD's `lastLogonTimestamp` make too.
    public let lastLoginInterval: Duration
    /// How often ``record(_:)`` runs ``purgeExpired(now:)`` by itself, in `context.now()` time;
    /// nil leaves retention to `gwdir audit purge` (a cron job, or a process that only reads).
    public let purgeInterval: Duration?
    private let state: AuditLogState
    /// `ou=events,ou=audit,<base>`, rendered once: every new entry is a child of it.
    private let eventsDN: String

    public init(
        context: DirectoryContext,
        geoIP: GeoIPDatabase? = nil,
        folding: AuditFoldingPolicy = AuditFoldingPolicy(),
        retention: AuditRetention = AuditRetention(),
        lastLoginInterval: Duration = .seconds(60),
        purgeInterval: Duration? = .seconds(3600)
    ) {
        self.context = context
        self.geoIP = geoIP
        self.folding = folding
        self.retention = retention
        self.lastLoginInterval = lastLoginInterval
        self.purgeInterval = purgeInterval
        self.state = AuditLogState()
        self.eventsDN = context.layout.auditEvents.description
    }

    /// What ``write(_:)`` did, with the entry's DN.
    public enum Written: Sendable, Hashable {
        /// A new entry, count 1.
        case added(String)
        /// One more event in an existing entry.
        case folded(String)

        public var dn: String {
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
        // The account, lowercased once: the folding key, the cache and the last-login write share it.
        let account = AuditRecords.account(of: event)
        let key = event.foldingKey(account: account)
        let written = try await ldapCall("recording a login of \(event.loginName)") { try await writeEntry(event, account: account, key: key) }
        try await recordLastLogin(event, account: account)
        return written
    }

    private func writeEntry(_ event: LoginEvent, account: AuditFoldingKey.Account, key: AuditFoldingKey?) async throws -> Written {
        guard let key else {
            let entry = newEntry(event)
            _ = try await context.ldap.add(dn: entry.dn, attributes: attributes(for: event, id: entry.id), controls: [])
            state.noteNewest(account, AuditLogState.Newest(dn: entry.dn, summary: AuditEntrySummary(key: nil, firstTime: event.time, lastTime: event.time)))
            return .added(entry.dn)
        }
        // A few rounds at most: each retry follows an entry that vanished (purged, deleted by
        // hand) or a creation that failed, and the next round adds a fresh one.
        for _ in 0..<4 {
            switch makeStep(event, account: account, key: key) {
            case .wait(let load):
                let loaded: AuditLogState.Newest?
                do {
                    loaded = try await load.value
                } catch {
                    state.finishLoad(account, load, with: nil, failed: true)
                    throw error
                }
                state.finishLoad(account, load, with: loaded, failed: false)
            case .create(let entry, let outcome):
                do {
                    _ = try await context.ldap.add(dn: entry.dn, attributes: attributes(for: event, id: entry.id), controls: [])
                    outcome.finish(.success(()))
                    return .added(entry.dn)
                } catch {
                    outcome.finish(.failure(error))
                    throw error
                }
            case .send(let dn, let batch, let previous, let outcome):
                // The previous write's outcome is its waiters' business; if it was the add and
                // it failed, this increment finds no entry and everyone in the batch retries.
                _ = try? await previous?.wait()
                do {
                    try await increment(dn, batch.close())
                    outcome.finish(.success(()))
                    return .folded(dn)
                } catch let error as LDAPError where error.code == .noSuchObject {
                    outcome.finish(.failure(error))
                    state.forget(account, dn: dn)
                } catch {
                    outcome.finish(.failure(error))
                    throw error
                }
            case .join(let dn, let outcome):
                do {
                    try await outcome.wait()
                    return .folded(dn)
                } catch let error as LDAPError where error.code == .noSuchObject {
                    // The entry is gone (or its add failed): this batch was not counted.
                    state.forget(account, dn: dn)
                }
            }
        }
        throw DirectoryError(.failed, "recording a login of \(event.loginName): the audit entry kept disappearing")
    }

    private enum Step {
        /// Wait for the search for the account's newest entry.
        case wait(Task<AuditLogState.Newest?, any Error>)
        /// Add the entry (this event is its first), then tell those who joined it.
        case create(NewEntry, WriteOutcome)
        /// Send the batch this event opened, once the entry's previous write is answered.
        case send(String, FoldBatch, previous: WriteOutcome?, outcome: WriteOutcome)
        /// Wait for the batch this event joined to be written.
        case join(String, WriteOutcome)
    }

    /// Decides under the lock, so concurrent events of one account see each other: the first
    /// miss starts one search that the others wait for, the first event that needs a new entry
    /// starts its add, and the rest join the entry's open batch of increments. A batch is sent
    /// (one `increment by n`) once the entry's previous write has been answered, so while one
    /// write is in flight every repeat arriving meanwhile rides on the next: group commit.
    private func makeStep(_ event: LoginEvent, account: AuditFoldingKey.Account, key: AuditFoldingKey) -> Step {
        state.slots.withLock { slots -> Step in
            switch slots[account] {
            case nil:
                let load = Task { try await self.loadNewest(event, account: account) }
                slots[account] = .loading(load)
                return .wait(load)
            case .loading(let load):
                return .wait(load)
            case .known(let newest):
                if var newest, folding.decide(newest: newest.summary, key: key, time: event.time) == .increment {
                    var later: Date?, earlier: Date?
                    if event.time > newest.summary.lastTime {
                        newest.summary.lastTime = event.time
                        later = event.time
                    } else if event.time < newest.summary.firstTime {
                        newest.summary.firstTime = event.time
                        earlier = event.time
                    }
                    if let open = newest.open, open.batch.join(lastTime: later, firstTime: earlier) {
                        slots[account] = .known(newest)
                        return .join(newest.dn, open.outcome)
                    }
                    let batch = FoldBatch(lastTime: later, firstTime: earlier)
                    let previous = newest.lastWrite, outcome = WriteOutcome()
                    newest.open = (batch, outcome)
                    newest.lastWrite = outcome
                    slots[account] = .known(newest)
                    return .send(newest.dn, batch, previous: previous, outcome: outcome)
                }
                let entry = newEntry(event), creation = WriteOutcome()
                let summary = AuditEntrySummary(key: key, firstTime: event.time, lastTime: event.time)
                slots[account] = .known(AuditLogState.Newest(dn: entry.dn, summary: summary, lastWrite: creation))
                AuditLogState.evictIfLarge(&slots, now: event.time, keep: folding.maxGap.timeInterval)
                return .create(entry, creation)
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
            guard let summary = AuditRecords.summary(of: entry, account: account) else { continue }
            if newest.map({ summary.lastTime > $0.summary.lastTime }) ?? true {
                newest = AuditLogState.Newest(dn: entry.dn, summary: summary)
            }
        }
        return newest
    }

    /// A batch of folded events: the count goes up atomically (RFC 4525); the span only
    /// widens — time replaces carry an assertion, so a write overtaken by a concurrent one (two
    /// processes, or a retry) never narrows it: the count is then added alone and each time
    /// moved separately if it is still an extension.
    private func increment(_ dn: String, _ batch: FoldBatch.Content) async throws {
        let count = LDAPModification.increment("gwEventCount", by: batch.count)
        var widen: [(LDAPModification, LDAPFilter)] = []
        if let last = batch.lastTime.map(GeneralizedTime.format) {
            widen.append((.replace("gwLastTime", last), .not(.greaterOrEqual("gwLastTime", last))))
        }
        if let first = batch.firstTime.map(GeneralizedTime.format) {
            widen.append((.replace("gwFirstTime", first), .not(.lessOrEqual("gwFirstTime", first))))
        }
        if widen.isEmpty {
            _ = try await context.ldap.modify(dn: dn, [count], controls: [])
            return
        }
        do {
            let assertion: LDAPFilter = widen.count == 1 ? widen[0].1 : .and(widen.map(\.1))
            _ = try await context.ldap.modify(dn: dn, [count] + widen.map(\.0), controls: [.assertion(assertion)])
            return
        } catch let error as LDAPError where error.code == .assertionFailed {}
        _ = try await context.ldap.modify(dn: dn, [count], controls: [])
        for (replace, assertion) in widen {
            do {
                _ = try await context.ldap.modify(dn: dn, [replace], controls: [.assertion(assertion)])
            } catch let error as LDAPError where error.code == .assertionFailed {}
        }
    }

    /// A fresh entry's id and DN. The id is digits, hex and '-', which need no escaping
    /// (AuditRecordsTests checks that it is its own escaped form), so the DN is the id
    /// before the events DN rendered once.
    private func newEntry(_ event: LoginEvent) -> NewEntry {
        let id = state.newEventID(time: event.time)
        var dn = "gwEventId="
        dn.reserveCapacity(dn.utf8.count + id.utf8.count + 1 + eventsDN.utf8.count)
        dn += id
        dn += ","
        dn += eventsDN
        return NewEntry(id: id, dn: dn)
    }

    struct NewEntry: Sendable {
        var id: String
        var dn: String
    }

    private func attributes(for event: LoginEvent, id: String) -> [LDAPAttribute] {
        let workspace = state.homeWorkspace(of: event.accountDN) { AuditRecords.homeWorkspace(of: $0, layout: context.layout)?.description }
        return AuditRecords.attributes(for: event, id: id, country: event.country ?? Self.unknownCountry, workspace: workspace)
    }

    /// gwLastLogin* on the account, for successful logins only, with the assertion
    /// `(!(gwLastLoginTime>=t))` so an older event (a slow request, a replayed log) never
    /// overwrites a newer one; at most once per ``lastLoginInterval``. While a write for the
    /// account is in flight, later logins wait and only the newest of them is written next.
    private func recordLastLogin(_ event: LoginEvent, account: AuditFoldingKey.Account) async throws {
        guard event.result == .success, case .dn(let accountKey) = account else { return }
        let step = state.offerLastLogin(accountKey, event, interval: lastLoginInterval)
        if case .deferred(startSweep: true) = step {
            let log = self
            Task { await log.sweepDeferredLastLogins() }
        }
        try await perform(step)
    }

    private func perform(_ step: AuditLogState.LastLoginStep) async throws {
        switch step {
        case .none, .deferred:
            return
        case .join(let outcome):
            try await outcome.wait()
        case .send(let box, let previous, let outcome):
            _ = try? await previous?.wait()
            do {
                if let newest = box.close() { try await writeLastLogin(newest) }
                outcome.finish(.success(()))
            } catch {
                outcome.finish(.failure(error))
                throw error
            }
        }
    }

    /// Writes every deferred last login now and waits until they and those in flight are
    /// stored. A process that records logins calls it before it stops; tests call it to see
    /// the newest login without waiting out the interval.
    public func flushLastLogins() async throws {
        try await perform(state.takeDeferredLastLogins(dueBy: nil, interval: lastLoginInterval).steps)
    }

    /// The background sweep: runs while any last login is deferred, writing each once its
    /// interval has passed. A failed write is dropped (the account's next login writes again;
    /// the audit entry has the login in any case).
    private func sweepDeferredLastLogins() async {
        while true {
            let now = ContinuousClock.now
            let taken = state.takeDeferredLastLogins(dueBy: now, interval: lastLoginInterval)
            if !taken.steps.isEmpty {
                try? await perform(taken.steps)
            } else if let next = taken.nextDue {
                try? await Task.sleep(until: next, clock: .continuous)
            } else {
                return
            }
        }
    }

    /// Writes of different accounts go out together; every one is attempted, the first failure is thrown.
    private func perform(_ steps: [AuditLogState.LastLoginStep]) async throws {
        if steps.isEmpty { return }
        let failure = await withTaskGroup(of: (any Error)?.self) { group in
            for step in steps {
                group.addTask {
                    do {
                        try await self.perform(step)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var first: (any Error)?
            for await failure in group where first == nil { first = failure }
            return first
        }
        if let failure { throw failure }
    }

    private func writeLastLogin(_ event: LoginEvent) async throws {
        guard let account = event.accountDN else { return }
        let time = GeneralizedTime.format(event.time)
        do {
            _ = try await context.ldap.modify(dn: account, [
                .replace("gwLastLoginTime", time),
                .replace("gwLastLoginType", event.type.rawValue),
                event.ip.map { .replace("gwLastLoginIP", $0.description) } ?? .replace("gwLastLoginIP", []),
                .replace("gwLastLoginCountry", event.country ?? Self.unknownCountry),
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
/// it in flight) with its open batch of increments; per account, the last-login write in
/// flight; when retention last ran.
final class AuditLogState: Sendable {
    struct Newest: Sendable {
        var dn: String
        var summary: AuditEntrySummary
        /// The entry's latest write (its add, or a batch of increments), the next batch's cue.
        var lastWrite: WriteOutcome?
        /// The batch new repeats join until its sender takes it.
        var open: (batch: FoldBatch, outcome: WriteOutcome)?

        init(dn: String, summary: AuditEntrySummary, lastWrite: WriteOutcome? = nil) {
            self.dn = dn
            self.summary = summary
            self.lastWrite = lastWrite
        }
    }

    enum Slot: Sendable {
        case loading(Task<Newest?, any Error>)
        case known(Newest?)
    }

    struct LastLogin: Sendable {
        /// The login time that opened the current interval (the last one written or being written).
        var claimed: Date?
        var lastWrite: WriteOutcome?
        var open: (box: LastLoginBox, outcome: WriteOutcome)?
        /// The newest login inside the interval, not written yet, and since when it waits.
        var deferred: LoginEvent?
        var deferredSince: ContinuousClock.Instant?
    }

    struct LastLogins: Sendable {
        var accounts: [String: LastLogin] = [:]
        /// Accounts in the order their deferral began, which is the order they fall due.
        /// An item whose account was written meanwhile is skipped when reached.
        var deferrals: [(account: String, since: ContinuousClock.Instant)] = []
        var deferralsHead = 0
        /// Whether a sweep task runs; it ends (and clears this) once nothing is deferred.
        var sweeping = false
    }

    enum LastLoginStep: Sendable {
        /// Nothing to write (a failure, or a login older than the one written).
        case none
        /// Kept as the account's newest deferred login; the caller starts the sweep task if asked.
        case deferred(startSweep: Bool)
        /// A write that will carry this login (or a newer one) is pending: wait for it.
        case join(WriteOutcome)
        /// Write the box's newest login once `previous` is answered, then finish `outcome`.
        case send(LastLoginBox, previous: WriteOutcome?, outcome: WriteOutcome)
    }

    static let evictionThreshold = 50_000

    let slots = Mutex<[AuditFoldingKey.Account: Slot]>([:])
    /// Entry ids: the event's time, then a 64-bit number unique in this process (a counter
    /// through a bijective mix) and, from its random seed, across processes — one
    /// getrandom(2) per log instead of one per entry.
    private let idSeed = UInt64.random(in: .min ... .max)
    private let idCounter = Atomic<UInt64>(0)
    private let lastLogins = Mutex(LastLogins())
    private let workspaces = Mutex<[Substring: String?]>([:])
    private let lastPurge = Mutex<Date?>(nil)

    func finishLoad(_ account: AuditFoldingKey.Account, _ load: Task<Newest?, any Error>, with newest: Newest?, failed: Bool) {
        slots.withLock { slots in
            guard case .loading(let current) = slots[account], current == load else { return }
            slots[account] = failed ? nil : .known(newest)
        }
    }

    /// Forgets an entry that turned out to be gone, unless a newer one replaced it already.
    func forget(_ account: AuditFoldingKey.Account, dn: String) {
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

    /// What to do about `event`'s last login: write it (or join the write in flight) when it
    /// opens a new interval, else keep it as the account's deferred newest.
    func offerLastLogin(_ account: String, _ event: LoginEvent, interval: Duration) -> LastLoginStep {
        let seconds = interval.timeInterval
        return lastLogins.withLock { logins in
            // In place (one lookup, no copy of the entry and its deferred event in and out).
            let (step, newDeferral) = Self.offer(event, to: &logins.accounts[account, default: LastLogin()], interval: seconds)
            if let since = newDeferral {
                logins.deferrals.append((account, since))
                if !logins.sweeping {
                    logins.sweeping = true
                    return .deferred(startSweep: true)
                }
            } else if logins.accounts.count > Self.evictionThreshold {
                // Accounts whose interval has passed, with nothing deferred or in flight, are
                // forgotten (this one's write, if any, is open and stays).
                logins.accounts = logins.accounts.filter { _, login in
                    login.deferred != nil || login.open.map { !$0.box.isClosed } ?? false
                        || login.claimed.map { event.time.timeIntervalSince($0) < seconds } ?? false
                }
            }
            return step
        }
    }

    /// The step for `event` on its account's entry, and the time a deferral began if it began now.
    private static func offer(_ event: LoginEvent, to entry: inout LastLogin, interval seconds: TimeInterval) -> (LastLoginStep, newDeferral: ContinuousClock.Instant?) {
        if let claimed = entry.claimed, event.time < claimed.addingTimeInterval(seconds) {
            guard event.time > claimed, entry.deferred.map({ event.time > $0.time }) ?? true else { return (.none, nil) }
            entry.deferred = event
            if entry.deferredSince != nil { return (.deferred(startSweep: false), nil) }
            let now = ContinuousClock.now
            entry.deferredSince = now
            return (.deferred(startSweep: false), now)
        }
        var newest = event
        if let deferred = entry.deferred {
            if deferred.time > newest.time { newest = deferred }
            entry.deferred = nil
            entry.deferredSince = nil
        }
        return (claimWrite(&entry, newest), nil)
    }

    /// Opens the interval at `newest` and writes it, joining the account's open write if any.
    private static func claimWrite(_ entry: inout LastLogin, _ newest: LoginEvent) -> LastLoginStep {
        entry.claimed = max(entry.claimed ?? newest.time, newest.time)
        if let open = entry.open, open.box.offer(newest) { return .join(open.outcome) }
        let box = LastLoginBox(newest), outcome = WriteOutcome(), previous = entry.lastWrite
        entry.open = (box, outcome)
        entry.lastWrite = outcome
        return .send(box, previous: previous, outcome: outcome)
    }

    /// The deferred last logins due by `dueBy` (all of them when nil), as writes to perform,
    /// and when the next one falls due. With a `dueBy` (the sweep), finding none deferred at
    /// all ends the sweep: the next deferral starts a new one.
    func takeDeferredLastLogins(dueBy: ContinuousClock.Instant?, interval: Duration) -> (steps: [LastLoginStep], nextDue: ContinuousClock.Instant?) {
        lastLogins.withLock { logins in
            var steps: [LastLoginStep] = []
            var nextDue: ContinuousClock.Instant?
            while logins.deferralsHead < logins.deferrals.count {
                let (account, since) = logins.deferrals[logins.deferralsHead]
                if let dueBy, since + interval > dueBy {
                    nextDue = since + interval
                    break
                }
                logins.deferralsHead += 1
                guard var entry = logins.accounts[account], entry.deferredSince == since, let deferred = entry.deferred else { continue }
                entry.deferred = nil
                entry.deferredSince = nil
                steps.append(Self.claimWrite(&entry, deferred))
                logins.accounts[account] = entry
            }
            if logins.deferralsHead == logins.deferrals.count {
                logins.deferrals.removeAll(keepingCapacity: logins.deferrals.count < 4096)
                logins.deferralsHead = 0
            } else if logins.deferralsHead > 4096, logins.deferralsHead * 2 > logins.deferrals.count {
                logins.deferrals.removeFirst(logins.deferralsHead)
                logins.deferralsHead = 0
            }
            if dueBy != nil, steps.isEmpty, nextDue == nil { logins.sweeping = false }
            return (steps, nextDue)
        }
    }

    /// The home workspace DN of an account DN, derived once per parent entry (a unit's
    /// accounts share it), looked up without building a string.
    func homeWorkspace(of accountDN: String?, derive: (String) -> String?) -> String? {
        guard let accountDN else { return nil }
        let parent = AuditRecords.parentDN(of: accountDN)
        if let known = workspaces.withLock({ $0[parent] }) { return known }
        let derived = derive(accountDN)
        workspaces.withLock { cache in
            if cache.count >= Self.evictionThreshold { cache.removeAll(keepingCapacity: true) }
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

/// The outcome of one LDAP write that several recordings wait for (an entry's add, a batch of
/// increments, a last-login write): the recording that makes the write finishes it.
final class WriteOutcome: Sendable {
    private enum State {
        case pending([UnsafeContinuation<Void, any Error>])
        case finished(Result<Void, any Error>)
    }

    private let state = Mutex<State>(.pending([]))

    func wait() async throws {
        // Unsafe rather than checked: each continuation is resumed exactly once, by `finish`
        // or right here, and this runs for most recorded logins.
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            let finished = state.withLock { state -> Result<Void, any Error>? in
                switch state {
                case .finished(let result):
                    return result
                case .pending(var waiters):
                    waiters.append(continuation)
                    state = .pending(waiters)
                    return nil
                }
            }
            if let finished { continuation.resume(with: finished) }
        }
    }

    func finish(_ result: Result<Void, any Error>) {
        let waiters = state.withLock { state -> [UnsafeContinuation<Void, any Error>] in
            guard case .pending(let waiters) = state else { return [] }
            state = .finished(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}

/// Folded events waiting for their entry's previous write: one `increment by count` later.
final class FoldBatch: Sendable {
    struct Content: Sendable {
        var count = 1
        /// The latest event time beyond the entry's last time, if any.
        var lastTime: Date?
        /// The earliest event time before the entry's first time, if any.
        var firstTime: Date?
        var closed = false
    }

    private let content: Mutex<Content>

    init(lastTime: Date?, firstTime: Date?) {
        content = Mutex(Content(lastTime: lastTime, firstTime: firstTime))
    }

    /// Adds one event; false once the sender has taken the batch.
    func join(lastTime: Date?, firstTime: Date?) -> Bool {
        content.withLock { content in
            guard !content.closed else { return false }
            content.count += 1
            if let lastTime { content.lastTime = max(content.lastTime ?? lastTime, lastTime) }
            if let firstTime { content.firstTime = min(content.firstTime ?? firstTime, firstTime) }
            return true
        }
    }

    /// Takes the batch for sending; later events open a new one.
    func close() -> Content {
        content.withLock { content in
            content.closed = true
            return content
        }
    }
}

/// The newest successful login of an account waiting to be written as its last login.
final class LastLoginBox: Sendable {
    private let state: Mutex<(event: LoginEvent, closed: Bool)>

    init(_ event: LoginEvent) { state = Mutex((event, false)) }

    /// Keeps the newer of the two; false once the sender has taken the box.
    func offer(_ event: LoginEvent) -> Bool {
        state.withLock { state in
            guard !state.closed else { return false }
            if event.time > state.event.time { state.event = event }
            return true
        }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    func close() -> LoginEvent? {
        state.withLock { state in
            state.closed = true
            return state.event
        }
    }
}
