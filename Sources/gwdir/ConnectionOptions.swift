import ArgumentParser
import Directory
import Foundation
import LDAPClient
import LocalSlapd
import Logging

/// The global connection options of spec §7, shared by every command that talks to the directory.
///
/// Precedence: flag, then environment (`GWDIR_URI`, `GWDIR_BASE`, `GWDIR_BIND_DN`,
/// `GWDIR_PASSWORD_FILE`), then the local directory recorded in `./.gwdir/config.json`.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "LDAP URI of the directory; several, comma-separated, fail over in order. [env: GWDIR_URI] (default: the local directory in ./.gwdir)",
        valueName: "uri"
    ))
    var uri: String?

    @Option(help: ArgumentHelp("Base DN of the directory tree. [env: GWDIR_BASE] (default: the local directory's)", valueName: "dn"))
    var base: String?

    @Option(name: .customLong("bind-dn"), help: ArgumentHelp(
        "DN to bind as. [env: GWDIR_BIND_DN] (default: the local service account cn=gwdir, the local root DN for init; anonymous with --uri)",
        valueName: "dn"
    ))
    var bindDN: String?

    @Option(name: [.customLong("password-file"), .customLong("bind-password-file")], help: ArgumentHelp(
        "File holding the bind password (first line), `-` for stdin. [env: GWDIR_PASSWORD_FILE] (`user add` and `user passwd` take --bind-password-file: their --password-file is the account's)",
        valueName: "file"
    ))
    var passwordFile: String?

    @Option(name: .customLong("as"), help: ArgumentHelp(
        "Act as this admin (address): bind as them so slapd's ACLs decide what is allowed. [env: GWDIR_AS]",
        valueName: "address"
    ))
    var actingAdmin: String?

    @Option(name: .customLong("as-password-file"), help: ArgumentHelp(
        "File holding the --as admin's password, `-` for stdin. [env: GWDIR_AS_PASSWORD_FILE] (default: prompt on the terminal)",
        valueName: "file"
    ))
    var actingPasswordFile: String?

    @Option(help: ArgumentHelp(
        "Seconds to wait for each answer of the directory before failing with exit 6. [env: GWDIR_TIMEOUT] (default: 30)",
        valueName: "seconds"
    ))
    var timeout: RequestTimeout?

    /// Read by ``CLILogging`` before the command runs.
    @Flag(help: "Log debug detail (which directory, as whom) to stderr; without it only warnings and errors.")
    var verbose = false

    /// Who to bind as when no --bind-dn is given and the directory is the local one.
    enum DefaultIdentity {
        /// The gwdir service account once `gwdir init` has run, the root DN before.
        case service
        /// The local root DN (creating the base tree needs it).
        case root
    }

    /// A flag, else a non-empty environment variable.
    private static func setting(_ flag: String?, _ variable: String, _ environment: [String: String]) -> String? {
        if let flag { return flag }
        if let value = environment[variable], !value.isEmpty { return value }
        return nil
    }

    /// Where and as whom to connect, from flags, environment and `./.gwdir`.
    func resolve(
        _ identity: DefaultIdentity = .service,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        local: LocalInstance = .inWorkingDirectory()
    ) throws -> DirectoryTarget {
        let explicitBase = try Self.setting(base, "GWDIR_BASE", environment).map(BaseDN.normalize)
        let requestTimeout = try RequestTimeout.resolve(timeout, environment: environment)
        let bindDN = try Self.setting(bindDN, "GWDIR_BIND_DN", environment).map { try DistinguishedName($0).description }
        let password = try Self.setting(passwordFile, "GWDIR_PASSWORD_FILE", environment).map { try PasswordFile.read($0) }
        let explicitCredentials: LDAPCredentials?
        switch (bindDN, password) {
        case (let dn?, let password?): explicitCredentials = .simple(dn: dn, password: password)
        case (nil, nil): explicitCredentials = nil
        case (_?, nil): throw CLIError(.usage, "--bind-dn needs --password-file (or GWDIR_PASSWORD_FILE)")
        case (nil, _?): throw CLIError(.usage, "--password-file needs --bind-dn (or GWDIR_BIND_DN)")
        }

        let acting = try actingAdminCredentials(environment: environment)
        var target = try resolveIdentity(identity, environment: environment, local: local, base: explicitBase, credentials: explicitCredentials)
        target.requestTimeout = requestTimeout
        target.actingAdmin = acting
        return target
    }

    /// The `--as` admin's address and password (from a file or the terminal).
    private func actingAdminCredentials(environment: [String: String]) throws -> ActingAdmin? {
        let address = Self.setting(actingAdmin, "GWDIR_AS", environment)
        guard let address else {
            if actingPasswordFile != nil { throw CLIError(.usage, "--as-password-file needs --as") }
            return nil
        }
        let file = Self.setting(actingPasswordFile, "GWDIR_AS_PASSWORD_FILE", environment)
        let password = try file.map(PasswordFile.read) ?? PasswordPrompt.read("Password for \(address): ")
        return ActingAdmin(address: address, password: password)
    }

    private func resolveIdentity(
        _ identity: DefaultIdentity, environment: [String: String], local: LocalInstance, base explicitBase: String?,
        credentials explicitCredentials: LDAPCredentials?
    ) throws -> DirectoryTarget {
        let localConfiguration = try local.configuration()
        if let uri = Self.setting(uri, "GWDIR_URI", environment) {
            let uris = try Self.parseURIs(uri)
            // A URI that names the local directory still gets its stored identity.
            if let localConfiguration, uris == [localConfiguration.uri] {
                return try localTarget(local, localConfiguration, identity, explicitBase, explicitCredentials)
            }
            return DirectoryTarget(uris: uris, baseDN: explicitBase, credentials: explicitCredentials ?? .anonymous, local: nil)
        }
        guard let localConfiguration else { throw CLIError.notConfigured }
        return try localTarget(local, localConfiguration, identity, explicitBase, explicitCredentials)
    }

    private func localTarget(
        _ local: LocalInstance, _ configuration: LocalInstance.Configuration, _ identity: DefaultIdentity,
        _ base: String?, _ credentials: LDAPCredentials?
    ) throws -> DirectoryTarget {
        if let credentials {
            return DirectoryTarget(uris: [configuration.uri], baseDN: base ?? configuration.baseDN, credentials: credentials, local: local)
        }
        let root = LDAPCredentials.simple(dn: configuration.rootDN, password: try local.secret(LocalInstance.rootPasswordSecret) ?? "")
        var chosen = root
        if identity == .service, let password = try local.secret(ServiceAccount.gwdir.secretName) {
            chosen = .simple(dn: ServiceAccount.gwdir.dn(base: try DistinguishedName(configuration.baseDN)).description, password: password)
        }
        return DirectoryTarget(uris: [configuration.uri], baseDN: base ?? configuration.baseDN, credentials: chosen, local: local)
    }

    static func parseURIs(_ text: String) throws -> [String] {
        let uris = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        guard !uris.isEmpty else { throw CLIError(.usage, "--uri is empty") }
        for uri in uris {
            let lowercased = uri.lowercased()
            guard ["ldap://", "ldaps://", "ldapi://"].contains(where: lowercased.hasPrefix) else {
                throw CLIError(.usage, "\(uri) is not an LDAP URI (ldap://, ldaps:// or ldapi://)")
            }
        }
        return uris
    }
}

