import Foundation
import LDAPClient
import Testing
import TestSupport

/// `gwdir check` as the built binary: clean → 0; a violation planted by the root DN → 5 with its
/// code; `--repair` fixes an alias counter → 0. Always `--workspace`: other suites plant odd
/// entries in the shared server.
@Suite struct CheckCLITests {
    @Test func cleanPlantedAndRepaired() async throws {
        let world = try AdminWorld.withUnits("chk")
        defer { world.cli.cleanUp() }
        try world.addUser("minjun", unit: "sales/east", first: "민준", last: "김")
        try world.addUser("sam", unit: "sales", first: "Sam", last: "Park")
        try world.ok(["alias", "add", world.mail("minjun"), world.mail("sales-kr"), "--folder", "Sales-KR"])
        try world.ok(["alias", "add", world.mail("minjun"), world.mail("mj")])
        try world.ok(["group", "add", world.mail("team"), "--workspace", world.workspace, "--unit", "sales", "--member", world.mail("minjun")])
        try world.ok(["admin", "grant", world.mail("sam"), "--workspace", world.workspace, "--unit", "sales"])
        let check = ["check", "--workspace", world.workspace]

        let clean = try world.ok(check)
        #expect(clean.stdout.contains("no violations"), "\(clean.stdout)")
        #expect(try world.rows(check).isEmpty)

        let workspace = try DistinguishedName(world.workspaceDN)
        let sam = try workspace.child(type: "ou", value: "sales").child(type: "uid", value: "sam")
        let minjun = try workspace.child(type: "ou", value: "sales").child(type: "ou", value: "east").child(type: "uid", value: "minjun")
        let policy = try DistinguishedName(world.fixture.baseDN).child(type: "ou", value: "policies").child(type: "cn", value: "service")
        let root = world.rootConnection()
        defer { root.close() }

        // A password policy without lockout, written past the service: reported, never repaired.
        try await root.modify(dn: sam, [.add("pwdPolicySubentry", [policy.description])])
        let planted = try world.gw(check + ["--format", "json"])
        #expect(planted.status == 5, "\(planted.stderr)")
        #expect(planted.stderr == "gwdir: error: 1 violation of the directory's invariants\n")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(planted.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["code"] as? String } == ["password_policy_override"])
        #expect((rows.first?["dn"] as? String)?.lowercased() == sam.description.lowercased())
        let table = try world.gw(check + ["--repair"])
        #expect(table.status == 5)
        #expect(table.stdout.contains("password_policy_override") && table.stdout.contains("CODE"), "\(table.stdout)")
        try await root.modify(dn: sam, [.delete("pwdPolicySubentry")])

        // An alias counter reset to 0 on an account with two aliases.
        try await root.modify(dn: minjun, [.replace("gwAliasCount", ["0"])])
        let wrong = try world.gw(check + ["--format", "csv"])
        #expect(wrong.status == 5)
        #expect(wrong.stdout.hasPrefix("code,dn,message\r\nalias_count_mismatch,"), "\(wrong.stdout)")
        let repaired = try world.gw(check + ["--repair"])
        #expect(repaired.status == 0, "\(repaired.stderr)")
        #expect(repaired.stdout.contains("repaired gwAliasCount of \(minjun.description): 0 → 2"), "\(repaired.stdout)")
        #expect(repaired.stdout.contains("no violations"))
        #expect(try await root.entry(minjun, attributes: ["gwAliasCount"])?.strings("gwAliasCount") == ["2"])
        #expect(try world.gw(check).status == 0)
    }

    /// `--workspace` bounds the repair as well as the report: a wrong counter in another
    /// workspace is left for a check of that workspace.
    @Test func repairStaysInsideItsWorkspace() async throws {
        let one = try AdminWorld.withUnits("chka")
        let two = try AdminWorld.withUnits("chkb")
        defer { one.cli.cleanUp(); two.cli.cleanUp() }
        var accounts: [DistinguishedName] = []
        for world in [one, two] {
            try world.addUser("ana", unit: "dev", first: "Ana", last: "Kim")
            try world.ok(["alias", "add", world.mail("ana"), world.mail("ana-kr")])
            accounts.append(try DistinguishedName(world.workspaceDN).child(type: "ou", value: "dev").child(type: "uid", value: "ana"))
        }
        let root = one.rootConnection()
        defer { root.close() }
        for account in accounts { try await root.modify(dn: account, [.replace("gwAliasCount", ["0"])]) }

        let repaired = try one.gw(["check", "--workspace", one.workspace, "--repair"])
        #expect(repaired.status == 0, "\(repaired.stderr)")
        #expect(repaired.stdout.contains("repaired gwAliasCount of \(accounts[0].description): 0 → 1"), "\(repaired.stdout)")
        #expect(!repaired.stdout.contains(two.workspace), "\(repaired.stdout)")
        #expect(try await root.entry(accounts[0], attributes: ["gwAliasCount"])?.strings("gwAliasCount") == ["1"])
        #expect(try await root.entry(accounts[1], attributes: ["gwAliasCount"])?.strings("gwAliasCount") == ["0"])
        #expect(try two.gw(["check", "--workspace", two.workspace]).status == 5)
        #expect(try two.gw(["check", "--workspace", two.workspace, "--repair"]).status == 0)
        #expect(try await root.entry(accounts[1], attributes: ["gwAliasCount"])?.strings("gwAliasCount") == ["1"])
    }

    @Test func unknownWorkspace() async throws {
        let world = try AdminWorld("chkx")
        defer { world.cli.cleanUp() }
        try await world.fails(["check", "--workspace", world.workspace], status: 3, "no workspace \(world.workspace)")
    }
}
