import Foundation

/// Runs blocking work (a socket client, a tool that takes seconds) on a thread of its own and
/// awaits it. On Swift's cooperative pool, which has as many threads as cores, it would hold a
/// thread that other tasks need — among them an in-process server (gwdir serve's policy
/// endpoint) the blocking client's peer may be waiting on, which then stalls until timeouts.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `onThreadOfItsOwn` for work that cannot fail.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
