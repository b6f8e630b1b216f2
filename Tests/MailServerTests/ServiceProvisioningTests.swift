import Directory
import Foundation
import LDAPClient
import Testing
import TestSupport

/// What the admin services write is what unmodified Postfix and Dovecot read: entries created
/// through `Directory` (bound as the gwdir service account, as the CLI does) route and
/// authenticate with the stock LDAP drivers and the configs in docker/.
@Suite struct ServiceProvisioningTests {
    struct World {
        let context: DirectoryContext
        let connection: LDAPConnection
        let workspace: String
        var domain: String { "\(workspace).prov.test" }
        func address(_ local: String) -> String { "\(local)@\(domain)" }

        static func make() throws -> World {
            let fixture = try DirectoryFixture.shared()
            let connection = fixture.gwdirConnection()
            let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN))
            return World(context: context, connection: connection, workspace: "prov-\(UUID().uuidString.prefix(6).lowercased())")
        }

        func provision() async throws {
            _ = try await WorkspaceService(context).add(id: workspace, displayName: "Provisioned", domains: [domain])
            _ = try await UnitService(context).add("sales", workspace: workspace)
            var alice = NewAccount(loginId: "alice", workspace: workspace, unit: try UnitPath("sales"), firstName: "Alice", lastName: "Kim",
                                   mail: address("alice"), password: "alice-Pw-1")
            alice.quota = 1 << 30
            _ = try await AccountService(context).add(alice)
            _ = try await AccountService(context).add(NewAccount(loginId: "minjun", workspace: workspace, unit: try UnitPath("sales"),
                                                                 firstName: "민준", lastName: "김", mail: address("minjun"), password: "minjun-Pw-1"))
            _ = try await AliasService(context).add(owner: address("alice"), alias: address("al"), folder: "Sales")
            _ = try await GroupService(context).add(.group, address: address("team"), workspace: workspace, unit: try UnitPath("sales"),
                                                    members: [address("alice"), address("minjun")])
            _ = try await GroupService(context).add(.shared, address: address("help"), workspace: workspace, unit: try UnitPath("sales"),
                                                    members: [address("alice")])
        }
    }

    @Test func postfixRoutesWhatTheServicesWrote() async throws {
        let world = try World.make()
        defer { world.connection.close() }
        try await world.provision()
        let postfix = try PostfixConfig(try await SampleDirectory.get())
        #expect(try postfix.query(world.domain, "ldap-virtual-mailbox-domains.cf") == world.domain)
        #expect(try postfix.query(world.address("alice"), "ldap-virtual-mailbox-maps.cf") == "\(world.domain)/alice/")
        #expect(try postfix.query(world.address("help"), "ldap-virtual-mailbox-maps.cf") == "\(world.domain)/help/")
        #expect(try postfix.query(world.address("al"), "ldap-virtual-alias-maps.cf") == world.address("al"))
        #expect(try postfix.querySet(world.address("team"), "ldap-virtual-group-maps.cf") == [world.address("alice"), world.address("minjun")])
        #expect(try postfix.query(world.address("al"), "ldap-sender-login-maps.cf") == world.address("alice"))

        // Moving the account keeps its alias routing; removing the alias stops it.
        _ = try await UnitService(world.context).add("east", workspace: world.workspace, parent: try UnitPath("sales"))
        _ = try await AccountService(world.context).move(world.address("alice"), to: try UnitPath("sales/east"))
        #expect(try postfix.query(world.address("al"), "ldap-virtual-alias-maps.cf") == world.address("al"))
        #expect(try postfix.querySet(world.address("team"), "ldap-virtual-group-maps.cf") == [world.address("alice"), world.address("minjun")],
                "slapo-refint follows the move in the group")
        try await AliasService(world.context).remove(owner: world.address("alice"), alias: world.address("al"))
        #expect(try postfix.query(world.address("al"), "ldap-virtual-alias-maps.cf") == nil)
        // A deleted account takes no mail.
        _ = try await AccountService(world.context).delete(world.address("minjun"))
        #expect(try postfix.query(world.address("minjun"), "ldap-virtual-mailbox-maps.cf") == nil)
    }

    @Test func dovecotAuthenticatesWhatTheServicesWrote() async throws {
        let world = try World.make()
        defer { world.connection.close() }
        try await world.provision()
        try await withDovecot { dovecot, _ in
            let accounts = AccountService(world.context)
            #expect(try dovecot.login(world.address("alice"), "alice-Pw-1"))
            #expect(try dovecot.login(world.address("minjun"), "minjun-Pw-1", service: "pop3"))
            #expect(try !dovecot.login(world.address("alice"), "wrong"))
            // Suspended: refused; resumed: accepted again.
            _ = try await accounts.suspend(world.address("alice"))
            #expect(try !dovecot.login(world.address("alice"), "alice-Pw-1"))
            _ = try await accounts.resume(world.address("alice"))
            #expect(try dovecot.login(world.address("alice"), "alice-Pw-1"))
            // POP3 disabled for the account: IMAP still works, POP3 not.
            var changes = AccountService.Changes()
            changes.disableServices = [.pop3]
            _ = try await accounts.edit(world.address("minjun"), changes)
            #expect(try !dovecot.login(world.address("minjun"), "minjun-Pw-1", service: "pop3"))
            #expect(try dovecot.login(world.address("minjun"), "minjun-Pw-1", service: "imap"))
            // An admin reset: the new password works, the old one not.
            try await accounts.setPassword(world.address("alice"), to: "alice-Pw-2")
            #expect(try dovecot.login(world.address("alice"), "alice-Pw-2"))
            #expect(try !dovecot.login(world.address("alice"), "alice-Pw-1"))
            // The quota the service wrote is Dovecot's.
            let fields = try #require(try dovecot.userFields(world.address("alice")))
            #expect(fields.values.contains { $0.contains("1048576") || $0.contains("1073741824") }, "\(fields)")
        }
    }
}
