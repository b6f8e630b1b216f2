#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex, for state shared between threads.
///
/// Used instead of `Synchronization.Mutex`: ThreadSanitizer intercepts `pthread_mutex_lock`
/// and so sees the order a lock imposes, but `Mutex` locks with a futex inside the standard
/// library, which is not instrumented, and every access it orders is reported as a race
/// (SwiftNIO's `NIOLockedValueBox` is a pthread mutex for the same reason). The cost per
/// uncontended lock is the same order (tens of nanoseconds).
public final class LockedValue<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock. `body` must not block or await.
    @inlinable
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock()
        defer { unlock() }
        return try body(&unsafeValue)
    }

    @usableFromInline
    func lock() {
        let rc = pthread_mutex_lock(mutex)
        precondition(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    @usableFromInline
    func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        precondition(rc == 0, "pthread_mutex_unlock failed: \(rc)")
    }

    /// The value, for `withLock` only (inlinable code cannot reach a private stored property).
    @usableFromInline
    var unsafeValue: Value {
        get { value }
        _modify { yield &value }
    }
}
