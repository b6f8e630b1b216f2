import Directory
import LDAPClient
import Testing

/// A DN the server hands back that does not parse must fail the operation. It used to become
/// the root DN (`?? .root`), and GroupService then sent its modify to the root DSE.
@Suite struct MalformedDNTests {
    /// Answers every search with one group entry whose DN does not parse; records writes.
    final class MalformedServer: LDAPOperations {
        let writes = LockedValue<[String]>([])

        func search(
            base: DistinguishedName, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String],
            sizeLimit: Int, timeLimit: Duration?, controls: [LDAPRequestControl]
        ) async throws -> LDAPSearchResult {
            let entry = LDAPEntry(dn: "mail=team@acme.example;o=acme", attributes: [
                LDAPAttribute("objectClass", ["gwMailGroup"]), LDAPAttribute("mail", "team@acme.example"),
            ])
            return LDAPSearchResult(entries: [entry], referrals: [], controls: [], pagedResultsCookie: nil)
        }

        func compare(dn: DistinguishedName, attribute: String, value: [UInt8], controls: [LDAPRequestControl]) async throws -> Bool { false }

        func add(dn: DistinguishedName, attributes: [LDAPAttribute], controls: [LDAPRequestControl]) async throws -> LDAPResult {
            written("add \(dn)")
        }

        func modify(dn: DistinguishedName, _ modifications: [LDAPModification], controls: [LDAPRequestControl]) async throws -> LDAPResult {
            written("modify \(dn)")
        }

        func delete(dn: DistinguishedName, controls: [LDAPRequestControl]) async throws -> LDAPResult {
            written("delete \(dn)")
        }

        func rename(
            dn: DistinguishedName, newRDN: RelativeDistinguishedName, deleteOldRDN: Bool, newSuperior: DistinguishedName?,
            controls: [LDAPRequestControl]
        ) async throws -> LDAPResult {
            written("rename \(dn)")
        }

        func whoAmI() async throws -> String { "" }

        func passwordModify(userDN: DistinguishedName?, oldPassword: String?, newPassword: String?, controls: [LDAPRequestControl]) async throws -> String? {
            _ = written("password modify \(userDN?.description ?? "")")
            return nil
        }

        private func written(_ write: String) -> LDAPResult {
            writes.withLock { $0.append(write) }
            return LDAPResult(controls: [], message: "")
        }
    }

    @Test func aGroupWhoseDNDoesNotParseIsAnErrorNotAWriteToTheRoot() async throws {
        let server = MalformedServer()
        let context = DirectoryContext(ldap: server, layout: try DirectoryLayout(base: "dc=example,dc=com"))
        let error = await #expect(throws: LDAPError.self) {
            _ = try await GroupService(context).editMembers("team@acme.example", add: [], remove: ["bob@acme.example"])
        }
        #expect(error?.code == .decodingError)
        #expect(error?.dn == "mail=team@acme.example;o=acme")
        #expect(server.writes.withLock { $0 }.isEmpty)
    }

    @Test func removingAGroupWhoseDNDoesNotParseDeletesNothing() async throws {
        let server = MalformedServer()
        let context = DirectoryContext(ldap: server, layout: try DirectoryLayout(base: "dc=example,dc=com"))
        await #expect(throws: (any Error).self) { try await GroupService(context).remove("team@acme.example") }
        #expect(server.writes.withLock { $0 }.isEmpty)
    }
}
