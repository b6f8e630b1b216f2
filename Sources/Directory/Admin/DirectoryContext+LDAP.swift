import Foundation
import LDAPClient

/// The typed LDAP calls every service makes, failing with a ``DirectoryError`` that says what
/// was being done.
extension DirectoryContext {
    func search(
        _ base: DistinguishedName, _ scope: LDAPSearchScope = .subtree, _ filter: LDAPFilter,
        attributes: [String] = [], doing: @autoclosure () -> String
    ) async throws -> [LDAPEntry] {
        do {
            return try await ldap.search(base: base, scope: scope, filter: filter, attributes: attributes).entries
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        } catch let error as LDAPError {
            throw DirectoryError.ldap(error, doing())
        }
    }

    func read(_ dn: DistinguishedName, attributes: [String] = [], doing: @autoclosure () -> String) async throws -> LDAPEntry? {
        try await ldapCall(doing()) { try await ldap.entry(dn, attributes: attributes) }
    }

    func exists(_ dn: DistinguishedName) async throws -> Bool {
        try await read(dn, attributes: ["1.1"], doing: "looking up \(dn)") != nil
    }

    /// Every entry that uses `address` as `mail` anywhere below `ou=workspaces`.
    func owners(of address: MailAddress) async throws -> [LDAPEntry] {
        try await search(layout.workspaces, .subtree, .and([.equal("mail", address.description), .not(.equal("objectClass", ObjectClassName.invitation))]),
                         attributes: [AttributeName.objectClass, "mail"], doing: "checking \(address)")
    }
}

extension LDAPEntry {

    func hasObjectClass(_ name: String) -> Bool {
        strings(AttributeName.objectClass).contains { $0.caseInsensitiveCompare(name) == .orderedSame }
    }

    func integer(_ name: String) -> Int? { string(name).flatMap { Int($0) } }

    func bool(_ name: String) -> Bool { string(name)?.uppercased() == "TRUE" }

    func time(_ name: String) -> Date? { string(name).flatMap(GeneralizedTime.parse) }
}

extension LDAPAttribute {
    init(_ name: String, _ value: Int) { self.init(name, String(value)) }
}
