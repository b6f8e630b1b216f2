import Foundation

/// Consecutive repeats of one account's login, counted by one write: `count` events with one
/// folding key, the first `first`, the last at `lastTime`. The spool drainer merges a
/// backlog's repeats this way, so catching up after a burst or an outage costs one LDAP
/// write per run rather than one per event; the entry ends up as if each had been folded.
public struct FoldedLoginRun: Sendable, Hashable {
    public var first: LoginEvent
    public var count: Int
    public var lastTime: Date

    /// One event.
    public init(_ event: LoginEvent) {
        self.first = event
        self.count = 1
        self.lastTime = event.time
    }

    /// Splits one account's events (in spool order) into runs: an event joins the run before
    /// it when it has the same folding key, comes at most the policy's gap after the run's
    /// last event and keeps the run within the policy's span. Each run carries its last item's
    /// sequence number (the mark its write sets). Events that never fold stay runs of one.
    public static func runs(
        _ items: some Sequence<(sequence: UInt64, event: LoginEvent)>, policy: AuditFoldingPolicy
    ) -> [(sequence: UInt64, run: FoldedLoginRun)] {
        var runs: [(sequence: UInt64, run: FoldedLoginRun)] = []
        var openKey: AuditFoldingKey?
        for (sequence, event) in items {
            let key = event.foldingKey
            if let key, key == openKey, var last = runs.last {
                let firstTime = last.run.first.time
                let gap = event.time.timeIntervalSince(last.run.lastTime)
                let span = max(event.time, last.run.lastTime).timeIntervalSince(min(firstTime, event.time))
                if gap >= 0, gap <= policy.maxGap.timeInterval, span <= policy.maxSpan.timeInterval {
                    last.run.count += 1
                    last.run.lastTime = event.time
                    last.sequence = sequence
                    runs[runs.count - 1] = last
                    continue
                }
            }
            runs.append((sequence, FoldedLoginRun(event)))
            openKey = key
        }
        return runs
    }
}