/// A resolved directory: its URIs, base and identity.
struct DirectoryTarget: Sendable {
    var uris: [String]
    var baseDN: String?
    var credentials: LDAPCredentials
    /// How long each request may wait for its answer (`--timeout`).
    var requestTimeout = RequestTimeout.default
    /// Set when this is the local directory of `./.gwdir` (for hints and stored secrets).
    var local: LocalInstance?
    /// `--as`: after connecting with `credentials`, find this admin and re-bind as them.
    var actingAdmin: ActingAdmin?

    init(uris: [String], baseDN: String?, credentials: LDAPCredentials, local: LocalInstance?) {
        self.uris = uris
        self.baseDN = baseDN
        self.credentials = credentials
        self.local = local
    }

    var uriDescription: String { uris.joined(separator: ",") }

    func requireBase() throws -> String {
        guard let baseDN else { throw CLIError(.usage, "no base DN: pass --base or set GWDIR_BASE") }
        return baseDN
    }

    /// Connects and binds as the configured identity now, so a wrong URI or password fails here
    /// with one clear line.
    func connect() async throws -> LDAPConnection {
        try await connect(as: credentials)
    }

    private func connect(as credentials: LDAPCredentials) async throws -> LDAPConnection {
        let configuration = LDAPConfiguration(uris: uris, credentials: credentials, connectTimeout: .seconds(5), requestTimeout: requestTimeout)
        let logger = CLILogging.logger
        logger.debug("connecting", metadata: ["uri": "\(uriDescription)", "identity": "\(Self.identity(credentials))"])
        do {
            let connection = try await LDAPConnection.connect(configuration: configuration)
            logger.debug("connected", metadata: ["uri": "\(uriDescription)", "base": "\(baseDN ?? "none")"])
            return connection
        } catch {
            throw self.error(error)
        }
    }

