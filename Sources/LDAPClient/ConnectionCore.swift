import CLDAP
import CLDAPShims
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libldap's message types (the header spells them as casts Swift cannot import).
enum MessageType {
    static let bind: Int32 = 0x61
    static let searchEntry: Int32 = 0x64
    static let searchResult: Int32 = 0x65
    static let searchReference: Int32 = 0x73
    static let intermediate: Int32 = 0x79
}

/// Everything that touches the libldap handle. Confined to the connection's thread.
final class ConnectionCore {
    let configuration: LDAPConfiguration
    /// The identity to re-bind as after a reconnect: the last successful bind's.
    var credentials: LDAPCredentials
    private(set) var handle: OpaquePointer?
    private var pending = InFlightRequests()
    /// C memory for the request being encoded, reused: libldap has copied it into BER by the
    /// time its call returns.
    private let arena = CArena()
    /// Where the connection is in its lifecycle (connect, bind, ready, draining, reconnect,
    /// closed); `handle` is non-nil exactly while it is `ready` (or finishing a connect).
    private(set) var lifecycle = ConnectionStateMachine()
    /// The current handle's request batching layer, and whether the thread is inside a turn.
    private var writeBatch: WriteBatch?
    private var isBatchingWrites = false
    /// slapd 2.5 refuses every later paged search on a connection whose last listing ended with
    /// its NOID cookie (see `LDAPPagedSearch.isFinalCookie`); such a connection reconnects first.
    var pagedResultsStateIsStale = false

    /// `configuration.requestTimeout` in nanoseconds; nil: requests get no deadline.
    private let requestTimeout: UInt64?
    /// When the thread's current turn began: every request sent in the turn gets its deadline
    /// from it, one clock read per turn rather than per request (a turn lasts microseconds;
    /// a reconnect inside one restamps it).
    private var turnStartedAt: UInt64 = 0
    /// Responses read on this connection so far. A request that reaches its deadline with the
    /// count unchanged since it was sent has heard nothing from the server at all.
    private var responsesRead: UInt64 = 0

    init(configuration: LDAPConfiguration) {
        self.configuration = configuration
        self.credentials = configuration.credentials
        self.requestTimeout = configuration.requestTimeout.map(MonotonicClock.nanoseconds)
        self.turnStartedAt = MonotonicClock.now()
    }

