import ArgumentParser
import Directory
import Foundation
import LDAPClient
import LocalSlapd

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

    @Option(name: .customLong("password-file"), help: ArgumentHelp(
        "File holding the bind password (first line), `-` for stdin. [env: GWDIR_PASSWORD_FILE]",
        valueName: "file"
    ))
    var passwordFile: String?

    /// Who to bind as when no --bind-dn is given and the directory is the local one.
    enum DefaultIdentity {
        /// The gwdir service account once `gwdir init` has run, the root DN before.
        case service
        /// The local root DN (creating the base tree needs it).
        case root
    }

    /// Where and as whom to connect, from flags, environment and `./.gwdir`.
    func resolve(
        _ identity: DefaultIdentity = .service,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        local: LocalInstance = .inWorkingDirectory()
    ) throws -> DirectoryTarget {
        func setting(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            return nil
        }
        let explicitBase = try setting(base, "GWDIR_BASE").map(BaseDN.normalize)
        let bindDN = try setting(bindDN, "GWDIR_BIND_DN").map { try DistinguishedName($0).description }
        let password = try setting(passwordFile, "GWDIR_PASSWORD_FILE").map { try PasswordFile.read($0) }
        let explicitCredentials: LDAPCredentials?
        switch (bindDN, password) {
        case (let dn?, let password?): explicitCredentials = .simple(dn: dn, password: password)
        case (nil, nil): explicitCredentials = nil
        case (_?, nil): throw CLIError(.usage, "--bind-dn needs --password-file (or GWDIR_PASSWORD_FILE)")
        case (nil, _?): throw CLIError(.usage, "--password-file needs --bind-dn (or GWDIR_BIND_DN)")
        }

        let localConfiguration = try local.configuration()
        if let uri = setting(uri, "GWDIR_URI") {
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
            chosen = .simple(dn: ServiceAccount.gwdir.dn(base: configuration.baseDN), password: password)
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
    /// Set when this is the local directory of `./.gwdir` (for hints and stored secrets).
    var local: LocalInstance?

    var uriDescription: String { uris.joined(separator: ",") }

    func requireBase() throws -> String {
        guard let baseDN else { throw CLIError(.usage, "no base DN: pass --base or set GWDIR_BASE") }
        return baseDN
    }

    /// Connects and binds now, so a wrong URI or password fails here with one clear line.
    func connect() async throws -> LDAPConnection {
        let configuration = LDAPConfiguration(uris: uris, credentials: credentials, connectTimeout: .seconds(5))
        do {
            return try await LDAPConnection.connect(configuration: configuration)
        } catch {
            throw self.error(error)
        }
    }

    /// Connects, binds and wraps the connection for the `Directory` services.
    func openDirectory() async throws -> (connection: LDAPConnection, context: DirectoryContext) {
        let layout = try DirectoryLayout(base: try requireBase())
        let connection = try await connect()
        return (connection, DirectoryContext(ldap: connection, layout: layout))
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

    func dn(base: String) -> String { "cn=\(rawValue),ou=system,\(base)" }
}
