import DirectorySchema
import Foundation
import LDAPClient
import LocalSlapd

/// A slapd with the full gwdir configuration and base tree (`schema/slapd/base.ldif`): service
/// accounts with known passwords, policies, `ou=workspaces`, `ou=audit`. Shared per test process.
public struct DirectoryFixture: Sendable {
    public let slapd: SlapdInstance
    public let baseDN: String
    public let gwdirDN: String
    public let gwdirPassword: String
    public let dovecotDN: String
    public let dovecotPassword: String
    public let postfixDN: String
    public let postfixPassword: String

    public var workspacesDN: String { "ou=workspaces,\(baseDN)" }

    private static let started: Result<DirectoryFixture, SlapdError> = {
        do {
            return .success(try start())
        } catch let error as SlapdError {
            return .failure(error)
        } catch {
            return .failure(SlapdError(description: String(describing: error)))
        }
    }()

    /// The process-wide fixture; tests add their own workspaces with unique names.
    public static func shared() throws -> DirectoryFixture {
        try started.get()
    }

    /// A fresh server of its own (for tests that restart or lock things), stopped at exit at
    /// the latest: a suite's static server would otherwise outlive the test process.
    public static func start(baseDN: String = "dc=example,dc=com", logLevel: String = "none") throws -> DirectoryFixture {
        let slapd = try SlapdInstance.startTemporary(baseDN: baseDN, logLevel: logLevel)
        TestSlapd.stopAtExit(slapd)
        let passwords = (SlapdOptions.randomPassword(), SlapdOptions.randomPassword(), SlapdOptions.randomPassword())
        let firstValue = String(baseDN.split(separator: ",")[0].split(separator: "=")[1])
        let ldif = try DirectorySchema.render(DirectorySchema.template("slapd/base.ldif"), [
            "BASE_DN": baseDN,
            "BASE_RDN_VALUE": firstValue,
            "GWDIR_PW": passwords.0,
            "DOVECOT_PW": passwords.1,
            "POSTFIX_PW": passwords.2,
        ])
        try slapd.ldapadd(ldif)
        return DirectoryFixture(
            slapd: slapd, baseDN: baseDN,
            gwdirDN: "cn=gwdir,ou=system,\(baseDN)", gwdirPassword: passwords.0,
            dovecotDN: "cn=dovecot,ou=system,\(baseDN)", dovecotPassword: passwords.1,
            postfixDN: "cn=postfix,ou=system,\(baseDN)", postfixPassword: passwords.2
        )
    }

    public func connection(_ credentials: LDAPCredentials) -> LDAPConnection {
        LDAPConnection(configuration: LDAPConfiguration(uri: slapd.uri, credentials: credentials))
    }

    public func rootConnection() -> LDAPConnection {
        connection(.simple(dn: slapd.rootDN, password: slapd.rootPassword))
    }

    public func gwdirConnection() -> LDAPConnection {
        connection(.simple(dn: gwdirDN, password: gwdirPassword))
    }
}

extension SlapdInstance {
    /// Adds LDIF as the root DN with Debian's `ldapadd` (ldap-utils), as an operator would.
    public func ldapadd(_ ldif: String) throws {
        try SlapdInstance.run("/usr/bin/ldapadd", ["-x", "-H", uri, "-D", rootDN, "-w", rootPassword], input: ldif)
    }

    /// Applies LDIF change records as the root DN with `ldapmodify`.
    public func ldapmodify(_ ldif: String) throws {
        try SlapdInstance.run("/usr/bin/ldapmodify", ["-x", "-H", uri, "-D", rootDN, "-w", rootPassword], input: ldif)
    }
}
