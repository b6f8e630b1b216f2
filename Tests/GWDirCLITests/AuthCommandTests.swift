import Directory
import Foundation
import LDAPClient
import TestSupport
import Testing

/// `gwdir auth …` against the harness slapd, bound as the gwdir service account.
@Suite struct AuthCommandTests {
    struct Setup {
        let cli: CLI
        let environment: [String: String]
        let workspace: String
        let address: String
        let fixture: DirectoryFixture

        func file(_ name: String, _ contents: String) throws -> String {
            let url = cli.directory.appendingPathComponent(name)
            try (contents + "\n").write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }

        func run(_ arguments: [String], language: String = "C") throws -> CLI.Output {
            try cli.run(["auth"] + arguments, environment: environment.merging(["LANG": language, "LC_ALL": ""]) { $1 })
        }

        func json(_ output: CLI.Output) throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output.stdout)")
        }
    }

    private func setUp() async throws -> Setup {
        let fixture = try DirectoryFixture.shared()
        let cli = try CLI()
        let workspace = "cli-auth-\(UUID().uuidString.prefix(8).lowercased())"
        let workspaceDN = "o=\(workspace),\(fixture.workspacesDN)"
        let address = "kim@\(workspace).test"
        let root = fixture.rootConnection()
        defer { root.close() }
        try await root.add(dn: workspaceDN.parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwWorkspace"]), LDAPAttribute("o", workspace),
            LDAPAttribute("gwMailDomain", "\(workspace).test"),
        ])
        try await root.add(dn: "uid=kim,\(workspaceDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["inetOrgPerson", "gwAccount"]), LDAPAttribute("uid", "kim"),
            LDAPAttribute("cn", "김 민지"), LDAPAttribute("sn", "김"), LDAPAttribute("mail", address),
            LDAPAttribute("userPassword", "Kim-Pw-1"), LDAPAttribute("gwAccountStatus", "active"),
            LDAPAttribute("gwEnabledService", ["imap", "smtp", "web"]), LDAPAttribute("gwHomeWorkspace", workspaceDN),
        ])
        let bindPassword = cli.directory.appendingPathComponent("bind.pw")
        try fixture.gwdirPassword.write(to: bindPassword, atomically: true, encoding: .utf8)
        return Setup(
            cli: cli,
            environment: [
                "GWDIR_URI": fixture.slapd.uri, "GWDIR_BASE": fixture.baseDN,
                "GWDIR_BIND_DN": fixture.gwdirDN, "GWDIR_PASSWORD_FILE": bindPassword.path,
            ],
            workspace: workspace, address: address, fixture: fixture
        )
    }

    private func ip() -> String { "10.\(Int.random(in: 0...255)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254))" }

    @Test func testLoginPrintsWorkspacesOrTheReason() async throws {
        let s = try await setUp()
        let right = try s.file("right.pw", "Kim-Pw-1"), wrong = try s.file("wrong.pw", "nope")

        let ok = try s.run(["test", s.address, "--login-password-file", right, "--ip", ip()])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("\(s.workspace) (home)"), "\(ok.stdout)")
        let json = try s.json(try s.run(["test", "kim", "--workspace", s.workspace, "--login-password-file", right, "--ip", ip(), "--format", "json"]))
        #expect(json["result"] as? String == "success")
        #expect(json["dn"] as? String == "uid=kim,o=\(s.workspace),\(s.fixture.workspacesDN)")
        #expect(json["displayName"] as? String == "김 민지")

        let refused = try s.run(["test", s.address, "--login-password-file", wrong, "--ip", ip()])
        #expect(refused.status == 4)
        #expect(refused.stdout.contains("wrong_password") && refused.stdout.contains("Wrong password"), "\(refused.stdout)")
        let korean = try s.run(["test", s.address, "--login-password-file", wrong, "--ip", ip()], language: "ko_KR.UTF-8")
        #expect(korean.status == 4)
        #expect(korean.stdout.contains("비밀번호 오류"), "\(korean.stdout)")

        let pop3 = try s.run(["test", s.address, "--login-password-file", right, "--client", "pop3", "--ip", ip(), "--format", "json"])
        #expect(pop3.status == 4)
        #expect(try s.json(pop3)["reason"] as? String == "pop3_disabled")
        let bogus = try s.run(["test", s.address, "--login-password-file", right, "--client", "telnet"])
        #expect(bogus.status == 2)
        #expect(bogus.stderr.hasPrefix("gwdir: error: --client telnet"), "\(bogus.stderr)")
    }

    @Test func mailPasswordOTPUnlockAndIPBlocks() async throws {
        let s = try await setUp()
        let right = try s.file("right.pw", "Kim-Pw-1"), app = try s.file("app.pw", "Kim-App-Pw")

        #expect(try s.run(["mail-password", "set", s.address, "--mail-password-file", app]).status == 0)
        #expect(try s.json(try s.run(["mail-password", "show", s.address, "--format", "json"]))["mailPasswordSet"] as? Bool == true)
        #expect(try s.run(["test", s.address, "--login-password-file", app, "--client", "imap", "--ip", ip()]).status == 0)
        #expect(try s.run(["test", s.address, "--login-password-file", right, "--client", "imap", "--ip", ip()]).status == 4)
        #expect(try s.run(["mail-password", "clear", s.address]).status == 0)
        #expect(try s.json(try s.run(["mail-password", "show", s.address, "--format", "json"]))["mailPasswordSet"] as? Bool == false)

        let enrol = try s.json(try s.run(["otp", "enrol", s.address, "--issuer", "Acme", "--format", "json"]))
        let secret = try #require(enrol["secret"] as? String)
        #expect((enrol["uri"] as? String)?.hasPrefix("otpauth://totp/Acme:kim%40\(s.workspace).test?secret=\(secret)") == true)
        let totp = TOTP(secret: try #require(Base32.decode(secret)))
        #expect(try s.run(["otp", "confirm", s.address, totp.code(at: Date())]).status == 0)
        let noCode = try s.run(["test", s.address, "--login-password-file", right, "--ip", ip(), "--format", "json"])
        #expect(try s.json(noCode)["reason"] as? String == "otp_required")
        #expect(try s.run(["otp", "disable", s.address]).status == 0)
        #expect(try s.run(["test", s.address, "--login-password-file", right, "--ip", ip()]).status == 0)

        let unlock = try s.run(["unlock", s.address])
        #expect(unlock.status == 0)
        #expect(unlock.stderr.contains("was not locked"))
        #expect(try s.run(["unlock", "nobody@\(s.workspace).test"]).status == 3)

        // A block as the service writes it, one hour ahead.
        let blocked = ip()
        let root = s.fixture.rootConnection()
        defer { root.close() }
        try await root.add(dn: "gwClientIP=\(blocked),ou=ipblocks,ou=audit,\(s.fixture.baseDN)".parsedDN, attributes: [
            LDAPAttribute("objectClass", ["gwIPBlock"]), LDAPAttribute("gwClientIP", blocked),
            LDAPAttribute("gwFailureCount", "10"), LDAPAttribute("gwWindowStart", GeneralizedTime.format(Date())),
            LDAPAttribute("gwBlockedUntil", GeneralizedTime.format(Date().addingTimeInterval(3600))),
        ])
        let refused = try s.run(["test", s.address, "--login-password-file", right, "--ip", blocked, "--format", "json"])
        #expect(try s.json(refused)["reason"] as? String == "auto_blocked_ip")
        let list = try s.run(["ipblock", "list", "--format", "json"])
        let rows = try #require(JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.contains { $0["ip"] as? String == blocked && $0["failures"] as? Int == 10 })
        #expect(try s.run(["ipblock", "lift", blocked]).status == 0)
        #expect(try s.run(["ipblock", "lift", blocked]).status == 3)
        #expect(try s.run(["test", s.address, "--login-password-file", right, "--ip", blocked]).status == 0)
    }
}
