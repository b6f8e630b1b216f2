import Synchronization
import Testing
@testable import LDAPClient

/// The bounded connection set's rules, driven as a value; then `LDAPConnectionLeases` with
/// connections that never open a socket (no slapd needed: the bodies do not touch them).
@Suite struct LeaseStateMachineTests {
    typealias Machine = LeaseStateMachine<String, Int>

    @Test func createsUpToTheMaximumThenQueues() {
        var machine = Machine(maximum: 2, maxIdle: 1)
        guard case .create = machine.lease(1), case .create = machine.lease(2) else { Issue.record("expected two creates"); return }
        guard case .wait = machine.lease(3), case .wait = machine.lease(4) else { Issue.record("expected waits"); return }
        #expect(machine.open == 2 && machine.waiterCount == 2)
        // First come, first served.
        guard case .handOver("a", to: 3) = machine.release("a", reusable: true) else { Issue.record("3 is first"); return }
        guard case .closeAndCreate("b", for: 4) = machine.release("b", reusable: false) else { Issue.record("4 gets b's slot"); return }
        #expect(machine.open == 2 && machine.waiterCount == 0)
        // Nobody waits: one stays idle, the other closes.
        guard case .none = machine.release("a", reusable: true) else { Issue.record("a idles"); return }
        guard case .close("c") = machine.release("c", reusable: true) else { Issue.record("beyond maxIdle"); return }
        #expect(machine.open == 1 && machine.idle == ["a"])
        guard case .use("a") = machine.lease(5) else { Issue.record("idle is reused"); return }
        guard case .close("a") = machine.release("a", reusable: false) else { Issue.record("broken closes"); return }
        #expect(machine.open == 0 && machine.leased == 0)
    }

    @Test func aCancelledWaiterLeavesTheLine() {
        var machine = Machine(maximum: 1, maxIdle: 1)
        _ = machine.lease(1)
        for waiter in 2...5 { _ = machine.lease(waiter) }
        do { let cancelled = machine.cancel(3); #expect(cancelled) }
        do { let cancelled = machine.cancel(3); #expect(!cancelled) }
        do { let cancelled = machine.cancel(2); #expect(cancelled) }
        guard case .handOver("a", to: 4) = machine.release("a", reusable: true) else { Issue.record("4 is next"); return }
        // 4 was served: too late to cancel, it owns the connection.
        do { let cancelled = machine.cancel(4); #expect(!cancelled) }
        guard case .handOver("a", to: 5) = machine.release("a", reusable: true) else { Issue.record("5 is next"); return }
        guard case .none = machine.release("a", reusable: true) else { Issue.record("idle"); return }
        #expect(machine.waiterCount == 0 && machine.open == 1)
    }

    @Test func closeFailsWaitersAndClosesIdleAndReturningConnections() {
        var machine = Machine(maximum: 2, maxIdle: 2)
        _ = machine.lease(1)
        _ = machine.lease(2)
        _ = machine.release("a", reusable: true)
        _ = machine.lease(3)  // takes "a"
        _ = machine.release("a", reusable: true)
        _ = machine.lease(4)
        _ = machine.lease(5)  // waits
        _ = machine.lease(6)  // waits
        let (idle, waiters) = machine.close()
        #expect(idle.isEmpty && waiters == [5, 6])
        guard case .fail = machine.lease(7) else { Issue.record("closed"); return }
        guard case .close("x") = machine.release("x", reusable: true) else { Issue.record("lent ones close on return"); return }
        guard case .close("y") = machine.release("y", reusable: true) else { Issue.record("lent ones close on return"); return }
        #expect(machine.open == 0)
    }

    @Test func aLongLineStaysFIFOAcrossCompaction() {
        var machine = Machine(maximum: 1, maxIdle: 0)
        _ = machine.lease(0)
        for waiter in 1...500 { _ = machine.lease(waiter) }
        for waiter in stride(from: 2, through: 500, by: 3) { do { let cancelled = machine.cancel(waiter); #expect(cancelled) } }
        var served: [Int] = []
        while case .handOver(_, let waiter) = machine.release("c", reusable: true) { served.append(waiter) }
        #expect(served == (1...500).filter { ($0 - 2) % 3 != 0 })
        #expect(machine.open == 0)
    }
}

@Suite struct LDAPConnectionLeasesTests {
    static let configuration = LDAPConfiguration(uris: ["ldap://127.0.0.1:1"], credentials: .anonymous)

    /// The bound, not the timing: the wait timeout is far out of reach (the full parallel run on 2
    /// cores, where other suites block cooperative threads waiting for child processes, once
    /// kept a waiter in line for 30 s). `aWaiterTimesOutWithAClearError` tests the timeout.
    @Test(.timeLimit(.minutes(10))) func neverLendsMoreThanTheMaximum() async throws {
        let leases = LDAPConnectionLeases(configuration: Self.configuration, maximum: 3, maxIdle: 2, waitTimeout: .seconds(540))
        final class Gauge: Sendable {
            let inUse = Atomic<Int>(0), peak = Atomic<Int>(0)
        }
        let gauge = Gauge()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await leases.withConnection { _ in
                        let now = gauge.inUse.add(1, ordering: .relaxed).newValue
                        gauge.peak.max(now, ordering: .relaxed)
                        for _ in 0..<10 { await Task.yield() }
                        gauge.inUse.subtract(1, ordering: .relaxed)
                        return (index, reusable: index % 7 != 0)
                    }
                }
            }
            var finished = 0
            for try await _ in group { finished += 1 }
            #expect(finished == 200)
        }
        #expect(gauge.peak.load(ordering: .relaxed) <= 3)
        let counts = leases.counts
        #expect(counts.open <= 2 && counts.idle == counts.open && counts.waiting == 0)
        leases.close()
        #expect(leases.counts.open == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aWaiterTimesOutWithAClearError() async throws {
        let leases = LDAPConnectionLeases(configuration: Self.configuration, maximum: 1, maxIdle: 1, waitTimeout: .milliseconds(200))
        let (holding, release) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await leases.withConnection { _ in
                for await _ in holding { break }
                return ((), reusable: true)
            }
        }
        while leases.counts.open == 0 { await Task.yield() }
        let error = await #expect(throws: LDAPError.self) {
            try await leases.withConnection { _ in ((), reusable: true) }
        }
        #expect(error?.code == .timeout)
        #expect(error?.message.contains("no free connection within 200 ms (all 1 in use)") == true)
        #expect(leases.counts.waiting == 0)
        release.yield()
        try await holder.value
        leases.close()
    }

    @Test(.timeLimit(.minutes(1))) func aCancelledWaiterLeavesTheLineAtOnce() async throws {
        let leases = LDAPConnectionLeases(configuration: Self.configuration, maximum: 1, maxIdle: 1, waitTimeout: .seconds(60))
        let (holding, release) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await leases.withConnection { _ in
                for await _ in holding { break }
                return ((), reusable: true)
            }
        }
        while leases.counts.open == 0 { await Task.yield() }
        let waiter = Task { try await leases.withConnection { _ in ((), reusable: true) } }
        while leases.counts.waiting == 0 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(leases.counts.waiting == 0)
        release.yield()
        try await holder.value
        // The slot is free again: the next caller gets the idle connection at once.
        try await leases.withConnection { _ in ((), reusable: true) }
        leases.close()
        await #expect(throws: LDAPError.self) { try await leases.withConnection { _ in ((), reusable: true) } }
    }
}
