import CLDAP

/// One LDAP connection with many operations in flight. Requests are pipelined: each gets a
/// message ID and its task resumes when that ID's result arrives, so 200 concurrent searches
/// share one socket. The connection (re)connects lazily and re-binds with the last identity
/// that bound successfully; reads that hit a dropped connection are retried, writes never are.
public final class LDAPConnection: LDAPOperations, Sendable {
    public let configuration: LDAPConfiguration
    private let thread: ConnectionThread

    /// Creates the connection; the socket opens on the first operation (or `connect()`).
    public init(configuration: LDAPConfiguration) {
        self.configuration = configuration
        self.thread = ConnectionThread(configuration: configuration)
    }

    /// Creates a connection and opens it now, so a wrong URI or password fails here.
    public static func connect(configuration: LDAPConfiguration) async throws -> LDAPConnection {
        let connection = LDAPConnection(configuration: configuration)
        try await connection.connect()
        return connection
    }

    deinit {
        thread.shutdown()
    }

    /// The connection's thread as a task executor. Inside
    /// `withTaskExecutorPreference(connection.executor) { … }` requests are sent and results
    /// resumed on that thread, saving two thread hops per operation; the body must not block.
    public var executor: any TaskExecutor { thread }

    /// Fails outstanding operations with a connection error and ends the connection's thread.
    public func close() {
        thread.shutdown()
    }

