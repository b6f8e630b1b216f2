import Directory
import Foundation
import LDAPClient
import Testing
import TestSupport

/// `DirectoryCheck` against the harness slapd: a tree built by the services is clean; raw writes
/// as the root DN (no service, no ACL) are each reported with their code; the repair fixes alias
/// counters and nothing else. Each test works in workspaces of its own, and checks only them
/// (other suites plant odd entries in the shared server).
@Suite struct DirectoryCheckTests {
    struct World {
        let fixture: DirectoryFixture
        let connection: LDAPConnection
        let context: DirectoryContext
        let a: String
        let b: String
        var layout: DirectoryLayout { context.layout }
        func mail(_ local: String, _ workspace: String) -> String { "\(local)@\(workspace).test" }

        /// Workspaces a (units sales, sales/east, dev) and b (unit ops), built through the services.
        static func make(_ label: String) async throws -> World {
            let fixture = try DirectoryFixture.shared()
            let connection = fixture.gwdirConnection()
            let context = DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN))
            let suffix = UUID().uuidString.prefix(6).lowercased()
            let world = World(fixture: fixture, connection: connection, context: context, a: "\(label)-\(suffix)", b: "\(label)b-\(suffix)")
            for id in [world.a, world.b] {
                _ = try await WorkspaceService(context).add(id: id, displayName: "Check \(id)", domains: ["\(id).test"])
            }
            let units = UnitService(context)
            _ = try await units.add("sales", workspace: world.a)
            _ = try await units.add("east", workspace: world.a, parent: try UnitPath("sales"))
            _ = try await units.add("dev", workspace: world.a)
            _ = try await units.add("ops", workspace: world.b)
            for (login, workspace, unit) in [("alice", world.a, "sales/east"), ("sam", world.a, "sales"), ("dave", world.a, "dev"), ("bob", world.b, "ops")] {
                _ = try await AccountService(context).add(NewAccount(loginId: login, workspace: workspace, unit: try UnitPath(unit), firstName: login,
                                                                     lastName: "Check", mail: world.mail(login, workspace), password: "pw-\(login)"))
            }
            let alice = world.mail("alice", world.a)
            _ = try await AliasService(context).add(owner: alice, alias: world.mail("al-kr", world.a), folder: "Sales-KR")
            _ = try await AliasService(context).add(owner: alice, alias: world.mail("al2", world.a))
            try await MailPasswordService(context: context).set(try MailAddress(alice), password: "mail-pw")
            _ = try await GroupService(context).add(.group, address: world.mail("team", world.a), workspace: world.a, unit: try UnitPath("sales"),
                                                    members: [alice, world.mail("sam", world.a)])
            _ = try await GroupService(context).add(.shared, address: world.mail("help", world.a), workspace: world.a, unit: try UnitPath("dev"),
                                                    members: [world.mail("dave", world.a)])
            try await AdminService(context).grant(world.mail("sam", world.a), workspace: world.a, unit: try UnitPath("sales"))
            try await AdminService(context).grant(world.mail("dave", world.a), workspace: world.a)
            try await AdminService(context).grant(world.mail("bob", world.b), workspace: world.b)
            return world
        }

        func dn(_ login: String, _ workspace: String, unit: String) throws -> DistinguishedName {
            try layout.unit(UnitPath(unit), workspace: workspace).child(type: "uid", value: login)
        }

        @discardableResult
        func asRoot<T>(_ body: (LDAPConnection) async throws -> T) async throws -> T {
            let root = fixture.rootConnection()
            defer { root.close() }
            return try await body(root)
        }

        /// Every entry of both workspaces with its user attributes, as the root DN reads them.
        func entries() async throws -> [String: [String]] {
            try await asRoot { root in
                var all: [String: [String]] = [:]
                for id in [a, b] {
                    for entry in try await root.search(base: try layout.workspace(id), scope: .subtree, attributes: ["*"]).entries {
                        all[entry.dn] = entry.attributes.map { "\($0.name.lowercased())=\($0.strings.sorted())" }.sorted()
                    }
                }
                return all
            }
        }
    }

    private func pairs(_ violations: [Violation]) -> Set<String> {
        Set(violations.map { "\($0.code) \($0.dn.lowercased())" })
    }

    private func pairs(_ list: [(Violation.Kind, DistinguishedName)]) -> Set<String> {
        Set(list.map { "\($0.0.code) \($0.1.description.lowercased())" })
    }

    @Test func rootWritesAreReportedAndOnlyAliasCountsRepaired() async throws {
        let world = try await World.make("chk")
        defer { world.connection.close() }
        let check = DirectoryCheck(world.context)
        #expect(try await check.run(workspace: world.a) == [])
        #expect(try await check.run(workspace: world.b) == [])

        let workspaceA = try world.layout.workspace(world.a), workspaceB = try world.layout.workspace(world.b)
        let alice = try world.dn("alice", world.a, unit: "sales/east")
        let secondAlice = try world.dn("alice", world.a, unit: "dev")
        let sam = try world.dn("sam", world.a, unit: "sales")
        let bob = try world.dn("bob", world.b, unit: "ops")
        let rogue = try world.layout.unit(UnitPath("dev"), workspace: world.a).child(type: "cn", value: "rogue")
        let admins = try world.layout.admins(workspace: world.a, unit: nil)
        try await world.asRoot { root in
            try await root.add(dn: rogue, attributes: [
                LDAPAttribute("objectClass", ["device", "extensibleObject"]), LDAPAttribute("cn", "rogue"),
                LDAPAttribute("mail", world.mail("rogue", world.b)),
            ])
            try await root.add(dn: secondAlice, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", "alice"), LDAPAttribute("cn", "Alice Two"),
                LDAPAttribute("sn", "Two"), LDAPAttribute("mail", world.mail("alice2", world.a)), LDAPAttribute("gwAccountStatus", "active"),
                LDAPAttribute("gwAliasCount", "0"), LDAPAttribute("gwHomeWorkspace", workspaceA.description),
            ])
            try await root.modify(dn: alice, [.replace("gwAliasCount", ["0"])])
            try await root.modify(dn: admins, [.add("member", [bob.description])])
            try await root.modify(dn: sam, [.replace("gwHomeWorkspace", [workspaceB.description])])
        }

        let planted: [(Violation.Kind, DistinguishedName)] = [
            (.forbiddenClass, rogue), (.mailForeignDomain, rogue),
            (.loginIdDuplicate, alice), (.loginIdDuplicate, secondAlice),
            (.aliasCountMismatch, alice),
            (.adminMemberOtherWorkspace, admins),
            (.homeWorkspaceMismatch, sam),
        ]
        let found = try await check.run(workspace: world.a)
        #expect(pairs(found) == pairs(planted), "\(found)")
        #expect(try await check.run(workspace: world.b) == [], "the rogue address is reported where it was planted")
        // The whole-directory run finds them too (and whatever other suites planted).
        #expect(pairs(try await check.run()).isSuperset(of: pairs(planted)))

        let before = try await world.entries()
        let repairs = try await check.repairAliasCounts(workspace: world.a)
        #expect(repairs == [.init(dn: alice.description, previous: "0", aliases: 2, outcome: .repaired)], "\(repairs)")
        var after = try await world.entries()
        #expect(after[alice.description]?.contains("gwaliascount=[\"2\"]") == true)
        after[alice.description] = before[alice.description]
        #expect(after == before, "the repair changed only the counter")
        #expect(pairs(try await check.run(workspace: world.a)) == pairs(planted.filter { $0.0 != .aliasCountMismatch }))
        #expect(try await check.repairAliasCounts(workspace: world.a) == [], "nothing left to repair")
    }

    @Test func aCounterAboveTheAliasesIsLeftAloneWhileTheAccountIsFresh() async throws {
        let world = try await World.make("chkr")
        defer { world.connection.close() }
        let alice = try world.dn("alice", world.a, unit: "sales/east")
        // An alias add reserves its slot before it adds the entry: 3 with 2 aliases is what a
        // concurrent add looks like for a moment.
        try await world.asRoot { try await $0.modify(dn: alice, [.replace("gwAliasCount", ["3"])]) }
        var check = DirectoryCheck(world.context)
        #expect(try await check.repairAliasCounts(workspace: world.a) == [.init(dn: alice.description, previous: "3", aliases: 2, outcome: .recentlyModified)])
        #expect(try await world.asRoot { try await $0.entry(alice, attributes: ["gwAliasCount"])?.strings("gwAliasCount") } == ["3"])
        check.settleTime = 0
        #expect(try await check.repairAliasCounts(workspace: world.a) == [.init(dn: alice.description, previous: "3", aliases: 2, outcome: .repaired)])
        #expect(try await check.run(workspace: world.a) == [])
        // The service still enforces the cap on the repaired counter.
        for index in 3...5 { _ = try await AliasService(world.context).add(owner: world.mail("alice", world.a), alias: world.mail("x\(index)", world.a)) }
        await #expect(throws: DirectoryError.self) {
            try await AliasService(world.context).add(owner: world.mail("alice", world.a), alias: world.mail("x6", world.a))
        }
        #expect(try await check.run(workspace: world.a) == [])
    }

    @Test func unknownWorkspaceIsNotFound() async throws {
        let fixture = try DirectoryFixture.shared()
        let connection = fixture.gwdirConnection()
        defer { connection.close() }
        let check = DirectoryCheck(DirectoryContext(ldap: connection, layout: try DirectoryLayout(base: fixture.baseDN)))
        let error = await #expect(throws: DirectoryError.self) { try await check.run(workspace: "no-such-\(UUID().uuidString.prefix(6).lowercased())") }
        #expect(error?.code == .notFound)
    }
}
