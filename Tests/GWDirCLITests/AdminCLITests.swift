import Foundation
import LDAPClient
import Testing
import TestSupport

/// The admin commands of issue 4 (`workspace`, `unit`, `user`, `alias`, `group`, `shared`,
/// `admin`, `--as`), run as the built binary against the harness slapd, bound as the gwdir
/// service account (or as an admin with `--as`). Each test works in a workspace of its own.
struct AdminWorld {
    let fixture: DirectoryFixture
    let cli: CLI
    let workspace: String
    var domain: String { "\(workspace).test" }
    let environment: [String: String]

    init(_ label: String) throws {
        fixture = try DirectoryFixture.shared()
        cli = try CLI()
        workspace = "\(label)-\(UUID().uuidString.prefix(6).lowercased())"
        let passwordFile = cli.directory.appendingPathComponent("gwdir.password")
        try (fixture.gwdirPassword + "\n").write(to: passwordFile, atomically: true, encoding: .utf8)
        environment = [
            "GWDIR_URI": fixture.slapd.uri, "GWDIR_BASE": fixture.baseDN,
            "GWDIR_BIND_DN": fixture.gwdirDN, "GWDIR_PASSWORD_FILE": passwordFile.path,
        ]
    }

    func mail(_ local: String) -> String { "\(local)@\(domain)" }
    var workspaceDN: String { "o=\(workspace),\(fixture.workspacesDN)" }

    /// Runs gwdir; the output's status is checked by the caller.
    @discardableResult
    func gw(_ arguments: [String], environment extra: [String: String] = [:]) throws -> CLI.Output {
        try cli.run(arguments, environment: environment.merging(extra) { $1 })
    }

    /// Runs gwdir and expects success.
    @discardableResult
    func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CLI.Output {
        let output = try gw(arguments)
        #expect(output.status == 0, "gwdir \(arguments.joined(separator: " ")): \(output.stderr)", sourceLocation: sourceLocation)
        return output
    }

    func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Any {
        let output = try ok(arguments + ["--format", "json"], sourceLocation: sourceLocation)
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }

    func record(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        try #require(try json(arguments, sourceLocation: sourceLocation) as? [String: Any], sourceLocation: sourceLocation)
    }

    func rows(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        try #require(try json(arguments, sourceLocation: sourceLocation) as? [[String: Any]], sourceLocation: sourceLocation)
    }

