import Foundation
import LDAPClient
import Testing
import TestSupport

/// Issue 11 through the CLI: with `--as`, the service writes for the admin only what
/// `WritePolicy` allows, and each refusal is one line, exit 4 (or 5 for a rule of the product),
/// with the directory unchanged.
@Suite struct SecurityCLITests {
    /// sales (sam: unit admin), sales/east (erin), dev (billed; dora); wanda: workspace admin living in sales.
    static func world() throws -> (AdminWorld, sam: [String], wanda: [String]) {
        let world = try AdminWorld.withUnits("sec")
        try world.addUser("sam", unit: "sales", first: "Sam", last: "Sales", password: "sam-pass")
        try world.addUser("wanda", unit: "sales", first: "Wanda", last: "Ws", password: "wanda-pass")
        try world.addUser("alice", unit: "sales", first: "Alice", last: "Kim")
        try world.addUser("erin", unit: "sales/east", first: "Erin", last: "East")
        try world.addUser("dora", unit: "dev", first: "Dora", last: "Dev")
        try world.ok(["admin", "grant", world.mail("sam"), "--workspace", world.workspace, "--unit", "sales"])
        try world.ok(["admin", "grant", world.mail("wanda"), "--workspace", world.workspace])
        let sam = ["--as", world.mail("sam"), "--as-password-file", try world.file("sam.pw", "sam-pass")]
        let wanda = ["--as", world.mail("wanda"), "--as-password-file", try world.file("wanda.pw", "wanda-pass")]
        return (world, sam, wanda)
    }

    /// "A unit admin becomes workspace admin": the workspace admin's account in the unit admin's
    /// own unit is out of reach (password, names, status, move, aliases), and so are the admin
    /// groups of the unit itself and above.
    @Test func aUnitAdminCanNotReachTheWorkspaceAdmin() async throws {
        let (world, sam, _) = try Self.world()
        defer { world.cli.cleanUp() }
        let wanda = world.mail("wanda")
        let newPassword = try world.file("owned", "owned-pass")
        try await world.fails(["user", "passwd", wanda, "--password-file", newPassword] + sam, status: 4, "permission denied")
        try await world.fails(["user", "edit", wanda, "--display-name", "Owned"] + sam, status: 4, "permission denied")
        try await world.fails(["user", "suspend", wanda] + sam, status: 4, "permission denied")
        try await world.fails(["user", "move", wanda, "--unit", "sales/east"] + sam, status: 4, "permission denied")
        try await world.fails(["alias", "add", wanda, world.mail("w2")] + sam, status: 4, "permission denied")
        try await world.fails(["admin", "grant", world.mail("alice"), "--workspace", world.workspace, "--unit", "sales"] + sam, status: 4, "permission denied")
        try await world.fails(["admin", "grant", world.mail("alice"), "--workspace", world.workspace] + sam, status: 4, "permission denied")
        try await world.fails(["admin", "revoke", wanda, "--workspace", world.workspace] + sam, status: 4, "permission denied")
        // The old takeover's last step, a raw bind with the password sam would have set, fails.
        #expect(await world.binds("uid=wanda,ou=sales,\(world.workspaceDN)", "wanda-pass"))
        #expect(await !world.binds("uid=wanda,ou=sales,\(world.workspaceDN)", "owned-pass"))
        // The same writes on a plain account of the unit are the unit admin's to make.
        try world.ok(["user", "edit", world.mail("alice"), "--display-name", "Alice K."] + sam)
        try world.ok(["user", "passwd", world.mail("alice"), "--password-file", newPassword] + sam)
        #expect(await world.binds("uid=alice,ou=sales,\(world.workspaceDN)", "owned-pass"))
    }

    /// "Members from other workspaces or other units added to an admin group": a grant names an
    /// active account of the same workspace inside the scope, and a unit admin delegates only
    /// sub-units of their own.
    @Test func adminGrantsFollowTheRules() async throws {
        let (world, sam, wanda) = try Self.world()
        defer { world.cli.cleanUp() }
        let other = try AdminWorld.withUnits("sec-other")
        try other.addUser("olga", unit: "sales", first: "Olga", last: "Other")
        // Delegation to a sub-unit, for an account inside it: allowed.
        try world.ok(["admin", "grant", world.mail("erin"), "--workspace", world.workspace, "--unit", "sales/east"] + sam)
        // An account outside the sub-unit, or of another workspace: refused by the rule, for anyone.
        try await world.fails(["admin", "grant", world.mail("alice"), "--workspace", world.workspace, "--unit", "sales/east"] + sam,
                              status: 5, "is not inside")
        try await world.fails(["admin", "grant", world.mail("dora"), "--workspace", world.workspace, "--unit", "sales"] + wanda,
                              status: 5, "is not inside")
        // Another workspace's accounts are not even visible to this workspace's admin (reads go
        // through their own bind); the service itself refuses the cross-workspace grant.
        try await world.fails(["admin", "grant", other.mail("olga"), "--workspace", world.workspace] + wanda, status: 3, "no account")
        try await world.fails(["admin", "grant", other.mail("olga"), "--workspace", other.workspace] + wanda, status: 3, "no account")
        try await world.fails(["admin", "grant", other.mail("olga"), "--workspace", world.workspace], status: 5, "belongs to workspace")
    }