    /// Opens the socket (StartTLS, bind) unless it is open already.
    public func connect() async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            thread.submit(ConnectionJob(
                run: { core in
                    do {
                        _ = try core.connectIfNeeded()
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                },
                reject: { continuation.resume(throwing: $0) }
            ))
        }
    }

    // MARK: Plumbing

    /// Runs one request on the connection thread; a cancelled task abandons its operation.
    func perform<Value: Sendable>(_ request: AwaitedRequest<Value>) async throws -> Value {
        let thread = self.thread
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                request.continuation = continuation
                thread.submitOrRun(request)
            }
        } onCancel: {
            request.cancel()
            thread.submit { core in core.cancel(request) }
        }
    }

    /// Runs a write. Unlike a read, a write is not abandoned once sent when its task is
    /// cancelled: slapd may have applied it already and an abandon does not undo it, so the
    /// task waits for the result and reports what really happened. A task cancelled before
    /// the write is sent gets CancellationError and nothing is sent. (Skipping the
    /// cancellation handler also saves a status record per write.)
    func perform(_ request: UpdateRequest) async throws -> LDAPResult {
        try Task.checkCancellation()
        let thread = self.thread
        return try await withUnsafeThrowingContinuation { continuation in
            request.continuation = continuation
            thread.submitOrRun(request)
        }
    }

    /// A rare request, sent and decoded by closures; `onTimeout` says what it is and whether
    /// a timeout abandons it, reports its outcome unknown, or closes the connection.
    func perform<Value: Sendable>(
        onTimeout: TimeoutBehaviour,
        send: @escaping ResultRequest<Value>.Send,
        decode: @escaping ResultRequest<Value>.Decode
    ) async throws -> Value {
        try await perform(ResultRequest(onTimeout: onTimeout, send: send, decode: decode))
    }

    /// Reads survive a server restart: a connection error reconnects (and re-binds) on the next try.
    private func retryingRead<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as LDAPError where error.isConnectionError && attempt < 4 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(50 * attempt * attempt))
            }
        }
    }

    private static func check(_ rc: Int32, _ core: ConnectionCore, _ ld: OpaquePointer, _ operation: LDAPError.Operation, dn: String?) throws(LDAPError) {
        guard rc == LDAP_SUCCESS else { throw core.error(of: ld, code: rc, operation: operation, dn: dn) }
    }

    // MARK: Bind

    /// Binds asynchronously (pipelined with other work); on success the connection re-binds as
    /// this identity after a reconnect. A failed bind leaves the connection anonymous (RFC 4513 §5.1).
    @discardableResult
    public func bind(_ credentials: LDAPCredentials, controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        if case .sasl = credentials {
            return try await bindInteractively(credentials)
        }
        let dn: String?
        switch credentials {
        case .simple(let bindDN, _): dn = bindDN
        default: dn = nil
        }
        return try await perform(onTimeout: TimeoutBehaviour(action: .closeConnection, operation: .bind, dn: dn), send: { core, ld, arena throws(LDAPError) in
            var messageID: Int32 = 0
            let serverControls = try core.encode(controls, ld, arena: arena)
            let rc: Int32
            switch credentials {
            case .anonymous:
                var empty = arena.berval([])
                rc = ldap_sasl_bind(ld, "", nil, &empty, serverControls, nil, &messageID)
            case .simple(let bindDN, let password):
                var credential = arena.berval(Array(password.utf8))
                rc = ldap_sasl_bind(ld, bindDN, nil, &credential, serverControls, nil, &messageID)
            case .saslExternal(let authorizationID):
                var credential = arena.berval(Array((authorizationID ?? "").utf8))
                rc = ldap_sasl_bind(ld, nil, "EXTERNAL", &credential, serverControls, nil, &messageID)
            case .sasl:
                rc = LDAP_PARAM_ERROR
            }
            try Self.check(rc, core, ld, .bind, dn: dn)
            return messageID
        }, decode: { core, ld, message in
            let result = core.decodeResult(ld, message)
            if result.code == LDAP_SUCCESS {
                core.credentials = credentials
                return .success(result.result)
            }
            core.credentials = .anonymous
            return .failure(result.error(.bind, dn: dn))
        })
    }

    /// Multi-step SASL runs to completion on the connection thread (Cyrus SASL drives it).
    private func bindInteractively(_ credentials: LDAPCredentials) async throws -> LDAPResult {
        guard case .sasl(let mechanism, let authenticationID, let password, let authorizationID, let realm) = credentials else {
            preconditionFailure("bindInteractively takes .sasl credentials")
        }
        return try await withUnsafeThrowingContinuation { continuation in
            thread.submit(ConnectionJob(
                run: { core in
                    do {
                        let ld = try core.connectIfNeeded()
                        try core.passingWritesThrough {
                            try SASLInteraction.bind(ld, mechanism: mechanism, authenticationID: authenticationID, password: password, authorizationID: authorizationID, realm: realm)
                        }
                        core.credentials = credentials
                        continuation.resume(returning: LDAPResult(controls: [], message: ""))
                    } catch let error as LDAPError where error.code == .timeout {
                        // libldap gave up waiting (the configuration's requestTimeout): the
                        // exchange may still finish, so the connection's identity is unknown.
                        guard let timeout = core.configuration.requestTimeout else {
                            continuation.resume(throwing: error)
                            return
                        }
                        core.credentials = .anonymous
                        core.dropConnection(timedOutAfter: timeout)
                        continuation.resume(throwing: LDAPError.noAnswer(
                            within: timeout, TimeoutBehaviour(action: .closeConnection, operation: .bind, dn: authenticationID)
                        ))
                    } catch {
                        core.credentials = .anonymous
                        continuation.resume(throwing: error)
                    }
                },
                reject: { continuation.resume(throwing: $0) }
            ))
        }
    }

    // MARK: Search

    public func search(
        base: DistinguishedName,
        scope: LDAPSearchScope = .subtree,
        filter: LDAPFilter = .present("objectClass"),
        attributes: [String] = [],
        sizeLimit: Int = 0,
        timeLimit: Duration? = nil,
        controls: [LDAPRequestControl] = []
    ) async throws -> LDAPSearchResult {
        let base = base.description
        let filter = filter.description
        return try await retryingRead {
            try await perform(SearchRequest(
                base: base, scope: scope, filter: filter, attributes: attributes, sizeLimit: sizeLimit, timeLimit: timeLimit, controls: controls
            ))
        }
    }

    // MARK: Compare

    /// True when the entry holds the value (compareTrue), false for compareFalse; errors otherwise.
    public func compare(dn: DistinguishedName, attribute: String, value: [UInt8], controls: [LDAPRequestControl] = []) async throws -> Bool {
        let dn = dn.description
        return try await retryingRead {
            try await perform(onTimeout: TimeoutBehaviour(action: .abandon, operation: .compare, dn: dn), send: { core, ld, arena throws(LDAPError) in
                let serverControls = try core.encode(controls, ld, arena: arena)
                var messageID: Int32 = 0
                var bytes = arena.berval(value)
                let rc = ldap_compare_ext(ld, dn, attribute, &bytes, serverControls, nil, &messageID)
                try Self.check(rc, core, ld, .compare, dn: dn)
                return messageID
            }, decode: { core, ld, message in
                let result = core.decodeResult(ld, message)
                switch result.code {
                case LDAPError.Code.compareTrue.rawValue: return .success(true)
                case LDAPError.Code.compareFalse.rawValue: return .success(false)
                default: return .failure(result.error(.compare, dn: dn))
                }
            })
        }
    }

    // MARK: Updates

    @discardableResult
    public func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        try await perform(UpdateRequest(dn: dn.description, .add(attributes), controls: controls))
    }

    @discardableResult
    public func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        try await perform(UpdateRequest(dn: dn.description, .modify(modifications), controls: controls))
    }

    @discardableResult
    public func delete(dn: DistinguishedName, controls: [LDAPRequestControl] = []) async throws -> LDAPResult {
        try await perform(UpdateRequest(dn: dn.description, .delete, controls: controls))
    }

    /// Modify DN: renames the entry and/or moves it (with its subtree) under `newSuperior`.
    @discardableResult
    public func rename(
        dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool = true, newSuperior: DistinguishedName? = nil,
        controls: [LDAPRequestControl] = []
    ) async throws -> LDAPResult {
        let update = UpdateRequest.Update.rename(newRDN: newRDN.description, deleteOldRDN: deleteOldRDN, newSuperior: newSuperior?.description)
        return try await perform(UpdateRequest(dn: dn.description, update, controls: controls))
    }

    // MARK: Extended operations

    /// RFC 4532: the authorization identity the server sees (`dn:…`, or empty for anonymous).
    public func whoAmI() async throws -> String {
        try await retryingRead {
            try await perform(onTimeout: TimeoutBehaviour(action: .abandon, operation: .whoAmI, dn: nil), send: { core, ld, _ throws(LDAPError) in
                var messageID: Int32 = 0
                try Self.check(ldap_whoami(ld, nil, nil, &messageID), core, ld, .whoAmI, dn: nil)
                return messageID
            }, decode: { core, ld, message in
                let result = core.decodeResult(ld, message)
                guard result.code == LDAP_SUCCESS else { return .failure(result.error(.whoAmI, dn: nil)) }
                var authzID: UnsafeMutablePointer<CLDAP.berval>?
                guard ldap_parse_whoami(ld, message, &authzID) == LDAP_SUCCESS else {
                    return .failure(LDAPError(code: .decodingError, operation: .whoAmI))
                }
                let identity = authzID?.pointee.string ?? ""
                if let authzID { ber_bvfree(authzID) }
                return .success(identity)
            })
        }
    }

    /// RFC 3062 Password Modify. Returns the password the server generated when `newPassword` is nil.
    @discardableResult
    public func passwordModify(
        userDN: DistinguishedName? = nil, oldPassword: String? = nil, newPassword: String? = nil, controls: [LDAPRequestControl] = []
    ) async throws -> String? {
        let userDN = userDN?.description
        return try await perform(onTimeout: TimeoutBehaviour(action: .reportUnknownOutcome, operation: .passwordModify, dn: userDN), send: { core, ld, arena throws(LDAPError) in
            let serverControls = try core.encode(controls, ld, arena: arena)
            let user = userDN.map { arena.bervalPointer(Array($0.utf8)) }
            let old = oldPassword.map { arena.bervalPointer(Array($0.utf8)) }
            let new = newPassword.map { arena.bervalPointer(Array($0.utf8)) }
            var messageID: Int32 = 0
            try Self.check(ldap_passwd(ld, user, old, new, serverControls, nil, &messageID), core, ld, .passwordModify, dn: userDN)
            return messageID
        }, decode: { core, ld, message in
            let result = core.decodeResult(ld, message)
            guard result.code == LDAP_SUCCESS else { return .failure(result.error(.passwordModify, dn: userDN)) }
            var generated = CLDAP.berval()
            guard ldap_parse_passwd(ld, message, &generated) == LDAP_SUCCESS else {
                return .failure(LDAPError(code: .decodingError, operation: .passwordModify, dn: userDN))
            }
            defer { if let pointer = generated.bv_val { ber_memfree(pointer) } }
            return .success(generated.bv_val == nil ? nil : generated.string)
        })
    }

    /// Any other extended operation; returns the response name and value.
    public func extendedOperation(oid: String, value: [UInt8]?, controls: [LDAPRequestControl] = []) async throws -> (oid: String?, value: [UInt8]?) {
        // Unknown to the client, an extended operation may change the directory: a timeout
        // reports its outcome unknown rather than abandoning it.
        try await perform(onTimeout: TimeoutBehaviour(action: .reportUnknownOutcome, operation: .extended, dn: oid), send: { core, ld, arena throws(LDAPError) in
            let serverControls = try core.encode(controls, ld, arena: arena)
            let data = value.map { arena.bervalPointer($0) }
            var messageID: Int32 = 0
            try Self.check(ldap_extended_operation(ld, oid, data, serverControls, nil, &messageID), core, ld, .extended, dn: oid)
            return messageID
        }, decode: { (core, ld, message) -> Result<ExtendedResponse, LDAPError> in
            let result = core.decodeResult(ld, message)
            guard result.code == LDAP_SUCCESS else { return .failure(result.error(.extended, dn: oid)) }
            var responseOID: UnsafeMutablePointer<CChar>?
            var responseValue: UnsafeMutablePointer<CLDAP.berval>?
            guard ldap_parse_extended_result(ld, message, &responseOID, &responseValue, 0) == LDAP_SUCCESS else {
                return .failure(LDAPError(code: .decodingError, operation: .extended, dn: oid))
            }
            let response = ExtendedResponse(oid: responseOID.map { String(cString: $0) }, value: responseValue?.pointee.bytes)
            if let responseOID { ldap_memfree(responseOID) }
            if let responseValue { ber_bvfree(responseValue) }
            return .success(response)
        }).tuple
    }
}

struct ExtendedResponse: Sendable {
    var oid: String?
    var value: [UInt8]?
    var tuple: (oid: String?, value: [UInt8]?) { (oid, value) }
}
