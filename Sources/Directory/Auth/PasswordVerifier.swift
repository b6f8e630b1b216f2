import LDAPClient

/// Checks a password by letting slapd do it: nobody, the service included, can read a hash.
public protocol PasswordVerifier: Sendable {
    /// nil when `password` is right for `dn` and ppolicy lets the login through; the reason
    /// otherwise (`wrong_password`, `login_blocked`, …, see ``LDAPBindReasonMapper``).
    func verify(dn: DistinguishedName, password: String) async -> LoginFailureReason?
}

/// Verifies passwords with a simple bind as the account, on connections of its own (never the
/// service connection, whose identity must not change), with the Password Policy request
/// control so a lockout is told apart from a wrong password.
///
/// Connections are reused: up to `maxIdle` wait between checks. A connection goes back to
/// anonymous after a successful check, so a reconnect can never replay a user's credentials
/// (which would count as a failed bind against them once the password changes).
public final class LDAPBindVerifier: PasswordVerifier {
    private let configuration: LDAPConfiguration
    private let idle: IdleConnections

    public init(uris: [String], tls: LDAPConfiguration.TLS = .init(), maxIdle: Int = 4) {
        configuration = LDAPConfiguration(uris: uris, credentials: .anonymous, tls: tls, connectTimeout: .seconds(5))
        idle = IdleConnections(limit: maxIdle)
    }

    public func verify(dn: DistinguishedName, password: String) async -> LoginFailureReason? {
        // An empty password makes a simple bind an unauthenticated (anonymous) one, which
        // slapd accepts: RFC 4513 §5.1.2.
        guard !password.isEmpty else { return .wrongPassword }
        let connection = await idle.take() ?? LDAPConnection(configuration: configuration)
        var reusable = true
        let reason: LoginFailureReason?
        do {
            let result = try await connection.bind(.simple(dn: dn.description, password: password), controls: [.passwordPolicy])
            reason = LDAPBindReasonMapper.reason(.success, passwordPolicy: result.passwordPolicy?.error)
            do { try await connection.bind(.anonymous) } catch { reusable = false }
        } catch let error as LDAPError {
            reason = LDAPBindReasonMapper.reason(for: error)
            if error.isConnectionError || error.code == .timeout { reusable = false }
        } catch {
            reason = .cannotProcess
            reusable = false
        }
        if reusable {
            await idle.put(connection)
        } else {
            connection.close()
        }
        return reason
    }

    /// Closes the idle connections.
    public func close() async {
        await idle.closeAll()
    }
}

private actor IdleConnections {
    private let limit: Int
    private var connections: [LDAPConnection] = []

    init(limit: Int) { self.limit = limit }

    func take() -> LDAPConnection? { connections.popLast() }

    func put(_ connection: LDAPConnection) {
        if connections.count < limit {
            connections.append(connection)
        } else {
            connection.close()
        }
    }

    func closeAll() {
        connections.forEach { $0.close() }
        connections.removeAll()
    }
}
