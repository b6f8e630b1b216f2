/// How many writes of independent entries one connection has in flight at most when a batch
/// fans out (deferred last logins, a drained spool batch). slapd stops reading a connection
/// with too many pending operations and the connection is lost; 64 keeps the pipe full on
/// loopback and far below slapd's limits.
let maxConcurrentWrites = 64

/// Runs `body` for every item, at most `limit` at a time. Every item is attempted; the first
/// failure is thrown once all have finished.
func forEachConcurrently<Item: Sendable>(
    _ items: [Item], limit: Int = maxConcurrentWrites, _ body: @escaping @Sendable (Item) async throws -> Void
) async throws {
    if items.isEmpty { return }
    let failure = await withTaskGroup(of: (any Error)?.self) { group in
        var next = items.startIndex
        func start() {
            let item = items[next]
            next += 1
            group.addTask {
                do {
                    try await body(item)
                    return nil
                } catch {
                    return error
                }
            }
        }
        while next < items.endIndex, next - items.startIndex < max(1, limit) { start() }
        var first: (any Error)?
        for await failure in group {
            if first == nil { first = failure }
            if next < items.endIndex { start() }
        }
        return first
    }
    if let failure { throw failure }
}
