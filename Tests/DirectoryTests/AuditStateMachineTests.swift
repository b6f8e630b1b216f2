import Foundation
import Testing

@testable import Directory

/// ``AuditFoldMachine`` and ``LastLoginMachine`` without slapd: the actions they return for
/// a sequence of offers and reports.
@Suite struct AuditStateMachineTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let alice = "uid=alice,ou=sales,o=acme,ou=workspaces,dc=example,dc=com"
    static let account = AuditFoldingKey.Account.dn(alice)

    static func event(_ offset: TimeInterval, _ type: LoginType = .pop3, ip: String = "81.2.69.1") -> LoginEvent {
        LoginEvent(time: t0.addingTimeInterval(offset), accountDN: alice.parsedDN, loginName: "alice@acme.test", type: type, client: "",
                   ip: IPAddress(ip), country: nil, outcome: .success)
    }

    struct Entries {
        var made = 0
        mutating func next() -> AuditLog.NewEntry {
            made += 1
            return AuditLog.NewEntry(id: "e\(made)", dn: "gwEventId=e\(made),ou=events".parsedDN)
        }
    }

    static func offer(_ machine: inout AuditFoldMachine, _ event: LoginEvent, _ entries: inout Entries, mark: AuditSpoolMark? = nil) -> AuditFoldMachine.Action {
        let key = event.foldingKey!
        return machine.offer(event, account: account, key: key, mark: mark, newEntry: { entries.next() })
    }

    @Test func aMissSearchesOnceAndTheOthersWait() throws {
        var machine = AuditFoldMachine(policy: AuditFoldingPolicy())
        var entries = Entries()
        guard case .load(let load) = Self.offer(&machine, Self.event(0), &entries),
              case .awaitLoad(let same) = Self.offer(&machine, Self.event(1), &entries)
        else { Issue.record("first miss loads, the next waits"); return }
        #expect(load === same)
        // A failed search forgets the slot: the next offer searches again.
        machine.loadFinished(Self.account, load, newest: nil, failed: true)
        guard case .load(let again) = Self.offer(&machine, Self.event(1), &entries) else { Issue.record("searches again"); return }
        #expect(again !== load)
        // A stale report (the old search) changes nothing.
        machine.loadFinished(Self.account, load, newest: nil, failed: false)
        guard case .awaitLoad = Self.offer(&machine, Self.event(1), &entries) else { Issue.record("still loading"); return }
        machine.loadFinished(Self.account, again, newest: nil, failed: false)
        guard case .add(let entry, _) = Self.offer(&machine, Self.event(1), &entries) else { Issue.record("nothing found: add"); return }
        #expect(entry.id == "e1")
    }

    @Test func repeatsRideOnTheNextBatchWhileAWriteIsInFlight() throws {
        var machine = AuditFoldMachine(policy: AuditFoldingPolicy())
        machine.slots[Self.account] = .known(nil)
        var entries = Entries()
        guard case .add(let entry, let creation) = Self.offer(&machine, Self.event(0), &entries),
              case .send(let dn, let previous, let first) = Self.offer(&machine, Self.event(5), &entries),
              case .join(_, let joined) = Self.offer(&machine, Self.event(7), &entries),
              case .join(_, let joinedToo) = Self.offer(&machine, Self.event(-3), &entries, mark: AuditSpoolMark(spool: "s", sequence: 9))
        else { Issue.record("add, then one batch the repeats join"); return }
        #expect(dn == entry.dn && previous === creation && joined === first && joinedToo === first)
        // The sender takes the batch: three events, the span widened both ways, the highest mark.
        let taken = machine.takeBatch(Self.account, first)
        let batch = try #require(taken)
        #expect(batch == FoldBatch(count: 3, lastTime: Self.t0.addingTimeInterval(7), firstTime: Self.t0.addingTimeInterval(-3),
                                   mark: AuditSpoolMark(spool: "s", sequence: 9)))
        #expect(machine.takeBatch(Self.account, first) == nil, "taken once")
        // Later repeats open the next batch, after the first.
        guard case .send(_, let after, let second) = Self.offer(&machine, Self.event(8), &entries) else { Issue.record("next batch"); return }
        #expect(after === first && second !== first)
        // The entry vanished: its batch is gone with it, the sender re-offers.
        machine.forget(Self.account, dn: dn)
        #expect(machine.takeBatch(Self.account, second) == nil)
        guard case .add = Self.offer(&machine, Self.event(9), &entries) else { Issue.record("a new entry"); return }
    }

    @Test func anotherKeyOrAGapStartsANewEntry() {
        var machine = AuditFoldMachine(policy: AuditFoldingPolicy())
        machine.slots[Self.account] = .known(nil)
        var entries = Entries()
        guard case .add = Self.offer(&machine, Self.event(0), &entries),
              case .add = Self.offer(&machine, Self.event(1, ip: "81.2.69.2"), &entries),
              case .send = Self.offer(&machine, Self.event(2, ip: "81.2.69.2"), &entries),
              case .add = Self.offer(&machine, Self.event(3 + 3601, ip: "81.2.69.2"), &entries)
        else { Issue.record("new entries for a new IP and after an hour"); return }
        #expect(entries.made == 3)
    }

    @Test func lastLoginsAreWrittenOncePerIntervalAndTheNewestIsDeferred() throws {
        var machine = LastLoginMachine(interval: .seconds(60))
        let now = Self.t0
        guard case .send(let account, let previous, let first) = machine.offer("a", Self.event(0), now: now) else {
            Issue.record("the first login writes"); return
        }
        #expect(account == "a" && previous == nil)
        // Inside the minute: the first deferral wakes the sweep, later ones only replace it if newer.
        guard case .deferred(wakeSweep: true) = machine.offer("a", Self.event(30, .pcBrowser), now: now),
              case .deferred(wakeSweep: false) = machine.offer("a", Self.event(40, .mobileWeb), now: now),
              case .none = machine.offer("a", Self.event(35), now: now),
              case .none = machine.offer("a", Self.event(0), now: now)
        else { Issue.record("logins inside the minute are deferred, older ones dropped"); return }
        // Another account has its own minute; its deferral does not wake the sweep again.
        guard case .send = machine.offer("b", Self.event(1), now: now),
              case .deferred(wakeSweep: false) = machine.offer("b", Self.event(2), now: now.addingTimeInterval(5))
        else { Issue.record("another account writes on its own"); return }
        // Not due yet for the sweep: nothing taken, and when the first falls due.
        let early = machine.takeDeferred(dueBy: now.addingTimeInterval(59))
        #expect(early.actions.isEmpty && early.nextDue == now.addingTimeInterval(60))
        // Due: "a" joins the write still in flight (not taken by its sender) with the newest login.
        let due = machine.takeDeferred(dueBy: now.addingTimeInterval(60))
        #expect(due.actions.count == 1 && due.nextDue == now.addingTimeInterval(65))
        guard case .join(let outcome) = due.actions.first else { Issue.record("joins the open write"); return }
        #expect(outcome === first)
        #expect(machine.take("a", first)?.type == .mobileWeb)
        // A flush takes the rest.
        #expect(machine.takeDeferred(dueBy: nil).actions.count == 1)
        #expect(!machine.isDeferring)
        // The written login (40) opened the next minute: 61 is deferred and wakes an idle sweep, 100 writes.
        guard case .deferred(wakeSweep: true) = machine.offer("a", Self.event(61), now: now),
              case .send(_, let after, let second) = machine.offer("a", Self.event(100), now: now)
        else { Issue.record("a new minute from the written login"); return }
        #expect(after === first && second !== first)
        #expect(machine.take("a", second)?.time == Self.t0.addingTimeInterval(100))
        // The write at 100 replaced the deferral at 61: a sweep finds nothing.
        let swept = machine.takeDeferred(dueBy: now.addingTimeInterval(3600))
        #expect(swept.actions.isEmpty && swept.nextDue == nil)
    }

    @Test func promisesReachEveryWaiter() async throws {
        let promise = Promise<Int>()
        let first = Task { try await promise.wait() }
        let second = Task { await promise.result() }
        promise.finish(.success(7))
        promise.finish(.success(8))
        #expect(try await first.value == 7)
        #expect(try await second.value.get() == 7)
        #expect(try await promise.wait() == 7)
    }
}