    /// "Entries of gwWorkspace class ... squatting a mail domain": mail domains and workspaces
    /// are the super admins' (the hosting operator's) call.
    @Test func onlySuperAdminsChangeMailDomains() async throws {
        let (world, sam, wanda) = try Self.world()
        defer { world.cli.cleanUp() }
        try await world.fails(["workspace", "edit", world.workspace, "--add-domain", "gmail.com"] + wanda, status: 4, "permission denied")
        try await world.fails(["workspace", "add", "squat", "--name", "Squat", "--domain", "squat.example"] + wanda, status: 4, "permission denied")
        try await world.fails(["workspace", "edit", world.workspace, "--name", "Renamed"] + sam, status: 4, "permission denied")
        try world.ok(["workspace", "edit", world.workspace, "--name", "Renamed by its admin"] + wanda)
    }

    /// A suspended admin keeps the role on paper but acts as nobody until resumed.
    @Test func aSuspendedAdminActsAsNobody() async throws {
        let (world, sam, wanda) = try Self.world()
        defer { world.cli.cleanUp() }
        try world.ok(["user", "suspend", world.mail("sam")] + wanda)
        try await world.fails(["user", "suspend", world.mail("alice")] + sam, status: 4, "suspended")
        try world.ok(["user", "resume", world.mail("sam")] + wanda)
        try world.ok(["user", "suspend", world.mail("alice")] + sam)
    }

    /// Units with a billing id are the workspace admin's; moves stay inside the scope.
    @Test func unitAdminsStayInsideTheirUnit() async throws {
        let (world, sam, wanda) = try Self.world()
        defer { world.cli.cleanUp() }
        try await world.fails(["user", "move", world.mail("alice"), "--unit", "dev"] + sam, status: 4, "permission denied")
        try await world.fails(["unit", "move", "sales/east", "--to-top", "--workspace", world.workspace] + sam, status: 4, "permission denied")
        try await world.fails(["unit", "rename", "sales", "sales2", "--workspace", world.workspace] + sam, status: 4, "permission denied")
        try world.ok(["user", "move", world.mail("alice"), "--unit", "sales/east"] + sam)
        try world.ok(["unit", "add", "west", "--workspace", world.workspace, "--parent", "sales"] + sam)
        try world.ok(["unit", "rename", "sales/west", "north", "--workspace", world.workspace] + sam)
        try world.ok(["unit", "move", "dev", "--parent", "sales", "--workspace", world.workspace] + wanda)
        // dev carries a billing id: inside sales now, still not the unit admin's to delete or move.
        try await world.fails(["unit", "move", "sales/dev", "--parent", "sales/east", "--workspace", world.workspace] + sam, status: 4, "permission denied")
    }

    /// "Duplicate login ids": unique per workspace across its units, race free (gwLoginKey).
    @Test func loginIdsAreUniquePerWorkspaceEvenUnderConcurrency() async throws {
        let world = try AdminWorld.withUnits("sec-uid")
        defer { world.cli.cleanUp() }
        try world.addUser("kim", unit: "sales", first: "K", last: "Kim")
        try await world.fails(["user", "add", "kim", "--workspace", world.workspace, "--unit", "dev", "--first-name", "K", "--last-name", "Two",
                               "--mail", world.mail("kim2"), "--password-file", try world.file("k2", "k2-pass")], status: 5, "already used")
        // Concurrent adds of one new login id in different units, bypassing the service's pre-check
        // race: exactly one wins.
        let units = ["sales", "dev", "sales/east", "sales", "dev", "sales/east"]
        let passwordFile = try world.file("race", "race-pass")
        let statuses = try await withThrowingTaskGroup(of: Int32.self) { group in
            for (index, unit) in units.enumerated() {
                group.addTask {
                    try world.gw(["user", "add", "race", "--workspace", world.workspace, "--unit", unit, "--first-name", "R", "--last-name", "\(index)",
                                  "--mail", world.mail("race\(index)"), "--password-file", passwordFile]).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 0 }.count == 1, "\(statuses)")
        #expect(statuses.allSatisfy { $0 == 0 || $0 == 5 }, "\(statuses)")
        let root = world.rootConnection()
        defer { root.close() }
        let accounts = try await root.search(base: world.workspaceDN.parsedDN, scope: .subtree, filter: .and([.equal("objectClass", "gwAccount"), .equal("uid", "race")]), attributes: ["1.1"])
        #expect(accounts.entries.count == 1)
    }
}
