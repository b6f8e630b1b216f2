/// How to reach and authenticate to a directory. Each connection carries its own TLS settings:
/// libldap's global TLS options would leak between connections to different servers.
public struct LDAPConfiguration: Sendable {
    /// One or more `ldap://`, `ldaps://` or `ldapi://` URIs; libldap tries them in order on
    /// every (re)connect, which gives failover between replicas.
    public var uris: [String]
    public var credentials: LDAPCredentials
    public var tls: TLS
    /// How long a TCP connect may take before the next URI is tried.
    public var connectTimeout: Duration
    /// How long any one request (each page of a paged search, and the bind or StartTLS of a
    /// (re)connect) may wait for its result before it fails with ``LDAPError/Code/timeout``;
    /// nil waits forever. A frozen or partitioned server otherwise hangs its callers for good.
    /// See ``defaultRequestTimeout``.
    public var requestTimeout: Duration?

    /// 30 s: far above what any operation of this directory takes (indexed searches, single
    /// writes, one page of a listing) even on a loaded server, and still short enough that a
    /// caller at a terminal or behind Postfix and Dovecot gets an error, not a hang.
    public static let defaultRequestTimeout: Duration = .seconds(30)

    public init(
        uris: [String],
        credentials: LDAPCredentials = .anonymous,
        tls: TLS = .init(),
        connectTimeout: Duration = .seconds(5),
        requestTimeout: Duration? = defaultRequestTimeout
    ) {
        self.uris = uris
        self.credentials = credentials
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }

    public init(uri: String, credentials: LDAPCredentials = .anonymous, tls: TLS = .init()) {
        self.init(uris: [uri], credentials: credentials, tls: tls)
    }

    public struct TLS: Sendable {
        /// Whether a certificate must be presented and valid (libldap's `TLS_REQCERT`).
        public enum Verification: Int32, Sendable {
            case never = 0
            case demand = 2
            case allow = 3
            case `try` = 4
        }

        /// Issue StartTLS right after connecting an `ldap://` URI (ignored for `ldaps://` and `ldapi://`).
        public var startTLS: Bool
        public var caCertificateFile: String?
        public var certificateFile: String?
        public var keyFile: String?
        public var verification: Verification

        public init(
            startTLS: Bool = false,
            caCertificateFile: String? = nil,
            certificateFile: String? = nil,
            keyFile: String? = nil,
            verification: Verification = .demand
        ) {
            self.startTLS = startTLS
            self.caCertificateFile = caCertificateFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.verification = verification
        }

        var isConfigured: Bool {
            startTLS || caCertificateFile != nil || certificateFile != nil || keyFile != nil || verification != .demand
        }
    }
}

/// Who a connection binds as; kept so the connection can re-bind after a reconnect.
public enum LDAPCredentials: Sendable, Hashable {
    case anonymous
    case simple(dn: String, password: String)
    /// SASL EXTERNAL: the identity comes from the transport (peer credentials over `ldapi://`, or a
    /// TLS client certificate). `authorizationID` asks to act as someone else.
    case saslExternal(authorizationID: String? = nil)
    /// Other SASL mechanisms the server offers (PLAIN, SCRAM-SHA-256, …) through Cyrus SASL.
    case sasl(mechanism: String, authenticationID: String, password: String, authorizationID: String? = nil, realm: String? = nil)
}
