import Foundation
import LDAPClient

/// Where a spooled event came from, written into the audit entry by the same LDAP operation
/// that counts the event, so a replay after a crash can tell what slapd already has
/// (see ``SpooledLoginRecorder``).
public struct AuditSpoolMark: Sendable, Hashable {
    /// The spool's random id (`gwSpoolId`).
    public var spool: String
    /// The event's sequence number in that spool (`gwSpoolSeq`).
    public var sequence: UInt64

    public init(spool: String, sequence: UInt64) {
        self.spool = spool
        self.sequence = sequence
    }
}

/// Folded events waiting for their entry's previous write: one `increment by count` later.
struct FoldBatch: Sendable, Hashable {
    var count = 1
    /// The latest event time beyond the entry's last time, if any.
    var lastTime: Date?
    /// The earliest event time before the entry's first time, if any.
    var firstTime: Date?
    /// The highest spool mark among the batch's events.
    var mark: AuditSpoolMark?

    mutating func join(count: Int = 1, lastTime: Date?, firstTime: Date?, mark: AuditSpoolMark?) {
        self.count += count
        if let lastTime { self.lastTime = max(self.lastTime ?? lastTime, lastTime) }
        if let firstTime { self.firstTime = min(self.firstTime ?? firstTime, firstTime) }
        if let mark, mark.sequence > self.mark?.sequence ?? 0 { self.mark = mark }
    }
}

/// The folding decisions of ``AuditLog`` as a value (postgres-nio's `ConnectionStateMachine`
/// style): every method is synchronous and does no I/O, so concurrent recordings are ordered
/// by one lock around it and the rules are unit-tested without slapd. The executor
/// (``AuditLog``) performs the returned action and reports back (``loadFinished``,
/// ``takeBatch``, ``forget``). The promises it hands out are opaque to it.
///
/// Group commit: while an entry's write is in flight, repeats join the entry's open batch;
/// the batch is sent as one `increment by n` once the previous write is answered.
struct AuditFoldMachine: Sendable {
    struct Newest: Sendable {
        var dn: DistinguishedName
        var summary: AuditEntrySummary
        /// The entry's latest write (its add, or a batch of increments), the next batch's cue.
        var lastWrite: WriteOutcome?
        /// The batch new repeats join until its sender takes it.
        var open: (batch: FoldBatch, outcome: WriteOutcome)?

        init(dn: DistinguishedName, summary: AuditEntrySummary, lastWrite: WriteOutcome? = nil) {
            self.dn = dn
            self.summary = summary
            self.lastWrite = lastWrite
        }
    }

    enum Slot: Sendable {
        case loading(LoadOutcome)
        case known(Newest?)
    }

    typealias LoadOutcome = Promise<Newest?>

    enum Action: Sendable {
        /// Search for the account's newest entry, report it with ``loadFinished``, finish the
        /// promise, then offer the event again.
        case load(LoadOutcome)
        /// Another recording searches: wait for it, then offer the event again.
        case awaitLoad(LoadOutcome)
        /// Add the entry (this event is its first), then finish the outcome.
        case add(AuditLog.NewEntry, WriteOutcome)
        /// Once `previous` is answered, take the batch (``takeBatch``), send it, finish `outcome`.
        case send(dn: DistinguishedName, previous: WriteOutcome?, outcome: WriteOutcome)
        /// Wait for the batch this event joined.
        case join(dn: DistinguishedName, WriteOutcome)
    }

    static let evictionThreshold = 50_000

    var slots: [AuditFoldingKey.Account: Slot] = [:]
    var policy: AuditFoldingPolicy

    init(policy: AuditFoldingPolicy) { self.policy = policy }

