/// A connection's lifecycle as a plain value, driven by its thread (``ConnectionCore``): the
/// thread asks it what to do at each event and carries out the answer, so every transition
/// (including a close while connecting, a timeout of a silent server, and the reconnect after
/// a lost server) is tested without slapd or threads, as postgres-nio's
/// `ConnectionStateMachine` is. The requests in flight while `ready` are ``InFlightRequests``'.
///
///     idle ─request─▶ connecting ─▶ binding ─▶ ready ─lost / silent timeout─▶ draining ─▶ reconnecting
///       ▲                 │ failed       │                                                  │ request
///       └── next turn ── failed ◀────────┘                                   connecting ◀───┘
///     any ─close─▶ (draining ─▶) closed
struct ConnectionStateMachine: Sendable {
    enum State: Equatable, Sendable {
        /// No handle yet; the first request connects.
        case idle
        /// `ldap_initialize`/`ldap_connect`/StartTLS in progress on the thread.
        case connecting(closeRequested: Bool)
        /// The (re)bind of a connect in progress.
        case binding(closeRequested: Bool)
        /// Connected and bound: requests are sent at once and many are in flight.
        case ready
        /// The connection is going away: its requests in flight are being failed.
        case draining(then: AfterDraining)
        /// The server was lost; the next request reconnects and re-binds.
        case reconnecting
        /// A connect failed in this turn: the turn's other requests fail with its error at
        /// once instead of each blocking the thread on another connect to a dead server.
        case failed(LDAPError)
        case closed
    }

    enum AfterDraining: Equatable, Sendable {
        case reconnect, close
    }

    /// What a request arriving without a handle should do.
    enum ConnectAction: Equatable {
        case connect
        case fail(LDAPError)
    }

    /// What to do when a connect got its handle.
    enum ConnectedAction: Equatable {
        /// Use it.
        case proceed
        /// A close came in meanwhile: unbind it; the machine is closed.
        case closeHandle
    }

    /// What a request that reached its deadline takes down with it.
    enum ExpiryAction: Equatable {
        /// Only the request fails (a read is abandoned, a change reported unknown).
        case failRequest
        /// The connection is presumed dead: every request in flight fails and the handle
        /// closes; the next request reconnects.
        case dropConnection
    }

    private(set) var state: State = .idle

    // MARK: Connecting

    /// A request needs the handle and there is none.
    mutating func connectRequested() -> ConnectAction {
        switch state {
        case .idle, .reconnecting:
            state = .connecting(closeRequested: false)
            return .connect
        case .failed(let error):
            return .fail(error)
        case .closed, .draining(then: .close):
            return .fail(.connectionClosed)
        case .connecting, .binding, .ready, .draining(then: .reconnect):
            preconditionFailure("connect requested while \(state)")
        }
    }

    /// The socket is open (and StartTLS done): the bind follows.
    mutating func bindStarted() {
        guard case .connecting(let closeRequested) = state else { preconditionFailure("bind while \(state)") }
        state = .binding(closeRequested: closeRequested)
    }

    mutating func connected() -> ConnectedAction {
        switch state {
        case .connecting(let closeRequested), .binding(let closeRequested):
            state = closeRequested ? .closed : .ready
            return closeRequested ? .closeHandle : .proceed
        default:
            preconditionFailure("connected while \(state)")
        }
    }

    mutating func connectFailed(_ error: LDAPError) {
        switch state {
        case .connecting(let closeRequested), .binding(let closeRequested):
            state = closeRequested ? .closed : .failed(error)
        default:
            preconditionFailure("connect failed while \(state)")
        }
    }

    /// A new turn of the thread: a connect that failed in the last one may be tried again.
    mutating func turnBegan() {
        if case .failed = state { state = .reconnecting }
    }

    // MARK: Losing the connection

    /// The socket failed (a read or write error, the server gone). True when there was a
    /// connection to drain; the caller fails what is in flight, then calls ``drained()``.
    mutating func connectionLost() -> Bool {
        guard case .ready = state else { return false }
        state = .draining(then: .reconnect)
        return true
    }

    /// A request's deadline passed. `closesConnection`: it is a bind (its identity is now
    /// unknown); `serverSilent`: nothing at all was read since it was sent.
    mutating func requestExpired(closesConnection: Bool, serverSilent: Bool) -> ExpiryAction {
        guard case .ready = state, closesConnection || serverSilent else { return .failRequest }
        state = .draining(then: .reconnect)
        return .dropConnection
    }

    /// The connection is dropped on purpose while nothing is in flight (slapd's stale paging
    /// state): the next request reconnects.
    mutating func reconnectRequested() {
        guard case .ready = state else { return }
        state = .reconnecting
    }

    /// Every request of the drained connection has been failed and its handle released.
    mutating func drained() {
        switch state {
        case .draining(then: .reconnect): state = .reconnecting
        case .draining(then: .close): state = .closed
        default: break
        }
    }

    // MARK: Closing

    /// `close()`: true when a connection must be drained first (then ``drained()``).
    mutating func closeRequested() -> Bool {
        switch state {
        case .ready, .draining:
            state = .draining(then: .close)
            return true
        case .connecting:
            state = .connecting(closeRequested: true)
            return false
        case .binding:
            state = .binding(closeRequested: true)
            return false
        case .idle, .reconnecting, .failed, .closed:
            state = .closed
            return false
        }
    }
}
