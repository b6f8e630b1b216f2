import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// `gwdir audit` against the shared harness slapd, as the gwdir service account. Events are
/// recorded through the library (what `gwdir serve` will do), then listed by the binary.
@Suite struct AuditCLITests {
    /// 2027-01-15T08:00:00Z: a fixed day, so `--since 2027-01-15` can be tested.
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    struct World {
        let fixture: DirectoryFixture
        let workspace: String
        let environment: [String: String]
        var workspaceDN: String { "o=\(workspace),\(fixture.workspacesDN)" }
        func accountDN(_ uid: String) -> String { "uid=\(uid),\(workspaceDN)" }
        func mail(_ uid: String) -> String { "\(uid)@\(workspace).test" }
    }

    static func world(accounts: [String]) async throws -> World {
        let fixture = try DirectoryFixture.shared()
        let workspace = "t-" + UUID().uuidString.prefix(8).lowercased()
        let passwordFile = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-audit-pw-\(workspace)")
        try fixture.gwdirPassword.write(to: passwordFile, atomically: true, encoding: .utf8)
        let world = World(fixture: fixture, workspace: workspace, environment: [
            "GWDIR_URI": fixture.slapd.uri, "GWDIR_BASE": fixture.baseDN,
            "GWDIR_BIND_DN": fixture.gwdirDN, "GWDIR_PASSWORD_FILE": passwordFile.path,
            "LANG": "C", "LC_ALL": "", "LC_MESSAGES": "",
        ])
        let root = fixture.rootConnection()
        defer { root.close() }
        try await root.add(dn: world.workspaceDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", "gwWorkspace"), LDAPAttribute("o", workspace), LDAPAttribute("gwMailDomain", "\(workspace).test"),
        ])
        for uid in accounts {
            try await root.add(dn: world.accountDN(uid).parsedDN, attributes: [
                LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", uid),
                LDAPAttribute("cn", uid), LDAPAttribute("sn", uid), LDAPAttribute("mail", world.mail(uid)),
                LDAPAttribute("gwAccountStatus", "active"), LDAPAttribute("gwHomeWorkspace", world.workspaceDN),
            ])
        }
        return world
    }

    static func record(_ world: World, _ events: [(uid: String?, login: String, type: LoginType, ip: String, outcome: LoginOutcome, offset: TimeInterval)]) async throws {
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = AuditLog(context: DirectoryContext(ldap: ldap, layout: try DirectoryLayout(base: world.fixture.baseDN)), purgeInterval: nil)
        for event in events {
            try await log.record(LoginEvent(
                time: t0.addingTimeInterval(event.offset), accountDN: event.uid.map { world.accountDN($0).parsedDN }, loginName: event.login,
                type: event.type, client: "test", ip: IPAddress(event.ip), country: event.ip.hasPrefix("81.") ? "GB" : nil, outcome: event.outcome
            ))
        }
    }

    static func int(_ value: Any?) -> Int? { (value as? NSNumber)?.intValue }

    static func rows(_ output: CLI.Output) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [[String: Any]], "\(output.stdout)\(output.stderr)")
    }

    @Test func listsNewestFirstAsJSONWithFilters() async throws {
        let world = try await Self.world(accounts: ["alice", "bob"])
        try await Self.record(world, [
            ("alice", world.mail("alice"), .pop3, "81.2.69.1", .success, 0),
            ("alice", world.mail("alice"), .pop3, "81.2.69.1", .success, 60),
            ("alice", world.mail("alice"), .pcBrowser, "175.192.0.1", .failure(.wrongPassword), 120),
            ("bob", world.mail("bob"), .smtp, "175.192.0.2", .success, 180),
        ])
        let cli = try CLI()
        defer { cli.cleanUp() }

        let all = try cli.run(["audit", "list", "--account", world.mail("alice"), "--format", "json"], environment: world.environment)
        #expect(all.status == 0, "\(all.stderr)")
        let rows = try Self.rows(all)
        #expect(rows.count == 2)
        #expect(rows.map { $0["type"] as? String } == ["pc", "pop3"])
        #expect((rows[0]["dn"] as? String)?.hasPrefix("gwEventId=") == true)
        #expect(rows[0]["reason"] as? String == "wrong_password")
        #expect(rows[0]["reasonLabel"] as? String == "Wrong password")
        #expect(rows[0]["result"] as? String == "failure")
        #expect(rows[0]["country"] as? String == "unknown")
        #expect(Self.int(rows[1]["count"]) == 2)
        #expect(rows[1]["country"] as? String == "GB")
        #expect(rows[1]["firstTime"] as? String == "2027-01-15T08:00:00Z")
        #expect(rows[1]["lastTime"] as? String == "2027-01-15T08:01:00Z")
        #expect(rows[1]["account"] as? String == world.accountDN("alice"))

        let byType = try cli.run(["audit", "list", "--account", world.mail("alice"), "--type", "pop3", "--format", "json"], environment: world.environment)
        #expect(try Self.rows(byType).map { Self.int($0["count"]) } == [2])
        let failures = try cli.run(["audit", "list", "--account", world.mail("alice"), "--result", "failure", "--format", "json"], environment: world.environment)
        #expect(try Self.rows(failures).count == 1)
        let limited = try cli.run(["audit", "list", "--account", world.mail("alice"), "--limit", "1", "--format", "json"], environment: world.environment)
        #expect(try Self.rows(limited).map { $0["type"] as? String } == ["pc"])
        let thatDay = try cli.run(["audit", "list", "--account", world.mail("alice"), "--since", "2027-01-15", "--until", "2027-01-15",
                                   "--format", "json"], environment: world.environment)
        #expect(try Self.rows(thatDay).count == 2)
        let dayBefore = try cli.run(["audit", "list", "--account", world.mail("alice"), "--until", "2027-01-14", "--format", "json"], environment: world.environment)
        #expect(try Self.rows(dayBefore).isEmpty)
        let afterFirst = try cli.run(["audit", "list", "--account", world.mail("alice"), "--since", "2027-01-15T08:01:30Z",
                                      "--format", "json"], environment: world.environment)
        #expect(try Self.rows(afterFirst).map { $0["type"] as? String } == ["pc"])

        let csv = try cli.run(["audit", "list", "--account", world.mail("bob"), "--format", "csv"], environment: world.environment)
        #expect(csv.stdout.hasPrefix("first,last,count,account,type,ip,country,result,reason\r\n"))
        #expect(csv.stdout.contains(",SMTP,175.192.0.2,unknown,success,"))
    }

    @Test func koreanLabelsFollowTheLocale() async throws {
        let world = try await Self.world(accounts: ["minjun"])
        try await Self.record(world, [("minjun", world.mail("minjun"), .mobileWeb, "175.192.0.1", .failure(.wrongOTP), 0)])
        let cli = try CLI()
        defer { cli.cleanUp() }
        var korean = world.environment
        korean["LANG"] = "ko_KR.UTF-8"
        let table = try cli.run(["audit", "list", "--account", world.mail("minjun")], environment: korean)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("wrong_otp (OTP 인증번호 오류)"))
        #expect(table.stdout.contains("모바일 웹"))
        let json = try cli.run(["audit", "list", "--account", world.mail("minjun"), "--format", "json"], environment: korean)
        #expect(try Self.rows(json).first?["typeLabel"] as? String == "모바일 웹")

        let english = try cli.run(["audit", "list", "--account", world.mail("minjun")], environment: world.environment)
        #expect(english.stdout.contains("wrong_otp (Wrong OTP code)"))
        #expect(english.stdout.contains("Mobile web"))
    }

    @Test func anAddressWithoutAccountListsAttemptsByLoginName() async throws {
        let world = try await Self.world(accounts: [])
        let ghost = world.mail("ghost")
        try await Self.record(world, [
            (nil, ghost, .imap, "175.192.0.3", .failure(.unauthorizedUser), 0),
            (nil, ghost, .imap, "175.192.0.3", .failure(.unauthorizedUser), 5),
        ])
        let cli = try CLI()
        defer { cli.cleanUp() }
        let output = try cli.run(["audit", "list", "--account", ghost, "--format", "json"], environment: world.environment)
        let rows = try Self.rows(output)
        #expect(rows.count == 1)
        #expect(Self.int(rows.first?["count"]) == 2)
        #expect(rows.first?["login"] as? String == ghost)
        #expect(rows.first?["reason"] as? String == "unauthorized_user")
    }

    @Test func badArgumentsAreUsageErrors() throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let environment = ["GWDIR_URI": "ldap://127.0.0.1:1", "GWDIR_BASE": "dc=example,dc=com"]
        for arguments in [["--type", "fax"], ["--result", "maybe"], ["--since", "yesterday"], ["--account", "not an address"], ["--limit", "-1"]] {
            let output = try cli.run(["audit", "list"] + arguments, environment: environment)
            #expect(output.status == 2, "\(arguments): \(output.stderr)")
            #expect(output.stderr.hasPrefix("gwdir: error: "), "\(arguments)")
        }
        let purge = try cli.run(["audit", "purge", "--days", "0"], environment: environment)
        #expect(purge.status == 2)
    }

    @Test func purgeDeletesExpiredEvents() async throws {
        let world = try await Self.world(accounts: ["old"])
        // 1970: older than every other test's events, so this purge cannot disturb theirs.
        let ldap = world.fixture.gwdirConnection()
        defer { ldap.close() }
        let log = AuditLog(context: DirectoryContext(ldap: ldap, layout: try DirectoryLayout(base: world.fixture.baseDN)), purgeInterval: nil)
        let account = try DistinguishedName(world.accountDN("old"))
        try await log.record(LoginEvent(time: Date(timeIntervalSince1970: 86_400), accountDN: account, loginName: world.mail("old"),
                                        type: .pcBrowser, client: "", ip: nil, country: nil, outcome: .success))
        // (Not counted before the purge: a retention test running in parallel may purge it first.)

        let days = Int(Date().timeIntervalSince(Date(timeIntervalSince1970: 2 * 86_400)) / 86_400)
        let cli = try CLI()
        defer { cli.cleanUp() }
        let output = try cli.run(["audit", "purge", "--days", String(days), "--format", "json"], environment: world.environment)
        #expect(output.status == 0, "\(output.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])
        #expect(Self.int(object["events"]) != nil && Self.int(object["ipBlocks"]) != nil)
        #expect((object["cutoff"] as? String)?.hasPrefix("1970-01-0") == true)
        #expect(try await log.events(account: account).isEmpty)
    }

    @Test func countryLooksUpTheGeoIPDatabase() throws {
        var writer = MMDBWriter()
        try writer.insert("81.2.69.0/24", country: "GB")
        try writer.insert("175.192.0.0/10", country: "KR")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gwdir-cli-geoip-\(UUID().uuidString.prefix(8)).mmdb").path
        try writer.write(to: path)
        let cli = try CLI()
        defer { cli.cleanUp() }

        let gb = try cli.run(["audit", "country", "81.2.69.160", "--geoip", path, "--format", "json"])
        #expect(gb.status == 0, "\(gb.stderr)")
        #expect(gb.stdout.contains("\"country\":\"GB\""))
        let kr = try cli.run(["audit", "country", "175.192.3.4"], environment: ["GWDIR_GEOIP": path])
        #expect(kr.stdout.contains("KR"))
        let unknown = try cli.run(["audit", "country", "2001:db8::1"], environment: ["GWDIR_GEOIP": path])
        #expect(unknown.stdout.contains("unknown"))
        let noDatabase = try cli.run(["audit", "country", "81.2.69.160"])
        #expect(noDatabase.stdout.contains("unknown"))
        let missing = try cli.run(["audit", "country", "81.2.69.160", "--geoip", "/nonexistent.mmdb"])
        #expect(missing.status == 2 && missing.stderr.contains("cannot open GeoIP database"))
    }
}
