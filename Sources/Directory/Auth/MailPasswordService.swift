import LDAPClient

/// The mail-only password (an app password for IMAP, POP3 and SMTP).
///
/// Stored as `cn=mail-password,<account>` (gwMailCredential, bindable, its own ppolicy
/// counter) with `gwCredentialFor` equal to the account's `mail`, plus `gwMailPasswordSet:
/// TRUE` on the account. Dovecot binds as the credential while the flag is set and refuses the
/// account password; with neither, the account password works again. Each state in between
/// (credential without flag, flag without credential) fails closed in Dovecot, so the order
/// of the two writes only decides which way a crash fails.
public struct MailPasswordService: Sendable {
    public static let credentialName = "mail-password"

    public var context: DirectoryContext

    public init(context: DirectoryContext) {
        self.context = context
    }

    /// Adds or replaces the mail-only password.
    public func set(_ address: MailAddress, password: String) async throws {
        guard !password.isEmpty else { throw DirectoryError(.invalidArgument, "the mail-only password must not be empty") }
        let entry = try await AuthLookup.account(address, context: context, attributes: ["mail"])
        let dn = try DistinguishedName(entry.dn)
        // Exactly the stored value: slapd's ACL compares it with the parent's mail.
        let mail = entry.string("mail") ?? address.description
        let credential = try dn.child(type: "cn", value: Self.credentialName)
        do {
            try await context.ldap.add(dn: credential, attributes: [
                LDAPAttribute(AttributeName.objectClass, [ObjectClassName.mailCredential]),
                LDAPAttribute("cn", Self.credentialName),
                LDAPAttribute(AttributeName.userPassword, password),
                LDAPAttribute(AttributeName.credentialFor, mail),
            ])
        } catch let error as LDAPError where error.code == .entryAlreadyExists {
            _ = try await ldapCall("replacing the mail-only password of \(address)") {
                try await context.ldap.modify(dn: credential, [.replace(AttributeName.userPassword, [password]), .replace(AttributeName.credentialFor, [mail])])
            }
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "adding the mail-only password of \(address)")
        }
        _ = try await ldapCall("marking the mail-only password of \(address)") {
            try await context.ldap.modify(dn: dn, [.replace(AttributeName.mailPasswordSet, ["TRUE"])])
        }
    }

    /// Removes the mail-only password; the account password works for mail again.
    public func clear(_ address: MailAddress) async throws {
        let dn = try await AuthLookup.accountDN(address, context: context)
        _ = try await ldapCall("unmarking the mail-only password of \(address)") {
            try await context.ldap.modify(dn: dn, [.replace(AttributeName.mailPasswordSet, [])])
        }
        do {
            _ = try await context.ldap.delete(dn: try dn.child(type: "cn", value: Self.credentialName))
        } catch let error as LDAPError where error.code == .noSuchObject {
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, "removing the mail-only password of \(address)")
        }
    }

    /// True when the flag is set and the credential exists (what Dovecot needs to use it).
    public func isSet(_ address: MailAddress) async throws -> Bool {
        let entry = try await AuthLookup.account(address, context: context, attributes: [AttributeName.mailPasswordSet])
        guard entry.string(AttributeName.mailPasswordSet)?.uppercased() == "TRUE" else { return false }
        let credential = try DistinguishedName(entry.dn).child(type: "cn", value: Self.credentialName)
        return try await ldapCall("reading the mail-only password of \(address)") {
            try await context.ldap.entry(credential, attributes: ["1.1"])
        } != nil
    }
}
