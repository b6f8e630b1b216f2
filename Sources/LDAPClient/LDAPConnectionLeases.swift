
/// Connections lent to one caller at a time, at most `maximum` of them: for work that changes
/// a connection's identity (a password check binds as the user), which cannot share a
/// pipelined connection. A caller beyond the maximum waits in line (backpressure) for at most
/// `waitTimeout`, then fails with `.timeout`; a cancelled waiter leaves the line at once.
/// The rules are ``LeaseStateMachine``'s; this class holds it under a lock and resumes tasks.
public final class LDAPConnectionLeases: Sendable {
    public let configuration: LDAPConfiguration
    public let maximum: Int
    public let waitTimeout: Duration

    fileprivate enum Grant: Sendable {
        case use(LDAPConnection)
        case create
    }

    fileprivate struct State {
        var machine: LeaseStateMachine<LDAPConnection, UInt64>
        var continuations: [UInt64: UnsafeContinuation<Grant, any Error>] = [:]
        var timers: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state: LockedValue<State>

    public init(configuration: LDAPConfiguration, maximum: Int, maxIdle: Int, waitTimeout: Duration) {
        self.configuration = configuration
        self.maximum = maximum
        self.waitTimeout = waitTimeout
        state = LockedValue(State(machine: LeaseStateMachine(maximum: maximum, maxIdle: maxIdle)))
    }

    /// Connections that exist (lent, idle or being opened), idle ones, and callers waiting.
    public var counts: (open: Int, idle: Int, waiting: Int) {
        state.withLock { ($0.machine.open, $0.machine.idle.count, $0.machine.waiterCount) }
    }

    /// Runs `body` with a connection of its own; `body` says whether the connection may be
    /// lent again (false after a connection error: it is closed and its slot reopened).
    public func withConnection<T: Sendable>(_ body: (LDAPConnection) async -> (T, reusable: Bool)) async throws -> T {
        let connection = try await lease()
        let (value, reusable) = await body(connection)
        release(connection, reusable: reusable)
        return value
    }

    /// Closes idle connections and fails the waiters; lent ones close when given back.
    public func close() {
        let (idle, waiting) = state.withLock { state in
            let (idle, waiters) = state.machine.close()
            return (idle, waiters.compactMap { state.take($0) })
        }
        idle.forEach { $0.close() }
        waiting.forEach { $0.resume(throwing: LDAPError.connectionClosed) }
    }

    private func lease() async throws -> LDAPConnection {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let grant = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Grant, any Error>) in
                let action = state.withLock { state in
                    let action = state.machine.lease(id)
                    if case .wait = action { state.continuations[id] = continuation }
                    return action
                }
                switch action {
                case .use(let connection): continuation.resume(returning: .use(connection))
                case .create: continuation.resume(returning: .create)
                case .fail: continuation.resume(throwing: LDAPError.connectionClosed)
                case .wait:
                    startTimer(for: id)
                    // Cancelled before it was in line: the handler found nothing to cancel.
                    if Task.isCancelled { giveUp(id, CancellationError()) }
                }
            }
        } onCancel: {
            giveUp(id, CancellationError())
        }
        switch grant {
        case .use(let connection): return connection
        case .create: return LDAPConnection(configuration: configuration)
        }
    }

    private func release(_ connection: LDAPConnection, reusable: Bool) {
        let (action, waiter) = state.withLock { state -> (LeaseStateMachine<LDAPConnection, UInt64>.ReleaseAction, UnsafeContinuation<Grant, any Error>?) in
            let action = state.machine.release(connection, reusable: reusable)
            switch action {
            case .handOver(_, let id), .closeAndCreate(_, let id): return (action, state.take(id))
            case .none, .close: return (action, nil)
            }
        }
        switch action {
        case .none: break
        case .close(let connection): connection.close()
        case .handOver(let connection, _): waiter?.resume(returning: .use(connection))
        case .closeAndCreate(let connection, _):
            connection.close()
            waiter?.resume(returning: .create)
        }
    }

    /// Takes a waiter out of line and fails it, unless a connection was handed to it first.
    private func giveUp(_ id: UInt64, _ error: any Error) {
        let continuation = state.withLock { state in
            state.machine.cancel(id) ? state.take(id) : nil
        }
        continuation?.resume(throwing: error)
    }

    private func startTimer(for id: UInt64) {
        let timeout = waitTimeout
        let timer = Task { [weak self] in
            do {
                try await Task.sleep(for: timeout)
            } catch {
                return  // cancelled: the waiter got a connection
            }
            guard let self else { return }
            self.giveUp(id, LDAPError(
                code: .timeout,
                message: "had no free connection within \(MonotonicClock.describe(timeout)) (all \(self.maximum) in use)",
                operation: .connect
            ))
        }
        let started = state.withLock { state -> Bool in
            guard state.continuations[id] != nil else { return false }
            state.timers[id] = timer
            return true
        }
        if !started { timer.cancel() }
    }
}

extension LDAPConnectionLeases.State {
    /// Removes a waiter's continuation and stops its timer.
    fileprivate mutating func take(_ id: UInt64) -> UnsafeContinuation<LDAPConnectionLeases.Grant, any Error>? {
        timers.removeValue(forKey: id)?.cancel()
        return continuations.removeValue(forKey: id)
    }
}
