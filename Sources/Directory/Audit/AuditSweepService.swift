import Foundation
import Logging
import ServiceLifecycle

/// Writes an ``AuditLog``'s deferred last logins once their interval has passed, and all of
/// them when the service group shuts down. Run one per log inside the server's
/// `ServiceGroup`; a process without it (the CLI) writes them by ``AuditLog/flushLastLogins()``.
///
/// Due times are in the log's `context.now()` time, the time events carry; the injected
/// clock only sleeps, so a test moves both by one test clock and never sleeps for real.
/// Idle (nothing deferred) it waits for the log's signal rather than polling.
public struct AuditSweepService<C: Clock>: Service where C.Duration == Duration {
    public let log: AuditLog
    public let clock: C
    /// Called after each pass that wrote something, with how many were due: a metric hook.
    let onPass: (@Sendable (Int) -> Void)?

    public init(log: AuditLog, clock: C) {
        self.init(log: log, clock: clock, onPass: nil)
    }

    init(log: AuditLog, clock: C, onPass: (@Sendable (Int) -> Void)?) {
        self.log = log
        self.clock = clock
        self.onPass = onPass
    }

    public func run() async throws {
        let signals = log.state.sweepSignals
        await cancelWhenGracefulShutdown {
            var wakeups = signals.makeAsyncIterator()
            while !Task.isCancelled {
                let nextDue: Date?
                do {
                    let pass = try await log.sweepDueLastLogins()
                    if pass.written > 0 { onPass?(pass.written) }
                    nextDue = pass.nextDue
                } catch {
                    // The audit entries hold the logins; the account's next login writes again.
                    log.logger.warning("writing deferred last logins failed", metadata: ["error": "\(error)"])
                    nextDue = log.context.now().addingTimeInterval(log.lastLoginInterval.timeInterval)
                }
                if let nextDue {
                    let wait = nextDue.timeIntervalSince(log.context.now())
                    if wait > 0 {
                        do {
                            try await clock.sleep(for: .nanoseconds(Int64((wait * 1e9).rounded(.up))))
                        } catch {
                            break
                        }
                    }
                } else if await wakeups.next() == nil {
                    break
                }
            }
        }
        // Before the process stops, every deferred login is written (SIGTERM flushes).
        do {
            try await log.flushLastLogins()
        } catch {
            log.logger.error("flushing deferred last logins at shutdown failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}
