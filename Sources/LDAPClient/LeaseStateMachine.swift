/// The bookkeeping of a bounded set of connections, as a plain value: what to do when a
/// caller asks for a connection, gives one back, gives up waiting, or the set closes. The
/// owner (``LDAPConnectionLeases``) holds it under a lock and carries out the actions, so
/// every rule is testable without threads, sockets or slapd (like postgres-nio's
/// `ConnectionPoolStateMachine`).
///
/// At most `maximum` connections exist at once (open, idle, or being created); a caller
/// beyond that waits, first come first served, so a burst of logins costs a queue, not a
/// thread and a socket each.
struct LeaseStateMachine<Connection, Waiter: Hashable> {
    enum LeaseAction {
        /// Use this idle connection.
        case use(Connection)
        /// Create a connection: a slot is reserved for it.
        case create
        /// Wait: ``release(_:reusable:)`` will hand a connection or a slot to this waiter,
        /// or ``cancel(_:)`` removes it.
        case wait
        /// The set is closed.
        case fail
    }

    enum ReleaseAction {
        /// Nothing to do: the connection is idle now.
        case none
        /// Close the connection: not reusable, or more idle ones than wanted.
        case close(Connection)
        /// Give the connection to this waiter.
        case handOver(Connection, to: Waiter)
        /// Close the connection and create one for this waiter in its slot.
        case closeAndCreate(Connection, for: Waiter)
    }

    let maximum: Int
    let maxIdle: Int
    /// Connections that exist: leased, idle, or being created.
    private(set) var open = 0
    private(set) var idle: [Connection] = []
    /// Waiters in arrival order; `waiting` says which are still there (a cancelled one is
    /// dropped from the set at once and skipped in the queue later, so cancel is O(1)).
    private var queue: [Waiter] = []
    private var queueHead = 0
    private var waiting: Set<Waiter> = []
    private(set) var isClosed = false

    init(maximum: Int, maxIdle: Int) {
        precondition(maximum > 0 && maxIdle >= 0)
        self.maximum = maximum
        self.maxIdle = min(maxIdle, maximum)
    }

    var leased: Int { open - idle.count }
    var waiterCount: Int { waiting.count }

    mutating func lease(_ waiter: Waiter) -> LeaseAction {
        if isClosed { return .fail }
        // Idle connections only exist while nobody waits, so taking one never jumps the queue.
        if let connection = idle.popLast() { return .use(connection) }
        if open < maximum {
            open += 1
            return .create
        }
        precondition(waiting.insert(waiter).inserted, "a waiter leases once at a time")
        queue.append(waiter)
        return .wait
    }

    /// A leased connection comes back; `reusable` is false when it failed and must be closed.
    mutating func release(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        if isClosed {
            open -= 1
            return .close(connection)
        }
        if let waiter = nextWaiter() {
            return reusable ? .handOver(connection, to: waiter) : .closeAndCreate(connection, for: waiter)
        }
        if reusable, idle.count < maxIdle {
            idle.append(connection)
            return .none
        }
        open -= 1
        return .close(connection)
    }

    /// A waiter gives up (its task was cancelled, or its wait timed out). True when it was
    /// still waiting, so the caller resumes it; false when a connection or slot was already
    /// handed to it, which it then owns and must release.
    mutating func cancel(_ waiter: Waiter) -> Bool {
        waiting.remove(waiter) != nil
    }

    /// Closes the set: the idle connections are to be closed and the waiters failed; leased
    /// ones are closed as they come back.
    mutating func close() -> (idle: [Connection], waiters: [Waiter]) {
        isClosed = true
        let closing = idle
        idle.removeAll()
        open -= closing.count
        var waiters: [Waiter] = []
        while let waiter = nextWaiter() { waiters.append(waiter) }
        return (closing, waiters)
    }

    private mutating func nextWaiter() -> Waiter? {
        while queueHead < queue.count {
            let waiter = queue[queueHead]
            queueHead += 1
            if waiting.remove(waiter) != nil {
                compactQueue()
                return waiter
            }
        }
        compactQueue()
        return nil
    }

    /// Drops the consumed front of the queue once it dominates, keeping dequeues amortised O(1).
    private mutating func compactQueue() {
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead > 64, queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }
}
