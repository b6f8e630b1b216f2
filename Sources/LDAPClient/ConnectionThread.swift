#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLDAP  // pthread_setname_np (see shim.h)
import Synchronization

/// A job for the connection's thread. `reject` runs instead of `run` when the thread has
/// already shut down, so every continuation is resumed exactly once.
struct ConnectionJob: Sendable {
    let run: @Sendable (ConnectionCore) -> Void
    let reject: @Sendable (LDAPError) -> Void
}

/// The one thread that owns a libldap handle. libldap handles are not safe to share between
/// threads, and its calls may block (connect, TLS handshake), so they never run on Swift's
/// cooperative pool: tasks hand jobs to this thread and await continuations it resumes.
///
/// It is also a `TaskExecutor`: a task that prefers it runs on this thread, so its requests go
/// out and its continuations resume without a thread hop each way (as a SwiftNIO event loop
/// executes the tasks of its channel). Worth it for LDAP-bound loops; such tasks must not block.
final class ConnectionThread: TaskExecutor, @unchecked Sendable {
    /// The thread's pthread_t once running, so `submitOrRun` can tell it is already there.
    private let threadID = Atomic<UInt>(0)
    /// Written once by the thread before it publishes `threadID`; read only on the thread.
    nonisolated(unsafe) private var core: ConnectionCore?

    private var isCurrent: Bool {
        let id = threadID.load(ordering: .acquiring)
        return id != 0 && pthread_equal(pthread_t(id), pthread_self()) != 0
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // Queued as is (no closure to allocate): task resumptions are most of this thread's work.
        if !queue({ $0.taskJobs.append(job) }) {
            // After shutdown the job still has to run somewhere: on the caller's thread.
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// Starts the request at once when already on this thread (a task preferring this
    /// executor), else queues it.
    func submitOrRun(_ request: PendingRequest) {
        if isCurrent, let core {
            core.start(request)
            return
        }
        if !queue({ $0.requests.append(request) }) {
            request.fail(LDAPError.connectionClosed)
        }
    }

    private struct State {
        var jobs: [ConnectionJob] = []
        var requests: [PendingRequest] = []
        /// Tasks that prefer this executor, ready to run.
        var taskJobs: [UnownedJob] = []
        /// Set while the thread waits in poll(2); only then is a wake-up byte needed.
        var sleeping = false
        var shuttingDown = false
        var finished = false
    }

    private let state = LockedValue(State())
    private let wakeReadFD: Int32
    private let wakeWriteFD: Int32

    init(configuration: LDAPConfiguration) {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe(2) failed: \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeReadFD = fds[0]
        wakeWriteFD = fds[1]
        let context = Unmanaged.passRetained(StartContext(thread: self, configuration: configuration))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<StartContext>.fromOpaque(raw!).takeRetainedValue()
            // A name of its own (Linux threads inherit their creator's): ps, top and perf
            // then tell LDAP I/O apart from the pool that started it.
            _ = pthread_setname_np(pthread_self(), "ldap-connection")
            context.thread.run(configuration: context.configuration)
            return nil
        }, context.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    private final class StartContext {
        let thread: ConnectionThread
        let configuration: LDAPConfiguration
        init(thread: ConnectionThread, configuration: LDAPConfiguration) {
            self.thread = thread
            self.configuration = configuration
        }
    }

    func submit(_ job: ConnectionJob) {
        if !queue({ $0.jobs.append(job) }) {
            job.reject(.connectionClosed)
        }
    }

    /// Adds work to one of the queues and wakes the thread if it sleeps in poll(2); false
    /// once the thread has finished (the caller then fails or runs the work itself).
    private func queue(_ add: (inout State) -> Void) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            if state.finished { return (false, false) }
            add(&state)
            let wake = state.sleeping
            state.sleeping = false
            return (true, wake)
        }
        if wake { wakeUp() }
        return accepted
    }

    private func wakeUp() {
        var byte: UInt8 = 1
        _ = write(wakeWriteFD, &byte, 1)
    }

    func submit(_ run: @escaping @Sendable (ConnectionCore) -> Void) {
        submit(ConnectionJob(run: run, reject: { _ in }))
    }