    /// Offers `count` events of one key at once (a run the spool drainer merged, see
    /// ``FoldedLoginRun``), the first at `event.time`, the last at `lastTime`. The run folds
    /// into the newest entry only when both its ends would; otherwise it starts an entry of
    /// its own, which the run alone keeps within the policy's gap and span.
    mutating func offer(
        _ event: LoginEvent, count: Int = 1, through lastTime: Date? = nil, account: AuditFoldingKey.Account, key: AuditFoldingKey,
        mark: AuditSpoolMark?, newEntry: () -> AuditLog.NewEntry
    ) -> Action {
        let first = min(event.time, lastTime ?? event.time), last = max(event.time, lastTime ?? event.time)
        switch slots[account] {
        case nil:
            let load = LoadOutcome()
            slots[account] = .loading(load)
            return .load(load)
        case .loading(let load):
            return .awaitLoad(load)
        case .known(var newest?) where policy.decide(newest: newest.summary, key: key, time: first) == .increment
            && (first == last || policy.decide(newest: newest.summary, key: key, time: last) == .increment):
            var later: Date?, earlier: Date?
            if last > newest.summary.lastTime {
                newest.summary.lastTime = last
                later = last
            }
            if first < newest.summary.firstTime {
                newest.summary.firstTime = first
                earlier = first
            }
            if var open = newest.open {
                open.batch.join(count: count, lastTime: later, firstTime: earlier, mark: mark)
                newest.open = open
                slots[account] = .known(newest)
                return .join(dn: newest.dn, open.outcome)
            }
            let previous = newest.lastWrite, outcome = WriteOutcome()
            newest.open = (FoldBatch(count: count, lastTime: later, firstTime: earlier, mark: mark), outcome)
            newest.lastWrite = outcome
            slots[account] = .known(newest)
            return .send(dn: newest.dn, previous: previous, outcome: outcome)
        case .known:
            let entry = newEntry(), creation = WriteOutcome()
            let summary = AuditEntrySummary(key: key, firstTime: first, lastTime: last)
            slots[account] = .known(Newest(dn: entry.dn, summary: summary, lastWrite: creation))
            evictIfLarge(now: event.time)
            return .add(entry, creation)
        }
    }

    mutating func loadFinished(_ account: AuditFoldingKey.Account, _ load: LoadOutcome, newest: Newest?, failed: Bool) {
        guard case .loading(let current) = slots[account], current === load else { return }
        slots[account] = failed ? nil : .known(newest)
    }

    /// The sender takes its batch: later repeats open the next one. Nil when the entry was
    /// forgotten meanwhile (it vanished): the batch's events must be offered again.
    mutating func takeBatch(_ account: AuditFoldingKey.Account, _ outcome: WriteOutcome) -> FoldBatch? {
        guard case .known(var newest?) = slots[account], let open = newest.open, open.outcome === outcome else { return nil }
        newest.open = nil
        slots[account] = .known(newest)
        return open.batch
    }

    /// Forgets an entry that turned out to be gone, unless a newer one replaced it already.
    mutating func forget(_ account: AuditFoldingKey.Account, dn: DistinguishedName) {
        guard case .known(let newest?) = slots[account], newest.dn == dn else { return }
        slots[account] = .known(nil)
    }

    /// A web or app login is the account's newest entry too: the next mail login starts a
    /// new entry rather than folding across it. Only known slots change; a search in flight
    /// will find the entry itself.
    mutating func noteNewest(_ account: AuditFoldingKey.Account, _ newest: Newest) {
        guard case .known(let current) = slots[account] else { return }
        if current.map({ newest.summary.lastTime >= $0.summary.lastTime }) ?? true { slots[account] = .known(newest) }
    }

    /// Bounds the cache: entries idle longer than the folding gap can no longer be folded
    /// into, so forgetting them costs at most one search when the account returns. An entry
    /// with an open batch stays: its sender will take it.
    mutating func evictIfLarge(now: Date) {
        guard slots.count > Self.evictionThreshold else { return }
        let keep = policy.maxGap.timeInterval
        slots = slots.filter { _, slot in
            guard case .known(let newest) = slot else { return true }
            return newest.map { $0.open != nil || now.timeIntervalSince($0.summary.lastTime) <= keep } ?? false
        }
    }
}

/// The last-login decisions of ``AuditLog`` as a value: at most one write per account per
/// interval of login time, the newest login inside the interval deferred until it has
/// passed. Deferrals are timed in the directory context's time (`now`), the same clock the
/// events carry, so tests move one clock.
struct LastLoginMachine: Sendable {
    struct Account: Sendable {
        /// The login time that opened the current interval (the last one written or being written).
        var claimed: Date?
        var lastWrite: WriteOutcome?
        /// The newest login of the write not yet taken by its sender.
        var open: (event: LoginEvent, outcome: WriteOutcome)?
        /// The newest login inside the interval, not written yet, and since when it waits.
        var deferred: LoginEvent?
        var deferredSince: Date?
    }

