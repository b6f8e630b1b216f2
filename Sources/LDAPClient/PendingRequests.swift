import CLDAP
import Synchronization

/// One operation of a task, from the job that sends it to its last response message. It is
/// also the handle the task's cancellation reaches, so a request costs one object: under
/// pipelining, per-request overhead is what limits throughput.
///
/// `@unchecked Sendable`: the continuation is set by the task before the request is handed to
/// the connection thread; from then on everything but `cancelled` is touched only there.
class PendingRequest: @unchecked Sendable {
    private let cancelled = Atomic<Bool>(false)
    /// The message ID once sent; 0 before (libldap numbers requests from 1).
    final var messageID: Int32 = 0
    /// When the request times out, in ``MonotonicClock`` nanoseconds; 0 without a timeout.
    final var deadline: UInt64 = 0
    /// How many responses the connection had read when this request was sent: the same count
    /// at its deadline means the server has said nothing at all since (see `ConnectionCore`).
    final var responsesReadBeforeSending: UInt64 = 0
    /// The next newer request in the connection's deadline list (``InFlightRequests``).
    final var newer: PendingRequest?
    /// The next older one; not retained (the older request holds this one).
    final unowned(unsafe) var older: PendingRequest?

    /// Set before the cancel job is queued, so a request not yet started sees it when it starts.
    final func cancel() { cancelled.store(true, ordering: .releasing) }
    final var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// Encodes and sends the request with C memory from `arena`; returns its message ID.
    func send(_ core: ConnectionCore, _ ld: OpaquePointer, _ arena: CArena) throws(LDAPError) -> Int32 {
        preconditionFailure("a PendingRequest subclass sends")
    }

    /// Handles one response message; returns true when it was the final one.
    func receive(_ message: OpaquePointer, type: Int32, core: ConnectionCore) -> Bool {
        preconditionFailure("a PendingRequest subclass receives")
    }

    func fail(_ error: any Error) {
        preconditionFailure("a PendingRequest subclass fails")
    }

    /// What the request is and what its timeout does; read only when it times out.
    var timeoutBehaviour: TimeoutBehaviour {
        preconditionFailure("a PendingRequest subclass says how it times out")
    }
}

/// A request whose task waits for a `Value`.
class AwaitedRequest<Value: Sendable>: PendingRequest, @unchecked Sendable {
    final var continuation: UnsafeContinuation<Value, any Error>?

    final func resume(with result: Result<Value, any Error>) {
        continuation?.resume(with: result)
        continuation = nil
    }

    override final func fail(_ error: any Error) {
        resume(with: .failure(error))
    }
}

/// Add, modify, delete and modify DN: the requests a writer sends most, with no closure to
/// allocate. Their only answer is an LDAPResult.
final class UpdateRequest: AwaitedRequest<LDAPResult>, @unchecked Sendable {
    enum Update {
        case add([LDAPAttribute])
        case modify([LDAPModification])
        case delete
        case rename(newRDN: String, deleteOldRDN: Bool, newSuperior: String?)
    }

    let dn: String
    let update: Update
    let controls: [LDAPRequestControl]

    init(dn: String, _ update: Update, controls: [LDAPRequestControl]) {
        self.dn = dn
        self.update = update
        self.controls = controls
    }

    var operation: LDAPError.Operation {
        switch update {
        case .add: .add
        case .modify: .modify
        case .delete: .delete
        case .rename: .modifyDN
        }
    }

    override func send(_ core: ConnectionCore, _ ld: OpaquePointer, _ arena: CArena) throws(LDAPError) -> Int32 {
        let serverControls = try core.encode(controls, ld, arena: arena)
        var messageID: Int32 = 0
        let rc: Int32
        // Copied into the arena: a String argument would be converted through a new array.
        let target = arena.cString(dn)
        switch update {
        case .add(let attributes):
            rc = ldap_add_ext(ld, target, arena.modifications(adding: attributes), serverControls, nil, &messageID)
        case .modify(let modifications):
            rc = ldap_modify_ext(ld, target, arena.modifications(modifications), serverControls, nil, &messageID)
        case .delete:
            rc = ldap_delete_ext(ld, target, serverControls, nil, &messageID)
        case .rename(let newRDN, let deleteOldRDN, let newSuperior):
            rc = ldap_rename(ld, target, arena.cString(newRDN), arena.cString(newSuperior), deleteOldRDN ? 1 : 0, serverControls, nil, &messageID)
        }
        guard rc == LDAP_SUCCESS else { throw core.error(of: ld, code: rc, operation: operation, dn: dn) }
        return messageID
    }

    override var timeoutBehaviour: TimeoutBehaviour {
        TimeoutBehaviour(action: .reportUnknownOutcome, operation: operation, dn: dn)
    }

    override func receive(_ message: OpaquePointer, type: Int32, core: ConnectionCore) -> Bool {
        // Intermediate responses (RFC 4511 §4.13) precede the final one.
        if type == MessageType.intermediate { return false }
        guard let ld = core.handle else { return false }
        let result = core.decodeResult(ld, message)
        resume(with: result.code == LDAP_SUCCESS ? .success(result.result) : .failure(result.error(operation, dn: dn)))
        return true
    }
}

