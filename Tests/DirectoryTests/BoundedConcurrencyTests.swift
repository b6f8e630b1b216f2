import Testing

@testable import Directory
import LDAPClient

/// The fan-out bound of the audit log's last-login writes and the spool drainer.
@Suite struct BoundedConcurrencyTests {
    final class Gauge: Sendable {
        private let state = LockedValue((current: 0, peak: 0, done: 0))
        func enter() { state.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current) } }
        func leave() { state.withLock { $0.current -= 1; $0.done += 1 } }
        var peak: Int { state.withLock { $0.peak } }
        var done: Int { state.withLock { $0.done } }
    }

    struct Failed: Error, Equatable { var item: Int }

    @Test func neverMoreThanTheLimitInFlightAndEveryItemRuns() async throws {
        let gauge = Gauge()
        try await forEachConcurrently(Array(0..<500), limit: 8) { _ in
            gauge.enter()
            await Task.yield()
            try await Task.sleep(for: .milliseconds(1))
            gauge.leave()
        }
        #expect(gauge.done == 500)
        #expect(gauge.peak <= 8)
        #expect(gauge.peak > 1)
    }

    @Test func everyItemIsAttemptedAndAFailureIsThrown() async throws {
        let gauge = Gauge()
        await #expect(throws: Failed.self) {
            try await forEachConcurrently(Array(0..<100), limit: 4) { item in
                gauge.enter()
                defer { gauge.leave() }
                if item % 10 == 3 { throw Failed(item: item) }
            }
        }
        #expect(gauge.done == 100)
    }

    @Test func nothingToDoIsNoWork() async throws {
        try await forEachConcurrently([Int](), limit: 4) { _ in Issue.record("no item to run") }
    }
}
