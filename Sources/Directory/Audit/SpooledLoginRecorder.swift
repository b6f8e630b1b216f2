import Foundation
import LDAPClient
import Logging
import ServiceLifecycle

/// A ``LoginRecorder`` that never loses an accepted event: ``record(_:)`` returns once the
/// event is fsync'd in a ``LoginSpool``, and ``SpoolDrainService`` writes spooled events to
/// the ``AuditLog`` in order, retrying with backoff while slapd is unreachable. After a
/// crash (`kill -9`) the next process opens the same spool and finishes the job.
///
/// Exactly once: a folded repeat is an LDAP increment, which a replay must not repeat.
/// Every write the drainer makes carries the event's spool id and sequence number in the
/// same operation that counts it (`gwSpoolId`, `gwSpoolSeq` on the audit entry, set by the
/// add or next to the increment), and events of one account are written strictly in spool
/// order, one after the other. So per account, what slapd has is a prefix of the spool, and
/// the highest `gwSpoolSeq` among the account's entries from this spool marks its end. When
/// a batch may have been written before — events appended before this process opened the
/// spool (``LoginSpool/recoveredThrough``), or a batch retried after a failure — the drainer
/// first reads that mark per account (one indexed search) and skips the events at or below it.
/// The checkpoint file then only saves work: losing it costs a longer replay, not a duplicate.
public struct SpooledLoginRecorder: LoginRecorder {
    public let spool: LoginSpool
    public let log: AuditLog
    /// Finds the account of events recorded without one (``LoginEvent/accountUnresolved``):
    /// a success the mail policy spooled at once, or any report of a slapd outage. Without a
    /// resolver they are written under the login name only.
    public let resolver: (any LoginAccountResolver)?

    public init(spool: LoginSpool, log: AuditLog, resolver: (any LoginAccountResolver)? = nil) {
        self.spool = spool
        self.log = log
        self.resolver = resolver
    }

    public var resolvesAccounts: Bool { resolver != nil }

    /// Durable on return: the event is on disk; the directory gets it from the drainer.
    public func record(_ event: LoginEvent) async throws {
        try await spool.append(event)
    }

    /// Writes every event spooled so far to the directory, in order, and checkpoints them.
    /// Throws on the first failure (what was written stays written; a retry skips it).
    /// Returns how many events were drained.
    @discardableResult
    public func drainAvailable(batchSize: Int = 8192) async throws -> Int {
        var drained = 0
        while true {
            let after = spool.checkpoint
            let batch = try spool.read(after: after, limit: batchSize)
            guard let last = batch.last else { return drained }
            try await write(batch, mayBeWritten: batch.first!.sequence <= spool.recoveredThrough || retrying.isSet)
            // The file at most every 250 ms (LoginSpool.advanceCheckpoint), and at shutdown.
            try spool.advanceCheckpoint(to: last.sequence, durable: false)
            retrying.clear()
            drained += batch.count
        }
    }

    /// Set when a batch failed part-way: its retry checks what slapd already has.
    private let retrying = Flag()

    private func write(_ batch: [(sequence: UInt64, event: LoginEvent)], mayBeWritten: Bool) async throws {
        let (batch, successes) = try await resolved(batch)
        var byAccount: [AuditFoldingKey.Account: [(sequence: UInt64, event: LoginEvent)]] = [:]
        for item in batch { byAccount[AuditRecords.account(of: item.event), default: []].append(item) }
        let spoolID = spool.id
        let log = self.log
        do {
            // Accounts side by side (at most maxConcurrentWrites at a time), each account's
            // events one after the other: its entries then hold a prefix of the spool.
            // An account's repeats in the batch go as one write per run (FoldedLoginRun).
            try await forEachConcurrently(Array(byAccount)) { account, items in
                let written = mayBeWritten ? try await Self.highWater(account, items[0].event, spool: spoolID, from: items[0].sequence, log: log) : 0
                for (sequence, run) in FoldedLoginRun.runs(items.lazy.filter { $0.sequence > written }, policy: log.folding) {
                    try await log.write(run, mark: AuditSpoolMark(spool: spoolID, sequence: sequence))
                }
            }
        } catch {
            retrying.set()
            throw error
        }
        // The events are written; completing a success (the admin-reset mark) is logged when
        // it fails, not retried with the batch: the next success clears it.
        if let resolver {
            for (account, time) in successes {
                do {
                    try await resolver.loggedIn(account, at: time)
                } catch {
                    spool.logger.error("a login was recorded but the account's admin-reset mark stays", metadata: [
                        "account": "\(account.dn)", "error": "\(error)",
                    ])
                }
            }
        }
    }