    /// The socket to wait on while responses are outstanding.
    var socketToWatch: Int32? {
        guard let handle, !pending.isEmpty else { return nil }
        var fd: Int32 = -1
        guard ldap_get_option(handle, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS, fd >= 0 else { return nil }
        return fd
    }

    // MARK: Connecting

    func connectIfNeeded() throws(LDAPError) -> OpaquePointer {
        if let handle { return handle }
        // A connect that failed earlier in this turn fails the request at once (`.failed`).
        if case .fail(let error) = lifecycle.connectRequested() { throw error }
        let ld: OpaquePointer
        do throws(LDAPError) {
            ld = try connect()
        } catch {
            lifecycle.connectFailed(error)
            throw error
        }
        if lifecycle.connected() == .closeHandle {
            ldap_unbind_ext(ld, nil, nil)
            handle = nil
            writeBatch = nil
            throw .connectionClosed
        }
        // The connect may have blocked the thread (up to its timeouts): deadlines of the
        // turn's later requests start now.
        if requestTimeout != nil { turnStartedAt = MonotonicClock.now() }
        return ld
    }

    private func connect() throws(LDAPError) -> OpaquePointer {
        var newHandle: OpaquePointer?
        let uriList = configuration.uris.joined(separator: " ")
        var rc = ldap_initialize(&newHandle, uriList)
        guard rc == LDAP_SUCCESS, let ld = newHandle else {
            throw LDAPError(code: .init(rawValue: rc), message: "cannot use URI \(uriList)", operation: .connect)
        }
        var version = LDAP_VERSION3
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)
        ldap_set_option(ld, LDAP_OPT_REFERRALS, nil)  // LDAP_OPT_OFF: referrals are returned, never chased
        ldap_set_option(ld, LDAP_OPT_RESTART, gw_ldap_opt_on())
        var networkTimeout = Self.timeValue(configuration.connectTimeout)
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &networkTimeout)
        // libldap's synchronous calls (the bind, StartTLS and SASL exchanges of a connect) wait
        // for their answer this long; the thread's own deadlines cover everything else.
        if let requestTimeout = configuration.requestTimeout {
            var apiTimeout = Self.timeValue(requestTimeout)
            ldap_set_option(ld, LDAP_OPT_TIMEOUT, &apiTimeout)
        }
        do throws(LDAPError) {
            try applyTLSOptions(ld)
            rc = ldap_connect(ld)
            guard rc == LDAP_SUCCESS else { throw error(of: ld, code: rc, operation: .connect) }
            // Many responses per read(2): a paged listing or 32 searches in flight arrive in bursts.
            _ = gw_enable_readahead(ld)
            if configuration.tls.startTLS, !uriList.lowercased().hasPrefix("ldaps:"), !uriList.lowercased().hasPrefix("ldapi:") {
                rc = ldap_start_tls_s(ld, nil, nil)
                guard rc == LDAP_SUCCESS else { throw error(of: ld, code: rc, operation: .connect, extra: "StartTLS failed") }
            }
            lifecycle.bindStarted()
            try bindSynchronously(ld, credentials)
        } catch {
            ldap_unbind_ext(ld, nil, nil)
            if error.code == .timeout, let requestTimeout = configuration.requestTimeout {
                throw LDAPError.noAnswer(within: requestTimeout, TimeoutBehaviour(action: .closeConnection, operation: error.operation, dn: error.dn))
            }
            throw error
        }
        handle = ld
        writeBatch = WriteBatch.install(on: ld)
        if isBatchingWrites { writeBatch?.begin() }
        return ld
    }

    private static func timeValue(_ duration: Duration) -> timeval {
        let components = duration.components
        return timeval(tv_sec: Int(components.seconds), tv_usec: Int(components.attoseconds / 1_000_000_000_000))
    }

    // MARK: Turns and batching writes

    /// The thread calls this before a turn's jobs: their requests are held until ``endTurn()``.
    func beginTurn() {
        if requestTimeout != nil { turnStartedAt = MonotonicClock.now() }
        lifecycle.turnBegan()
        isBatchingWrites = true
        writeBatch?.begin()
    }

    /// Sends the turn's requests with one write; a failed write drops the connection, failing them.
    func endTurn() {
        isBatchingWrites = false
        guard let writeBatch, !writeBatch.flush() else { return }
        dropConnection(LDAPError(code: .serverDown, message: "the connection to the server was lost", operation: .connect))
    }

    /// For libldap calls that wait for their own answer (an interactive SASL bind): what is
    /// held goes out first, and their requests are not held.
    func passingWritesThrough<T>(_ body: () throws -> T) rethrows -> T {
        guard let writeBatch else { return try body() }
        return try writeBatch.passingThrough(body)
    }

    private func applyTLSOptions(_ ld: OpaquePointer) throws(LDAPError) {
        let tls = configuration.tls
        guard tls.isConfigured else { return }
        if let file = tls.caCertificateFile { ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, file) }
        if let file = tls.certificateFile { ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, file) }
        if let file = tls.keyFile { ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, file) }
        var verification = tls.verification.rawValue
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &verification)
        // A context of this handle's own, so one connection's CA settings never leak into another's.
        var isServer: Int32 = 0
        let rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &isServer)
        guard rc == LDAP_OPT_SUCCESS else { throw error(of: ld, code: rc, operation: .connect, extra: "cannot create TLS context") }
    }

    /// Binds on this thread while (re)connecting, before any queued operation is sent.
    private func bindSynchronously(_ ld: OpaquePointer, _ credentials: LDAPCredentials) throws(LDAPError) {
        let arena = CArena()
        var rc: Int32
        switch credentials {
        case .anonymous:
            return
        case .simple(let dn, let password):
            var credential = arena.berval(Array(password.utf8))
            rc = ldap_sasl_bind_s(ld, dn, nil, &credential, nil, nil, nil)
            guard rc == LDAP_SUCCESS else { throw error(of: ld, code: rc, operation: .bind, dn: dn) }
        case .saslExternal(let authorizationID):
            var credential = arena.berval(Array((authorizationID ?? "").utf8))
            rc = ldap_sasl_bind_s(ld, nil, "EXTERNAL", &credential, nil, nil, nil)
            guard rc == LDAP_SUCCESS else { throw error(of: ld, code: rc, operation: .bind) }
        case .sasl(let mechanism, let authenticationID, let password, let authorizationID, let realm):
            try SASLInteraction.bind(ld, mechanism: mechanism, authenticationID: authenticationID, password: password, authorizationID: authorizationID, realm: realm)
        }
    }

    /// Reconnects (and re-binds) when nothing is in flight, so a new paged search starts on a
    /// connection slapd has no stale paging state for. Returns the handle to use.
    func resetPagedResultsStateIfIdle(_ ld: OpaquePointer) throws(LDAPError) -> OpaquePointer {
        guard pagedResultsStateIsStale, pending.isEmpty else { return ld }
        ldap_unbind_ext(ld, nil, nil)
        handle = nil
        writeBatch = nil
        pagedResultsStateIsStale = false
        lifecycle.reconnectRequested()
        return try connectIfNeeded()
    }

    func close() {
        _ = lifecycle.closeRequested()
        dropConnection(.connectionClosed)
    }

    /// Fails every outstanding operation and forgets the handle; the next operation reconnects.
    func dropConnection(_ error: LDAPError) {
        dropConnection { _ in error }
    }

    /// Closes a connection whose server stopped answering: each outstanding request fails
    /// with its own timeout error (a change's says its outcome is unknown).
    func dropConnection(timedOutAfter timeout: Duration) {
        // Shut down first, so the Unbind libldap writes fails at once instead of blocking the
        // thread on a send buffer that a frozen server no longer drains.
        var fd: Int32 = -1
        if let handle, ldap_get_option(handle, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS, fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
        }
        dropConnection { request in .noAnswer(within: timeout, request.timeoutBehaviour) }
    }

    private func dropConnection(failing error: (PendingRequest) -> LDAPError) {
        _ = lifecycle.connectionLost()
        defer { lifecycle.drained() }
        let outstanding = pending.removeAll()
        if let handle {
            ldap_unbind_ext(handle, nil, nil)
            self.handle = nil
        }
        writeBatch = nil
        pagedResultsStateIsStale = false
        for request in outstanding { request.fail(error(request)) }
    }

    // MARK: Operations

    /// Sends a request on this thread and registers it under its message ID.
    func start(_ request: PendingRequest) {
        if request.isCancelled {
            request.fail(CancellationError())
            return
        }
        defer { arena.reset() }
        do {
            let ld = try connectIfNeeded()
            let messageID = try request.send(self, ld, arena)
            request.messageID = messageID
            if let requestTimeout {
                request.deadline = turnStartedAt + requestTimeout
                request.responsesReadBeforeSending = responsesRead
            }
            pending.insert(request)
        } catch {
            request.fail(error)
            if error.isConnectionError { dropConnection(error) }
        }
    }

    /// Abandons the request of a cancelled task (RFC 4511 §4.11) and resumes it with CancellationError.
    func cancel(_ request: PendingRequest) {
        guard request.messageID != 0, pending[request.messageID] === request else { return }
        pending.remove(messageID: request.messageID)
        if let handle { ldap_abandon_ext(handle, request.messageID, nil, nil) }
        request.fail(CancellationError())
    }

    /// Routes every response already readable, without blocking.
    /// Reads the responses that have arrived. `socketReadable`: the thread's poll just reported
    /// the socket readable. Otherwise only messages liblber has already buffered are read, with
    /// no system call: asking libldap with a zero timeout costs a poll(2) each time, and the
    /// thread's own poll is what notices new data.
    func readResponses(socketReadable: Bool) {
        var mayRead = socketReadable
        if socketReadable { writeBatch?.markReadable() }
        while let ld = handle, !pending.isEmpty {
            if !mayRead, !Self.hasBufferedData(ld) { return }
            mayRead = false
            var timeout = timeval(tv_sec: 0, tv_usec: 0)
            var message: OpaquePointer?
            let type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, &timeout, &message)
            if type == 0 { return }
            guard type > 0, let message else {
                var code: Int32 = LDAP_SERVER_DOWN
                ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code)
                dropConnection(LDAPError(code: .init(rawValue: code), message: "the connection to the server was lost", operation: .connect))
                return
            }
            responsesRead &+= 1
            let messageID = ldap_msgid(message)
            // A request already timed out (or cancelled) is not found: its late answer is dropped.
            if let request = pending[messageID], request.receive(message, type: type, core: self) {
                pending.remove(messageID: messageID)
            }
            ldap_msgfree(message)
        }
    }

    // MARK: Timeouts

    /// Fails the requests whose deadline has passed and returns how long the thread may wait
    /// in poll(2) before the next deadline, in milliseconds (-1: no deadline to wake for).
    ///
    /// A timeout is not in itself a reason to give up a connection: with other results
    /// arriving, one slow operation is at fault, and only it is failed (a read abandoned, a
    /// change left to run with its outcome unknown). But when the server has sent nothing at
    /// all since the expired request was sent, the whole connection is presumed dead — a
    /// frozen slapd, a half-open TCP connection after a partition — and is closed, failing
    /// every request in flight on it at once: no caller waits a timeout per request queued
    /// behind another, and the next request reconnects (its bind bounded by the same timeout,
    /// and one failed connect per turn serves all the turn's requests). A bind that times out
    /// closes the connection too, as its identity is then unknown; the reconnect is anonymous,
    /// as after a failed bind.
    func expireOverdueRequests() -> Int32 {
        guard let nextDeadline = pending.nextDeadline, let timeout = configuration.requestTimeout else { return -1 }
        let now = MonotonicClock.now()
        guard nextDeadline <= now else { return MonotonicClock.pollTimeout(from: now, to: nextDeadline) }
        // A busy thread polls the socket only now and then: answers that have arrived are read
        // before anyone is judged silent (rare, so the extra poll(2) costs nothing that counts).
        if let fd = socketToWatch {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 0) > 0 { readResponses(socketReadable: true) }
        }
        while let request = pending.removeExpired(now: now) {
            let behaviour = request.timeoutBehaviour
            let expiry = lifecycle.requestExpired(
                closesConnection: behaviour.action == .closeConnection,
                serverSilent: request.responsesReadBeforeSending == responsesRead
            )
            if expiry == .dropConnection {
                // A bind that timed out counts as failed: the reconnect is anonymous (RFC 4513 §5.1).
                if behaviour.action == .closeConnection { credentials = .anonymous }
                request.fail(LDAPError.noAnswer(within: timeout, behaviour))
                dropConnection(timedOutAfter: timeout)
                return -1
            }
            if behaviour.action == .abandon, let handle {
                ldap_abandon_ext(handle, request.messageID, nil, nil)
            }
            request.fail(LDAPError.noAnswer(within: timeout, behaviour))
        }
        return pending.nextDeadline.map { MonotonicClock.pollTimeout(from: now, to: $0) } ?? -1
    }

    /// Whether liblber holds unread bytes of the connection (its read-ahead buffer, or TLS's).
    private static func hasBufferedData(_ ld: OpaquePointer) -> Bool {
        var sockbuf: OpaquePointer?
        guard ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sockbuf) == LDAP_OPT_SUCCESS, let sockbuf else { return false }
        return ber_sockbuf_ctrl(sockbuf, LBER_SB_OPT_DATA_READY, nil) != 0
    }

    // MARK: Encoding and decoding helpers

    func error(of ld: OpaquePointer, code: Int32, operation: LDAPError.Operation, dn: String? = nil, extra: String? = nil) -> LDAPError {
        var diagnostic: UnsafeMutablePointer<CChar>?
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic)
        var message = diagnostic.map { String(cString: $0) } ?? ""
        if let diagnostic { ldap_memfree(diagnostic) }
        if let extra { message = message.isEmpty ? extra : "\(extra): \(message)" }
        return LDAPError(code: .init(rawValue: code), message: message, operation: operation, dn: dn)
    }

    /// Encodes request controls into a NULL-terminated `LDAPControl **` owned by `arena`.
    func encode(_ controls: [LDAPRequestControl], _ ld: OpaquePointer, arena: CArena) throws(LDAPError) -> UnsafeMutablePointer<UnsafeMutablePointer<CLDAP.LDAPControl>?>? {
        if controls.isEmpty { return nil }
        let array = arena.allocate(UnsafeMutablePointer<CLDAP.LDAPControl>?.self, count: controls.count + 1)
        for (index, control) in controls.enumerated() {
            var value = CLDAP.berval(bv_len: 0, bv_val: nil)
            let oid: String
            var rc = LDAP_SUCCESS
            switch control.kind {
            case .pagedResults(let size, let cookie):
                oid = "1.2.840.113556.1.4.319"
                var cookieValue = arena.berval(cookie)
                rc = ldap_create_page_control_value(ld, size, &cookieValue, &value)
                arena.adoptLibldapAllocation(value.bv_val)
            case .assertion(let filter):
                oid = "1.3.6.1.1.12"
                rc = ldap_create_assertion_control_value(ld, arena.cString(filter.description), &value)
                arena.adoptLibldapAllocation(value.bv_val)
            case .preRead(let attributes), .postRead(let attributes):
                if case .preRead = control.kind { oid = "1.3.6.1.1.13.1" } else { oid = "1.3.6.1.1.13.2" }
                let names = arena.cStringArray(attributes) ?? {
                    let empty = arena.allocate(UnsafeMutablePointer<CChar>?.self, count: 1)
                    empty[0] = nil
                    return empty
                }()
                rc = gw_read_entry_control_value(names, &value)
                arena.adoptLibldapAllocation(value.bv_val)
            case .manageDsaIT:
                oid = "2.16.840.1.113730.3.4.2"
            case .relax:
                oid = "1.3.6.1.4.1.4203.666.5.12"
            case .passwordPolicy:
                oid = "1.3.6.1.4.1.42.2.27.8.5.1"
            case .raw(let rawOID, let rawValue):
                oid = rawOID
                if let rawValue { value = arena.berval(rawValue) }
            }
            guard rc == LDAP_SUCCESS else {
                throw error(of: ld, code: rc, operation: .extended, extra: "cannot encode control \(oid)")
            }
            let pointer = arena.allocate(CLDAP.LDAPControl.self, count: 1)
            pointer.initialize(to: CLDAP.LDAPControl(ldctl_oid: arena.cString(oid), ldctl_value: value, ldctl_iscritical: control.isCritical ? 1 : 0))
            array[index] = pointer
        }
        array[controls.count] = nil
        return array
    }

    /// Reads a search entry by length-delimited bervals (no C-string assumptions about values).
    /// An entry whose DN cannot be read is an error: an empty DN would name the root DSE.
    func decodeEntry(_ ld: OpaquePointer, _ message: OpaquePointer) throws(LDAPError) -> LDAPEntry {
        var ber: OpaquePointer?
        var dn = CLDAP.berval()
        // libldap hands out the BerElement even when reading the DN fails.
        defer { if let ber { ber_free(ber, 0) } }
        let rc = ldap_get_dn_ber(ld, message, &ber, &dn)
        guard rc == LDAP_SUCCESS else {
            throw LDAPError(code: .decodingError, message: "cannot read the DN of a search result entry", operation: .decode)
        }
        var builder = LDAPEntry.Storage.Builder()
        while true {
            var type = CLDAP.berval()
            var values: UnsafeMutablePointer<CLDAP.berval>?
            guard ldap_get_attribute_ber(ld, message, ber, &type, &values) == LDAP_SUCCESS, type.bv_val != nil else { break }
            builder.beginAttribute(type.string)
            if let values {
                Self.appendValues(values, to: &builder)
                ber_memfree(values)
            }
        }
        return LDAPEntry(dn: dn.string, storage: builder.storage)
    }

    /// Copies a NULL-terminated berval array into the entry's buffer, by length.
    private static func appendValues(_ values: UnsafeMutablePointer<CLDAP.berval>, to builder: inout LDAPEntry.Storage.Builder) {
        var index = 0
        while let base = values[index].bv_val {
            builder.appendValue(UnsafeRawBufferPointer(start: base, count: Int(values[index].bv_len)))
            index += 1
        }
    }

    /// The final result of an operation, with every control libldap can parse for us.
    func decodeResult(_ ld: OpaquePointer, _ message: OpaquePointer) -> DecodedResult {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>?
        var diagnostic: UnsafeMutablePointer<CChar>?
        var referrals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<CLDAP.LDAPControl>?>?
        let rc = ldap_parse_result(ld, message, &code, &matched, &diagnostic, &referrals, &controls, 0)
        var result = DecodedResult(code: rc == LDAP_SUCCESS ? code : rc)
        if let matched {
            result.matchedDN = String(cString: matched)
            ldap_memfree(matched)
        }
        if let diagnostic {
            result.message = String(cString: diagnostic)
            ldap_memfree(diagnostic)
        }
        if let referrals {
            var index = 0
            while let referral = referrals[index] {
                result.referrals.append(String(cString: referral))
                index += 1
            }
            ber_memvfree(UnsafeMutableRawPointer(referrals).assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
        }
        if let controls {
            var index = 0
            while let control = controls[index] {
                decodeControl(ld, control, into: &result)
                index += 1
            }
            ldap_controls_free(controls)
        }
        return result
    }

    private func decodeControl(_ ld: OpaquePointer, _ control: UnsafeMutablePointer<CLDAP.LDAPControl>, into result: inout DecodedResult) {
        let oid = String(cString: control.pointee.ldctl_oid)
        let value: [UInt8]? = control.pointee.ldctl_value.bv_val == nil ? nil : control.pointee.ldctl_value.bytes
        result.controls.append(LDAPResponseControl(oid: oid, value: value, isCritical: control.pointee.ldctl_iscritical != 0))
        switch oid {
        case "1.2.840.113556.1.4.319":
            var count: ber_int_t = 0
            var cookie = CLDAP.berval()
            if ldap_parse_pageresponse_control(ld, control, &count, &cookie) == LDAP_SUCCESS {
                result.pageCookie = cookie.bytes
                if let pointer = cookie.bv_val { ber_memfree(pointer) }
            }
        case "1.3.6.1.1.13.1", "1.3.6.1.1.13.2":
            let entry = Self.decodeReadEntry(&control.pointee.ldctl_value)
            if oid.hasSuffix(".1") { result.preReadEntry = entry } else { result.postReadEntry = entry }
        case "1.3.6.1.4.1.42.2.27.8.5.1":
            var expire: ber_int_t = -1
            var grace: ber_int_t = -1
            var policyError = PP_noError
            if ldap_parse_passwordpolicy_control(ld, control, &expire, &grace, &policyError) == LDAP_SUCCESS {
                result.passwordPolicy = PasswordPolicyResponse(
                    secondsUntilExpiration: expire >= 0 ? Int(expire) : nil,
                    graceLoginsRemaining: grace >= 0 ? Int(grace) : nil,
                    error: PasswordPolicyResponse.Error(rawValue: Int32(policyError.rawValue))
                )
            }
        default:
            break
        }
    }

    /// Decodes the SearchResultEntry inside a pre/post-read response control (RFC 4527 §3.2).
    static func decodeReadEntry(_ value: inout CLDAP.berval) -> LDAPEntry? {
        var dn = CLDAP.berval()
        guard let ber = gw_read_entry_begin(&value, &dn) else { return nil }
        defer { ber_free(ber, 1) }
        let dnString = dn.string
        var builder = LDAPEntry.Storage.Builder()
        while true {
            var type = CLDAP.berval()
            var values: BerVarray?
            guard gw_read_entry_next(ber, &type, &values) == 1 else { break }
            builder.beginAttribute(type.string)
            if let values {
                appendValues(values, to: &builder)
                ber_bvarray_free(values)
            }
        }
        return LDAPEntry(dn: dnString, storage: builder.storage)
    }
}

/// An operation's final result, decoded on the connection thread.
struct DecodedResult {
    var code: Int32
    var message = ""
    var matchedDN: String?
    var referrals: [String] = []
    var controls: [LDAPResponseControl] = []
    var preReadEntry: LDAPEntry?
    var postReadEntry: LDAPEntry?
    var passwordPolicy: PasswordPolicyResponse?
    var pageCookie: [UInt8]?

    init(code: Int32) { self.code = code }

    func error(_ operation: LDAPError.Operation, dn: String?) -> LDAPError {
        var error = LDAPError(code: .init(rawValue: code), message: message, matchedDN: matchedDN, operation: operation, dn: dn)
        error.passwordPolicy = passwordPolicy
        return error
    }

    var result: LDAPResult {
        LDAPResult(controls: controls, preReadEntry: preReadEntry, postReadEntry: postReadEntry, passwordPolicy: passwordPolicy, message: message)
    }
}
