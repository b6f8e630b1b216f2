import Foundation
import Synchronization

/// A clock the test moves (``DirectoryContext/now`` reads it), for OTP steps and retention.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0.addTimeInterval(seconds) } }
}