    enum Action: Sendable {
        /// Nothing to write (a failure, or a login older than the one written).
        case none
        /// Kept as the account's newest deferred login; `wakeSweep` when nothing was deferred
        /// before, so an idle sweep starts timing it.
        case deferred(wakeSweep: Bool)
        /// A write that will carry this login (or a newer one) is pending: wait for it.
        case join(WriteOutcome)
        /// Once `previous` is answered, take the newest login (``take``), write it, finish `outcome`.
        case send(account: String, previous: WriteOutcome?, outcome: WriteOutcome)
    }

    var interval: TimeInterval
    var accounts: [String: Account] = [:]
    /// Accounts in the order their deferral began, which is the order they fall due.
    /// An item whose account was written meanwhile is skipped when reached.
    var deferrals: [(account: String, since: Date)] = []
    var deferralsHead = 0

    init(interval: Duration) { self.interval = interval.timeInterval }

    var isDeferring: Bool { deferralsHead < deferrals.count }

    /// What to do about `event`'s last login, `now` being the context's time.
    mutating func offer(_ account: String, _ event: LoginEvent, now: Date) -> Action {
        let wasIdle = !isDeferring
        let (action, deferredNow) = Self.offer(event, account: account, to: &accounts[account, default: Account()], interval: interval, now: now)
        if deferredNow {
            deferrals.append((account, now))
            return .deferred(wakeSweep: wasIdle)
        }
        if accounts.count > AuditFoldMachine.evictionThreshold {
            // Accounts whose interval has passed, with nothing deferred or in flight, are forgotten.
            let seconds = interval
            accounts = accounts.filter { _, login in
                login.deferred != nil || login.open != nil || login.claimed.map { event.time.timeIntervalSince($0) < seconds } ?? false
            }
        }
        return action
    }

    private static func offer(_ event: LoginEvent, account: String, to entry: inout Account, interval: TimeInterval, now: Date) -> (Action, deferredNow: Bool) {
        if let claimed = entry.claimed, event.time < claimed.addingTimeInterval(interval) {
            guard event.time > claimed, entry.deferred.map({ event.time > $0.time }) ?? true else { return (.none, false) }
            entry.deferred = event
            if entry.deferredSince != nil { return (.deferred(wakeSweep: false), false) }
            entry.deferredSince = now
            return (.deferred(wakeSweep: false), true)
        }
        var newest = event
        if let deferred = entry.deferred {
            if deferred.time > newest.time { newest = deferred }
            entry.deferred = nil
            entry.deferredSince = nil
        }
        return (claimWrite(&entry, account: account, newest), false)
    }

    /// Opens the interval at `newest` and writes it, joining the account's open write if any.
    private static func claimWrite(_ entry: inout Account, account: String, _ newest: LoginEvent) -> Action {
        entry.claimed = max(entry.claimed ?? newest.time, newest.time)
        if var open = entry.open {
            if newest.time > open.event.time { open.event = newest }
            entry.open = open
            return .join(open.outcome)
        }
        let outcome = WriteOutcome(), previous = entry.lastWrite
        entry.open = (newest, outcome)
        entry.lastWrite = outcome
        return .send(account: account, previous: previous, outcome: outcome)
    }

    /// The sender takes the newest login of its write; later logins open the next one.
    mutating func take(_ account: String, _ outcome: WriteOutcome) -> LoginEvent? {
        guard let open = accounts[account]?.open, open.outcome === outcome else { return nil }
        accounts[account]?.open = nil
        return open.event
    }

    /// The deferred last logins due by `dueBy` (all of them when nil), as writes to perform,
    /// and when the next one falls due.
    mutating func takeDeferred(dueBy: Date?) -> (actions: [Action], nextDue: Date?) {
        var actions: [Action] = []
        var nextDue: Date?
        while deferralsHead < deferrals.count {
            let (account, since) = deferrals[deferralsHead]
            if let dueBy, since.addingTimeInterval(interval) > dueBy {
                nextDue = since.addingTimeInterval(interval)
                break
            }
            deferralsHead += 1
            guard var entry = accounts[account], entry.deferredSince == since, let deferred = entry.deferred else { continue }
            entry.deferred = nil
            entry.deferredSince = nil
            actions.append(Self.claimWrite(&entry, account: account, deferred))
            accounts[account] = entry
        }
        if deferralsHead == deferrals.count {
            deferrals.removeAll(keepingCapacity: deferrals.count < 4096)
            deferralsHead = 0
        } else if deferralsHead > 4096, deferralsHead * 2 > deferrals.count {
            deferrals.removeFirst(deferralsHead)
            deferralsHead = 0
        }
        return (actions, nextDue)
    }
}
