import ArgumentParser
import Directory
import DirectorySchema
import Foundation
import LDAPClient
import LocalSlapd

/// `gwdir init`: the base tree of `schema/slapd/base.ldif`, the service accounts and optionally
/// the first super admin.
///
/// Idempotent and resumable: entries that exist are left alone, a missing one is added, and a
/// service password is generated (into `./.gwdir/secrets`, mode 0600) only for an account it
/// creates, so stored secrets never disagree with the directory.
struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the base tree, the service accounts and optionally the first super admin.",
        discussion: """
        Binds as the local root DN (or --bind-dn). Service passwords are generated into \
        ./.gwdir/secrets/{gwdir,dovecot,postfix}.password (mode 0600). --admin creates a super \
        admin uid=<address>,ou=system,<base> in cn=superadmins: it manages every workspace. \
        Running init again adds only what is missing (e.g. a new --admin) and reports \
        "already initialised".
        """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("Address of the first super admin (created in ou=system).", valueName: "address"))
    var admin: String?

    @Option(name: .customLong("admin-password-file"), help: ArgumentHelp("File holding the super admin's password, `-` for stdin.", valueName: "file"))
    var adminPasswordFile: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if (admin == nil) != (adminPasswordFile == nil) {
            throw ValidationError("--admin and --admin-password-file go together")
        }
        if let admin, !SuperAdmin.isAddress(admin) {
            throw ValidationError("--admin must be a mail address such as admin@example.com")
        }
    }

    func run() async throws {
        let target = try connection.resolve(.root)
        let base = try target.requireBase()
        if let local = try target.local?.configuration(), local.baseDN != base {
            throw CLIError(.conflict, "the local directory serves \(local.baseDN), not \(base)")
        }
        let secrets = target.local ?? LocalInstance.inWorkingDirectory()
        let adminPassword = try adminPasswordFile.map(PasswordFile.read)
        let ldap = try await target.connect()
        defer { ldap.close() }
        do {
            let tree = try await BaseTree(base: base, secrets: secrets).create(on: ldap)
            try secrets.policyKeyOrGenerate() // the key `gwdir serve` expects from Dovecot (secrets/policy.key)
            var adminDN: String?
            var adminCreated = false
            if let admin, let adminPassword {
                let result = try await SuperAdmin(address: admin, base: base).create(password: adminPassword, on: ldap)
                adminDN = result.dn
                adminCreated = result.created
            }
            if output.format == .table {
                if tree.baseExisted, tree.added == 0 {
                    print("already initialised: \(base)")
                } else if tree.baseExisted {
                    print("completed \(base): added \(tree.added) missing entries")
                } else {
                    print("initialised \(base): \(tree.added) entries; service passwords in \(secrets.secretsDirectory.path)")
                }
                if let adminDN { print(adminCreated ? "super admin created: \(adminDN)" : "super admin exists: \(adminDN)") }
            } else {
                output.print(.record([
                    "base": .string(base),
                    "alreadyInitialised": .bool(tree.baseExisted && tree.added == 0),
                    "added": .integer(tree.added),
                    "gwdirDN": .string(ServiceAccount.gwdir.dn(base: try DistinguishedName(base)).description),
                    "secrets": .string(secrets.secretsDirectory.path),
                    "superAdmin": OutputValue(adminDN),
                    "superAdminCreated": .bool(adminCreated),
                ]))
            }
        } catch {
            throw target.error(error)
        }
    }
}

/// The entries of `schema/slapd/base.ldif` for one base DN.
struct BaseTree {
    var base: String
    var secrets: LocalInstance

    struct Outcome {
        var baseExisted: Bool
        var added: Int
    }

    /// Adds the entries that are missing, parents first (the template's order).
    func create(on ldap: LDAPConnection) async throws -> Outcome {
        // Passwords stand in as markers until an account is really added (see `Init`).
        var values = ["BASE_DN": base, "BASE_RDN_VALUE": try BaseDN.firstValue(base)]
        for account in ServiceAccount.allCases { values[account.placeholder] = marker(account) }
        let records = try LDIF.parse(try DirectorySchema.render(DirectorySchema.template("slapd/base.ldif"), values))
        let baseExisted = try await exists(try DistinguishedName(base), on: ldap)
        var added = 0
        for record in records {
            let dn = try DistinguishedName(record.dn)
            if try await exists(dn, on: ldap) { continue }
            var attributes = record.attributes
            for index in attributes.indices {
                attributes[index].values = try attributes[index].values.map(password)
            }
            do {
                try await ldap.add(dn: dn, attributes: attributes)
                added += 1
            } catch let error as LDAPError where error.code == .entryAlreadyExists {
                continue // a concurrent init got there first
            }
        }
        return Outcome(baseExisted: baseExisted, added: added)
    }

    private func marker(_ account: ServiceAccount) -> String { "\u{1}gwdir-secret:\(account.rawValue)" }

    /// A marker becomes the account's stored password (generated and saved on first use).
    private func password(_ value: [UInt8]) throws -> [UInt8] {
        guard let account = ServiceAccount.allCases.first(where: { Array(marker($0).utf8) == value }) else { return value }
        return Array(try secrets.secretOrGenerate(account.secretName).utf8)
    }
}

/// A super admin: a person entry in `ou=system` (outside every workspace, so no workspace or unit
/// admin can edit it) and a member of `cn=superadmins`, which slapd's ACLs grant write on all
/// workspaces. The entry has no gwAccount class: it is a login, not a mailbox. It binds with the
/// default password policy (lockout after 5 failures), unlike the service accounts.
struct SuperAdmin {
    var address: String
    var base: String

    static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && text.allSatisfy { !$0.isWhitespace && !",+\"\\<>;=".contains($0) }
    }

    func dn() throws -> DistinguishedName {
        try DistinguishedName(base).child(type: "ou", value: "system").child(type: "uid", value: address)
    }

    /// Returns the admin's DN and whether it was created now.
    func create(password: String, on ldap: LDAPConnection) async throws -> (dn: String, created: Bool) {
        let dn = try dn()
        var created = false
        do {
            try await ldap.add(dn: dn, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson"]),
                LDAPAttribute("uid", address),
                LDAPAttribute("mail", address),
                LDAPAttribute("cn", address),
                LDAPAttribute("sn", String(address.split(separator: "@")[0])),
                LDAPAttribute("description", "gwdir super admin"),
                // Cleartext on the wire to slapd only: slapo-ppolicy hashes it ({SSHA}) on add.
                LDAPAttribute("userPassword", password),
            ])
            created = true
        } catch let error as LDAPError where error.code == .entryAlreadyExists {}
        let group = try DistinguishedName(base).child(type: "ou", value: "system").child(type: "cn", value: "superadmins")
        do {
            try await ldap.modify(dn: group, [.add("member", [dn.description])])
        } catch let error as LDAPError where error.code == .attributeOrValueExists {}
        return (dn.description, created)
    }
}

/// True when the entry exists (a base-scope search that may return no attributes).
func exists(_ dn: DistinguishedName, on ldap: LDAPConnection) async throws -> Bool {
    do {
        let result = try await ldap.search(base: dn, scope: .base, attributes: ["1.1"])
        return !result.entries.isEmpty
    } catch let error as LDAPError where error.code == .noSuchObject {
        return false
    }
}
