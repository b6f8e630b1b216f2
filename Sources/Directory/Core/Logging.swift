import Logging

/// The directory layer's loggers, one label per subsystem so an operator can tell (and filter)
/// who is speaking. Each is made on use: a logger made before `LoggingSystem.bootstrap` would
/// keep swift-log's default handler.
///
/// Services that write take a `Logger` (defaulting to their subsystem's) so a server can pass
/// its own, with its metadata.
public enum DirectoryLogging {
    /// Workspaces, units, accounts, aliases, groups, admins.
    public static let adminLabel = "gwdir.directory.admin"
    /// Logins: the authenticator, the mail login policy, the IP auto-block.
    public static let authLabel = "gwdir.directory.auth"
    /// The audit log and its sweeps.
    public static let auditLabel = "gwdir.directory.audit"
    /// The login spool between the server and slapd.
    public static let spoolLabel = "gwdir.directory.spool"

    public static var admin: Logger { Logger(label: adminLabel) }
    public static var auth: Logger { Logger(label: authLabel) }
    public static var audit: Logger { Logger(label: auditLabel) }
    public static var spool: Logger { Logger(label: spoolLabel) }
}