    /// Who `credentials` bind as, without the secret (for `--verbose`).
    static func identity(_ credentials: LDAPCredentials) -> String {
        switch credentials {
        case .anonymous: "anonymous"
        case .simple(let dn, _): dn
        case .saslExternal(let authorizationID): "SASL EXTERNAL" + (authorizationID.map { " as \($0)" } ?? "")
        case .sasl(let mechanism, let authenticationID, _, let authorizationID, _):
            "SASL \(mechanism) \(authenticationID)" + (authorizationID.map { " as \($0)" } ?? "")
        }
    }

    /// Connects and wraps the connection for the `Directory` services. With `--as`, the services
    /// read through the admin's own connection (slapd's ACLs confine what they see) and write
    /// through the configured identity after ``WritePolicy`` allowed it: admins hold no raw
    /// write right (README, "Security model").
    func openDirectory() async throws -> DirectorySession {
        let layout = try DirectoryLayout(base: try requireBase())
        let service = try await connect()
        guard let actingAdmin else {
            return DirectorySession(context: DirectoryContext(ldap: service, layout: layout), connections: [service])
        }
        do {
            let dn = try await actingAdmin.lookUp(on: service, base: layout.base)
            CLILogging.logger.debug("acting as admin", metadata: ["address": "\(actingAdmin.address)", "dn": "\(dn)"])
            let admin = try await connect(as: .simple(dn: dn.description, password: actingAdmin.password), admin: actingAdmin)
            let principal: AdminPrincipal
            do {
                principal = try await actingAdmin.principal(dn: dn, on: service, layout: layout)
            } catch {
                admin.close()
                throw error
            }
            let gate = WriteGate(reader: admin, writer: service, policy: WritePolicy(layout: layout, principal: principal))
            return DirectorySession(context: DirectoryContext(ldap: gate, layout: layout), connections: [admin, service])
        } catch {
            service.close()
            throw self.error(error)
        }
    }

    /// Binds as the `--as` admin on a connection of its own: a wrong password is a permission error.
    private func connect(as credentials: LDAPCredentials, admin: ActingAdmin) async throws -> LDAPConnection {
        let configuration = LDAPConfiguration(uris: uris, credentials: credentials, connectTimeout: .seconds(5), requestTimeout: requestTimeout)
        do {
            return try await LDAPConnection.connect(configuration: configuration)
        } catch let error as LDAPError where error.code == .invalidCredentials {
            throw CLIError(.permissionDenied, "--as \(admin.address): wrong password (or the account is locked)")
        }
    }

    /// Maps a lower-layer error to a CLI error that names this directory.
    func error(_ error: any Error) -> CLIError {
        var hint: String?
        if let error = error as? LDAPError, error.isConnectionError || error.code == .timeout, local != nil {
            hint = "is the local directory running? `gwdir local start`"
        }
        return CLIError(error, uri: uriDescription, hint: hint)
    }
}

/// The open directory of one command: the services' context and the connections to close.
struct DirectorySession {
    var context: DirectoryContext
    var connections: [LDAPConnection]

    func close() { connections.forEach { $0.close() } }
}