    func file(_ name: String, _ contents: String) throws -> String {
        let url = cli.directory.appendingPathComponent(name)
        try (contents + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Expects a failure with `status` and one `gwdir: error:` line that contains `message`,
    /// and that the workspace's entries are exactly as before.
    func fails(
        _ arguments: [String], status: Int32, _ message: String, environment extra: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let before = try await snapshot()
        let output = try gw(arguments, environment: extra)
        #expect(output.status == status, "gwdir \(arguments.joined(separator: " ")): \(output.status) \(output.stderr)", sourceLocation: sourceLocation)
        #expect(output.stderr.hasPrefix("gwdir: error: "), "\(output.stderr)", sourceLocation: sourceLocation)
        #expect(output.stderr.split(separator: "\n").count == 1, "one line: \(output.stderr)", sourceLocation: sourceLocation)
        #expect(output.stderr.contains(message), "\(output.stderr) should mention \(message)", sourceLocation: sourceLocation)
        let after = try await snapshot()
        #expect(before == after, "the directory changed", sourceLocation: sourceLocation)
    }

    /// Every entry of the workspace with its user attributes, as the root DN sees them.
    func snapshot() async throws -> [String] {
        let root = fixture.rootConnection()
        defer { root.close() }
        do {
            let entries = try await root.search(base: workspaceDN.parsedDN, scope: .subtree, attributes: ["*"]).entries
            return entries.map { entry in
                entry.dn + "|" + entry.attributes.map { "\($0.name.lowercased())=\($0.values.map { String(decoding: $0, as: UTF8.self) }.sorted())" }.sorted().joined(separator: ";")
            }.sorted()
        } catch let error as LDAPError where error.code == .noSuchObject {
            return []
        }
    }

    func rootConnection() -> LDAPConnection { fixture.rootConnection() }

    /// A workspace with units sales, sales/east and dev.
    static func withUnits(_ label: String) throws -> AdminWorld {
        let world = try AdminWorld(label)
        try world.ok(["workspace", "add", world.workspace, "--name", "Test \(world.workspace)", "--domain", world.domain])
        try world.ok(["unit", "add", "sales", "--workspace", world.workspace, "--display-name", "영업부"])
        try world.ok(["unit", "add", "east", "--workspace", world.workspace, "--parent", "sales"])
        try world.ok(["unit", "add", "dev", "--workspace", world.workspace, "--billing-id", "B-7"])
        return world
    }

    func addUser(_ login: String, unit: String, first: String, last: String, mail address: String? = nil, password: String = "pw-secret",
                 extra: [String] = []) throws {
        let passwordFile = try file("pw-\(login)", password)
        try ok(["user", "add", login, "--workspace", workspace, "--unit", unit, "--first-name", first, "--last-name", last,
                "--mail", address ?? mail(login), "--password-file", passwordFile] + extra)
    }

    /// True when `dn` binds with `password`.
    func binds(_ dn: String, _ password: String) async -> Bool {
        let connection = fixture.connection(.simple(dn: dn, password: password))
        defer { connection.close() }
        do { _ = try await connection.whoAmI(); return true } catch { return false }
    }
}

@Suite struct AdminCLITests {
    @Test func workspaces() async throws {
        let world = try AdminWorld("ws")
        defer { world.cli.cleanUp() }
        let added = try world.record(["workspace", "add", world.workspace, "--name", "Acme 주식회사", "--domain", world.domain, "--domain", "mail.\(world.domain)"])
        #expect(added["dn"] as? String == world.workspaceDN)
        #expect(added["name"] as? String == "Acme 주식회사")
        #expect(added["domains"] as? [String] == ["mail.\(world.domain)", world.domain])

        let listed = try world.rows(["workspace", "list"])
        #expect(listed.contains { $0["id"] as? String == world.workspace })

        let edited = try world.record(["workspace", "edit", world.workspace, "--name", "Acme", "--remove-domain", "mail.\(world.domain)",
                                       "--add-domain", "corp.\(world.domain)", "--policy", "otp=required", "--allow-network", "10.0.0.0/8"])
        #expect(edited["name"] as? String == "Acme")
        #expect(edited["domains"] as? [String] == ["corp.\(world.domain)", world.domain])
        #expect(edited["policies"] as? [String] == ["otp=required"])
        #expect(edited["allowedNetworks"] as? [String] == ["10.0.0.0/8"])
        let shown = try world.record(["workspace", "show", world.workspace])
        #expect(shown["name"] as? String == "Acme")

        try await world.fails(["workspace", "add", world.workspace, "--name", "again", "--domain", "other-\(world.domain)"], status: 5, "already exists")
        try await world.fails(["workspace", "add", "x-\(world.workspace)", "--name", "steal", "--domain", world.domain], status: 5, "already belongs to workspace \(world.workspace)")
        try await world.fails(["workspace", "show", "no-such-\(world.workspace)"], status: 3, "no workspace no-such-\(world.workspace)")
        try await world.fails(["workspace", "edit", world.workspace, "--add-domain", "not a domain"], status: 2, "not a valid domain")
    }

    @Test func unitsNestRenameMoveAndDeleteOnlyWhenEmpty() async throws {
        let world = try AdminWorld.withUnits("unit")
        defer { world.cli.cleanUp() }
        try world.ok(["unit", "add", "north", "--workspace", world.workspace, "--parent", "sales/east"])
        let tree = try world.rows(["unit", "list", "--workspace", world.workspace])
        #expect(tree.map { $0["path"] as? String } == ["dev", "sales", "sales/east", "sales/east/north"])
        #expect(tree.map { $0["depth"] as? Int } == [1, 1, 2, 3])
        #expect(tree.first?["billingId"] as? String == "B-7")
        #expect(tree[1]["displayName"] as? String == "영업부")
        let table = try world.ok(["unit", "list", "--workspace", world.workspace]).stdout
        #expect(table.contains("    north"), "indented tree: \(table)")

        try world.addUser("una", unit: "sales/east/north", first: "Una", last: "North")
        let renamed = try world.record(["unit", "rename", "sales/east/north", "nord", "--workspace", world.workspace])
        #expect(renamed["path"] as? String == "sales/east/nord")
        let moved = try world.record(["unit", "move", "sales/east/nord", "--workspace", world.workspace, "--parent", "dev"])
        #expect(moved["path"] as? String == "dev/nord")
        #expect(moved["accounts"] as? Int == 1)
        let una = try world.record(["user", "show", world.mail("una")])
        #expect(una["unit"] as? String == "dev/nord")

        try await world.fails(["unit", "move", "dev", "--workspace", world.workspace, "--parent", "dev/nord"], status: 5, "into itself")
        try await world.fails(["unit", "delete", "dev/nord", "--workspace", world.workspace], status: 5, "1 account (\(world.mail("una")))")
        try await world.fails(["unit", "delete", "dev", "--workspace", world.workspace], status: 5, "1 unit (nord)")
        try await world.fails(["unit", "add", "sales", "--workspace", world.workspace], status: 5, "already exists")
        try await world.fails(["unit", "add", "x", "--workspace", world.workspace, "--parent", "nowhere"], status: 3, "no unit nowhere")
        try await world.fails(["unit", "add", "a,b", "--workspace", world.workspace], status: 2, "must not contain")

        try world.ok(["user", "move", world.mail("una"), "--unit", "sales"])
        try world.ok(["unit", "delete", "dev/nord", "--workspace", world.workspace])
        let after = try world.rows(["unit", "list", "--workspace", world.workspace])
        #expect(after.map { $0["path"] as? String } == ["dev", "sales", "sales/east"])
    }

    @Test func accountLifecycle() async throws {
        let world = try AdminWorld.withUnits("acct")
        defer { world.cli.cleanUp() }
        try world.addUser("alice", unit: "sales", first: "Alice", last: "Kim", extra: ["--quota", "2G", "--service", "both"])
        var alice = try world.record(["user", "show", world.mail("alice")])
        let dn = try #require(alice["dn"] as? String)
        #expect(dn == "uid=alice,ou=sales,\(world.workspaceDN)")
        #expect(alice["quotaBytes"] as? Int == 2 << 30)
        #expect(alice["status"] as? String == "active")
        #expect(alice["pop3"] as? Bool == true)
        #expect(alice["mailOnlyPassword"] as? Bool == false)
        #expect(await world.binds(dn, "pw-secret"))

        alice = try world.record(["user", "edit", world.mail("alice"), "--display-name", "Alice K.", "--disable", "pop3", "--quota", "5G"])
        #expect(alice["displayName"] as? String == "Alice K.")
        #expect(alice["pop3"] as? Bool == false)
        #expect(alice["enabledServices"] as? [String] == ["imap", "smtp", "web"])
        #expect(alice["quota"] as? String == "5G")

        let newPassword = try world.file("new", "n3w-pass")
        try world.ok(["user", "passwd", world.mail("alice"), "--password-file", newPassword])
        #expect(await world.binds(dn, "n3w-pass"))
        #expect(await !world.binds(dn, "pw-secret"))

        for (verb, status) in [("suspend", "suspended"), ("resume", "active"), ("disable", "disabled"), ("resume", "active"), ("delete", "deleted")] {
            let record = try world.record(["user", verb, world.mail("alice")])
            #expect(record["status"] as? String == status, "\(verb)")
        }
        try await world.fails(["user", "suspend", world.mail("alice")], status: 5, "is deleted; restore it first")
        #expect(try world.rows(["user", "find", "--workspace", world.workspace, "--mail", world.mail("alice")]).isEmpty)
        #expect(try world.rows(["user", "find", "--workspace", world.workspace, "--mail", world.mail("alice"), "--include-deleted"]).count == 1)
        #expect(try world.record(["user", "restore", world.mail("alice")])["status"] as? String == "active")
        try await world.fails(["user", "restore", world.mail("alice")], status: 5, "is not deleted")

        // Move: the alias entry moves with the account (a modify-DN of the subtree).
        try world.ok(["alias", "add", world.mail("alice"), world.mail("ak"), "--folder", "AK"])
        let moved = try world.record(["user", "move", world.mail("alice"), "--unit", "sales/east"])
        #expect(moved["dn"] as? String == "uid=alice,ou=east,ou=sales,\(world.workspaceDN)")
        #expect(moved["aliases"] as? [String] == [world.mail("ak")])
        let aliases = try world.rows(["alias", "list", world.mail("alice")])
        #expect(aliases.first?["dn"] as? String == "mail=\(world.mail("ak")),uid=alice,ou=east,ou=sales,\(world.workspaceDN)")
        #expect(aliases.first?["deliverTo"] as? String == world.mail("ak"))

        // Deleted more than 30 days ago: no restore; purge removes it with its alias.
        try world.ok(["user", "delete", world.mail("alice")])
        let root = world.rootConnection()
        defer { root.close() }
        try await root.modify(dn: try #require(moved["dn"] as? String).parsedDN, [.replace("gwDeletedAt", ["20200101000000Z"])])
        try await world.fails(["user", "restore", world.mail("alice")], status: 5, "more than 30 days ago")
        let purged = try world.record(["user", "purge"])
        #expect((purged["purged"] as? [String])?.contains(world.mail("alice")) == true)
        try await world.fails(["user", "show", world.mail("alice")], status: 3, "no account \(world.mail("alice"))")
    }

    @Test func koreanNamesRoundTripAndFindIsScopedAndSorted() async throws {
        let world = try AdminWorld.withUnits("find")
        defer { world.cli.cleanUp() }
        try world.addUser("minjun", unit: "sales/east", first: "민준", last: "김")
        try world.addUser("seoyeon", unit: "sales", first: "서연", last: "김")
        try world.addUser("lee", unit: "dev", first: "서연", last: "이")
        try world.addUser("alice", unit: "sales", first: "Alice", last: "Kim")

        let minjun = try world.record(["user", "show", world.mail("minjun")])
        #expect(minjun["firstName"] as? String == "민준")
        #expect(minjun["lastName"] as? String == "김")
        #expect(minjun["displayName"] as? String == "김민준")
        let table = try world.ok(["user", "show", world.mail("minjun")]).stdout
        #expect(table.contains("김민준"))

        let kims = try world.rows(["user", "find", "--workspace", world.workspace, "--last-name", "김", "--prefix"])
        #expect(kims.map { $0["mail"] as? String } == [world.mail("minjun"), world.mail("seoyeon")], "sorted by first name: 민준 < 서연")
        let exact = try world.rows(["user", "find", "--workspace", world.workspace, "--first-name", "서연"])
        #expect(exact.map { $0["mail"] as? String } == [world.mail("seoyeon"), world.mail("lee")], "sorted by last name: 김 < 이")
        let inSales = try world.rows(["user", "find", "--workspace", world.workspace, "--unit", "sales", "--first-name", "서연"])
        #expect(inSales.map { $0["mail"] as? String } == [world.mail("seoyeon")])
        let subUnits = try world.rows(["user", "find", "--workspace", world.workspace, "--unit", "sales", "--last-name", "김"])
        #expect(subUnits.count == 2, "a unit search includes its sub-units")
        let byMail = try world.rows(["user", "find", "--workspace", world.workspace, "--mail", world.mail("ALICE")])
        #expect(byMail.first?["dn"] as? String == "uid=alice,ou=sales,\(world.workspaceDN)")
        let prefixMail = try world.rows(["user", "find", "--workspace", world.workspace, "--mail", "min", "--prefix"])
        #expect(prefixMail.map { $0["loginId"] as? String } == ["minjun"])
        let csv = try world.ok(["user", "find", "--workspace", world.workspace, "--last-name", "이", "--format", "csv"]).stdout
        #expect(csv.hasPrefix("mail,loginId,lastName,firstName"))
        #expect(csv.contains("\(world.mail("lee")),lee,이,서연"))
        try await world.fails(["user", "find", "--workspace", world.workspace, "--unit", "nope", "--last-name", "김"], status: 3, "no unit nope")
    }

    @Test func aliasRules() async throws {
        let world = try AdminWorld.withUnits("alias")
        defer { world.cli.cleanUp() }
        try world.addUser("owner", unit: "sales", first: "O", last: "Wner")
        try world.addUser("other", unit: "sales", first: "Ot", last: "Her")
        try world.addUser("gw", unit: "sales", first: "G", last: "Ware", extra: ["--service", "groupware"])
        try world.ok(["group", "add", world.mail("team"), "--workspace", world.workspace, "--unit", "sales", "--member", world.mail("owner")])
        try world.ok(["shared", "add", world.mail("help"), "--workspace", world.workspace, "--unit", "sales"])
        for index in 1...5 { try world.ok(["alias", "add", world.mail("owner"), world.mail("a\(index)")]) }
        #expect(try world.rows(["alias", "list", world.mail("owner")]).count == 5)

        try await world.fails(["alias", "add", world.mail("owner"), world.mail("a6")], status: 5, "already has 5 aliases")
        try await world.fails(["alias", "add", world.mail("other"), world.mail("owner")], status: 5, "already used by an account")
        try await world.fails(["alias", "add", world.mail("other"), world.mail("a1")], status: 5, "already used by an alias")
        try await world.fails(["alias", "add", world.mail("other"), world.mail("team")], status: 5, "already used by a group mail")
        try await world.fails(["alias", "add", world.mail("team"), world.mail("t1")], status: 5, "is a group mail")
        try await world.fails(["alias", "add", world.mail("help"), world.mail("h1")], status: 5, "is a shared mailbox")
        try await world.fails(["alias", "add", world.mail("gw"), world.mail("g1")], status: 5, "without a mailbox")
        try await world.fails(["alias", "add", world.mail("other"), "bad address@\(world.domain)"], status: 2, "not a valid mail address")
        try await world.fails(["alias", "add", world.mail("other"), "x@elsewhere.test"], status: 5, "not a domain of workspace")
        try await world.fails(["user", "add", "dup", "--workspace", world.workspace, "--unit", "dev", "--first-name", "D", "--last-name", "Up",
                               "--mail", world.mail("a3"), "--password-file", try world.file("p", "x")], status: 5, "already used by an alias")

        try world.ok(["alias", "remove", world.mail("owner"), world.mail("a1")])
        try world.ok(["alias", "add", world.mail("owner"), world.mail("a6")])
        try await world.fails(["alias", "remove", world.mail("owner"), world.mail("a1")], status: 3, "has no alias")
        #expect(try world.record(["user", "show", world.mail("owner")])["aliases"] as? [String] == (2...6).map { world.mail("a\($0)") })
    }

    /// Twenty admins adding aliases to one account at once: exactly five exist afterwards.
    @Test func concurrentAliasAddsStopAtFive() async throws {
        let world = try AdminWorld.withUnits("race")
        defer { world.cli.cleanUp() }
        try world.addUser("busy", unit: "sales", first: "Bu", last: "Sy")
        let results = try await withThrowingTaskGroup(of: Int32.self) { group in
            for index in 0..<20 {
                group.addTask { try world.gw(["alias", "add", world.mail("busy"), world.mail("r\(index)")]).status }
            }
            return try await group.reduce(into: [Int32]()) { $0.append($1) }
        }
        #expect(results.filter { $0 == 0 }.count == 5, "\(results)")
        #expect(results.filter { $0 == 5 }.count == 15, "the others fail as a conflict: \(results)")
        let root = world.rootConnection()
        defer { root.close() }
        let dn = "uid=busy,ou=sales,\(world.workspaceDN)"
        let aliases = try await root.search(base: dn.parsedDN, scope: .oneLevel, filter: .equal("objectClass", "gwMailAlias")).entries
        #expect(aliases.count == 5)
        let count = try await root.entry(dn.parsedDN, attributes: ["gwAliasCount"])?.string("gwAliasCount")
        #expect(count == "5")
    }

    @Test func groupsAndSharedMailboxes() async throws {
        let world = try AdminWorld.withUnits("grp")
        defer { world.cli.cleanUp() }
        try world.addUser("ann", unit: "sales", first: "Ann", last: "A")
        try world.addUser("ben", unit: "sales/east", first: "Ben", last: "B")
        var team = try world.record(["group", "add", world.mail("team"), "--workspace", world.workspace, "--unit", "sales", "--display-name", "영업팀",
                                     "--member", world.mail("ann"), "--member", world.mail("ben")])
        #expect(team["dn"] as? String == "cn=team,ou=sales,\(world.workspaceDN)")
        #expect(team["members"] as? [String] == [world.mail("ann"), world.mail("ben")])
        team = try world.record(["group", "members", world.mail("team"), "--remove", world.mail("ann"), "--remove", world.mail("ben")])
        #expect(team["members"] as? [String] == [], "an empty group keeps the placeholder only")
        team = try world.record(["group", "members", world.mail("team"), "--add", world.mail("ben")])
        #expect(team["members"] as? [String] == [world.mail("ben")])
        #expect(try world.rows(["group", "list", "--workspace", world.workspace]).count == 1)

        let help = try world.record(["shared", "add", world.mail("help"), "--workspace", world.workspace, "--unit", "sales", "--member", world.mail("ann"), "--quota", "1G"])
        #expect(help["dn"] as? String == "uid=help,ou=sales,\(world.workspaceDN)")
        #expect(help["kind"] as? String == "shared")
        #expect(try world.record(["shared", "members", world.mail("help"), "--add", world.mail("ben")])["members"] as? [String] == [world.mail("ann"), world.mail("ben")])

        try await world.fails(["group", "add", world.mail("help"), "--workspace", world.workspace, "--unit", "sales"], status: 5, "already used by a shared mailbox")
        try await world.fails(["group", "add", world.mail("x"), "--workspace", world.workspace, "--unit", "sales", "--member", world.mail("nobody")], status: 3, "no account, group or shared mailbox")
        try await world.fails(["group", "add", world.mail("admins"), "--workspace", world.workspace, "--unit", "sales"], status: 5, "reserved")

        // A member who is deleted for good leaves the group (slapo-refint).
        try world.ok(["group", "remove", world.mail("team")])
        try await world.fails(["group", "show", world.mail("team")], status: 3, "no group mail or shared mailbox")
        try world.ok(["shared", "remove", world.mail("help")])
        #expect(try world.rows(["shared", "list", "--workspace", world.workspace]).isEmpty)
    }

    @Test func delegatedAdminActsOnlyInsideTheirUnit() async throws {
        let world = try AdminWorld.withUnits("adm")
        defer { world.cli.cleanUp() }
        try world.addUser("sam", unit: "sales", first: "Sam", last: "Sales", password: "sam-pass")
        try world.addUser("dora", unit: "dev", first: "Dora", last: "Dev")
        try world.addUser("wanda", unit: "dev", first: "Wanda", last: "Ws", password: "wanda-pass")
        try world.ok(["admin", "grant", world.mail("sam"), "--workspace", world.workspace, "--unit", "sales"])
        try world.ok(["admin", "grant", world.mail("wanda"), "--workspace", world.workspace])
        let again = try world.record(["admin", "grant", world.mail("sam"), "--workspace", world.workspace, "--unit", "sales"])
        #expect(again["granted"] as? Bool == false)
        let salesAdmins = try world.rows(["admin", "list", "--workspace", world.workspace, "--unit", "sales"])
        #expect(salesAdmins.map { $0["admin"] as? String } == [world.mail("sam")])
        let all = try world.rows(["admin", "list", "--workspace", world.workspace, "--all"])
        #expect(Set(all.map { "\($0["admin"] as? String ?? "")@\($0["unit"] as? String ?? "-")" }) == ["\(world.mail("wanda"))@-", "\(world.mail("sam"))@sales"])

        let sam = ["--as", world.mail("sam"), "--as-password-file", try world.file("sam.pw", "sam-pass")]
        // Inside sales (and its sub-unit east): allowed.
        try world.ok(["user", "add", "newbie", "--workspace", world.workspace, "--unit", "sales/east", "--first-name", "New", "--last-name", "Bie",
                      "--mail", world.mail("newbie"), "--password-file", try world.file("nb", "nb-pass")] + sam)
        try world.ok(["user", "suspend", world.mail("newbie")] + sam)
        try world.ok(["alias", "add", world.mail("newbie"), world.mail("nb")] + sam)
        // Outside: slapd refuses, nothing changes.
        try await world.fails(["user", "add", "intruder", "--workspace", world.workspace, "--unit", "dev", "--first-name", "I", "--last-name", "N",
                               "--mail", world.mail("intruder"), "--password-file", try world.file("in", "x")] + sam, status: 4, "permission denied")
        try await world.fails(["user", "suspend", world.mail("dora")] + sam, status: 4, "permission denied")
        try await world.fails(["alias", "add", world.mail("dora"), world.mail("d1")] + sam, status: 4, "permission denied")
        try await world.fails(["unit", "add", "rogue", "--workspace", world.workspace, "--parent", "dev"] + sam, status: 4, "permission denied")
        try await world.fails(["admin", "grant", world.mail("sam"), "--workspace", world.workspace] + sam, status: 4, "permission denied")
        // A workspace admin may act anywhere in the workspace.
        let wanda = ["--as", world.mail("wanda"), "--as-password-file", try world.file("wanda.pw", "wanda-pass")]
        try world.ok(["user", "suspend", world.mail("dora")] + wanda)
        // Wrong password or unknown admin: one clear line, exit 4.
        try await world.fails(["user", "show", world.mail("dora"), "--as", world.mail("sam"), "--as-password-file", try world.file("bad", "wrong")],
                              status: 4, "wrong password")
        try await world.fails(["user", "show", world.mail("dora"), "--as", world.mail("ghost"), "--as-password-file", try world.file("g", "x")],
                              status: 4, "no such admin")

        try world.ok(["admin", "revoke", world.mail("sam"), "--workspace", world.workspace, "--unit", "sales"])
        #expect(try world.rows(["admin", "list", "--workspace", world.workspace, "--unit", "sales"]).isEmpty)
        try await world.fails(["user", "resume", world.mail("newbie")] + sam, status: 4, "permission denied")
        try await world.fails(["admin", "revoke", world.mail("sam"), "--workspace", world.workspace, "--unit", "sales"], status: 3, "is not an admin")
    }

    /// The error paths of issue 4, item 9: each one line, its exit code, the directory unchanged.
    @Test func errorPathsLeaveTheDirectoryUnchanged() async throws {
        let world = try AdminWorld.withUnits("err")
        defer { world.cli.cleanUp() }
        try world.addUser("alice", unit: "sales", first: "Alice", last: "Kim")
        let pw = try world.file("pw", "x")
        func add(_ login: String, unit: String = "sales", mail: String, workspace: String? = nil) -> [String] {
            ["user", "add", login, "--workspace", workspace ?? world.workspace, "--unit", unit, "--first-name", "F", "--last-name", "L", "--mail", mail, "--password-file", pw]
        }
        try await world.fails(add("bob", mail: "bob@@\(world.domain)"), status: 2, "not a valid mail address")
        try await world.fails(add("bob", mail: "bob", workspace: "ghost-\(world.workspace)"), status: 2, "not a valid mail address")
        try await world.fails(add("bob", mail: world.mail("bob"), workspace: "ghost-\(world.workspace)"), status: 3, "no workspace ghost-\(world.workspace)")
        try await world.fails(add("bob", unit: "sales/west", mail: world.mail("bob")), status: 3, "no unit sales/west")
        try await world.fails(add("alice", unit: "dev", mail: world.mail("alice2")), status: 5, "login id alice is already used")
        try await world.fails(add("bob", mail: world.mail("alice")), status: 5, "already used by an account")
        try await world.fails(["user", "show", world.mail("nobody")], status: 3, "no account")
        try await world.fails(["user", "add", "x", "--workspace", world.workspace], status: 2, "Missing expected argument")
    }

    /// Without --password-file the password is asked twice on the terminal (a pty from
    /// util-linux `script` here); a mismatch adds nothing; with no terminal it is a usage error.
    @Test func passwordPromptedTwiceOnTheTerminal() async throws {
        let world = try AdminWorld.withUnits("tty")
        defer { world.cli.cleanUp() }
        let binary = try #require(CLI.binary).path
        func typed(_ lines: [String], _ login: String) throws -> CLI.Output {
            let command = [binary, "user", "add", login, "--workspace", world.workspace, "--unit", "sales", "--first-name", "T",
                           "--last-name", "Ty", "--mail", world.mail(login)].map { "'\($0)'" }.joined(separator: " ")
            let feeder = lines.map { "sleep 1; printf '%s\\n' '\($0)'" }.joined(separator: "; ")
            let script = try world.file("typed-\(login).sh", "(\(feeder); sleep 2) | script -qec \"\(command)\" /dev/null")
            return try runShell(script, environment: world.environment, in: world.cli.directory)
        }
        let output = try typed(["Typed-Pw-1", "Typed-Pw-1"], "typed")
        #expect(output.status == 0, "\(output.stdout) \(output.stderr)")
        #expect(output.stdout.contains("Retype the password"))
        #expect(await world.binds("uid=typed,ou=sales,\(world.workspaceDN)", "Typed-Pw-1"))
        let mismatch = try typed(["Typed-Pw-1", "other"], "mismatch")
        #expect(mismatch.stdout.contains("the passwords do not match"), "\(mismatch.stdout)")
        #expect(try world.rows(["user", "find", "--workspace", world.workspace, "--mail", world.mail("mismatch")]).isEmpty)
        try await world.fails(["user", "add", "notty", "--workspace", world.workspace, "--unit", "sales", "--first-name", "N", "--last-name", "T",
                               "--mail", world.mail("notty")], status: 2, "no terminal")
    }

    /// Issue 5, item 7: a login through `gwdir auth test` lands in the audit log (country from a
    /// GeoIP database) and `user show` shows it as the last login, with the mail-only password state.
    @Test func userShowHasTheLastLoginAndTheMailOnlyPassword() async throws {
        let world = try AdminWorld.withUnits("last")
        defer { world.cli.cleanUp() }
        try world.addUser("lena", unit: "sales", first: "Lena", last: "Last", password: "Lena-Pw-1")
        var writer = MMDBWriter()
        try writer.insert("81.2.69.0/24", country: "GB")
        let geoip = world.cli.directory.appendingPathComponent("countries.mmdb").path
        try writer.write(to: geoip)

        var lena = try world.record(["user", "show", world.mail("lena")])
        #expect(lena["lastLogin"] is NSNull)
        #expect(lena["mailOnlyPassword"] as? Bool == false)

        let login = try world.gw(["auth", "test", world.mail("lena"), "--password-file", try world.file("lena.pw", "Lena-Pw-1"),
                                  "--ip", "81.2.69.10", "--geoip", geoip])
        #expect(login.status == 0, "\(login.stderr)")
        try world.ok(["auth", "mail-password", "set", world.mail("lena"), "--mail-password-file", try world.file("lena.mail", "Lena-Mail-1")])

        lena = try world.record(["user", "show", world.mail("lena")])
        #expect(lena["lastLoginIP"] as? String == "81.2.69.10")
        #expect(lena["lastLoginCountry"] as? String == "GB")
        #expect(lena["lastLoginType"] as? String == "pc")
        #expect(lena["lastLogin"] as? String != nil)
        #expect(lena["mailOnlyPassword"] as? Bool == true)
        let events = try world.rows(["audit", "list", "--account", world.mail("lena")])
        #expect(events.count == 1)
        #expect(events.first?["result"] as? String == "success")
        #expect(events.first?["country"] as? String == "GB")

        // Older than three months: no longer shown (the audit keeps 60 days; this keeps 92).
        let root = world.rootConnection()
        defer { root.close() }
        try await root.modify(dn: try #require(lena["dn"] as? String).parsedDN, [.replace("gwLastLoginTime", ["20200101000000Z"])])
        #expect(try world.record(["user", "show", world.mail("lena")])["lastLogin"] is NSNull)
    }

    /// The README's Quick start scenario (scripts/scenario.sh) against a fresh `gwdir local`.
    @Test func quickStartScenario() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = try #require(CLI.binary)
        let result = try runChild("/bin/bash", [root.appendingPathComponent("scripts/scenario.sh").path],
                                  environment: ["GWDIR_BIN": binary.path], in: cli.directory)
        let log = result.stdout + result.stderr
        #expect(result.status == 0, "\(log)")
        #expect(log.contains("김민준"))
        #expect(log.contains("permission denied"), "the unit admin's attempt outside the unit is refused")
        _ = try cli.run(["local", "stop"])
    }
}

/// Runs a bash script with the test environment; output through files (see `runChild`).
func runShell(_ script: String, environment: [String: String], in directory: URL) throws -> CLI.Output {
    let result = try runChild("/bin/bash", [script], environment: environment, in: directory)
    return CLI.Output(status: result.status, stdout: result.stdout + result.stderr, stderr: "")
}
