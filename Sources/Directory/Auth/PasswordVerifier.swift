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
/// A bind changes a connection's identity, so each check needs a connection to itself: at
/// most `maxConnections` exist (each is a thread and a socket), up to `maxIdle` of them kept
/// between checks; further checks wait in line, and one that waits longer than `waitTimeout`
/// fails with `timeout` (``LDAPConnectionLeases``). A connection goes back to anonymous
/// after a successful check, so a reconnect can never replay a user's credentials (which
/// would count as a failed bind against them once the password changes).
public final class LDAPBindVerifier: PasswordVerifier {
    private let leases: LDAPConnectionLeases

    public init(
        uris: [String], tls: LDAPConfiguration.TLS = .init(),
        maxConnections: Int = 16, maxIdle: Int = 4, waitTimeout: Duration = .seconds(10)
    ) {
        let configuration = LDAPConfiguration(uris: uris, credentials: .anonymous, tls: tls, connectTimeout: .seconds(5))
        leases = LDAPConnectionLeases(configuration: configuration, maximum: maxConnections, maxIdle: maxIdle, waitTimeout: waitTimeout)
    }

    /// Connections open (lent or idle) and checks waiting for one.
    public var counts: (open: Int, idle: Int, waiting: Int) { leases.counts }

    public func verify(dn: DistinguishedName, password: String) async -> LoginFailureReason? {
        // An empty password makes a simple bind an unauthenticated (anonymous) one, which
        // slapd accepts: RFC 4513 §5.1.2.
        guard !password.isEmpty else { return .wrongPassword }
        do {
            return try await leases.withConnection { connection in
                await Self.check(dn: dn, password: password, on: connection)
            }
        } catch let error as LDAPError {
            // No connection within the wait timeout (`timeout`), or the verifier was closed.
            return LDAPBindReasonMapper.reason(for: error)
        } catch {
            return .cannotProcess
        }
    }

    private static func check(dn: DistinguishedName, password: String, on connection: LDAPConnection) async -> (LoginFailureReason?, reusable: Bool) {
        do {
            let result = try await connection.bind(.simple(dn: dn.description, password: password), controls: [.passwordPolicy])
            let reason = LDAPBindReasonMapper.reason(.success, passwordPolicy: result.passwordPolicy?.error)
            do {
                try await connection.bind(.anonymous)
                return (reason, true)
            } catch {
                return (reason, false)
            }
        } catch let error as LDAPError {
            return (LDAPBindReasonMapper.reason(for: error), !(error.isConnectionError || error.code == .timeout))
        } catch {
            return (.cannotProcess, false)
        }
    }

    /// Closes the idle connections; checks waiting for one fail.
    public func close() async {
        leases.close()
    }
}