    /// The batch with every unresolved event's account looked up (once per login name), so
    /// it is grouped, folded and counted as if the directory had answered at the time, and the
    /// newest success of each account whose admin-reset mark a success clears. The lookup is
    /// repeated when a batch is retried; an account's entries keep a prefix of the spool as
    /// long as the name resolves the same way, which only an account added or removed in
    /// between changes.
    private func resolved(
        _ batch: [(sequence: UInt64, event: LoginEvent)]
    ) async throws -> ([(sequence: UInt64, event: LoginEvent)], [ResolvedLoginAccount: Date]) {
        guard let resolver, batch.contains(where: { $0.event.accountUnresolved }) else { return (batch, [:]) }
        // One lookup per login name, side by side (bounded like the writes).
        let logins = Array(Set(batch.lazy.filter(\.event.accountUnresolved).map(\.event.loginName)))
        let found = LockedValue<[String: ResolvedLoginAccount]>([:])
        try await forEachConcurrently(logins) { login in
            if let account = try await resolver.account(of: login) { found.withLock { $0[login] = account } }
        }
        let accounts = found.withLock { $0 }
        var successes: [ResolvedLoginAccount: Date] = [:]
        var result = batch
        for index in result.indices where result[index].event.accountUnresolved {
            let event = result[index].event
            let account = accounts[event.loginName]
            result[index].event.accountDN = account?.dn
            result[index].event.accountUnresolved = false
            if let account, account.adminResetPending, event.result == .success {
                successes[account] = max(successes[account] ?? event.time, event.time)
            }
        }
        return (result, successes)
    }

    /// The highest sequence number of this spool already counted in `account`'s entries
    /// (0 if none at or above `from`).
    static func highWater(_ account: AuditFoldingKey.Account, _ sample: LoginEvent, spool: String, from: UInt64, log: AuditLog) async throws -> UInt64 {
        let who: LDAPFilter = switch account {
        case .dn: .equal("gwAccountRef", sample.accountDN?.description ?? "")
        case .loginName: .and([.equal("gwLoginName", sample.loginName), .not(.present("gwAccountRef"))])
        }
        let filter: LDAPFilter = .and([
            .equal("objectClass", "gwLoginEvent"), .equal("gwSpoolId", spool), who, .greaterOrEqual("gwSpoolSeq", String(from)),
        ])
        let found = try await ldapCall("reading what the directory has of spool \(spool)") {
            try await log.context.ldap.search(base: log.context.layout.auditEvents, scope: .oneLevel, filter: filter, attributes: ["gwSpoolSeq"])
        }
        return found.entries.compactMap { $0.string("gwSpoolSeq").flatMap(UInt64.init) }.max() ?? 0
    }

    /// The background drainer for this recorder, sleeping on `clock` between retries.
    public func drainer<C: Clock>(clock: C, backoff: ClosedRange<Duration> = .milliseconds(100) ... .seconds(5)) -> SpoolDrainService<C> {
        SpoolDrainService(recorder: self, clock: clock, backoff: backoff)
    }
}

/// Drains a ``SpooledLoginRecorder``'s spool into the directory whenever events arrive,
/// retrying with exponential backoff (on the injected clock) while writes fail. On graceful
/// shutdown it drains what it can once more; the rest waits in the spool for the next start.
/// In a `ServiceGroup`, list it after the log's ``AuditSweepService``: services stop in
/// reverse order, so the sweep's final flush then covers the last logins just drained.
/// One drainer per spool.
public struct SpoolDrainService<C: Clock>: Service where C.Duration == Duration {
    public let recorder: SpooledLoginRecorder
    public let clock: C
    public let backoff: ClosedRange<Duration>

    public func run() async throws {
        let logger = recorder.spool.logger
        let appended = recorder.spool.appended
        await cancelWhenGracefulShutdown {
            var wakeups = appended.makeAsyncIterator()
            var delay = backoff.lowerBound
            while !Task.isCancelled {
                do {
                    try await recorder.drainAvailable()
                    delay = backoff.lowerBound
                } catch {
                    logger.warning("writing spooled logins to the directory failed; retrying", metadata: [
                        "retry_in": "\(delay)", "backlog": "\(recorder.spool.durableSequence - recorder.spool.checkpoint)", "error": "\(error)",
                    ])
                    do {
                        try await clock.sleep(for: delay)
                    } catch {
                        break
                    }
                    delay = min(delay * 2, backoff.upperBound)
                    continue
                }
                if await wakeups.next() == nil { break }
            }
        }
        do {
            try await recorder.drainAvailable()
            try recorder.spool.flushCheckpoint()
        } catch {
            logger.warning("spooled logins remain for the next start", metadata: [
                "backlog": "\(recorder.spool.durableSequence - recorder.spool.checkpoint)", "error": "\(error)",
            ])
        }
    }
}

/// A thread-safe boolean.
final class Flag: Sendable {
    private let value = LockedValue(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
    func clear() { value.withLock { $0 = false } }
}
