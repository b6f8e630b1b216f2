/// Undoes a write after a later step of the same operation failed (an alias add gives back the
/// `gwAliasCount` slot it reserved). Retried with a doubling pause: a lost undo leaves state
/// that disagrees with the entries, and most failures here are a connection hiccup.
struct Compensation: Sendable {
    /// Tries in all, at least one.
    var attempts: Int
    /// The pause before the second try; doubled before each further one.
    var backoff: Duration

    static let standard = Compensation(attempts: 3, backoff: .milliseconds(50))

    /// Runs `undo` until it succeeds or the attempts are spent. Nil when it succeeded, else the
    /// last error and how many tries were made, for the caller to report.
    func run(_ undo: () async throws -> Void) async -> (error: any Error, attempts: Int)? {
        var pause = backoff
        var lastError: (any Error)?
        for attempt in 1...max(1, attempts) {
            do {
                try await undo()
                return nil
            } catch {
                lastError = error
            }
            if attempt < attempts {
                // Cancelled: the undo matters more than the wait, so retry without it.
                try? await Task.sleep(for: pause)
                pause *= 2
            }
        }
        return lastError.map { ($0, max(1, attempts)) }
    }
}