    /// Fails what is in flight, closes the handle and ends the thread.
    func shutdown() {
        submit { core in core.close() }
        let wake = state.withLock { state -> Bool in
            state.shuttingDown = true
            let wake = state.sleeping
            state.sleeping = false
            return wake
        }
        if wake { wakeUp() }
    }

    private func run(configuration: LDAPConfiguration) {
        // liblber writes with write(2): once slapd has dropped the connection, a write raises
        // SIGPIPE, whose default action kills the whole process (seen with thousands of
        // requests in flight against an overloaded slapd). Blocked on this thread, the only
        // one doing libldap I/O, the write fails with EPIPE and the connection error path
        // handles it; the signal mask of the application's threads is left alone.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        let core = ConnectionCore(configuration: configuration)
        self.core = core
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        var pollFDs = [pollfd](repeating: pollfd(), count: 2)
        // Set when poll(2) last reported the socket readable; cleared once acted on.
        var socketReadable = false
        // Iterations that ran jobs without polling: a steady stream of jobs must not keep the
        // thread from noticing responses, so every so often it polls without waiting.
        var busyIterations = 0
        // Swapped with the queues under the lock, so both keep their capacity between rounds.
        var jobs: [ConnectionJob] = [], requests: [PendingRequest] = [], taskJobs: [UnownedJob] = []
        let executor = asUnownedTaskExecutor()
        while true {
            jobs.removeAll(keepingCapacity: true)
            requests.removeAll(keepingCapacity: true)
            taskJobs.removeAll(keepingCapacity: true)
            let shuttingDown = state.withLock { state -> Bool in
                swap(&jobs, &state.jobs)
                swap(&requests, &state.requests)
                swap(&taskJobs, &state.taskJobs)
                if state.shuttingDown { state.finished = true }
                return state.shuttingDown
            }
            let worked = !jobs.isEmpty || !requests.isEmpty || !taskJobs.isEmpty
            if worked {
                core.beginTurn()
                for job in jobs { job.run(core) }
                for request in requests { core.start(request) }
                for job in taskJobs { job.runSynchronously(on: executor) }
                core.endTurn()
            }
            if shuttingDown {
                core.close()
                break
            }
            core.readResponses(socketReadable: socketReadable)
            socketReadable = false
            // Deadlines are checked here, by the thread that owns the requests: no timer per
            // request, and the sleep below lasts at most until the nearest one.
            let untilNextDeadline = core.expireOverdueRequests()
            if worked {
                busyIterations += 1
                if busyIterations < 64 { continue }
                busyIterations = 0
                socketReadable = pollSocket(core, timeout: 0)
                continue
            }
            busyIterations = 0

            let goToSleep = state.withLock { state -> Bool in
                if !state.jobs.isEmpty || !state.requests.isEmpty || !state.taskJobs.isEmpty || state.shuttingDown { return false }
                state.sleeping = true
                return true
            }
            guard goToSleep else { continue }
            pollFDs[0] = pollfd(fd: wakeReadFD, events: Int16(POLLIN), revents: 0)
            var count: nfds_t = 1
            if let fd = core.socketToWatch {
                pollFDs[1] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                count = 2
            }
            _ = poll(&pollFDs, count, untilNextDeadline)
            if pollFDs[0].revents != 0 { drainWakePipe() }
            // Readable, hung up or in error: libldap's read reports which.
            socketReadable = count == 2 && pollFDs[1].revents != 0
            state.withLock { $0.sleeping = false }
        }
    }

    /// Whether the connection's socket has something to read, waiting at most `timeout` ms.
    private func pollSocket(_ core: ConnectionCore, timeout: Int32) -> Bool {
        guard let fd = core.socketToWatch else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, timeout) > 0 && descriptor.revents != 0
    }

    deinit {
        // Closed here, not when the loop ends: a late submit may still write a wake-up byte.
        close(wakeReadFD)
        close(wakeWriteFD)
    }

    /// One read: at most a byte is written per sleep, and a leftover byte only causes one spare wake-up.
    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = read(wakeReadFD, &buffer, buffer.count)
    }
}

extension LDAPError {
    static let connectionClosed = LDAPError(code: .serverDown, message: "the connection was closed", operation: .connect)
}
