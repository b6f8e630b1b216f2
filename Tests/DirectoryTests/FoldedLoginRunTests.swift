import Foundation
import Testing

@testable import Directory

/// ``FoldedLoginRun/runs(_:policy:)`` and the fold machine's counted offers, without slapd.
@Suite struct FoldedLoginRunTests {
    typealias Item = (sequence: UInt64, event: LoginEvent)

    static func items(_ events: [LoginEvent]) -> [Item] {
        events.enumerated().map { (UInt64($0.offset + 1), $0.element) }
    }

    static func event(_ offset: TimeInterval, _ type: LoginType = .pop3, ip: String = "81.2.69.1", failed: Bool = false) -> LoginEvent {
        var event = AuditStateMachineTests.event(offset, type, ip: ip)
        if failed { event.outcome = .failure(.wrongPassword) }
        return event
    }

    static func shape(_ runs: [(sequence: UInt64, run: FoldedLoginRun)]) -> [String] {
        runs.map { "\($0.run.count)@\($0.sequence)" }
    }

    @Test func consecutiveRepeatsOfOneKeyBecomeOneRun() {
        let runs = FoldedLoginRun.runs(Self.items([
            Self.event(0), Self.event(1), Self.event(2),            // 3 pop3
            Self.event(3, .imap),                                    // another type
            Self.event(4), Self.event(5),                            // pop3 again: a new run, not the first
            Self.event(6, failed: true),                             // another result
            Self.event(7, ip: "81.2.69.2"),                          // another address
            Self.event(8, .pcBrowser), Self.event(9, .pcBrowser),    // web logins never fold
        ]), policy: AuditFoldingPolicy())
        #expect(Self.shape(runs) == ["3@3", "1@4", "2@6", "1@7", "1@8", "1@9", "1@10"])
        #expect(runs[0].run.first.time == AuditStateMachineTests.t0 && runs[0].run.lastTime == AuditStateMachineTests.t0.addingTimeInterval(2))
    }

    @Test func theGapAndTheSpanEndARun() {
        let policy = AuditFoldingPolicy(maxGap: .seconds(10), maxSpan: .seconds(25))
        // A gap of 11 s ends a run; the span of 25 s ends the next at the event that would pass it.
        let runs = FoldedLoginRun.runs(Self.items([0, 5, 16, 24, 32, 40, 44].map { Self.event($0) }), policy: policy)
        #expect(Self.shape(runs) == ["2@2", "4@6", "1@7"])
        // An event older than the run's last (clocks of two reporters) starts a run of its own.
        #expect(Self.shape(FoldedLoginRun.runs(Self.items([0, 3, 2].map { Self.event($0) }), policy: policy)) == ["2@2", "1@3"])
    }

    @Test func aCountedOfferAddsOrIncrementsByItsCount() throws {
        var machine = AuditFoldMachine(policy: AuditFoldingPolicy(maxGap: .seconds(60), maxSpan: .seconds(300)))
        machine.slots[AuditStateMachineTests.account] = .known(nil)
        var entries = AuditStateMachineTests.Entries()
        let account = AuditStateMachineTests.account, t0 = AuditStateMachineTests.t0
        func offer(_ event: LoginEvent, count: Int, through last: TimeInterval) -> AuditFoldMachine.Action {
            machine.offer(event, count: count, through: t0.addingTimeInterval(last), account: account, key: event.foldingKey!,
                          mark: AuditSpoolMark(spool: "s", sequence: UInt64(count)), newEntry: { entries.next() })
        }
        // A run of 5 starts an entry spanning its ends.
        guard case .add(let entry, _) = offer(Self.event(0), count: 5, through: 20) else { Issue.record("a new entry"); return }
        guard case .known(let newest?) = machine.slots[account] else { Issue.record("known"); return }
        #expect(newest.dn == entry.dn && newest.summary.firstTime == t0 && newest.summary.lastTime == t0.addingTimeInterval(20))
        // A run of 7 whose both ends fold: one increment by 7, the span widened to its end.
        guard case .send(_, _, let outcome) = offer(Self.event(30), count: 7, through: 50) else { Issue.record("an increment"); return }
        #expect(machine.takeBatch(account, outcome) == FoldBatch(count: 7, lastTime: t0.addingTimeInterval(50), firstTime: nil,
                                                                 mark: AuditSpoolMark(spool: "s", sequence: 7)))
        // A run whose last event would pass the span starts an entry of its own.
        guard case .add(let other, _) = offer(Self.event(100), count: 3, through: 400) else { Issue.record("a new entry for the run"); return }
        #expect(other.dn != entry.dn)
    }
}