/// The admin of `--as`. The configured identity (the service account by default) looks the
/// address up and reads which admin groups hold it; the admin's password is checked by a bind
/// of their own, on the connection their reads then use.
struct ActingAdmin: Sendable {
    var address: String
    var password: String

    func lookUp(on connection: LDAPConnection, base: DistinguishedName) async throws -> DistinguishedName {
        let mail = try MailAddress(address)
        let entries = try await connection.search(
            base: base, scope: .subtree,
            filter: .and([.equal("objectClass", "inetOrgPerson"), .equal("mail", mail.description)]), attributes: ["1.1"]
        ).entries
        guard entries.count == 1, let dn = entries.first?.dn else {
            throw CLIError(.permissionDenied, "--as \(mail): no such admin (or the configured identity can not look it up)")
        }
        return try DistinguishedName(dn)
    }

    /// The scopes the admin administers, from `memberOf` (kept by slapo-memberof; only the
    /// service writes admin groups).
    func principal(dn: DistinguishedName, on connection: LDAPConnection, layout: DirectoryLayout) async throws -> AdminPrincipal {
        let entry = try await connection.entry(dn, attributes: ["memberOf", "gwAccountStatus"])
        // A suspended, disabled or deleted account keeps its admin groups (a resume gives the role
        // back) but acts as nobody meanwhile.
        if let status = entry?.string("gwAccountStatus"), status.lowercased() != "active" {
            throw CLIError(.permissionDenied, "--as \(address): the account is \(status)")
        }
        let groups = entry?.strings("memberOf") ?? []
        var principal = AdminPrincipal(dn: dn, address: address, isSuperAdmin: false, workspaces: [], units: [])
        for value in groups {
            guard let group = try? DistinguishedName(value) else { continue }
            if group.normalizedForComparison.description.lowercased() == layout.superAdmins.normalizedForComparison.description.lowercased() {
                principal.isSuperAdmin = true
                continue
            }
            guard let rdn = group.rdn, rdn.type.lowercased() == "cn", rdn.value?.lowercased() == "admins",
                  let scope = group.parent, scope.isDescendant(of: layout.workspaces), let kind = scope.rdn?.type.lowercased()
            else { continue }
            if kind == "o", scope.rdns.count == layout.workspaces.rdns.count + 1 { principal.workspaces.append(scope) }
            if kind == "ou" { principal.units.append(scope) }
        }
        return principal
    }
}

/// Reads a password from the terminal with echo off; refuses when there is no terminal.
enum PasswordPrompt {
    static func read(_ prompt: String) throws -> String {
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard tty >= 0, isatty(tty) == 1 else {
            if tty >= 0 { close(tty) }
            throw CLIError(.usage, "no terminal to ask for a password on: pass a password file")
        }
        defer { close(tty) }
        var saved = termios()
        tcgetattr(tty, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(tty, TCSAFLUSH, &silent)
        defer {
            tcsetattr(tty, TCSAFLUSH, &saved)
            _ = "\n".withCString { write(tty, $0, 1) }
        }
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while Foundation.read(tty, &byte, 1) == 1, byte != UInt8(ascii: "\n") { bytes.append(byte) }
        let password = String(decoding: bytes, as: UTF8.self)
        guard !password.isEmpty else { throw CLIError(.usage, "empty password") }
        return password
    }

    /// A new password: asked twice, both must match.
    static func readNew(for who: String) throws -> String {
        let first = try read("New password for \(who): ")
        let second = try read("Retype the password: ")
        guard first == second else { throw CLIError(.usage, "the passwords do not match") }
        return first
    }
}

enum PasswordFile {
    /// The first line of a password file (`-`: stdin); a trailing newline is not part of it.
    static func read(_ path: String) throws -> String {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw CLIError(.usage, "cannot read password file \(path)")
            }
            data = contents
        }
        let text = String(decoding: data, as: UTF8.self)
        let password = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        } ?? ""
        guard !password.isEmpty else { throw CLIError(.usage, "password file \(path) is empty") }
        return password
    }
}

/// Base DNs as the slapd templates need them.
enum BaseDN {
    static let `default` = "dc=example,dc=com"

