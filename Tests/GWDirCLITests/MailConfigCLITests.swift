import Foundation
import Testing

/// `gwdir mail-config render` against a local directory: every placeholder filled, secrets only
/// in files of mode 0600/0640 and without a trailing newline, and Debian's `postmap` resolving an
/// account created through the CLI with the rendered table (a real bind as cn=postfix).
@Suite(.serialized) struct MailConfigCLITests {
    private func ok(_ cli: CLI, _ arguments: [String]) throws -> CLI.Output {
        let result = try cli.run(arguments)
        #expect(result.status == 0, "gwdir \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }

    private func files(under directory: URL) -> [URL] {
        let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        var result: [URL] = []
        while let url = enumerator?.nextObject() as? URL {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { result.append(url) }
        }
        return result.sorted { $0.path < $1.path }
    }

    private func mode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func renderFillsEverythingAndPostmapResolvesACLIAccount() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let uri = try ok(cli, ["local", "start"]).stdout.trimmingCharacters(in: .newlines)
        _ = try ok(cli, ["init"])
        _ = try ok(cli, ["workspace", "add", "acme", "--name", "Acme", "--domain", "acme.example"])
        _ = try ok(cli, ["unit", "add", "sales", "--workspace", "acme", "--display-name", "영업부"])
        let passwordFile = cli.directory.appendingPathComponent("pw").path
        try "Minjun-Secret-1\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        _ = try ok(cli, ["user", "add", "minjun", "--workspace", "acme", "--unit", "sales", "--first-name", "민준", "--last-name", "김",
                         "--mail", "minjun@acme.example", "--password-file", passwordFile])
        _ = try ok(cli, ["alias", "add", "minjun@acme.example", "sales-kr@acme.example", "--folder", "영업부"])

        let out = cli.directory.appendingPathComponent("mail-config")
        let render = try ok(cli, ["mail-config", "render", "--out", out.path, "--hostname", "mx.acme.example", "--check"])
        #expect(render.stdout.contains("check: postconf"), "\(render.stdout)")
        #expect(!render.stdout.contains("not installed"), "Debian's postfix, postfix-ldap and dovecot-core are test dependencies: \(render.stdout)")

        let postfixPassword = try cli.secret("postfix")
        let dovecotPassword = try cli.secret("dovecot")
        let policyKey = try String(contentsOf: cli.directory.appendingPathComponent(".gwdir/secrets/policy.key"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let rendered = files(under: out)
        let names = Set(rendered.map { $0.path.replacingOccurrences(of: out.path + "/", with: "") })
        for expected in ["postfix/main.cf", "postfix/main.cf.fragment", "postfix/master.cf.fragment", "postfix/ldap-virtual-mailbox-maps.cf",
                         "postfix/ldap-sender-login-maps.cf", "dovecot/dovecot.conf", "dovecot/dovecot-ldap-passdb.conf.ext",
                         "dovecot/dovecot-ldap-userdb-alias.conf.ext", "dovecot/gwdir-alias-folder.sieve", "dovecot/local.d/10-gwdir-host.conf"] {
            #expect(names.contains(expected), "\(expected) missing from \(names.sorted())")
        }
        #expect(!names.contains("postfix/main.cf.base"), "main.cf.base is part of main.cf")
        var secretFiles = 0
        for file in rendered {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(!text.contains("{{"), "\(file.lastPathComponent) still holds a placeholder")
            let holdsSecret = text.contains(postfixPassword) || text.contains(dovecotPassword)
            if holdsSecret {
                secretFiles += 1
                let mode = try mode(file)
                #expect(mode == 0o600 || mode == 0o640, "\(file.lastPathComponent): mode \(String(mode, radix: 8))")
                // The password is the whole value: no newline, no blank after it.
                for line in text.split(separator: "\n") where line.contains(postfixPassword) || line.contains(dovecotPassword) {
                    #expect(line == "bind_pw = \(postfixPassword)" || line == "dnpass = \(dovecotPassword)", "\(file.lastPathComponent): \(line)")
                }
            } else if file.lastPathComponent == "auth-policy.conf.ext" {
                // gwdir init wrote a policy key: Dovecot's auth policy is rendered with it, 0600.
                #expect(try mode(file) == 0o600)
                #expect(text.contains("X-API-Key:\(policyKey)"), "\(text)")
            } else {
                #expect(try mode(file) == 0o644, "\(file.lastPathComponent)")
            }
        }
        #expect(names.contains("dovecot/auth-policy.conf.ext"))
        #expect(secretFiles == 5 + 4, "5 Postfix tables and 4 Dovecot LDAP files hold a password")

        let mainCF = try String(contentsOf: out.appendingPathComponent("postfix/main.cf"), encoding: .utf8)
        #expect(mainCF.contains("myhostname = mx.acme.example"))
        #expect(mainCF.contains("virtual_mailbox_maps = ldap:/etc/postfix/ldap-virtual-mailbox-maps.cf"))
        #expect(mainCF.contains("virtual_transport = lmtp:inet:127.0.0.1:24"))
        let table = try String(contentsOf: out.appendingPathComponent("postfix/ldap-virtual-mailbox-maps.cf"), encoding: .utf8)
        #expect(table.contains("server_host = \(uri)\n"))
        #expect(table.contains("bind_dn = cn=postfix,ou=system,dc=example,dc=com\n"))
        let dovecotConf = try String(contentsOf: out.appendingPathComponent("dovecot/dovecot.conf"), encoding: .utf8)
        #expect(dovecotConf.contains("args = /etc/dovecot/dovecot-ldap-passdb.conf.ext"))
        #expect(dovecotConf.contains("mail_uid = 5000"))

        // Debian's postmap with the rendered tables, binding as cn=postfix to the local slapd.
        let postfixDirectory = out.appendingPathComponent("postfix").path
        func postmap(_ key: String, _ table: String) throws -> CLI.Output {
            try runChild("/usr/sbin/postmap", ["-c", postfixDirectory, "-q", key, "ldap:\(postfixDirectory)/\(table)"], environment: [:], in: cli.directory)
        }
        let mailbox = try postmap("minjun@acme.example", "ldap-virtual-mailbox-maps.cf")
        #expect(mailbox.status == 0 && mailbox.stdout == "acme.example/minjun/\n", "\(mailbox.stdout) \(mailbox.stderr)")
        let domain = try postmap("acme.example", "ldap-virtual-mailbox-domains.cf")
        #expect(domain.stdout == "acme.example\n", "\(domain.stderr)")
        let alias = try postmap("sales-kr@acme.example", "ldap-virtual-alias-maps.cf")
        #expect(alias.stdout == "sales-kr@acme.example\n", "\(alias.stderr)")
        let sender = try postmap("sales-kr@acme.example", "ldap-sender-login-maps.cf")
        #expect(sender.stdout == "minjun@acme.example\n", "\(sender.stderr)")
        let unknown = try postmap("nobody@acme.example", "ldap-virtual-mailbox-maps.cf")
        #expect(unknown.status == 1 && unknown.stdout.isEmpty && unknown.stderr.isEmpty, "\(unknown.stderr)")

        // Other paths and ids are options; a placeholder without a value names itself.
        let custom = cli.directory.appendingPathComponent("custom")
        _ = try ok(cli, ["mail-config", "render", "--out", custom.path, "--hostname", "mx", "--postfix-dir", "/srv/pf", "--dovecot-dir", "/srv/dc",
                         "--vmail-uid", "6000", "--vmail-gid", "6001", "--mail-root", "/srv/mail", "--lmtp-port", "2424"])
        let customMain = try String(contentsOf: custom.appendingPathComponent("postfix/main.cf"), encoding: .utf8)
        #expect(customMain.contains("virtual_alias_maps = ldap:/srv/pf/ldap-virtual-alias-maps.cf"))
        #expect(customMain.contains("virtual_transport = lmtp:inet:127.0.0.1:2424"))
        let customUserdb = try String(contentsOf: custom.appendingPathComponent("dovecot/dovecot-ldap-userdb.conf.ext"), encoding: .utf8)
        #expect(customUserdb.contains("=home=/srv/mail/%d/%n"))
        #expect(customUserdb.contains("=uid=6000"))
        #expect(customUserdb.contains("=gid=6001"))

        // Without the service secrets (another directory, another working folder): a clear usage error.
        let elsewhere = try CLI()
        defer { elsewhere.cleanUp() }
        let noSecret = try elsewhere.run(["mail-config", "render", "--out", "x", "--uri", uri, "--base", "dc=example,dc=com"])
        #expect(noSecret.status == 2, "\(noSecret.stderr)")
        #expect(noSecret.stderr.contains("--postfix-password-file"), "\(noSecret.stderr)")
        let postfixPW = elsewhere.directory.appendingPathComponent("postfix.pw").path
        let dovecotPW = elsewhere.directory.appendingPathComponent("dovecot.pw").path
        try (postfixPassword + "\n").write(toFile: postfixPW, atomically: true, encoding: .utf8)
        try (dovecotPassword + "\n").write(toFile: dovecotPW, atomically: true, encoding: .utf8)
        let remote = try elsewhere.run(["mail-config", "render", "--out", "x", "--uri", uri, "--base", "dc=example,dc=com",
                                        "--postfix-password-file", postfixPW, "--dovecot-password-file", dovecotPW, "--check"])
        #expect(remote.status == 0, "\(remote.stderr)")
        let remoteTable = try String(contentsOf: elsewhere.directory.appendingPathComponent("x/postfix/ldap-sender-login-maps.cf"), encoding: .utf8)
        #expect(remoteTable.contains("bind_pw = \(postfixPassword)\n"))
        // A wrong cn=postfix password fails --check (postmap cannot bind).
        try "wrong-password\n".write(toFile: postfixPW, atomically: true, encoding: .utf8)
        let badCheck = try elsewhere.run(["mail-config", "render", "--out", "y", "--uri", uri, "--base", "dc=example,dc=com",
                                          "--postfix-password-file", postfixPW, "--dovecot-password-file", dovecotPW, "--check"])
        #expect(badCheck.status == 1, "\(badCheck.stdout) \(badCheck.stderr)")
        #expect(badCheck.stderr.contains("postmap"), "\(badCheck.stderr)")
    }
}