/// Any other single-result request (bind, compare, extended operations): sent and decoded by
/// closures, as they are rare.
final class ResultRequest<Value: Sendable>: AwaitedRequest<Value>, @unchecked Sendable {
    typealias Send = @Sendable (ConnectionCore, OpaquePointer, CArena) throws(LDAPError) -> Int32
    typealias Decode = @Sendable (ConnectionCore, OpaquePointer, OpaquePointer) -> Result<Value, LDAPError>
    private let sender: Send
    private let decode: Decode
    private let behaviourOnTimeout: TimeoutBehaviour

    init(onTimeout: TimeoutBehaviour, send: @escaping Send, decode: @escaping Decode) {
        self.sender = send
        self.decode = decode
        self.behaviourOnTimeout = onTimeout
    }

    override var timeoutBehaviour: TimeoutBehaviour { behaviourOnTimeout }

    override func send(_ core: ConnectionCore, _ ld: OpaquePointer, _ arena: CArena) throws(LDAPError) -> Int32 {
        try sender(core, ld, arena)
    }

    override func receive(_ message: OpaquePointer, type: Int32, core: ConnectionCore) -> Bool {
        if type == MessageType.intermediate { return false }
        guard let ld = core.handle else { return false }
        resume(with: decode(core, ld, message).mapError { $0 as any Error })
        return true
    }
}

/// One search (or one page of a paged search): collects its entries and references.
final class SearchRequest: AwaitedRequest<LDAPSearchResult>, @unchecked Sendable {
    let base: String
    let scope: LDAPSearchScope
    let filter: String
    let attributes: [String]
    let sizeLimit: Int
    let timeLimit: Duration?
    let controls: [LDAPRequestControl]
    private var entries: [LDAPEntry] = []
    private var references: [String] = []
    /// The first entry that could not be decoded; the search fails with it once its result arrives.
    private var decodingError: LDAPError?

    init(base: String, scope: LDAPSearchScope, filter: String, attributes: [String], sizeLimit: Int, timeLimit: Duration?, controls: [LDAPRequestControl]) {
        self.base = base
        self.scope = scope
        self.filter = filter
        self.attributes = attributes
        self.sizeLimit = sizeLimit
        self.timeLimit = timeLimit
        self.controls = controls
    }

    override func send(_ core: ConnectionCore, _ ld: OpaquePointer, _ arena: CArena) throws(LDAPError) -> Int32 {
        var ld = ld
        if controls.contains(where: \.isFirstPageRequest) {
            ld = try core.resetPagedResultsStateIfIdle(ld)
        }
        let serverControls = try core.encode(controls, ld, arena: arena)
        var messageID: Int32 = 0
        // libldap sends tv_sec as the server-side time limit; nil means no limit.
        let limit: UnsafeMutablePointer<timeval>? = timeLimit.map { limit in
            let pointer = arena.allocate(timeval.self, count: 1)
            pointer.initialize(to: timeval(tv_sec: Int(max(1, limit.components.seconds)), tv_usec: 0))
            return pointer
        }
        let rc = ldap_search_ext(
            ld, arena.cString(base), scope.rawValue, arena.cString(filter), arena.cStringArray(attributes), 0,
            serverControls, nil, limit, Int32(clamping: sizeLimit), &messageID
        )
        guard rc == LDAP_SUCCESS else { throw core.error(of: ld, code: rc, operation: .search, dn: base) }
        return messageID
    }

    override var timeoutBehaviour: TimeoutBehaviour {
        TimeoutBehaviour(action: .abandon, operation: .search, dn: base)
    }

    override func receive(_ message: OpaquePointer, type: Int32, core: ConnectionCore) -> Bool {
        guard let ld = core.handle else { return false }
        switch type {
        case MessageType.searchEntry:
            do {
                entries.append(try core.decodeEntry(ld, message))
            } catch {
                if decodingError == nil { decodingError = LDAPError(code: error.code, message: error.message, operation: .search, dn: base) }
            }
            return false
        case MessageType.searchReference:
            var referrals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
            if ldap_parse_reference(ld, message, &referrals, nil, 0) == LDAP_SUCCESS, let referrals {
                var index = 0
                while let referral = referrals[index] {
                    references.append(String(cString: referral))
                    index += 1
                }
                ber_memvfree(UnsafeMutableRawPointer(referrals).assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
            }
            return false
        case MessageType.searchResult:
            let result = core.decodeResult(ld, message)
            if let cookie = result.pageCookie, !cookie.isEmpty, LDAPPagedSearch.isFinalCookie(cookie) {
                core.pagedResultsStateIsStale = true
            }
            if let decodingError {
                resume(with: .failure(decodingError))
            } else if result.code == LDAP_SUCCESS {
                resume(with: .success(LDAPSearchResult(
                    entries: entries, referrals: references + result.referrals,
                    controls: result.controls, pagedResultsCookie: result.pageCookie
                )))
            } else {
                resume(with: .failure(result.error(.search, dn: base)))
            }
            return true
        default:
            return false
        }
    }
}