    /// Lower-cased, re-escaped and validated: the ACLs are `dn.regex` rules matched against
    /// slapd's normalised DN, and `base.ldif` needs a `dc=` first RDN.
    static func normalize(_ text: String) throws -> String {
        let parsed: DistinguishedName
        do {
            parsed = try DistinguishedName(text)
        } catch {
            throw CLIError(.usage, "invalid base DN \"\(text)\"")
        }
        guard let first = parsed.rdn else { throw CLIError(.usage, "the base DN must not be empty") }
        guard first.type.lowercased() == "dc", !first.isMultiValued else {
            throw CLIError(.usage, "the base DN must start with a dc= RDN, e.g. dc=example,dc=com")
        }
        let rdns = try parsed.rdns.map { rdn -> RelativeDistinguishedName in
            guard !rdn.isMultiValued, let value = rdn.value else {
                throw CLIError(.usage, "the base DN must not contain multi-valued RDNs")
            }
            return try RelativeDistinguishedName(type: rdn.type.lowercased(), value: value.lowercased())
        }
        return DistinguishedName(rdns: rdns).description
    }

    /// The value of the first RDN (`example` in `dc=example,dc=com`).
    static func firstValue(_ base: String) throws -> String {
        try DistinguishedName(base).rdn?.value ?? ""
    }
}

/// The service accounts of `schema/slapd/base.ldif`; their passwords live in `./.gwdir/secrets`.
enum ServiceAccount: String, CaseIterable {
    case gwdir, dovecot, postfix

    var secretName: String { rawValue }

    /// The base.ldif placeholder for the password.
    var placeholder: String { rawValue.uppercased() + "_PW" }

    /// `cn=<name>,ou=system,<base>`, built from RDNs (the names are constant, valid values).
    func dn(base: DistinguishedName) -> DistinguishedName {
        try! DirectoryLayout(base: base).system.child(type: "cn", value: rawValue)
    }

    /// `cn=<name>,ou=system` for messages that name the account before a base is known.
    var relativeName: String {
        DistinguishedName(rdns: [try! RelativeDistinguishedName(type: "cn", value: rawValue), try! RelativeDistinguishedName(type: "ou", value: "system")]).description
    }
}

/// The connection options of `user add` and `user passwd`, whose own `--password-file` is the
/// account's new password: the bind password comes from `--bind-password-file` (or
/// `GWDIR_PASSWORD_FILE`) there.
struct BindOptions: ParsableArguments {
    @Option(help: ArgumentHelp("LDAP URI of the directory. [env: GWDIR_URI]", valueName: "uri"))
    var uri: String?

    @Option(help: ArgumentHelp("Base DN of the directory tree. [env: GWDIR_BASE]", valueName: "dn"))
    var base: String?

    @Option(name: .customLong("bind-dn"), help: ArgumentHelp("DN to bind as. [env: GWDIR_BIND_DN]", valueName: "dn"))
    var bindDN: String?

    @Option(name: .customLong("bind-password-file"), help: ArgumentHelp("File holding the bind password. [env: GWDIR_PASSWORD_FILE]", valueName: "file"))
    var bindPasswordFile: String?

    @Option(name: .customLong("as"), help: ArgumentHelp("Act as this admin (address). [env: GWDIR_AS]", valueName: "address"))
    var actingAdmin: String?

    @Option(name: .customLong("as-password-file"), help: ArgumentHelp("File holding the --as admin's password. [env: GWDIR_AS_PASSWORD_FILE]", valueName: "file"))
    var actingPasswordFile: String?

    @Option(help: ArgumentHelp("Seconds to wait for each answer of the directory. [env: GWDIR_TIMEOUT] (default: 30)", valueName: "seconds"))
    var timeout: RequestTimeout?

    @Flag(help: "Log debug detail (which directory, as whom) to stderr.")
    var verbose = false

    var connection: ConnectionOptions {
        var options = ConnectionOptions()
        options.uri = uri
        options.base = base
        options.bindDN = bindDN
        options.passwordFile = bindPasswordFile
        options.actingAdmin = actingAdmin
        options.actingPasswordFile = actingPasswordFile
        options.timeout = timeout
        options.verbose = verbose
        return options
    }
}
