import Foundation
import Glibc
@testable import LDAPClient
import LocalSlapd
import Testing
import TestSupport

/// `LDAPConfiguration.requestTimeout` against a frozen slapd (SIGSTOP): requests fail with
/// `.timeout` in about the timeout instead of hanging, and the connection recovers after SIGCONT.
@Suite(.serialized) struct RequestTimeoutTests {
    /// A slapd of the test's own (it is frozen), and a way to thaw it whatever happens.
    private final class FrozenSlapd: Sendable {
        let slapd: SlapdInstance
        let pid: pid_t

        init() throws {
            slapd = try SlapdInstance.startTemporary(seed: SlapdInstance.baseEntriesLDIF(baseDN: TestSlapd.baseDN))
            pid = try #require(slapd.processIdentifier)
        }

        func configuration(timeout: Duration?) -> LDAPConfiguration {
            LDAPConfiguration(uris: [slapd.uri], credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword), requestTimeout: timeout)
        }

        func freeze() { _ = Glibc.kill(pid, SIGSTOP) }
        func thaw() { _ = Glibc.kill(pid, SIGCONT) }

        /// Thawed first: a stopped slapd would not act on the SIGTERM of `destroy()`.
        func destroy() {
            thaw()
            slapd.destroy()
        }
    }

    private static func device(_ name: String) -> [LDAPAttribute] {
        [LDAPAttribute("objectClass", ["device"]), LDAPAttribute("cn", name)]
    }

    /// Runs `body`, expecting an LDAPError; returns it and how long it took.
    private static func timed(_ body: () async throws -> Void) async -> (error: LDAPError?, seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        var failure: LDAPError?
        do {
            try await body()
        } catch let error as LDAPError {
            failure = error
        } catch {
            Issue.record("expected an LDAPError, got \(error)")
        }
        let elapsed = clock.now - start
        return (failure, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    @Test func searchAndWriteOnAFrozenServerTimeOutAndTheConnectionRecovers() async throws {
        let server = try FrozenSlapd()
        defer { server.destroy() }
        let reader = LDAPConnection(configuration: server.configuration(timeout: .seconds(1)))
        let writer = LDAPConnection(configuration: server.configuration(timeout: .seconds(1)))
        defer {
            reader.close()
            writer.close()
        }
        try await reader.connect()
        try await writer.connect()

        server.freeze()
        defer { server.thaw() }

        let search = await Self.timed { _ = try await reader.search(base: TestSlapd.baseDN.parsedDN, scope: .base) }
        #expect(search.error?.code == .timeout)
        #expect(search.error?.operation == .search)
        #expect(search.error?.message == "did not answer within 1 s")
        #expect(search.seconds >= 0.9 && search.seconds < 3, "took \(search.seconds) s")

        let add = await Self.timed { _ = try await writer.add(dn: "cn=frozen,\(TestSlapd.baseDN)".parsedDN, attributes: Self.device("frozen")) }
        #expect(add.error?.code == .timeout)
        #expect(add.error?.operation == .add)
        #expect(add.error?.message == "did not answer within 1 s; the add may or may not have been applied")
        #expect(add.seconds >= 0.9 && add.seconds < 3, "took \(add.seconds) s")

        // Timeouts are not connection errors: a read is not retried into several timeouts.
        #expect(search.error?.isConnectionError == false)

        // slapd wakes up and answers what it had queued (the add among it); those late
        // answers find no request and are dropped. Both connections work again.
        server.thaw()
        #expect(try await reader.whoAmI() == "dn:\(server.slapd.rootDN)")
        #expect(try await writer.whoAmI() == "dn:\(server.slapd.rootDN)")
        // Whether the timed-out add was applied is exactly what the error said it cannot know;
        // either way the entry is readable and consistent now.
        let frozenEntry = try await reader.entry("cn=frozen,\(TestSlapd.baseDN)".parsedDN)
        if let frozenEntry { #expect(frozenEntry.string("cn") == "frozen") }
        try await writer.add(dn: "cn=after,\(TestSlapd.baseDN)".parsedDN, attributes: Self.device("after"))
        #expect(try await reader.entry("cn=after,\(TestSlapd.baseDN)".parsedDN) != nil)
    }

    /// Many requests in flight on one connection when the server freezes all fail together
    /// at the first deadline (the connection is presumed dead), not one timeout after another.
    @Test func requestsInFlightFailTogetherNotOneTimeoutEach() async throws {
        let server = try FrozenSlapd()
        defer { server.destroy() }
        let connection = LDAPConnection(configuration: server.configuration(timeout: .seconds(1)))
        defer { connection.close() }
        try await connection.connect()

        server.freeze()
        defer { server.thaw() }
        let outcome = await Self.timed {
            try await withThrowingTaskGroup(of: LDAPError?.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        do {
                            if index.isMultiple(of: 2) {
                                _ = try await connection.search(base: TestSlapd.baseDN.parsedDN, filter: .equal("cn", "c\(index)"))
                            } else {
                                _ = try await connection.add(dn: "cn=c\(index),\(TestSlapd.baseDN)".parsedDN, attributes: Self.device("c\(index)"))
                            }
                            return nil
                        } catch let error as LDAPError {
                            return error
                        }
                    }
                }
                var errors: [LDAPError] = []
                for try await error in group { if let error { errors.append(error) } }
                #expect(errors.count == 20)
                #expect(errors.allSatisfy { $0.code == .timeout })
                #expect(errors.filter { $0.message.hasSuffix("may or may not have been applied") }.count == 10)
            }
        }
        #expect(outcome.error == nil)
        #expect(outcome.seconds < 3, "took \(outcome.seconds) s")

        // A frozen server accepts TCP connections (the kernel does), so the reconnect's bind
        // is what waits: it too gives up after the timeout.
        let reconnect = await Self.timed { _ = try await connection.whoAmI() }
        #expect(reconnect.error?.code == .timeout)
        #expect(reconnect.error?.operation == .bind)
        #expect(reconnect.seconds < 3, "took \(reconnect.seconds) s")

        server.thaw()
        #expect(try await connection.whoAmI() == "dn:\(server.slapd.rootDN)")
    }

    /// A new connection to a frozen server: the connect's bind times out (exit 6 in the CLI).
    @Test func connectingToAFrozenServerTimesOut() async throws {
        let server = try FrozenSlapd()
        defer { server.destroy() }
        server.freeze()
        defer { server.thaw() }
        let outcome = await Self.timed {
            _ = try await LDAPConnection.connect(configuration: server.configuration(timeout: .milliseconds(1500)))
        }
        #expect(outcome.error?.code == .timeout)
        #expect(outcome.error?.message == "did not answer within 1.5 s")
        #expect(outcome.seconds >= 1.4 && outcome.seconds < 4, "took \(outcome.seconds) s")
    }

    /// A live server and a timeout far too short for 300 pipelined adds: some are answered in
    /// time, some time out one by one while other answers keep coming (left running; their late
    /// results arrive on a connection still in use and must be dropped without resuming anything
    /// twice), some fail together when the connection is judged silent. However the run splits
    /// (it depends on the machine), every write ends exactly once, success or timeout, and a
    /// success is never reported for a write that is not there.
    @Test func lateResultsOfTimedOutRequestsAreDropped() async throws {
        let root = try TestSlapd.rootConnection()
        let parent = try await TestSlapd.scratch(root, "late")
        let slapd = try TestSlapd.shared()
        let impatient = LDAPConnection(configuration: LDAPConfiguration(
            uris: [slapd.uri], credentials: .simple(dn: slapd.rootDN, password: slapd.rootPassword), requestTimeout: .milliseconds(40)
        ))
        defer { impatient.close() }
        var outcomes: [String: Int] = [:]
        for round in 0..<3 {
            let results = await withTaskGroup(of: String.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        do {
                            try await impatient.add(dn: "cn=r\(round)-\(index),\(parent)".parsedDN, attributes: Self.device("r\(round)-\(index)"))
                            return "applied"
                        } catch let error as LDAPError where error.code == .timeout {
                            return "timeout"
                        } catch {
                            return "other: \(error)"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(results.count == 300)
            for result in results { outcomes[result, default: 0] += 1 }
        }
        #expect(outcomes.keys.allSatisfy { $0 == "applied" || $0 == "timeout" }, "\(outcomes)")
        // Every write that reported success is there; timed-out ones may or may not be.
        let listed = try await root.search(base: parent, scope: .oneLevel, attributes: ["1.1"])
        #expect(listed.entries.count >= outcomes["applied", default: 0])
        #expect(listed.entries.count <= 900)
        #expect(try await root.whoAmI() == "dn:\(slapd.rootDN)")
    }

    /// nil turns the timeout off: the request waits for the server, however long it is frozen.
    @Test func noTimeoutWaitsForTheServer() async throws {
        let server = try FrozenSlapd()
        defer { server.destroy() }
        let connection = LDAPConnection(configuration: server.configuration(timeout: nil))
        defer { connection.close() }
        try await connection.connect()
        server.freeze()
        defer { server.thaw() }
        let search = Task { try await connection.whoAmI() }
        try await Task.sleep(for: .milliseconds(1500))
        server.thaw()
        #expect(try await search.value == "dn:\(server.slapd.rootDN)")
    }
}

/// The deadline list and clock arithmetic, without a server.
@Suite struct InFlightRequestsTests {
    /// A request that only records how it ended.
    private final class ProbeRequest: PendingRequest, @unchecked Sendable {
        var failures: [any Error] = []
        init(messageID: Int32, deadline: UInt64) {
            super.init()
            self.messageID = messageID
            self.deadline = deadline
        }
        override func fail(_ error: any Error) { failures.append(error) }
        override var timeoutBehaviour: TimeoutBehaviour { TimeoutBehaviour(action: .abandon, operation: .search, dn: nil) }
    }

    @Test func expiresOldestFirstAndSkipsAnsweredRequests() {
        var requests = InFlightRequests()
        let first = ProbeRequest(messageID: 1, deadline: 100)
        let second = ProbeRequest(messageID: 2, deadline: 200)
        let third = ProbeRequest(messageID: 3, deadline: 300)
        let untimed = ProbeRequest(messageID: 4, deadline: 0)
        for request in [first, second, third, untimed] { requests.insert(request) }
        #expect(requests.nextDeadline == 100)

        // The oldest is answered: the next deadline is the second's.
        #expect(requests.remove(messageID: 1) === first)
        #expect(requests.nextDeadline == 200)
        #expect(requests.removeExpired(now: 199) == nil)

        // The middle one is answered: the third follows, and expires only at its deadline.
        #expect(requests.remove(messageID: 2) === second)
        #expect(requests.removeExpired(now: 299) == nil)
        #expect(requests.removeExpired(now: 300) === third)
        #expect(requests[3] == nil)
        #expect(requests.nextDeadline == nil)
        // A request without a deadline never expires but is still routed.
        #expect(requests[4] === untimed)
        #expect(!requests.isEmpty)
        #expect(requests.removeAll().count == 1)
        #expect(requests.isEmpty)
        #expect(third.newer == nil && third.older == nil)
    }

    @Test func removeAllUnlinksALongListWithoutRecursing() {
        var requests = InFlightRequests()
        var kept: [ProbeRequest] = []
        for id in 1...200_000 {
            let request = ProbeRequest(messageID: Int32(id), deadline: UInt64(id))
            requests.insert(request)
            if id.isMultiple(of: 50_000) { kept.append(request) }
        }
        #expect(requests.removeAll().count == 200_000)
        #expect(requests.nextDeadline == nil)
        #expect(kept.allSatisfy { $0.newer == nil && $0.older == nil })
    }

    @Test func pollTimeoutRoundsUp() {
        #expect(MonotonicClock.pollTimeout(from: 1_000, to: 1_000) == 0)
        #expect(MonotonicClock.pollTimeout(from: 0, to: 1) == 1)
        #expect(MonotonicClock.pollTimeout(from: 0, to: 1_000_000) == 1)
        #expect(MonotonicClock.pollTimeout(from: 0, to: 1_000_001) == 2)
        #expect(MonotonicClock.pollTimeout(from: 0, to: UInt64.max) == Int32.max)
        #expect(MonotonicClock.nanoseconds(.seconds(3)) == 3_000_000_000)
        #expect(MonotonicClock.nanoseconds(.zero) == 1)
        #expect(MonotonicClock.describe(.seconds(30)) == "30 s")
        #expect(MonotonicClock.describe(.milliseconds(1500)) == "1.5 s")
        #expect(MonotonicClock.describe(.milliseconds(250)) == "250 ms")
        let now = MonotonicClock.now()
        #expect(MonotonicClock.now() >= now)
    }
}
